"""Python clients of ``radtrio serve``: a blocking, thread-safe :class:`Client` and a Trio
:class:`AsyncClient`.

Both multiplex many requests over one connection by request id. The blocking client runs one
background reader thread that routes each server message to the queue of the call waiting for
it, so any number of threads may use one Client at once.

    with Client("127.0.0.1:30000") as c:
        print(c.generate("The capital of France is", max_new_tokens=16).text)
        for chunk in c.stream("Once upon a time", max_new_tokens=32):
            print(chunk.text, end="", flush=True)
"""

from __future__ import annotations

import contextlib
import math
import queue
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import trio

from radtrio.server.client_common import (
    DEFAULT_ADDRESS,
    Completion,
    ConnectionLost,
    IdSource,
    ServerError,
    ServerUnavailable,
    build_request,
    error_of,
    parse_address,
    route_id,
)
from radtrio.server.protocol import (
    CLIENT_MAX_FRAME_BYTES,
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
    decode_server_message,
)
from radtrio.types import GenerateRequest, OutputChunk, OutputFinished, ServerInfo, StatsSnapshot

__all__ = [
    "AsyncClient",
    "AsyncStatsSubscription",
    "AsyncStream",
    "Client",
    "Completion",
    "ConnectionLost",
    "ServerError",
    "ServerUnavailable",
    "StatsSubscription",
    "Stream",
    "build_request",
    "wait_for_server",
]

_CLOSED = object()  # wakes a waiter whose subscription/stream was closed locally


def _expect(reply: Message, kind: type) -> Any:
    if isinstance(reply, Error):
        raise error_of(reply)
    if not isinstance(reply, kind):
        raise ConnectionLost(f"unexpected reply {type(reply).__name__}, expected {kind.__name__}")
    return reply


def _check_size(frame: bytearray, hello: HelloReply | None) -> None:
    """Refuse locally what the server would refuse by closing the connection."""
    if hello is not None and len(frame) - 4 > hello.max_frame_bytes:
        raise ValueError(
            f"message of {len(frame) - 4} bytes exceeds the server's frame limit of "
            f"{hello.max_frame_bytes} bytes (radtrio serve --max-frame-bytes)"
        )


