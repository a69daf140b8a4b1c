"""Evictor: keeps a watermark of free KV slots by evicting LRU leaves of the radix tree.

The scheduler's own allocations evict on demand (``cache.alloc``); this actor works
ahead of it while the engine is busy, so admissions rarely wait on an eviction.
"""

from __future__ import annotations

import trio

from radtrio.cache.policy import PrefixCache


class Evictor:
    def __init__(self, cache: PrefixCache, watermark: float, interval_s: float = 0.05) -> None:
        self.cache = cache
        self.watermark = watermark
        self.interval_s = interval_s
        self.evicted = 0

    def target_free(self) -> int:
        return int(self.cache.allocator.capacity * self.watermark)

    def make_room(self, n_free: int) -> int:
        """Evict until at least ``n_free`` slots are free (or nothing is evictable)."""
        short = n_free - self.cache.allocator.free_count
        if short <= 0:
            return 0
        freed = self.cache.evict(short)
        self.evicted += freed
        return freed

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        while True:
            self.make_room(self.target_free())
            await trio.sleep(self.interval_s)
