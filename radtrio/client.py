"""Python clients of `radtrio serve` (see radtrio.server.client and docs/protocol.md)."""

from radtrio.server.client import (
    AsyncClient,
    AsyncStatsSubscription,
    AsyncStream,
    Client,
    Completion,
    ConnectionLost,
    ServerError,
    ServerUnavailable,
    StatsSubscription,
    Stream,
    build_request,
    wait_for_server,
)

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