# ====================================================================== blocking client
class Client:
    """Blocking client; safe to share between threads.

    ``address``: ``"HOST:PORT"`` or a unix socket path. ``timeout``: seconds to wait for each
    answer (None = forever). Raises :class:`ServerUnavailable` when nothing listens there."""

    def __init__(
        self,
        address: str = DEFAULT_ADDRESS,
        *,
        auth_token: str | None = None,
        timeout: float | None = None,
        connect_timeout: float = 10.0,
        client_name: str = "radtrio.client",
    ) -> None:
        self.address = address
        self.timeout = timeout
        self._ids = IdSource()
        self._encoder = FrameEncoder()
        # Reentrant: a Stream collected (its __del__ aborts) while this thread sends.
        self._send_lock = threading.RLock()
        self._lock = threading.RLock()
        self._waiters: dict[str, queue.SimpleQueue[Any]] = {}
        self._closed: BaseException | None = None
        self._sock = _connect_blocking(address, connect_timeout)
        try:
            self._decoder = FrameDecoder(CLIENT_MAX_FRAME_BYTES)
            self._send(
                Hello(version=PROTOCOL_VERSION, auth_token=auth_token, client_name=client_name)
            )
            try:
                reply = self._read_one()
            except TimeoutError:
                raise ServerUnavailable(
                    f"{address} accepted the connection but sent no hello reply within "
                    f"{connect_timeout} s: is it a radtrio server?"
                ) from None
            except ProtocolError as exc:
                raise ServerUnavailable(
                    f"{address} is not a radtrio server (its reply: {exc.message})"
                ) from None
            if isinstance(reply, Error):
                raise error_of(reply)
            if not isinstance(reply, HelloReply):
                raise ConnectionLost(f"expected hello_reply, got {type(reply).__name__}")
        except BaseException:
            self._sock.close()
            raise
        self._sock.settimeout(None)
        self.hello = reply
        self.info: ServerInfo = reply.info
        self._reader = threading.Thread(
            target=self._read_loop, name="radtrio-client-reader", daemon=True
        )
        self._reader.start()

    # ------------------------------------------------------------ plumbing
    def _send(self, msg: Message) -> None:
        with self._send_lock:
            frame = self._encoder.encode(msg)
            _check_size(frame, getattr(self, "hello", None))
            if self._closed is not None:
                raise ConnectionLost(f"connection to {self.address} is closed: {self._closed}")
            try:
                self._sock.sendall(frame)
            except OSError as exc:
                raise ConnectionLost(f"sending to {self.address} failed: {exc}") from exc

    def _read_one(self) -> Message:
        """Synchronous read of one message (used for the handshake only)."""
        pending: list[bytes] = []
        while not pending:
            data = self._sock.recv(1 << 16)
            if not data:
                raise ConnectionLost(f"{self.address} closed the connection during the handshake")
            pending = self._decoder.feed(data)
        self._early = pending[1:]
        return decode_server_message(pending[0])

    def _read_loop(self) -> None:
        reason: BaseException = ConnectionLost(f"{self.address} closed the connection")
        try:
            for body in getattr(self, "_early", []):
                self._route(decode_server_message(body))
            while True:
                data = self._sock.recv(1 << 18)
                if not data:
                    break
                for body in self._decoder.feed(data):
                    self._route(decode_server_message(body))
        except ProtocolError as exc:
            reason = ConnectionLost(f"bad data from {self.address}: {exc.message}")
        except OSError as exc:
            reason = ConnectionLost(f"connection to {self.address} lost: {exc}")
        except ConnectionLost as exc:
            reason = exc
        self._fail_all(reason)

    def _route(self, msg: Message) -> None:
        rid = route_id(msg)
        if rid is None:
            if isinstance(msg, Error):
                exc = error_of(msg)
                if msg.fatal:
                    raise ConnectionLost(str(exc))
            return
        with self._lock:
            q = self._waiters.get(rid)
        if q is not None:
            q.put(msg)
        # else: a late message for a request given up locally (aborted / closed): dropped

    def _fail_all(self, reason: BaseException) -> None:
        with self._lock:
            if self._closed is None:
                self._closed = reason
            waiters = list(self._waiters.values())
        for q in waiters:
            q.put(reason)

    def _register(self, rid: str) -> queue.SimpleQueue[Any]:
        q: queue.SimpleQueue[Any] = queue.SimpleQueue()
        with self._lock:
            if self._closed is not None:
                raise ConnectionLost(f"connection to {self.address} is closed: {self._closed}")
            if rid in self._waiters:
                raise ValueError(f"request_id {rid!r} is already in use on this client")
            self._waiters[rid] = q
        return q

    def _unregister(self, rid: str) -> None:
        with self._lock:
            self._waiters.pop(rid, None)

    def _get(self, q: queue.SimpleQueue[Any], timeout: float | None) -> Any:
        try:
            item = q.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f"no answer from {self.address} within {timeout} s") from None
        if isinstance(item, BaseException):
            raise item
        return item

    def _call(self, msg: Message, rid: str, kind: type) -> Any:
        q = self._register(rid)
        try:
            self._send(msg)
            return _expect(self._get(q, self.timeout), kind)
        finally:
            self._unregister(rid)

    # ------------------------------------------------------------ generation
    def stream(self, prompt: str | None = None, **kwargs: Any) -> Stream:
        """Start a streamed generation; iterate the result for OutputChunk deltas (``.text``,
        ``.token_ids``, ``.index``). Keywords as :func:`build_request`. Closing the stream (or
        leaving its ``with`` block) before the end aborts the request."""
        req = build_request(prompt, stream=True, **kwargs)
        return Stream(self, req)

    def generate(self, prompt: str | None = None, **kwargs: Any) -> Completion:
        """Generate and wait for the result (text, finish_reason, usage, all n outputs)."""
        with Stream(self, build_request(prompt, stream=False, **kwargs)) as s:
            for _ in s:
                pass
            return s.completion

    def abort(self, request_id: str) -> bool:
        """Abort a request of this client; False if it is not in flight here. The request's
        stream ends with a Finished(finish_reason="abort")."""
        with self._lock:
            known = request_id in self._waiters
        if known:
            self._send(Abort(request_id=request_id))
        return known

    # ------------------------------------------------------------ small calls
    def server_info(self) -> ServerInfo:
        rid = self._ids.next()
        return self._call(GetServerInfo(request_id=rid), rid, ServerInfoReply).info

    def stats(self, include_tree: bool = True, max_tree_nodes: int = 200) -> StatsSnapshot:
        rid = self._ids.next()
        msg = GetStats(request_id=rid, include_tree=include_tree, max_tree_nodes=max_tree_nodes)
        return self._call(msg, rid, Stats).stats

    def flush_cache(self) -> bool:
        """Drop the whole prefix cache; False if requests are running."""
        rid = self._ids.next()
        return self._call(FlushCache(request_id=rid), rid, FlushCacheReply).ok

    def tokenize(self, text: str) -> list[int]:
        rid = self._ids.next()
        return self._call(Tokenize(request_id=rid, text=text), rid, TokenizeReply).token_ids

    def detokenize(self, token_ids: list[int]) -> str:
        rid = self._ids.next()
        msg = Detokenize(request_id=rid, token_ids=list(token_ids))
        return self._call(msg, rid, DetokenizeReply).text

    def subscribe_stats(
        self, interval: float = 1.0, include_tree: bool = True, max_tree_nodes: int = 200
    ) -> StatsSubscription:
        """Iterator of StatsSnapshot, one every ``interval`` seconds (the first at once), until
        ``close()`` (callable from any thread) or the connection ends (ConnectionLost)."""
        return StatsSubscription(self, interval, include_tree, max_tree_nodes)

    # ------------------------------------------------------------ lifetime
    @property
    def closed(self) -> bool:
        return self._closed is not None

    def close(self) -> None:
        with self._lock:
            if self._closed is None:
                self._closed = ConnectionLost("the client was closed")
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()
        if self._reader.is_alive() and threading.current_thread() is not self._reader:
            self._reader.join(timeout=5)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Stream:
    """A generation in flight on a blocking Client: an iterator of OutputChunk; afterwards
    ``finished`` (OutputFinished per sample) and ``completion`` are set."""

    def __init__(self, client: Client, req: GenerateRequest) -> None:
        if not req.request_id:
            req.request_id = client._ids.next()
        self.client = client
        self.request_id = req.request_id
        self.n = req.params.n
        self.finished: list[OutputFinished] = []
        self._done = False
        self._q = client._register(self.request_id)
        try:
            client._send(Generate(request=req))
        except BaseException:
            client._unregister(self.request_id)
            raise

    def __iter__(self) -> Iterator[OutputChunk]:
        return self

    def __next__(self) -> OutputChunk:
        while not self._done:
            try:
                item = self.client._get(self._q, self.client.timeout)
            except BaseException:
                self.close()
                raise
            if item is _CLOSED:
                break
            if isinstance(item, Chunk):
                return item.chunk
            if isinstance(item, Finished):
                self.finished.append(item.finished)
                if len(self.finished) >= self.n:
                    self._finish()
            elif isinstance(item, Error):
                self._finish()
                raise error_of(item)
        raise StopIteration

    @property
    def completion(self) -> Completion:
        if not self.finished:
            raise RuntimeError(f"request {self.request_id!r} has no result (not finished)")
        return Completion.from_finished(self.request_id, self.finished)

    def _finish(self) -> None:
        self._done = True
        self.client._unregister(self.request_id)

    def close(self) -> None:
        """Abort the request if it is still running (no-op after the end)."""
        if self._done:
            return
        self._done = True
        try:
            self.client.abort(self.request_id)
        except ConnectionLost:
            pass
        finally:
            self.client._unregister(self.request_id)

    def __enter__(self) -> Stream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()


