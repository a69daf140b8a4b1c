"""A real `radtrio serve` socket server (radtrio.server.Server) in a background thread, over a
small engine whose stats the test scripts: what the dashboard's protocol tests connect to."""

from __future__ import annotations

import threading
from typing import Any

import trio
from tui_fakes import INFO, snapshot

from radtrio.server.server import Server, ServerConfig
from radtrio.types import StatsSnapshot


class StatsEngine:
    """The part of the AsyncEngine API that a stats subscription, server info and a flush use."""

    def __init__(self, snap: StatsSnapshot | None = None, flush_answer: bool = True) -> None:
        self.info = INFO
        self.tokenizer = None
        self.snap = snap if snap is not None else snapshot(0)
        self.flush_answer = flush_answer
        self.flushes = 0
        self.stats_calls: list[tuple[bool, int]] = []

    async def run(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        await trio.sleep_forever()

    async def shutdown(self, deadline_s: float = 10.0) -> None:
        return None

    def stats(self, include_tree: bool = True, max_tree_nodes: int = 200) -> StatsSnapshot:
        self.stats_calls.append((include_tree, max_tree_nodes))
        return self.snap

    async def flush_cache(self) -> bool:
        self.flushes += 1
        return self.flush_answer


class ServerThread:
    """``with ServerThread(engine, port=0) as st: st.address``; ``st.stop()`` ends it early."""

    def __init__(self, engine: Any, **config: Any) -> None:
        self.engine = engine
        config.setdefault("port", 0)
        config.setdefault("status_interval_s", None)
        config.setdefault("shutdown_deadline_s", 0.2)
        config.setdefault("close_flush_s", 0.1)
        self.server = Server(engine, ServerConfig(**config))
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, daemon=True)

    def _main(self) -> None:
        async def main() -> None:
            self.token = trio.lowlevel.current_trio_token()
            async with trio.open_nursery() as outer:
                await outer.start(self.engine.run)
                async with trio.open_nursery() as inner:
                    await inner.start(self.server.serve)
                    self._ready.set()
                # serve() returned: the graceful shutdown is over; stop the engine too.
                outer.cancel_scope.cancel()

        try:
            trio.run(main)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test thread
            self._error = exc
        finally:
            self._ready.set()

    @property
    def address(self) -> str:
        return self.server.addresses[0]

    def start(self) -> ServerThread:
        self._thread.start()
        if not self._ready.wait(10):
            raise TimeoutError("the test server did not start within 10 s")
        if self._error is not None:
            raise self._error
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            trio.from_thread.run_sync(self.server.request_shutdown, trio_token=self.token)
            self._thread.join(10)
        if self._error is not None:
            raise self._error

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
