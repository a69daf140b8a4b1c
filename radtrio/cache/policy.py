"""The prefix cache as the engine uses it: one object per engine, radix or none.

The engine keeps, per running request, ``(tokens, slots, last_node, cached_len)``:

- ``tokens``: the token ids whose K/V have been written (prompt + output so far; the
  token just sampled has no K/V yet, so it is not part of ``tokens``);
- ``slots``: int64 array, ``len(slots) == len(tokens)``, the KV slot of each token;
- ``slots[:cached_len]`` are the **tree's** slots, reused from the cache. The request
  does not own them: it holds one lock on ``last_node``, which keeps them from eviction;
- ``slots[cached_len:]`` are the **request's own** slots (from ``alloc``); it must give
  each back exactly once, through ``cache_finished`` / ``cache_unfinished`` / ``release``.

Typical life of a request::

    m = cache.match_prefix(prompt[:-1], ns)     # tree slots m.slots, node m.node
    cache.lock(m.node)
    own = cache.alloc(len(prompt) - m.length)  # evicts LRU leaves when short
    slots = np.concatenate([m.slots, own]); cached_len = m.length; last_node = m.node
    ... forward steps; per decode step: slots = np.append(slots, cache.alloc(1)) ...
    slots, last_node, cached_len = cache.cache_unfinished(tokens, slots, last_node,
                                                          cached_len, ns)  # chunked prefill
    cache.cache_finished(tokens, slots, last_node, cached_len, ns)  # done: all handed over

After ``cache_finished`` the request owns nothing and holds no lock.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

import numpy as np

from radtrio.cache.allocator import OutOfSlotsError, SlotAllocator, as_slots
from radtrio.cache.radix_tree import (
    CacheIntegrityError,
    CacheStats,
    MatchResult,
    NodeInfo,
    RadixTree,
    TokenIds,
    TreeNode,
)


class PrefixCache(Protocol):
    """What the engine calls. Implemented by :class:`RadixCache` and :class:`NoRadixCache`."""

    allocator: SlotAllocator
    page_size: int

    def match_prefix(self, tokens: TokenIds, namespace: str | None = None) -> MatchResult: ...

    def peek_prefix_len(self, tokens: TokenIds, namespace: str | None = None) -> int: ...

    def lock(self, node: TreeNode) -> None: ...

    def unlock(self, node: TreeNode) -> None: ...

    def alloc(self, n: int) -> np.ndarray: ...

    def evict(self, n_tokens: int) -> int: ...

    def available(self) -> int: ...

    def cache_finished(
        self,
        tokens: TokenIds,
        slots: np.ndarray,
        last_node: TreeNode,
        cached_len: int,
        namespace: str | None = None,
    ) -> None: ...

    def cache_unfinished(
        self,
        tokens: TokenIds,
        slots: np.ndarray,
        last_node: TreeNode,
        cached_len: int,
        namespace: str | None = None,
    ) -> tuple[np.ndarray, TreeNode, int]: ...

    def release(self, slots: np.ndarray, last_node: TreeNode, cached_len: int) -> None: ...

    def stats(self) -> CacheStats: ...

    def snapshot(self, max_nodes: int = 256, label_tokens: int = 8) -> list[NodeInfo]: ...

    def check_integrity(self, idle: bool = False) -> None: ...

    def reset(self) -> None: ...


def _check_request(tokens: np.ndarray, slots: np.ndarray, cached_len: int) -> None:
    if len(tokens) != len(slots):
        raise ValueError(
            f"{len(tokens)} tokens but {len(slots)} slots: pass the tokens whose K/V are written"
        )
    if not 0 <= cached_len <= len(slots):
        raise ValueError(f"cached_len={cached_len}: must be in [0, {len(slots)}]")


class RadixCache(RadixTree):
    """RadixAttention: the radix tree plus the engine's slot hand-over rules."""

    def available(self) -> int:
        """Slots an ``alloc`` can get now: free + evictable."""
        return self.allocator.free_count + self.evictable_size

    def alloc(self, n: int) -> np.ndarray:
        """``n`` slots for the caller to own, evicting LRU leaves if too few are free.
        Raises OutOfSlotsError (nothing evicted) when free + evictable < n."""
        short = n - self.allocator.free_count
        if short > 0:
            if short > self.evictable_size:
                raise OutOfSlotsError(
                    f"cannot allocate {n} KV slots: {self.allocator.free_count} free and "
                    f"{self.evictable_size} evictable of {self.allocator.capacity}"
                )
            self.evict(short)
        return self.allocator.alloc(n)

    def cache_finished(
        self,
        tokens: TokenIds,
        slots: np.ndarray,
        last_node: TreeNode,
        cached_len: int,
        namespace: str | None = None,
    ) -> None:
        """A request is done: put its sequence in the tree and hand everything back.

        Inserts ``tokens`` (aligned down to the page size). Of the request's own slots
        ``slots[cached_len:]``: those now in a new tree node go to the tree; those whose
        tokens the tree already had (someone else inserted them meanwhile) and the
        unaligned tail are freed. Then unlocks ``last_node``.
        """
        toks = as_slots(tokens, "tokens")
        sl = as_slots(slots)
        _check_request(toks, sl, cached_len)
        result = self.insert(toks, sl, namespace)
        self._free_duplicates(sl, cached_len, result.cached_len)
        if result.length < len(sl):
            self.allocator.free(sl[max(result.length, cached_len) :])
        self.unlock(last_node)

    def cache_unfinished(
        self,
        tokens: TokenIds,
        slots: np.ndarray,
        last_node: TreeNode,
        cached_len: int,
        namespace: str | None = None,
    ) -> tuple[np.ndarray, TreeNode, int]:
        """Cache what a running request has so far and keep it running (chunked
        prefill, or before retracting it).

        Inserts ``tokens`` (aligned down to the page size); frees the request's slots the
        tree already had; moves the request's lock from ``last_node`` to the new node.
        Returns ``(new_slots, new_node, new_cached_len)``: ``new_slots[:new_cached_len]``
        are now the tree's slots (write them into the request's table row: some may have
        changed), ``new_slots[new_cached_len:]`` (the unaligned tail) stay the request's.
        """
        toks = as_slots(tokens, "tokens")
        sl = as_slots(slots)
        _check_request(toks, sl, cached_len)
        result = self.insert(toks, sl, namespace)
        self._free_duplicates(sl, cached_len, result.cached_len)
        self.lock(result.node)
        self.unlock(last_node)
        tree_slots = self.node_slots(result.node)
        new_slots = np.concatenate([tree_slots, sl[result.length :]])
        return new_slots, result.node, result.length

    def release(self, slots: np.ndarray, last_node: TreeNode, cached_len: int) -> None:
        """Drop a request without caching it (its K/V are not to be trusted): free its
        own slots ``slots[cached_len:]`` and unlock ``last_node``."""
        sl = as_slots(slots)
        if not 0 <= cached_len <= len(sl):
            raise ValueError(f"cached_len={cached_len}: must be in [0, {len(sl)}]")
        self.allocator.free(sl[cached_len:])
        self.unlock(last_node)

    def _free_duplicates(self, slots: np.ndarray, cached_len: int, tree_len: int) -> None:
        # slots[:cached_len] are the tree's own; slots[cached_len:tree_len] were allocated by
        # the request for tokens that the tree got from another request meanwhile.
        if tree_len < cached_len:
            raise CacheIntegrityError(
                f"the tree lost part of a locked prefix: {tree_len} < cached_len {cached_len}"
            )
        if tree_len > cached_len:
            self.allocator.free(slots[cached_len:tree_len])