class StatsSubscription:
    """Iterator of StatsSnapshot from a blocking Client (see Client.subscribe_stats)."""

    def __init__(self, client: Client, interval: float, include_tree: bool, max_tree_nodes: int):
        self.client = client
        self.request_id = client._ids.next()
        self._q = client._register(self.request_id)
        self._done = False
        try:
            client._send(
                SubscribeStats(
                    request_id=self.request_id,
                    interval_s=interval,
                    include_tree=include_tree,
                    max_tree_nodes=max_tree_nodes,
                )
            )
        except BaseException:
            client._unregister(self.request_id)
            raise

    def __iter__(self) -> Iterator[StatsSnapshot]:
        return self

    def __next__(self) -> StatsSnapshot:
        if self._done:
            raise StopIteration
        item = self.client._get(self._q, None)
        if item is _CLOSED:
            raise StopIteration
        return _expect(item, Stats).stats

    def close(self) -> None:
        if self._done:
            return
        self._done = True
        with contextlib.suppress(ConnectionLost):
            self.client._send(Abort(request_id=self.request_id))
        self.client._unregister(self.request_id)
        self._q.put(_CLOSED)

    def __enter__(self) -> StatsSubscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _connect_blocking(address: str, timeout: float) -> socket.socket:
    kind, where, port = parse_address(address)
    try:
        if kind == "unix":
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(timeout)
            try:
                sock.connect(where)
            except BaseException:
                sock.close()
                raise
        else:
            sock = socket.create_connection((where, port), timeout=timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except (
        ConnectionRefusedError,
        FileNotFoundError,
        TimeoutError,
        socket.gaierror,
        OSError,
    ) as exc:
        raise ServerUnavailable(
            f"no radtrio server at {address} ({exc.strerror or exc}); start one with "
            f"`radtrio serve` or check --connect"
        ) from exc
    return sock


# ====================================================================== Trio client
class AsyncClient:
    """Trio client: ``async with AsyncClient("127.0.0.1:30000") as c: await c.generate(...)``.

    Same calls as :class:`Client`, awaited; ``stream`` and ``subscribe_stats`` return async
    iterators that are also async context managers (leaving early aborts)."""

    def __init__(
        self,
        address: str = DEFAULT_ADDRESS,
        *,
        auth_token: str | None = None,
        connect_timeout: float = 10.0,
        client_name: str = "radtrio.client.async",
    ) -> None:
        self.address = address
        self._auth_token = auth_token
        self._connect_timeout = connect_timeout
        self._client_name = client_name
        self._ids = IdSource("a")
        self._encoder = FrameEncoder()
        self._waiters: dict[str, trio.MemorySendChannel[Any]] = {}
        self._closed: BaseException | None = None
        self._send_lock = trio.Lock()
        self._stack = contextlib.AsyncExitStack()
        self.info: ServerInfo | None = None

    async def __aenter__(self) -> AsyncClient:
        try:
            self._stream = await self._connect()
        except (OSError, trio.TooSlowError) as exc:
            why = getattr(exc, "strerror", None) or exc or "timed out"
            raise ServerUnavailable(
                f"no radtrio server at {self.address} ({why}); start one with `radtrio serve`"
            ) from exc
        await self._stack.enter_async_context(self._stream)
        try:
            reply, early = await self._handshake()
        except BaseException:
            await self._stack.aclose()
            raise
        self.hello = reply
        self.info = reply.info
        nursery = await self._stack.enter_async_context(trio.open_nursery())
        self._stack.callback(nursery.cancel_scope.cancel)
        nursery.start_soon(self._read_loop, early)
        return self

    async def _handshake(self) -> tuple[HelloReply, list[bytes]]:
        self._decoder = FrameDecoder(CLIENT_MAX_FRAME_BYTES)
        await self._send(
            Hello(
                version=PROTOCOL_VERSION, auth_token=self._auth_token, client_name=self._client_name
            )
        )
        early: list[bytes] = []
        with trio.move_on_after(self._connect_timeout) as waited:
            while not early:
                data = await self._stream.receive_some(1 << 16)
                if not data:
                    raise ConnectionLost(
                        f"{self.address} closed the connection during the handshake"
                    )
                try:
                    early = self._decoder.feed(data)
                except ProtocolError as exc:
                    raise ServerUnavailable(
                        f"{self.address} is not a radtrio server (its reply: {exc.message})"
                    ) from None
        if waited.cancelled_caught:
            raise ServerUnavailable(
                f"{self.address} accepted the connection but sent no hello reply within "
                f"{self._connect_timeout} s: is it a radtrio server?"
            )
        try:
            reply = decode_server_message(early[0])
        except ProtocolError as exc:
            raise ServerUnavailable(
                f"{self.address} is not a radtrio server (its reply: {exc.message})"
            ) from None
        if isinstance(reply, Error):
            raise error_of(reply)
        if not isinstance(reply, HelloReply):
            raise ConnectionLost(f"expected hello_reply, got {type(reply).__name__}")
        return reply, early[1:]

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._closed is None:
            self._closed = ConnectionLost("the client was closed")
        await self._stack.aclose()

    async def _connect(self) -> trio.abc.Stream:
        kind, where, port = parse_address(self.address)
        with trio.fail_after(self._connect_timeout):
            if kind == "unix":
                return await trio.open_unix_socket(where)
            return await trio.open_tcp_stream(where, port)

    async def _send(self, msg: Message) -> None:
        if self._closed is not None:
            raise ConnectionLost(f"connection to {self.address} is closed: {self._closed}")
        frame = self._encoder.encode(msg)
        _check_size(frame, getattr(self, "hello", None))
        async with self._send_lock:
            # Shielded: a cancelled caller must not leave half a frame on the wire.
            with trio.CancelScope(shield=True):
                try:
                    await self._stream.send_all(frame)
                except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                    raise ConnectionLost(f"sending to {self.address} failed: {exc}") from exc

    async def _read_loop(self, early: list[bytes]) -> None:
        reason: BaseException = ConnectionLost(f"{self.address} closed the connection")
        try:
            for body in early:
                self._route(decode_server_message(body))
            while True:
                data = await self._stream.receive_some(1 << 18)
                if not data:
                    break
                for body in self._decoder.feed(data):
                    self._route(decode_server_message(body))
        except ProtocolError as exc:
            reason = ConnectionLost(f"bad data from {self.address}: {exc.message}")
        except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            reason = ConnectionLost(f"connection to {self.address} lost: {exc}")
        except ConnectionLost as exc:
            reason = exc
        if self._closed is None:
            self._closed = reason
        for send in list(self._waiters.values()):
            send.send_nowait(reason)

    def _route(self, msg: Message) -> None:
        rid = route_id(msg)
        if rid is None:
            if isinstance(msg, Error) and msg.fatal:
                raise ConnectionLost(str(error_of(msg)))
            return
        send = self._waiters.get(rid)
        if send is not None:
            send.send_nowait(msg)

    def _register(self, rid: str) -> trio.MemoryReceiveChannel[Any]:
        if self._closed is not None:
            raise ConnectionLost(f"connection to {self.address} is closed: {self._closed}")
        if rid in self._waiters:
            raise ValueError(f"request_id {rid!r} is already in use on this client")
        send, recv = trio.open_memory_channel[Any](math.inf)
        self._waiters[rid] = send
        return recv

    def _unregister(self, rid: str) -> None:
        self._waiters.pop(rid, None)

    async def _call(self, msg: Message, rid: str, kind: type) -> Any:
        recv = self._register(rid)
        try:
            await self._send(msg)
            item = await recv.receive()
            if isinstance(item, BaseException):
                raise item
            return _expect(item, kind)
        finally:
            self._unregister(rid)

    # ------------------------------------------------------------ calls
    def stream(self, prompt: str | None = None, **kwargs: Any) -> AsyncStream:
        return AsyncStream(self, build_request(prompt, stream=True, **kwargs))

    async def generate(self, prompt: str | None = None, **kwargs: Any) -> Completion:
        async with AsyncStream(self, build_request(prompt, stream=False, **kwargs)) as s:
            async for _ in s:
                pass
            return s.completion

    async def abort(self, request_id: str) -> bool:
        if request_id not in self._waiters:
            return False
        await self._send(Abort(request_id=request_id))
        return True

    async def server_info(self) -> ServerInfo:
        rid = self._ids.next()
        return (await self._call(GetServerInfo(request_id=rid), rid, ServerInfoReply)).info

    async def stats(self, include_tree: bool = True, max_tree_nodes: int = 200) -> StatsSnapshot:
        rid = self._ids.next()
        msg = GetStats(request_id=rid, include_tree=include_tree, max_tree_nodes=max_tree_nodes)
        return (await self._call(msg, rid, Stats)).stats

    async def flush_cache(self) -> bool:
        rid = self._ids.next()
        return (await self._call(FlushCache(request_id=rid), rid, FlushCacheReply)).ok

    async def tokenize(self, text: str) -> list[int]:
        rid = self._ids.next()
        return (await self._call(Tokenize(request_id=rid, text=text), rid, TokenizeReply)).token_ids

    async def detokenize(self, token_ids: list[int]) -> str:
        rid = self._ids.next()
        msg = Detokenize(request_id=rid, token_ids=list(token_ids))
        return (await self._call(msg, rid, DetokenizeReply)).text

    def subscribe_stats(
        self, interval: float = 1.0, include_tree: bool = True, max_tree_nodes: int = 200
    ) -> AsyncStatsSubscription:
        return AsyncStatsSubscription(self, interval, include_tree, max_tree_nodes)


class AsyncStream:
    """``async with client.stream(...) as s: async for chunk in s`` (or ``async for`` alone).
    Leaving early aborts the request; ``finished`` / ``completion`` are set at the end."""

    def __init__(self, client: AsyncClient, req: GenerateRequest) -> None:
        if not req.request_id:
            req.request_id = client._ids.next()
        self.client = client
        self.req = req
        self.request_id = req.request_id
        self.n = req.params.n
        self.finished: list[OutputFinished] = []
        self._recv: trio.MemoryReceiveChannel[Any] | None = None
        self._done = False

    async def _start(self) -> None:
        if self._recv is None:
            self._recv = self.client._register(self.request_id)
            try:
                await self.client._send(Generate(request=self.req))
            except BaseException:
                self._done = True
                self.client._unregister(self.request_id)
                raise

    async def __aenter__(self) -> AsyncStream:
        await self._start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __aiter__(self) -> AsyncIterator[OutputChunk]:
        return self

    async def __anext__(self) -> OutputChunk:
        await self._start()
        assert self._recv is not None
        try:
            while not self._done:
                item = await self._recv.receive()
                if isinstance(item, BaseException):
                    self._done = True
                    raise item
                if isinstance(item, Chunk):
                    return item.chunk
                if isinstance(item, Finished):
                    self.finished.append(item.finished)
                    if len(self.finished) >= self.n:
                        self._done = True
                        self.client._unregister(self.request_id)
                elif isinstance(item, Error):
                    self._done = True
                    self.client._unregister(self.request_id)
                    raise error_of(item)
        except BaseException:
            if not self._done:
                await self.aclose()
            raise
        raise StopAsyncIteration

    @property
    def completion(self) -> Completion:
        if not self.finished:
            raise RuntimeError(f"request {self.request_id!r} has no result (not finished)")
        return Completion.from_finished(self.request_id, self.finished)

    async def aclose(self) -> None:
        if self._done:
            return
        self._done = True
        try:
            if self._recv is not None:
                with trio.CancelScope(shield=True):
                    await self.client.abort(self.request_id)
        except ConnectionLost:
            pass
        finally:
            self.client._unregister(self.request_id)


class AsyncStatsSubscription:
    def __init__(
        self, client: AsyncClient, interval: float, include_tree: bool, max_tree_nodes: int
    ):
        self.client = client
        self.request_id = client._ids.next()
        self._msg = SubscribeStats(
            request_id=self.request_id,
            interval_s=interval,
            include_tree=include_tree,
            max_tree_nodes=max_tree_nodes,
        )
        self._recv: trio.MemoryReceiveChannel[Any] | None = None
        self._done = False

    async def __aenter__(self) -> AsyncStatsSubscription:
        await self._start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _start(self) -> None:
        if self._recv is None:
            self._recv = self.client._register(self.request_id)
            await self.client._send(self._msg)

    def __aiter__(self) -> AsyncIterator[StatsSnapshot]:
        return self

    async def __anext__(self) -> StatsSnapshot:
        await self._start()
        assert self._recv is not None
        if self._done:
            raise StopAsyncIteration
        item = await self._recv.receive()
        if isinstance(item, BaseException):
            raise item
        return _expect(item, Stats).stats

    async def aclose(self) -> None:
        if self._done:
            return
        self._done = True
        with trio.CancelScope(shield=True), contextlib.suppress(ConnectionLost):
            await self.client._send(Abort(request_id=self.request_id))
        self.client._unregister(self.request_id)


def wait_for_server(address: str, timeout: float = 30.0, auth_token: str | None = None) -> Client:
    """Connect, retrying until a server answers or ``timeout`` passes (for scripts and tests)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return Client(address, auth_token=auth_token)
        except ServerUnavailable:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
