"""One client connection: a reader loop, a writer with a bounded outbox, a nursery of requests.

Request ids are the client's own, scoped to its connection: the engine sees
``"<connection id>.<client request id>"`` so two clients may both use "1", and an Abort can
only reach the connection's own requests. Leaving the connection (EOF, error, slow consumer,
server shutdown) cancels its nursery, which aborts every request it still has in the engine.
"""

from __future__ import annotations

import hmac
import logging
import math
from typing import TYPE_CHECKING, Any

import msgspec
import trio

from radtrio.server.outbox import Outbox
from radtrio.server.protocol import (
    MAX_REQUEST_ID_CHARS,
    PROTOCOL_VERSION,
    Abort,
    Chunk,
    Detokenize,
    DetokenizeReply,
    Error,
    Finished,
    FlushCache,
    FlushCacheReply,
    FrameDecoder,
    FrameEncoder,
    Generate,
    GetServerInfo,
    GetStats,
    Hello,
    HelloReply,
    Message,
    ProtocolError,
    ServerInfoReply,
    Stats,
    SubscribeStats,
    Tokenize,
    TokenizeReply,
    decode_client_message,
)
from radtrio.types import GenerateRequest, OutputFinished, RequestError

if TYPE_CHECKING:
    from radtrio.server.server import Server

log = logging.getLogger("radtrio.server")

RECEIVE_BYTES = 64 << 10
MAX_TREE_NODES = 10_000
MAX_DETOKENIZE_IDS = 1 << 18
MAX_SUBSCRIPTIONS = 4  # stats subscriptions per connection
MIN_STATS_INTERVAL_S = 0.05
MAX_STATS_INTERVAL_S = 3600.0


class _InFlight:
    """A generation or stats subscription of this connection."""

    __slots__ = ("scope", "done", "engine_id", "abort_requested")

    def __init__(self, engine_id: str | None) -> None:
        self.scope = trio.CancelScope()
        self.done = trio.Event()
        self.engine_id = engine_id  # None for a stats subscription
        self.abort_requested = False


class _Dropped(Exception):
    """The connection must end now (fatal protocol error, slow consumer, EOF)."""


def validate_generate(req: GenerateRequest, context_len: int, vocab_size: int) -> None:
    """The checks the server can make before the engine sees a request (the engine repeats
    them): request id, exactly one prompt, token id range, sampling params, constraint."""
    rid = req.request_id
    if not rid:
        raise RequestError("request.request_id is empty: a non-empty id is required on the wire")
    if len(rid) > MAX_REQUEST_ID_CHARS:
        raise RequestError(
            f"request.request_id has {len(rid)} characters: limit {MAX_REQUEST_ID_CHARS}"
        )
    given = [
        name
        for name, value in (
            ("text", req.text),
            ("messages", req.messages),
            ("input_ids", req.input_ids),
        )
        if value is not None
    ]
    if len(given) != 1:
        raise RequestError(
            f"request must set exactly one of text, messages, input_ids; got {given or 'none'}"
        )
    if req.input_ids is not None:
        if not req.input_ids:
            raise RequestError("request.input_ids is empty: at least one token is required")
        if len(req.input_ids) >= context_len:
            raise RequestError(
                f"request.input_ids has {len(req.input_ids)} tokens: the context length is "
                f"{context_len}",
                code="too_long",
            )
        if min(req.input_ids) < 0 or max(req.input_ids) >= vocab_size:
            bad = next(t for t in req.input_ids if not 0 <= t < vocab_size)
            raise RequestError(
                f"request.input_ids contains {bad}: token ids must be in [0, {vocab_size})"
            )
    if req.messages is not None and not req.messages:
        raise RequestError("request.messages is empty: at least one message is required")
    req.params.validate(context_len=context_len, vocab_size=vocab_size)
    if req.constraint is not None:
        req.constraint.validate()


