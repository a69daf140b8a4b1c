"""Unit tests of the slot allocator, the request table, the radix tree and the policy."""

from __future__ import annotations

import itertools

import msgspec
import numpy as np
import pytest

from radtrio.cache import (
    CacheIntegrityError,
    NodeInfo,
    NoRadixCache,
    OutOfSlotsError,
    RadixCache,
    ReqToTokenTable,
    SlotAllocator,
    SlotError,
    make_prefix_cache,
    tree_snapshots,
)
from radtrio.types import TreeNodeSnapshot


def fake_clock():
    ticks = itertools.count(1)
    return lambda: float(next(ticks))


def make_cache(num_slots: int = 64, page_size: int = 1) -> RadixCache:
    return RadixCache(SlotAllocator(num_slots), page_size=page_size, clock=fake_clock())


def run_request(cache, tokens, namespace=None):
    """Match, lock, allocate the rest, finish: returns the slots the request used."""
    m = cache.match_prefix(tokens, namespace)
    cache.lock(m.node)
    own = cache.alloc(len(tokens) - m.length)
    slots = np.concatenate([m.slots, own])
    cache.cache_finished(tokens, slots, m.node, m.length, namespace)
    return slots


# ------------------------------------------------------------------ allocator


def test_allocator_alloc_free_and_errors():
    a = SlotAllocator(8)
    assert a.capacity == 7 and a.free_count == 7
    s = a.alloc(3)
    assert s.dtype == np.int64 and list(s) == [1, 2, 3]
    assert a.free_count == 4 and a.used_count == 3
    with pytest.raises(OutOfSlotsError, match="cannot allocate 5 KV slots: 4 free of 7"):
        a.alloc(5)
    a.free(s[:1])
    with pytest.raises(SlotError, match="double free of KV slot 1"):
        a.free([1])
    with pytest.raises(SlotError, match="listed twice"):
        a.free([2, 2])
    with pytest.raises(SlotError, match="cannot free slot 0"):
        a.free([0])
    with pytest.raises(SlotError, match="cannot free slot 8"):
        a.free([8])
    assert a.free_count == 5  # the failed frees changed nothing
    a.free(s[1:])
    a.check_integrity()
    assert sorted(a.free_slots().tolist()) == list(range(1, 8))
    assert 0 not in a.alloc(7)
    with pytest.raises(ValueError, match="num_slots=1"):
        SlotAllocator(1)


def test_req_table_rows():
    t = ReqToTokenTable(2, 8)
    r0, r1 = t.alloc_row(), t.alloc_row()
    assert {r0, r1} == {0, 1}
    with pytest.raises(RuntimeError, match="all 2 rows are in use"):
        t.alloc_row()
    t.write(r0, 2, np.array([5, 6, 7]))
    assert t.read(r0, 5).tolist() == [0, 0, 5, 6, 7]
    with pytest.raises(ValueError, match="outside the context of 8 tokens"):
        t.write(r0, 6, [1, 2, 3])
    t.free_row(r0)
    with pytest.raises(RuntimeError, match="not allocated"):
        t.free_row(r0)
    assert t.alloc_row() == r0 and t.read(r0, 8).tolist() == [0] * 8


# ------------------------------------------------------------------ tree


def test_match_splits_edge_and_returns_tree_slots():
    c = make_cache()
    s = run_request(c, [1, 2, 3, 4, 5])
    m = c.match_prefix([1, 2, 3, 9])
    assert m.length == 3 and m.slots.tolist() == s[:3].tolist()
    assert m.node.num_tokens == 3 and m.node.prefix_len == 3
    assert c.node_count == 2  # the edge was split
    assert c.match_prefix([1, 2, 3, 4, 5, 6]).slots.tolist() == s.tolist()
    assert c.match_prefix([7]).length == 0
    assert c.peek_prefix_len([1, 2, 3, 4, 7]) == 4
    assert c.node_count == 2  # peek does not split
    c.check_integrity(idle=True)


