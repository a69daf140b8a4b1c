"""A byte-bounded queue of encoded frames between a connection's producers and its writer.

Producers never wait: :meth:`Outbox.put` returns False when the frame would take the queue past
its byte budget, and the connection then drops the client as a slow consumer. Waiting instead
would stall the engine's streamer for everyone because of one client that does not read.
"""

from __future__ import annotations

from collections import deque

import trio


class Outbox:
    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._frames: deque[bytes | bytearray] = deque()
        self._bytes = 0
        self._closed = False
        self._wakeup = trio.Event()

    @property
    def queued_bytes(self) -> int:
        return self._bytes

    @property
    def closed(self) -> bool:
        return self._closed

    def put(self, frame: bytes | bytearray) -> bool:
        """Queue a frame; False (and nothing queued) when over budget. Ignored once closed."""
        if self._closed:
            return True
        if self._frames and self._bytes + len(frame) > self.max_bytes:
            return False
        self._frames.append(frame)
        self._bytes += len(frame)
        self._wakeup.set()
        return True

    def force_put(self, frame: bytes | bytearray) -> None:
        """Queue a frame past the budget (the last Error before dropping a client)."""
        if not self._closed:
            self._frames.append(frame)
            self._bytes += len(frame)
            self._wakeup.set()

    def close(self) -> None:
        """No more frames; the writer drains what is queued, then get() returns b""."""
        self._closed = True
        self._wakeup.set()

    async def get(self, max_batch_bytes: int = 256 << 10) -> bytes:
        """Whole frames joined (at least one, up to about max_batch_bytes); b"" when closed and
        drained."""
        while not self._frames:
            if self._closed:
                return b""
            self._wakeup = trio.Event()
            await self._wakeup.wait()
        parts = [self._frames.popleft()]
        size = len(parts[0])
        while self._frames and size + len(self._frames[0]) <= max_batch_bytes:
            frame = self._frames.popleft()
            parts.append(frame)
            size += len(frame)
        self._bytes -= size
        return b"".join(parts)