class Connection:
    def __init__(self, server: Server, stream: trio.abc.Stream, conn_id: int) -> None:
        self.server = server
        self.engine = server.engine
        self.config = server.config
        self.stream = stream
        self.conn_id = conn_id
        self.outbox = Outbox(self.config.max_outbox_bytes)
        self._encoder = FrameEncoder()
        self._requests: dict[str, _InFlight] = {}
        self._nursery: trio.Nursery | None = None
        self._writer_done = trio.Event()
        self._write_scope: trio.CancelScope | None = None
        self._drop_reason: str | None = None
        self.greeted = False

    @property
    def in_flight(self) -> int:
        return len(self._requests)

    # ------------------------------------------------------------ lifecycle
    async def run(self) -> None:
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                nursery.start_soon(self._writer)
                try:
                    await self._reader()
                except _Dropped:
                    pass
                # Reader is done: abort this connection's requests, flush what is queued.
                for entry in list(self._requests.values()):
                    entry.scope.cancel()
                self.outbox.close()
                with trio.move_on_after(self.config.close_flush_s):
                    await self._writer_done.wait()
                nursery.cancel_scope.cancel()
        finally:
            if self._drop_reason:
                log.info("connection %d dropped: %s", self.conn_id, self._drop_reason)
            await trio.aclose_forcefully(self.stream)

    def drop(self, reason: str) -> None:
        """End the connection at once: its requests are aborted, a write in progress is cut
        (the connection is not used again, so half a frame no longer matters)."""
        if self._drop_reason is None:
            self._drop_reason = reason
        self.outbox.close()
        if self._write_scope is not None:
            self._write_scope.cancel()
        if self._nursery is not None:
            self._nursery.cancel_scope.cancel()

    def _slow_consumer(self, reason: str) -> None:
        """The outbox is full: abort the requests, queue a fatal slow_consumer Error, and
        drop the connection once it is written or after close_flush_s."""
        if self._drop_reason is not None:
            return
        self._drop_reason = reason
        self.server.slow_consumers += 1
        for entry in list(self._requests.values()):
            entry.scope.cancel()
        error = Error(code="slow_consumer", message=reason, fatal=True)
        self.outbox.force_put(self._encoder.encode(error))
        self.outbox.close()
        if self._nursery is not None:
            self._nursery.start_soon(self._drop_after_flush, reason)

    async def _drop_after_flush(self, reason: str) -> None:
        with trio.move_on_after(self.config.close_flush_s):
            await self._writer_done.wait()
        self.drop(reason)

    async def send_fatal_and_close(self, code: str, message: str) -> None:
        """Send one fatal Error (best effort, short timeout) on a connection not yet running."""
        frame = self._encoder.encode(Error(code=code, message=message, fatal=True))
        with trio.move_on_after(self.config.close_flush_s):
            try:
                await self.stream.send_all(frame)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                pass
        await trio.aclose_forcefully(self.stream)

    # ------------------------------------------------------------ writing
    def send(self, message: Message) -> None:
        if self.outbox.closed:
            return
        frame = self._encoder.encode(message)
        if not self.outbox.put(frame):
            self._slow_consumer(
                f"slow consumer: {self.outbox.queued_bytes + len(frame)} bytes of output "
                f"unread, limit {self.outbox.max_bytes}; the connection is dropped"
            )

    def send_error(self, code: str, message: str, request_id: str | None = None) -> None:
        self.send(Error(code=code, message=message, request_id=request_id))

    def fatal(self, code: str, message: str) -> _Dropped:
        """Queue a fatal Error; the caller raises the result to end the reader."""
        self.send(Error(code=code, message=message, fatal=True))
        self._drop_reason = self._drop_reason or f"{code}: {message}"
        return _Dropped(code)

    async def _writer(self) -> None:
        try:
            while True:
                data = await self.outbox.get()
                if not data:
                    return
                # Shielded so that a cancel never leaves half a frame on the wire; the inner
                # deadline stops a client that does not read from holding us forever.
                # drop() cancels this scope itself: the connection is being abandoned then.
                with trio.CancelScope(shield=True) as write_scope:
                    self._write_scope = write_scope
                    with trio.move_on_after(self.config.write_timeout_s) as timeout:
                        try:
                            await self.stream.send_all(data)
                        except (trio.BrokenResourceError, trio.ClosedResourceError):
                            self.drop("peer closed the connection")
                            return
                self._write_scope = None
                if write_scope.cancelled_caught:
                    return
                if timeout.cancelled_caught:
                    if self._drop_reason is None:
                        self.server.slow_consumers += 1
                    self.drop(
                        f"slow consumer: a write did not finish in {self.config.write_timeout_s} s"
                    )
                    return
        finally:
            self._writer_done.set()

    # ------------------------------------------------------------ reading
    async def _reader(self) -> None:
        cfg = self.config
        decoder = FrameDecoder(cfg.max_frame_bytes)
        hello_deadline = trio.current_time() + cfg.handshake_timeout_s
        frame_started = 0.0
        while True:
            if not self.greeted:
                deadline = hello_deadline
            elif decoder.pending_bytes:
                deadline = frame_started + cfg.frame_timeout_s
            else:
                deadline = (
                    trio.current_time() + cfg.idle_timeout_s if cfg.idle_timeout_s else math.inf
                )
            with trio.CancelScope(deadline=deadline) as scope:
                try:
                    data = await self.stream.receive_some(RECEIVE_BYTES)
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    data = b""
            if scope.cancelled_caught:
                if not self.greeted:
                    raise self.fatal("timeout", f"no hello within {cfg.handshake_timeout_s} s")
                if decoder.pending_bytes:
                    raise self.fatal(
                        "timeout",
                        f"incomplete frame: received {decoder.pending_bytes} of "
                        f"{decoder.expected_bytes} bytes in {cfg.frame_timeout_s} s",
                    )
                raise self.fatal("timeout", f"idle for {cfg.idle_timeout_s} s")
            if not data:
                if decoder.pending_bytes:
                    self._drop_reason = (
                        f"truncated frame at EOF ({decoder.pending_bytes} bytes received)"
                    )
                return
            was_pending = decoder.pending_bytes
            try:
                bodies = decoder.feed(data)
            except ProtocolError as exc:
                raise self.fatal(exc.code, exc.message) from None
            if decoder.pending_bytes and (bodies or not was_pending):
                frame_started = trio.current_time()
            for body in bodies:
                try:
                    message = decode_client_message(body)
                except ProtocolError as exc:
                    if not self.greeted:
                        raise self.fatal(exc.code, exc.message) from None
                    self.send_error(exc.code, exc.message, exc.request_id)
                    continue
                await self._dispatch(message)
                if self.outbox.closed:
                    raise _Dropped("closed")

    # ------------------------------------------------------------ dispatch
    async def _dispatch(self, msg: Message) -> None:
        if not self.greeted:
            if not isinstance(msg, Hello):
                raise self.fatal(
                    "bad_request",
                    f"the first message must be hello, got {msg.__struct_config__.tag}",
                )
            self._hello(msg)
            return
        match msg:
            case Generate():
                self._start_generate(msg.request)
            case Abort():
                entry = self._requests.get(msg.request_id)
                if entry is None:
                    self.send_error(
                        "not_found",
                        f"abort: no request {msg.request_id!r} in flight on this connection",
                        msg.request_id,
                    )
                elif entry.engine_id is None:
                    entry.scope.cancel()
                elif not entry.abort_requested:
                    entry.abort_requested = True
                    assert self._nursery is not None
                    self._nursery.start_soon(self._abort_generate, entry)
            case Tokenize():
                try:
                    ids = self.engine.tokenize(msg.text)
                except Exception as exc:  # noqa: BLE001 - a bad input must not end the server
                    self.send_error("bad_request", f"tokenize failed: {exc}", msg.request_id)
                else:
                    self.send(TokenizeReply(request_id=msg.request_id, token_ids=list(ids)))
            case Detokenize():
                self._detokenize(msg)
            case GetStats():
                if self._check_tree_nodes(msg.max_tree_nodes, msg.request_id):
                    stats = self.engine.stats(
                        include_tree=msg.include_tree, max_tree_nodes=msg.max_tree_nodes
                    )
                    self.send(Stats(request_id=msg.request_id, stats=stats))
            case SubscribeStats():
                self._start_subscription(msg)
            case FlushCache():
                ok = await self.engine.flush_cache()
                self.send(FlushCacheReply(request_id=msg.request_id, ok=bool(ok)))
            case GetServerInfo():
                self.send(ServerInfoReply(request_id=msg.request_id, info=self.engine.info))
            case Hello():
                self.send_error("bad_request", "hello was already received on this connection")

    def _hello(self, msg: Hello) -> None:
        if msg.version != PROTOCOL_VERSION:
            raise self.fatal(
                "version_mismatch",
                f"client protocol version {msg.version} is not supported: this server speaks "
                f"version {PROTOCOL_VERSION}",
            )
        token = self.config.auth_token
        if token is not None:
            given = msg.auth_token or ""
            if not hmac.compare_digest(given.encode(), token.encode()):
                what = "missing" if not msg.auth_token else "wrong"
                raise self.fatal("unauthorized", f"auth token {what}: this server requires one")
        self.greeted = True
        from radtrio import __version__

        self.send(
            HelloReply(
                version=PROTOCOL_VERSION,
                server_version=__version__,
                connection_id=self.conn_id,
                max_frame_bytes=self.config.max_frame_bytes,
                info=self.engine.info,
            )
        )

    def _check_new_id(self, request_id: str) -> bool:
        if not request_id or len(request_id) > MAX_REQUEST_ID_CHARS:
            self.send_error(
                "bad_request",
                f"request_id {request_id[:40]!r} is invalid: must be 1..{MAX_REQUEST_ID_CHARS} "
                "characters",
                request_id or None,
            )
            return False
        if request_id in self._requests:
            self.send_error(
                "bad_request",
                f"request_id {request_id!r} is already in flight on this connection",
                request_id,
            )
            return False
        if len(self._requests) >= self.config.max_requests_per_connection:
            self.send_error(
                "overloaded",
                f"this connection has {len(self._requests)} requests in flight: limit "
                f"{self.config.max_requests_per_connection}",
                request_id,
            )
            return False
        return True

    def _check_tree_nodes(self, value: int, request_id: str) -> bool:
        if 0 <= value <= MAX_TREE_NODES:
            return True
        self.send_error(
            "bad_request",
            f"max_tree_nodes={value} is invalid: must be in [0, {MAX_TREE_NODES}]",
            request_id,
        )
        return False

    def _detokenize(self, msg: Detokenize) -> None:
        vocab = self.engine.info.vocab_size
        ids = msg.token_ids
        if len(ids) > MAX_DETOKENIZE_IDS:
            self.send_error(
                "bad_request",
                f"detokenize: {len(ids)} token ids: limit {MAX_DETOKENIZE_IDS}",
                msg.request_id,
            )
            return
        if ids and (min(ids) < 0 or max(ids) >= vocab):
            bad = next(t for t in ids if not 0 <= t < vocab)
            self.send_error(
                "bad_request",
                f"detokenize: token id {bad} is invalid: must be in [0, {vocab})",
                msg.request_id,
            )
            return
        try:
            text = self.engine.detokenize(list(msg.token_ids))
        except Exception as exc:  # noqa: BLE001
            self.send_error("bad_request", f"detokenize failed: {exc}", msg.request_id)
            return
        self.send(DetokenizeReply(request_id=msg.request_id, text=text))

    # ------------------------------------------------------------ generation
    def _start_generate(self, req: GenerateRequest) -> None:
        rid = req.request_id
        if not self._check_new_id(rid):
            return
        info = self.engine.info
        try:
            validate_generate(req, info.context_len, info.vocab_size)
        except RequestError as exc:
            self.send_error(exc.code, str(exc), rid)
            return
        if self.server.shutting_down:
            self.send_error("shutting_down", "the server is shutting down", rid)
            return
        entry = _InFlight(engine_id=f"{self.conn_id}.{rid}")
        self._requests[rid] = entry
        assert self._nursery is not None
        self._nursery.start_soon(self._run_generate, req, entry)

    async def _abort_generate(self, entry: _InFlight) -> None:
        """Abort in the engine, so that it ends the stream itself (finish_reason "abort",
        with usage); cancel the request's task if the engine does not know it yet (still
        being admitted) or takes longer than abort_grace_s."""
        try:
            found = await self.engine.abort(entry.engine_id)
        except Exception:  # noqa: BLE001 - fall back to cancelling
            log.exception("engine.abort(%s) failed", entry.engine_id)
            found = False
        if found:
            with trio.move_on_after(self.config.abort_grace_s):
                await entry.done.wait()
        entry.scope.cancel()

    async def _run_generate(self, req: GenerateRequest, entry: _InFlight) -> None:
        rid = req.request_id
        scope = entry.scope
        engine_req = msgspec.structs.replace(req, request_id=entry.engine_id)
        done: set[int] = set()
        replace = msgspec.structs.replace
        try:
            with scope:
                try:
                    # Admission is shielded: a request cancelled while the engine admits it
                    # is still entered and then left (= aborted in the engine), not left
                    # running with nobody reading. A pending cancel lands right after.
                    admit_by = trio.current_time() + self.config.admit_timeout_s
                    with trio.CancelScope(shield=True, deadline=admit_by) as admission:
                        async with self.engine.generate(engine_req) as events:
                            admission.shield = False
                            admission.deadline = math.inf
                            async for ev in events:
                                ev = replace(ev, request_id=rid)
                                if isinstance(ev, OutputFinished):
                                    done.add(ev.index)
                                    self.send(Finished(finished=ev))
                                else:
                                    self.send(Chunk(chunk=ev))
                    if admission.cancelled_caught:
                        self.send_error(
                            "overloaded",
                            f"the engine did not admit the request within "
                            f"{self.config.admit_timeout_s} s",
                            rid,
                        )
                        return
                except RequestError as exc:
                    self.send_error(exc.code, str(exc), rid)
                    return
                except Exception as exc:  # noqa: BLE001 - an engine bug fails one request
                    log.exception("request %s failed in the engine", engine_req.request_id)
                    self.send_error("internal", f"engine error: {type(exc).__name__}: {exc}", rid)
                    return
            if scope.cancelled_caught or entry.abort_requested:
                reason, error = "abort", None
            elif self.server.shutting_down:
                reason, error = "abort", "the server is shutting down"
            else:
                reason, error = "error", "the engine ended the stream without a result"
            for index in range(req.params.n):
                if index not in done:
                    self.send(
                        Finished(
                            finished=OutputFinished(
                                request_id=rid, index=index, finish_reason=reason, error=error
                            )
                        )
                    )
        finally:
            self._requests.pop(rid, None)
            entry.done.set()

    # ------------------------------------------------------------ stats subscription
    def _start_subscription(self, msg: SubscribeStats) -> None:
        rid = msg.request_id
        if not self._check_new_id(rid) or not self._check_tree_nodes(msg.max_tree_nodes, rid):
            return
        subscriptions = sum(1 for e in self._requests.values() if e.engine_id is None)
        if subscriptions >= MAX_SUBSCRIPTIONS:
            self.send_error(
                "overloaded",
                f"this connection has {subscriptions} stats subscriptions: limit "
                f"{MAX_SUBSCRIPTIONS}",
                rid,
            )
            return
        interval = msg.interval_s
        if not (
            math.isfinite(interval) and MIN_STATS_INTERVAL_S <= interval <= MAX_STATS_INTERVAL_S
        ):
            self.send_error(
                "bad_request",
                f"interval_s={interval!r} is invalid: must be in [{MIN_STATS_INTERVAL_S}, "
                f"{MAX_STATS_INTERVAL_S}]",
                rid,
            )
            return
        entry = _InFlight(engine_id=None)
        self._requests[rid] = entry
        assert self._nursery is not None
        self._nursery.start_soon(self._run_subscription, msg, entry)

    async def _run_subscription(self, msg: SubscribeStats, entry: _InFlight) -> None:
        try:
            with entry.scope:
                while True:
                    stats: Any = self.engine.stats(
                        include_tree=msg.include_tree, max_tree_nodes=msg.max_tree_nodes
                    )
                    self.send(Stats(request_id=msg.request_id, stats=stats))
                    await trio.sleep(msg.interval_s)
        finally:
            self._requests.pop(msg.request_id, None)
            entry.done.set()
