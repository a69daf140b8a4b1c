"""Where the dashboard's data comes from: a small interface, so the app and most tests can run
against a fake, and the protocol-backed source is one implementation among others.

A source is used from the dashboard's reader thread (connect, snapshots) and, for a flush,
from a worker thread; ``close`` may be called from any thread and must unblock ``snapshots``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol, runtime_checkable

from radtrio.types import ServerInfo, StatsSnapshot


class SourceError(Exception):
    """The server could not be reached, refused the request, or the connection broke."""


@runtime_checkable
class StatsSource(Protocol):
    @property
    def address(self) -> str:
        """Where the data comes from, for people: '127.0.0.1:30000' or 'unix:/run/radtrio.sock'."""
        ...

    def connect(self) -> ServerInfo:
        """Open a connection and return the server's facts. Raises SourceError."""
        ...

    def snapshots(self, interval_s: float) -> Iterator[StatsSnapshot]:
        """Stats every ``interval_s`` seconds until the connection ends; raises SourceError when
        it breaks (a clean end of the iterator also means the server went away)."""
        ...

    def flush_cache(self) -> bool:
        """Ask the server to drop its prefix cache; False when it refused (requests running)."""
        ...

    def close(self) -> None:
        """Close every connection; a blocked ``snapshots`` returns or raises soon after."""
        ...
