"""Test helpers: a live server in a background thread, and a raw socket client for sending
arbitrary bytes (the hostile-input tests)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import trio
from server_fake_engine import FakeEngine

from radtrio.server.protocol import (
    PROTOCOL_VERSION,
    FrameDecoder,
    Hello,
    HelloReply,
    Message,
    decode_server_message,
    encode_frame,
)
from radtrio.server.server import Server, ServerConfig


class ServerThread:
    """``with ServerThread(FakeEngine(), max_connections=10) as st: st.address``"""

    def __init__(self, engine: Any | None = None, **config: Any) -> None:
        self.engine = engine if engine is not None else FakeEngine()
        config.setdefault("port", 0)
        config.setdefault("status_interval_s", None)
        self.config = ServerConfig(**config)
        self.server = Server(self.engine, self.config)
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, daemon=True)

    def _main(self) -> None:
        async def main() -> None:
            self.token = trio.lowlevel.current_trio_token()
            async with trio.open_nursery() as nursery:
                await nursery.start(self.engine.run)
                await nursery.start(self.server.serve)
                self._ready.set()
                # serve() returns after request_shutdown(); then stop the engine.
                await self.server._shutdown.wait()
                while not self.server.shutting_down or self.server.connections:
                    await trio.sleep(0.01)
                await trio.sleep(0.05)
                nursery.cancel_scope.cancel()

        try:
            trio.run(main)
        except BaseException as exc:  # noqa: BLE001 - reported by the test through .error
            self._error = exc
            self._ready.set()

    @property
    def address(self) -> str:
        return self.server.addresses[0]

    def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run a sync function in the server's Trio thread (to read engine state safely)."""
        return trio.from_thread.run_sync(fn, *args, trio_token=self.token)

    def wait_until(self, predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.call(predicate):
                return True
            time.sleep(0.01)
        return False

    def __enter__(self) -> ServerThread:
        self._thread.start()
        self._ready.wait(10)
        if self._error is not None:
            raise self._error
        return self

    def __exit__(self, *exc: object) -> None:
        if self._thread.is_alive():
            self.call(self.server.request_shutdown)
            self._thread.join(15)
        if self._error is not None:
            raise self._error


class Raw:
    """A raw protocol connection: send any bytes, read decoded server messages."""

    def __init__(self, address: str, *, hello: bool = True, token: str | None = None) -> None:
        host, port = address.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=5)
        self.decoder = FrameDecoder(1 << 30)
        self.pending: list[Message] = []
        self.closed = False
        if hello:
            self.send(Hello(version=PROTOCOL_VERSION, auth_token=token))
            reply = self.read()
            if not isinstance(reply, HelloReply):
                raise AssertionError(f"expected hello_reply, got {reply!r}")

    def send(self, msg: Message) -> None:
        self.sock.sendall(encode_frame(msg))

    def send_bytes(self, data: bytes) -> None:
        self.sock.sendall(data)

    def send_body(self, body: bytes) -> None:
        self.sock.sendall(len(body).to_bytes(4, "big") + body)

    def read(self, timeout: float = 5.0) -> Message | None:
        """The next message; None when the server closed the connection."""
        self.sock.settimeout(timeout)
        while not self.pending:
            try:
                data = self.sock.recv(1 << 16)
            except ConnectionResetError:
                data = b""
            if not data:
                self.closed = True
                return None
            self.pending = [decode_server_message(b) for b in self.decoder.feed(data)]
        return self.pending.pop(0)

    def read_all_until_closed(self, timeout: float = 5.0) -> list[Message]:
        out: list[Message] = []
        while (msg := self.read(timeout)) is not None:
            out.append(msg)
        return out

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Raw:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
