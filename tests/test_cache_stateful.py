"""The radix cache and its policy helpers against a naive model, step by step.

The model is a dict of cached token positions: ``(namespace, tokens up to the end of the
page holding token i, i) -> (slot, last_access)``, closed under prefixes (sequences share a
token only when they share its whole page). Simulated requests match, lock, allocate (evicting when
short), grow, finish, cache part-way (chunked prefill) or get released, interleaved with
plain matches, evictions and resets. After every step the whole tree is read back and
compared with the model (token sequences, slots, access times, lock counts), and the
allocator's free list must be exactly the pool minus the tree's slots minus the slots the
running requests own: no leak, no double free, slot 0 never handed out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from radtrio.cache import OutOfSlotsError, RadixCache, SlotAllocator, TreeNode

NAMESPACES = (None, "tenant-a")
tokens_st = st.lists(st.integers(0, 2), min_size=1, max_size=18)
namespace_st = st.sampled_from(NAMESPACES)

Key = tuple[str | None, tuple[int, ...], int]


@dataclass
class Req:
    namespace: str | None
    tokens: list[int]
    slots: np.ndarray
    node: TreeNode
    cached_len: int


class RadixCacheMachine(RuleBasedStateMachine):
    @initialize(page_size=st.sampled_from([1, 1, 2, 4]), num_slots=st.integers(24, 96))
    def setup(self, page_size: int, num_slots: int) -> None:
        self.now = 0.0
        self.page = page_size
        self.num_slots = num_slots
        self.allocator = SlotAllocator(num_slots)
        self.cache = RadixCache(self.allocator, page_size=page_size, clock=lambda: self.now)
        self.model: dict[Key, tuple[int, float]] = {}
        self.running: list[Req] = []
        self.hit_tokens = 0
        self.inserted_tokens = 0
        self.evicted_tokens = 0

    # ------------------------------------------------------------ model helpers

    def tick(self) -> None:
        self.now += 1.0

    def aligned(self, n: int) -> int:
        return n - n % self.page

    def key(self, ns: str | None, tokens: list[int] | tuple[int, ...], i: int) -> Key:
        """Token i of a page-aligned cached sequence, known by everything up to its page end."""
        return (ns, tuple(tokens[: (i // self.page + 1) * self.page]), i)

    def model_match(self, ns: str | None, tokens: list[int]) -> int:
        n = 0
        limit = self.aligned(len(tokens))
        while n < limit and self.key(ns, tokens, n) in self.model:
            n += self.page
        return n

    def model_slots(self, ns: str | None, tokens: list[int], n: int) -> list[int]:
        return [self.model[self.key(ns, tokens, i)][0] for i in range(n)]

    def model_touch(self, ns: str | None, tokens: list[int], n: int) -> None:
        for i in range(n):
            key = self.key(ns, tokens, i)
            self.model[key] = (self.model[key][0], self.now)

    def model_locks(self) -> dict[Key, int]:
        locks: dict[Key, int] = {}
        for r in self.running:
            for i in range(r.cached_len):
                key = self.key(r.namespace, r.tokens, i)
                locks[key] = locks.get(key, 0) + 1
        return locks

    def model_evictable(self) -> int:
        locks = self.model_locks()
        return sum(1 for k in self.model if not locks.get(k))

    def owned_slots(self) -> list[int]:
        return [int(s) for r in self.running for s in r.slots[r.cached_len :]]

    def expected_free(self) -> set[int]:
        used = {slot for slot, _ in self.model.values()} | set(self.owned_slots())
        return set(range(1, self.num_slots)) - used

    def read_tree(self) -> dict[Key, tuple[int, float, int]]:
        """The tree's content: (namespace, prefix) -> (slot, last access, lock count)."""
        out: dict[Key, tuple[int, float, int]] = {}
        stack: list[tuple[TreeNode, tuple[int, ...]]] = [
            (c, ()) for c in self.cache.root.children.values()
        ]
        while stack:
            node, prefix = stack.pop()
            start = len(prefix)
            prefix = prefix + tuple(node.key.tolist())
            for j, slot in enumerate(node.value.tolist(), start):
                key = self.key(node.namespace, prefix, j)
                out[key] = (slot, node.last_access, node.lock_count)
            stack.extend((c, prefix) for c in node.children.values())
        return out

    def sync_evictions(self) -> None:
        """Drop from the model what the tree evicted, checking it was allowed: unlocked,
        whole subtrees, least recently used first."""
        tree = self.read_tree()
        removed = [k for k in self.model if k not in tree]
        if not removed:
            return
        locks = self.model_locks()
        remaining = {k: v for k, v in self.model.items() if k in tree}
        for key in removed:
            assert not locks.get(key), f"evicted a locked entry {key}"
        for ns, prefix, i in remaining:
            assert all(self.key(ns, prefix, j) in remaining for j in range(i)), (
                "eviction left a hole in a cached path"
            )
        # LRU: every evicted entry was used no later than any evictable leaf left.
        children = {self.key(ns, p, i - 1) for ns, p, i in remaining if i > 0}
        leaves = [t for (k, (_, t)) in remaining.items() if k not in children and not locks.get(k)]
        if leaves:
            assert max(self.model[k][1] for k in removed) <= min(leaves)
        for key in removed:
            del self.model[key]
        self.evicted_tokens += len(removed)

    def alloc(self, n: int) -> np.ndarray | None:
        """cache.alloc(n), checking that it fails exactly when free + evictable < n."""
        available = len(self.expected_free()) + self.model_evictable()
        assert self.cache.available() == available
        if n > available:
            try:
                self.cache.alloc(n)
            except OutOfSlotsError:
                return None
            raise AssertionError("alloc succeeded beyond free + evictable")
        cache_evicted, model_evicted = self.cache.evicted_tokens, self.evicted_tokens
        owned = set(self.owned_slots())
        slots = self.cache.alloc(n)
        self.sync_evictions()
        assert self.cache.evicted_tokens - cache_evicted == self.evicted_tokens - model_evicted
        assert len(slots) == n and len(set(slots.tolist())) == n and 0 not in slots
        assert not owned & set(slots.tolist())
        return slots

    def model_insert(self, r: Req, n: int) -> int:
        """Insert r.tokens[:n] into the model; returns how many were cached already."""
        cached = 0
        for i in range(n):
            key = self.key(r.namespace, r.tokens, i)
            if key in self.model:
                cached = i + 1
                self.model[key] = (self.model[key][0], self.now)
            else:
                self.model[key] = (int(r.slots[i]), self.now)
                self.inserted_tokens += 1
        return cached

    # ------------------------------------------------------------------ rules

    @rule(tokens=tokens_st, ns=namespace_st)
    def match(self, tokens: list[int], ns: str | None) -> None:
        self.tick()
        expect = self.model_match(ns, tokens)
        m = self.cache.match_prefix(tokens, ns)
        assert m.length == expect and len(m.slots) == expect and m.length % self.page == 0
        assert m.slots.tolist() == self.model_slots(ns, tokens, expect)
        assert m.node.prefix_len == expect
        assert self.cache.peek_prefix_len(tokens, ns) == expect
        self.model_touch(ns, tokens, expect)
        self.hit_tokens += expect

    @precondition(lambda self: len(self.running) < 6)
    @rule(tokens=tokens_st, ns=namespace_st)
    def start_request(self, tokens: list[int], ns: str | None) -> None:
        self.tick()
        expect = self.model_match(ns, tokens[:-1])
        m = self.cache.match_prefix(tokens[:-1], ns)
        assert m.length == expect
        assert m.slots.tolist() == self.model_slots(ns, tokens, expect)
        self.model_touch(ns, tokens, expect)
        self.hit_tokens += expect
        self.cache.lock(m.node)
        r = Req(ns, tokens, m.slots, m.node, m.length)
        self.running.append(r)
        own = self.alloc(len(tokens) - m.length)
        if own is None:
            self.running.pop()
            self.cache.unlock(m.node)
            return
        r.slots = np.concatenate([m.slots, own])

    @precondition(lambda self: self.running)
    @rule(i=st.integers(0, 99), more=st.lists(st.integers(0, 2), min_size=1, max_size=6))
    def extend_request(self, i: int, more: list[int]) -> None:
        self.tick()
        r = self.running[i % len(self.running)]
        own = self.alloc(len(more))
        if own is None:
            return
        r.tokens = r.tokens + more
        r.slots = np.concatenate([r.slots, own])

    @precondition(lambda self: self.running)
    @rule(i=st.integers(0, 99))
    def finish_request(self, i: int) -> None:
        self.tick()
        r = self.running.pop(i % len(self.running))
        self.cache.cache_finished(r.tokens, r.slots, r.node, r.cached_len, r.namespace)
        n = self.aligned(len(r.tokens))
        cached = self.model_insert(r, n)
        assert cached >= r.cached_len

    @precondition(lambda self: self.running)
    @rule(i=st.integers(0, 99))
    def cache_unfinished(self, i: int) -> None:
        self.tick()
        r = self.running[i % len(self.running)]
        old_node = r.node
        slots, node, cached_len = self.cache.cache_unfinished(
            r.tokens, r.slots, r.node, r.cached_len, r.namespace
        )
        n = self.aligned(len(r.tokens))
        self.model_insert(r, n)
        assert cached_len == n and node.prefix_len == n and len(slots) == len(r.tokens)
        assert slots[:n].tolist() == self.model_slots(r.namespace, r.tokens, n)
        assert slots[n:].tolist() == r.slots[n:].tolist()
        assert (node is self.cache.root or node.lock_count >= 1) and old_node.alive
        r.slots, r.node, r.cached_len = slots, node, cached_len

    @precondition(lambda self: self.running)
    @rule(i=st.integers(0, 99))
    def release_request(self, i: int) -> None:
        self.tick()
        r = self.running.pop(i % len(self.running))
        self.cache.release(r.slots, r.node, r.cached_len)

    @rule(n=st.integers(0, 40))
    def evict(self, n: int) -> None:
        self.tick()
        evictable = self.model_evictable()
        assert self.cache.evictable_size == evictable
        freed = self.cache.evict(n)
        assert freed >= min(n, evictable) and freed <= evictable
        before = len(self.model)
        self.sync_evictions()
        assert before - len(self.model) == freed

    @rule()
    def reset(self) -> None:
        self.tick()
        if self.running and any(r.cached_len for r in self.running):
            try:
                self.cache.reset()
            except RuntimeError as exc:
                assert "locked by running requests" in str(exc)
                return
            raise AssertionError("reset succeeded while nodes were locked")
        self.cache.reset()
        self.model.clear()

    # ------------------------------------------------------------- invariants

    @invariant()
    def tree_equals_model(self) -> None:
        tree = self.read_tree()
        assert set(tree) == set(self.model)
        locks = self.model_locks()
        for key, (slot, last, lock) in tree.items():
            mslot, mlast = self.model[key]
            assert (slot, last, lock) == (mslot, mlast, locks.get(key, 0)), key

    @invariant()
    def slot_accounting(self) -> None:
        cache = self.cache
        assert cache.evictable_size + cache.protected_size == len(self.model)
        locks = self.model_locks()
        assert cache.protected_size == sum(1 for k in self.model if locks.get(k))
        free = self.allocator.free_slots().tolist()
        assert len(free) == len(set(free))
        assert set(free) == self.expected_free()
        cache.check_integrity(idle=not self.running)
        if not self.running:
            assert cache.protected_size == 0
            assert self.allocator.free_count + cache.evictable_size == self.num_slots - 1

    @invariant()
    def counters(self) -> None:
        stats = self.cache.stats()
        assert stats.hit_tokens == self.hit_tokens
        assert stats.inserted_tokens == self.inserted_tokens
        assert stats.evicted_tokens == self.evicted_tokens
        assert stats.total_tokens == len(self.model)
        assert stats.free_slots == len(self.expected_free())

    @invariant()
    def namespaces_apart(self) -> None:
        for node in self.cache._nodes():
            for child in node.children.values():
                if node is not self.cache.root:
                    assert child.namespace == node.namespace


RadixCacheMachine.TestCase.settings = settings(
    max_examples=60, stateful_step_count=400, deadline=None
)
TestRadixCacheMachine = RadixCacheMachine.TestCase