def test_insert_reports_cached_len_and_cache_finished_frees_duplicates():
    c = make_cache(32)
    a = c.allocator
    # Two requests with the same prompt run at once: neither hits the cache.
    m1 = c.match_prefix([1, 2, 3, 4])
    m2 = c.match_prefix([1, 2, 3, 4])
    c.lock(m1.node)
    c.lock(m2.node)
    s1, s2 = c.alloc(4), c.alloc(4)
    c.cache_finished([1, 2, 3, 4], s1, m1.node, 0)
    free_before = a.free_count
    c.cache_finished([1, 2, 3, 4], s2, m2.node, 0)
    assert a.free_count == free_before + 4  # all of s2 were duplicates
    assert c.match_prefix([1, 2, 3, 4]).slots.tolist() == s1.tolist()
    r = c.insert([1, 2, 3, 4, 5], np.append(s1, c.alloc(1)))
    assert r.cached_len == 4 and r.length == 5
    c.check_integrity(idle=True)


def test_lock_protects_and_evict_is_lru():
    c = make_cache(32)
    run_request(c, [1, 2, 3])  # t=oldest
    run_request(c, [4, 5])
    run_request(c, [6, 7, 8, 9])
    m = c.match_prefix([1, 2, 3])  # refresh: [4,5] is now the LRU leaf
    assert c.evict(1) == 2
    assert c.match_prefix([4, 5]).length == 0
    m = c.match_prefix([1, 2, 3])
    c.lock(m.node)
    assert c.protected_size == 3 and c.evictable_size == 4
    assert c.evict(100) == 4  # the locked node stays
    assert c.match_prefix([1, 2, 3]).length == 3
    with pytest.raises(RuntimeError, match="cannot reset the prefix cache: 1 nodes"):
        c.reset()
    c.unlock(m.node)
    with pytest.raises(RuntimeError, match="lock count is 0"):
        c.unlock(m.node)
    c.check_integrity(idle=True)
    c.reset()
    assert c.total_size == 0 and c.allocator.free_count == 31
    c.check_integrity(idle=True)


def test_evict_frees_parent_after_last_child():
    c = make_cache(32)
    run_request(c, [1, 2, 3, 4])
    run_request(c, [1, 2, 5, 6])
    assert c.node_count == 3
    assert c.evict(6) == 6
    assert c.node_count == 0 and c.allocator.free_count == 31
    c.check_integrity(idle=True)


def test_alloc_evicts_and_raises_when_all_locked():
    c = make_cache(9)
    run_request(c, [1, 2, 3, 4])
    m = c.match_prefix([5, 6, 7, 8])
    c.lock(m.node)
    own = c.alloc(8)  # 4 free + 4 evicted
    assert len(own) == 8 and c.total_size == 0
    with pytest.raises(OutOfSlotsError, match="0 free and 0 evictable"):
        c.alloc(1)
    c.release(own, m.node, 0)
    c.check_integrity(idle=True)


def test_page_size_aligns_keys_matches_and_frees_tail():
    c = make_cache(64, page_size=4)
    s = run_request(c, list(range(10)))  # 8 tokens cached, the 2-token tail freed
    assert c.total_size == 8 and c.allocator.free_count == 63 - 8
    m = c.match_prefix(list(range(7)) + [99])
    assert m.length == 4 and m.slots.tolist() == s[:4].tolist()
    assert c.match_prefix(list(range(3))).length == 0
    c.check_integrity(idle=True)


def test_namespaces_do_not_share():
    c = make_cache()
    run_request(c, [1, 2, 3], namespace="a")
    assert c.match_prefix([1, 2, 3], "b").length == 0
    assert c.match_prefix([1, 2, 3]).length == 0
    assert c.match_prefix([1, 2, 3], "a").length == 3
    run_request(c, [1, 2, 3], namespace="b")
    assert c.node_count == 2
    c.check_integrity(idle=True)


