"""The reader thread: keeps a StatsSource connected and hands each event to callbacks.

The dashboard passes callbacks that post Textual messages (thread-safe); tests can pass plain
functions. A lost or refused connection is reported and retried with a growing delay until
``stop`` is called.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

from radtrio.tui.source import SourceError, StatsSource
from radtrio.types import ServerInfo, StatsSnapshot

RETRY_DELAYS_S = (0.5, 1.0, 2.0, 3.0, 5.0)


class Feed:
    def __init__(
        self,
        source: StatsSource,
        interval_s: float,
        on_connected: Callable[[ServerInfo], None],
        on_snapshot: Callable[[StatsSnapshot], None],
        on_lost: Callable[[str, float, int], None],
        retry_delays_s: Sequence[float] = RETRY_DELAYS_S,
    ) -> None:
        if interval_s <= 0:
            raise ValueError(f"interval_s={interval_s!r} is invalid: must be > 0")
        if not retry_delays_s:
            raise ValueError("retry_delays_s must name at least one delay")
        self.source = source
        self.interval_s = interval_s
        self.on_connected = on_connected
        self.on_snapshot = on_snapshot
        self.on_lost = on_lost
        self.retry_delays_s = tuple(retry_delays_s)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="radtrio-top-feed", daemon=True)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = 2.0) -> None:
        self._stop.set()
        try:
            self.source.close()
        finally:
            if self._thread.is_alive() and self._thread is not threading.current_thread():
                self._thread.join(timeout_s)

    def _run(self) -> None:
        try:
            self._loop()
        finally:
            self.source.close()  # a connect that finished after stop() must not stay open

    def _loop(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                info = self.source.connect()
                if self._stop.is_set():
                    break
                failures = 0
                self.on_connected(info)
                for snap in self.source.snapshots(self.interval_s):
                    if self._stop.is_set():
                        break
                    self.on_snapshot(snap)
                else:
                    raise SourceError("the server closed the stats stream")
            except Exception as exc:  # noqa: BLE001 - any failure means: report, wait, retry
                if self._stop.is_set():
                    break
                delay = self.retry_delays_s[min(failures, len(self.retry_delays_s) - 1)]
                failures += 1
                self.on_lost(describe(exc), delay, failures)
                self.source.close()
                self._stop.wait(delay)


def describe(exc: BaseException) -> str:
    """A one-line reason for a banner: the message, or the exception type when there is none."""
    if isinstance(exc, SourceError):
        return str(exc) or "connection failed"
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