class NoRadixCache:
    """No prefix reuse (for comparison): matches are always empty, every slot of a
    request is freed when it finishes. Same interface as :class:`RadixCache`."""

    def __init__(
        self,
        allocator: SlotAllocator,
        page_size: int = 1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if page_size < 1:
            raise ValueError(f"page_size={page_size}: must be >= 1")
        self.allocator = allocator
        self.page_size = int(page_size)
        self.clock = clock
        empty = np.zeros(0, dtype=np.int64)
        self.root = TreeNode(0, None, empty, empty, None, None, clock())
        self.match_queries = 0

    def match_prefix(self, tokens: TokenIds, namespace: str | None = None) -> MatchResult:
        self.match_queries += 1
        return MatchResult(np.zeros(0, dtype=np.int64), self.root, 0)

    def peek_prefix_len(self, tokens: TokenIds, namespace: str | None = None) -> int:
        return 0

    def lock(self, node: TreeNode) -> None:
        self._check_root(node)

    def unlock(self, node: TreeNode) -> None:
        self._check_root(node)

    def alloc(self, n: int) -> np.ndarray:
        return self.allocator.alloc(n)

    def evict(self, n_tokens: int) -> int:
        if n_tokens < 0:
            raise ValueError(f"evict(n_tokens={n_tokens}): must be >= 0")
        return 0

    def available(self) -> int:
        return self.allocator.free_count

    def cache_finished(
        self,
        tokens: TokenIds,
        slots: np.ndarray,
        last_node: TreeNode,
        cached_len: int,
        namespace: str | None = None,
    ) -> None:
        """Free all of the request's slots."""
        sl = as_slots(slots)
        _check_request(as_slots(tokens, "tokens"), sl, cached_len)
        self.release(sl, last_node, cached_len)

    def cache_unfinished(
        self,
        tokens: TokenIds,
        slots: np.ndarray,
        last_node: TreeNode,
        cached_len: int,
        namespace: str | None = None,
    ) -> tuple[np.ndarray, TreeNode, int]:
        """Nothing is cached: the request keeps all its slots."""
        sl = as_slots(slots)
        _check_request(as_slots(tokens, "tokens"), sl, cached_len)
        self._check_root(last_node)
        return sl, self.root, 0

    def release(self, slots: np.ndarray, last_node: TreeNode, cached_len: int) -> None:
        self._check_root(last_node)
        if cached_len != 0:
            raise ValueError(f"cached_len={cached_len}: must be 0 without a radix cache")
        self.allocator.free(as_slots(slots))

    def stats(self) -> CacheStats:
        return CacheStats(
            pool_slots=self.allocator.capacity,
            free_slots=self.allocator.free_count,
            match_queries=self.match_queries,
        )

    def snapshot(self, max_nodes: int = 256, label_tokens: int = 8) -> list[NodeInfo]:
        return [NodeInfo(0, -1, 0, [], 0, self.root.last_access, 0, None)]

    def check_integrity(self, idle: bool = False) -> None:
        try:
            self.allocator.check_integrity()
        except RuntimeError as exc:
            raise CacheIntegrityError(f"allocator: {exc}") from exc
        if idle and self.allocator.free_count != self.allocator.capacity:
            raise CacheIntegrityError(
                f"idle leak: {self.allocator.free_count} free of {self.allocator.capacity} slots"
            )

    def reset(self) -> None:
        """Nothing is cached; nothing to flush."""

    def _check_root(self, node: TreeNode) -> None:
        if node is not self.root:
            raise ValueError("NoRadixCache only knows its root node (from match_prefix)")


def make_prefix_cache(
    allocator: SlotAllocator,
    radix: bool = True,
    page_size: int = 1,
    clock: Callable[[], float] = time.monotonic,
) -> PrefixCache:
    """A RadixCache, or a NoRadixCache when ``radix`` is False (``--disable-radix-cache``)."""
    if radix:
        return RadixCache(allocator, page_size=page_size, clock=clock)
    return NoRadixCache(allocator, page_size=page_size, clock=clock)
