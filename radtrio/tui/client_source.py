"""The StatsSource that talks to `radtrio serve` through the blocking protocol client.

One connection carries both the stats subscription and a flush (the client multiplexes calls
by request id and is thread-safe). Every client failure becomes a SourceError whose text is
the client's own message (it names the address and what went wrong).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

from radtrio.server.client import Client, ConnectionLost, ServerError, ServerUnavailable
from radtrio.tui.source import SourceError
from radtrio.types import ServerInfo, StatsSnapshot

_FAILURES = (ServerUnavailable, ConnectionLost, ServerError, TimeoutError, OSError)


class ClientSource:
    def __init__(
        self,
        address: str,
        *,
        auth_token: str | None = None,
        connect_timeout_s: float = 3.0,
        call_timeout_s: float = 10.0,
        max_tree_nodes: int = 200,
    ) -> None:
        self._address = address
        self.auth_token = auth_token
        self.connect_timeout_s = connect_timeout_s
        self.call_timeout_s = call_timeout_s
        self.max_tree_nodes = max_tree_nodes
        self._lock = threading.Lock()
        self._client: Client | None = None

    @property
    def address(self) -> str:
        return self._address

    def connect(self) -> ServerInfo:
        self.close()
        try:
            client = Client(
                self._address,
                auth_token=self.auth_token,
                timeout=self.call_timeout_s,
                connect_timeout=self.connect_timeout_s,
                client_name="radtrio.top",
            )
        except _FAILURES as exc:
            raise SourceError(_reason(exc)) from exc
        with self._lock:
            self._client = client
        return client.info

    def snapshots(self, interval_s: float) -> Iterator[StatsSnapshot]:
        client = self._current()
        try:
            with client.subscribe_stats(
                interval_s, include_tree=True, max_tree_nodes=self.max_tree_nodes
            ) as sub:
                yield from sub
        except _FAILURES as exc:
            raise SourceError(_reason(exc)) from exc

    def flush_cache(self) -> bool:
        client = self._current()
        try:
            return client.flush_cache()
        except _FAILURES as exc:
            raise SourceError(_reason(exc)) from exc

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    def _current(self) -> Client:
        with self._lock:
            client = self._client
        if client is None or client.closed:
            raise SourceError(f"not connected to {self._address}")
        return client


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    if isinstance(exc, TimeoutError):
        return text or "timed out"
    return text or type(exc).__name__
