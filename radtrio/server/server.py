"""The radtrio socket server: listeners, the connection cap, status lines, graceful shutdown.

Shape (after hypercorn's Trio worker): one task per connection (radtrio.server.connection), all
in one connections nursery; shutdown stops the listeners, lets the engine finish what is in
flight until a deadline, then cancels the connections.
"""

from __future__ import annotations

import itertools
import logging
import os
import signal
import socket as pysocket
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import trio

from radtrio.server.connection import Connection
from radtrio.server.protocol import DEFAULT_MAX_FRAME_BYTES

log = logging.getLogger("radtrio.server")


@dataclass
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 30000  # 0 = any free port
    unix_path: str | None = None  # listen on this unix socket instead of TCP
    auth_token: str | None = None
    max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES
    max_connections: int = 4096
    max_requests_per_connection: int = 1024
    max_outbox_bytes: int = 16 << 20  # unread output per connection before it is dropped
    handshake_timeout_s: float = 10.0  # hello must arrive within this
    frame_timeout_s: float = 30.0  # a started frame must complete within this
    idle_timeout_s: float | None = None  # None = idle connections may stay
    write_timeout_s: float = 30.0  # one write to a client that does not read
    close_flush_s: float = 1.0  # flushing the last messages of a closing connection
    admit_timeout_s: float = 60.0  # the engine accepting (or refusing) a new request
    abort_grace_s: float = 2.0  # an aborted request's stream must end within this
    shutdown_deadline_s: float = 10.0
    status_interval_s: float | None = 10.0  # None = no periodic status line

    def validate(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port={self.port}: must be in [0, 65535]")
        if self.max_frame_bytes < 1024:
            raise ValueError(f"max_frame_bytes={self.max_frame_bytes}: must be >= 1024")
        if self.max_connections < 1:
            raise ValueError(f"max_connections={self.max_connections}: must be >= 1")
        if self.max_outbox_bytes < 4096:
            raise ValueError(f"max_outbox_bytes={self.max_outbox_bytes}: must be >= 4096")


class Server:
    """Serves an AsyncEngine (or anything with its API) on a socket.

    ``await nursery.start(server.serve)`` returns once listening; ``server.addresses`` tells
    where. ``server.request_shutdown()`` starts a graceful shutdown; ``serve`` returns when done.
    """

    def __init__(self, engine: Any, config: ServerConfig | None = None) -> None:
        self.engine = engine
        self.config = config or ServerConfig()
        self.config.validate()
        self.connections: dict[int, Connection] = {}
        self.addresses: list[str] = []
        self.shutting_down = False
        self.refused_connections = 0
        self.slow_consumers = 0
        self._ids = itertools.count(1)
        self._shutdown = trio.Event()

    # ------------------------------------------------------------ public
    def request_shutdown(self) -> None:
        self._shutdown.set()

    @property
    def in_flight(self) -> int:
        return sum(c.in_flight for c in self.connections.values())

    async def serve(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        listeners = await self._open_listeners()
        try:
            async with trio.open_nursery() as nursery:
                listen_scope = trio.CancelScope()
                nursery.start_soon(self._accept, listeners, nursery, listen_scope)
                if self.config.status_interval_s:
                    nursery.start_soon(self._status_loop)
                task_status.started(self)
                await self._shutdown.wait()
                log.info(
                    "shutting down: %d connections, %d requests in flight",
                    len(self.connections),
                    self.in_flight,
                )
                self.shutting_down = True
                listen_scope.cancel()
                await self._drain()
                nursery.cancel_scope.cancel()
        finally:
            for listener in listeners:
                await trio.aclose_forcefully(listener)
            if self.config.unix_path:
                try:
                    os.unlink(self.config.unix_path)
                except OSError:
                    pass

    def status_line(self) -> str:
        s = self.engine.stats(include_tree=False)
        return (
            f"connections={len(self.connections)} running={s.running} queued={s.queued} "
            f"slots used={s.used_slots} cached={s.evictable_slots} free={s.free_slots}/"
            f"{s.pool_slots} hit={100 * s.cache_hit_rate:.1f}% "
            f"prefill={s.prefill_tokens_per_s:.0f} tok/s decode={s.decode_tokens_per_s:.0f} tok/s "
            f"finished={s.finished_requests} aborted={s.aborted_requests}"
        )

    # ------------------------------------------------------------ internals
    async def _open_listeners(self) -> list[trio.SocketListener]:
        cfg = self.config
        if cfg.unix_path:
            if os.path.exists(cfg.unix_path):
                # A stale socket file from a dead server; refuse anything else.
                import stat

                if not stat.S_ISSOCK(os.stat(cfg.unix_path).st_mode):
                    raise OSError(f"{cfg.unix_path} exists and is not a socket")
                os.unlink(cfg.unix_path)
            sock = trio.socket.socket(pysocket.AF_UNIX, pysocket.SOCK_STREAM)
            await sock.bind(cfg.unix_path)
            sock.listen(min(cfg.max_connections, 4096))
            self.addresses = [cfg.unix_path]
            return [trio.SocketListener(sock)]
        listeners = await trio.open_tcp_listeners(
            cfg.port, host=cfg.host, backlog=min(cfg.max_connections, 4096)
        )
        self.addresses = []
        for listener in listeners:
            host, port = listener.socket.getsockname()[:2]
            self.addresses.append(f"[{host}]:{port}" if ":" in host else f"{host}:{port}")
        return listeners

    @property
    def port(self) -> int:
        """The TCP port listened on (useful with port=0)."""
        return int(self.addresses[0].rsplit(":", 1)[1])

    async def _accept(
        self, listeners: list[trio.SocketListener], nursery: trio.Nursery, scope: trio.CancelScope
    ) -> None:
        with scope:
            await trio.serve_listeners(self._handle, listeners, handler_nursery=nursery)

    async def _handle(self, stream: trio.SocketStream) -> None:
        conn_id = next(self._ids)
        conn = Connection(self, stream, conn_id)
        if len(self.connections) >= self.config.max_connections or self.shutting_down:
            self.refused_connections += 1
            if self.shutting_down:
                await conn.send_fatal_and_close("shutting_down", "the server is shutting down")
            else:
                await conn.send_fatal_and_close(
                    "too_many_connections",
                    f"the server has {len(self.connections)} connections: limit "
                    f"{self.config.max_connections}",
                )
            return
        if isinstance(stream, trio.SocketStream):
            try:
                stream.setsockopt(pysocket.IPPROTO_TCP, pysocket.TCP_NODELAY, True)
            except OSError:
                pass  # unix sockets have no TCP options
        self.connections[conn_id] = conn
        try:
            await conn.run()
        finally:
            del self.connections[conn_id]

    async def _drain(self) -> None:
        """Let the engine finish in-flight requests until the deadline, then abort the rest."""
        deadline = self.config.shutdown_deadline_s
        shutdown = getattr(self.engine, "shutdown", None)
        with trio.move_on_after(deadline + 2.0):
            if shutdown is not None:
                await shutdown(deadline)
            while self.in_flight:
                await trio.sleep(0.05)
        # The last Finished messages still have to reach the clients.
        with trio.move_on_after(self.config.close_flush_s):
            while any(c.outbox.queued_bytes for c in self.connections.values()):
                await trio.sleep(0.02)

    async def _status_loop(self) -> None:
        """A status line every interval while anything happens (idle repeats are skipped)."""
        last_key: tuple[int, ...] | None = None
        while True:
            await trio.sleep(self.config.status_interval_s or 10.0)
            try:
                s = self.engine.stats(include_tree=False)
                key = (
                    len(self.connections),
                    s.running,
                    s.queued,
                    s.finished_requests,
                    s.aborted_requests,
                    s.used_slots,
                )
                if key == last_key and not s.running and not s.queued:
                    continue
                last_key = key
                line = self.status_line()
            except Exception as exc:  # noqa: BLE001 - a status line must never end the server
                line = f"status unavailable: {exc}"
            print(f"radtrio: {line}", file=sys.stderr, flush=True)


async def run_server(
    engine: Any,
    config: ServerConfig,
    on_listening: Callable[[Server], None] | None = None,
    *,
    handle_signals: bool = True,
) -> None:
    """Start the engine and the server; return after SIGINT/SIGTERM and a graceful shutdown.
    A second signal cancels at once."""
    server = Server(engine, config)
    served = trio.Event()

    async def serve(task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        try:
            await server.serve(task_status=task_status)
        finally:
            served.set()

    async with trio.open_nursery() as nursery:
        await nursery.start(engine.run)
        await nursery.start(serve)
        if on_listening is not None:
            on_listening(server)
        if handle_signals:
            nursery.start_soon(_watch_signals, server, nursery.cancel_scope)
        await served.wait()
        nursery.cancel_scope.cancel()  # stops the engine and the signal watcher


async def _watch_signals(server: Server, scope: trio.CancelScope) -> None:
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        count = 0
        async for signum in signals:
            count += 1
            if count == 1:
                print(
                    f"radtrio: {signal.Signals(signum).name}: shutting down (again to force)",
                    file=sys.stderr,
                    flush=True,
                )
                server.request_shutdown()
            else:
                scope.cancel()
                return