def test_cache_unfinished_moves_lock_and_swaps_duplicates():
    c = make_cache(64)
    prompt = [1, 2, 3, 4, 5, 6]
    other = run_request(c, prompt[:4])  # someone else cached the first 4 tokens
    # A request that matched nothing (it started before that insert finished).
    root = c.match_prefix([42]).node
    c.lock(root)
    own = c.alloc(6)
    slots, node, cached = c.cache_unfinished(prompt, own, root, 0)
    assert cached == 6 and node.prefix_len == 6 and node.lock_count == 1
    assert slots[:4].tolist() == other.tolist() and slots[4:].tolist() == own[4:].tolist()
    assert all(c.allocator.is_free(int(x)) for x in own[:4])  # duplicates freed
    assert c.protected_size == 6
    c.check_integrity()
    # Decode two more tokens, then finish.
    slots = np.concatenate([slots, c.alloc(2)])
    c.cache_finished(prompt + [7, 8], slots, node, cached)
    assert c.match_prefix(prompt + [7, 8]).slots.tolist() == slots.tolist()
    c.check_integrity(idle=True)


def test_no_radix_cache_same_interface():
    c = make_prefix_cache(SlotAllocator(16), radix=False)
    assert isinstance(c, NoRadixCache)
    m = c.match_prefix([1, 2, 3])
    assert m.length == 0 and len(m.slots) == 0
    c.lock(m.node)
    s = c.alloc(3)
    s2, node, cached = c.cache_unfinished([1, 2, 3], s, m.node, 0)
    assert s2.tolist() == s.tolist() and cached == 0
    c.check_integrity()
    with pytest.raises(CacheIntegrityError, match="idle leak"):
        c.check_integrity(idle=True)
    c.cache_finished([1, 2, 3], s2, node, cached)
    c.check_integrity(idle=True)
    assert c.match_prefix([1, 2, 3]).length == 0 and c.evict(5) == 0


def test_bad_inputs_raise_clear_errors():
    c = make_cache()
    m = c.match_prefix([1])
    with pytest.raises(ValueError, match="2 tokens but 1 slots"):
        c.cache_finished([1, 2], np.array([5]), m.node, 0)
    with pytest.raises(ValueError, match="slots must be in 1..63"):
        c.insert([1, 2], [0, 3])
    with pytest.raises(ValueError, match="page_size=0"):
        RadixCache(SlotAllocator(4), page_size=0)


def test_integrity_check_catches_corruption():
    c = make_cache()
    run_request(c, [1, 2, 3])
    node = c.match_prefix([1, 2, 3]).node
    c.allocator.free(node.value[:1])  # a slot now both cached and free
    with pytest.raises(CacheIntegrityError, match="both cached and free"):
        c.check_integrity()
    c2 = make_cache()
    run_request(c2, [1, 2, 3])
    c2.evictable_size += 1
    with pytest.raises(CacheIntegrityError, match="evictable_size"):
        c2.check_integrity()


def test_snapshot_largest_first_and_serializable():
    c = make_cache(128)
    run_request(c, [1] + list(range(100, 110)))
    run_request(c, [1] + list(range(200, 230)))
    run_request(c, [2, 3])
    snap = c.snapshot(max_nodes=3)
    assert [n.num_tokens for n in snap] == [0, 1, 30]  # root, [1], its biggest child
    assert snap[0].parent_id == -1 and snap[1].parent_id == 0
    assert snap[2].parent_id == snap[1].node_id
    assert snap[2].first_tokens == list(range(200, 208))
    full = c.snapshot(max_nodes=100)
    assert len(full) == c.node_count + 1
    seen = set()
    for n in full:  # parents come first
        assert n.parent_id == -1 or n.parent_id in seen
        seen.add(n.node_id)
    raw = msgspec.msgpack.encode(full)
    assert msgspec.msgpack.decode(raw, type=list[NodeInfo]) == full
    dash = tree_snapshots(full, decode=lambda ids: " ".join(map(str, ids)), time_origin=1.0)
    assert isinstance(dash[1], TreeNodeSnapshot) and dash[1].label == "1"
