"""Radix tree of token sequences -> KV slot indices (the RadixAttention prefix cache).

Each node holds an edge: a run of token ids (``key``) and the KV slots of those tokens
(``value``, same length). A path from the root spells a cached token sequence. Children
are found by their first token (first page when ``page_size > 1``); the root's children
are also keyed by namespace, so two namespaces never share a node.

Lock counts protect what running requests use: ``lock(node)`` adds one to every node on
the path to the root, so a parent's count is never below a child's. Nodes with count 0
are *evictable*; ``evict`` frees least-recently-used evictable leaves (a lazy heap), and a
parent becomes a candidate once its last child goes.

Slot ownership: slots handed to ``insert`` that end up in a new node belong to the tree
from then on (the tree frees them on eviction or reset). Slots of the already-cached
part (``InsertResult.cached_len``) stay the caller's: the tree keeps its own copy of that
prefix. The policy helpers in :mod:`radtrio.cache.policy` apply these rules for the engine.
"""

from __future__ import annotations

import heapq
import itertools
import time
from collections.abc import Callable, Iterator, Sequence
from typing import NamedTuple

import msgspec
import numpy as np

from radtrio.cache.allocator import SlotAllocator, as_slots
from radtrio.types import TreeNodeSnapshot

TokenIds = Sequence[int] | np.ndarray


class CacheIntegrityError(RuntimeError):
    """A broken invariant of the radix tree or of its slot accounting."""


class TreeNode:
    """One edge of the tree. Read its fields; only :class:`RadixTree` changes them."""

    __slots__ = (
        "node_id",
        "parent",
        "children",
        "kb",
        "value",
        "ckey",
        "namespace",
        "prefix_len",
        "lock_count",
        "last_access",
        "hits",
        "heap_version",
        "alive",
    )

    def __init__(
        self,
        node_id: int,
        parent: TreeNode | None,
        kb: bytes,
        value: np.ndarray,
        ckey: object,
        namespace: str | None,
        last_access: float,
    ) -> None:
        self.node_id = node_id
        self.parent = parent
        self.children: dict[object, TreeNode] = {}
        self.kb = kb  # token ids of this edge, as int64 bytes (fast to compare and slice)
        self.value = value  # KV slots of those tokens (int64)
        self.ckey = ckey  # this node's key in parent.children
        self.namespace = namespace
        self.prefix_len = (parent.prefix_len if parent is not None else 0) + len(value)
        self.lock_count = 0
        self.last_access = last_access
        self.hits = 0
        self.heap_version = -1
        self.alive = True

    @property
    def key(self) -> np.ndarray:
        """Token ids of this edge (a read-only int64 view)."""
        return np.frombuffer(self.kb, dtype=np.int64)

    @property
    def num_tokens(self) -> int:
        return len(self.value)

    @property
    def is_root(self) -> bool:
        return self.parent is None

    def __repr__(self) -> str:
        return (
            f"TreeNode(id={self.node_id}, tokens={len(self.value)}, end={self.prefix_len}, "
            f"lock={self.lock_count}, children={len(self.children)})"
        )


class MatchResult(NamedTuple):
    """``slots``: the tree's slots of the matched prefix (a new array the caller may keep,
    but they stay owned by the tree: lock ``node`` before using them across an eviction).
    ``node``: the last matched node (the root when nothing matched). ``length`` ==
    ``len(slots)``, a multiple of the page size."""

    slots: np.ndarray
    node: TreeNode
    length: int


class InsertResult(NamedTuple):
    """``cached_len``: tokens the tree already had before this insert (the caller keeps
    ownership of its own slots for them and frees those that differ from the tree's).
    ``node``: the node ending the inserted sequence. ``length``: tokens inserted in all
    (``len(tokens)`` aligned down to the page size)."""

    cached_len: int
    node: TreeNode
    length: int


class CacheStats(msgspec.Struct, kw_only=True):
    pool_slots: int = 0  # slots that can hold KV (num_slots - 1)
    free_slots: int = 0
    total_tokens: int = 0  # cached in the tree: evictable + protected
    evictable_tokens: int = 0
    protected_tokens: int = 0
    nodes: int = 0  # tree nodes, the root excluded
    match_queries: int = 0
    hit_tokens: int = 0  # cumulative matched tokens over all match_prefix calls
    inserted_tokens: int = 0  # cumulative tokens added as new nodes
    evicted_tokens: int = 0  # cumulative tokens freed by evict


class NodeInfo(msgspec.Struct, array_like=True):
    """One node in :meth:`RadixTree.snapshot`; decode ``first_tokens`` for a label."""

    node_id: int
    parent_id: int  # -1 for the root
    num_tokens: int
    first_tokens: list[int]
    lock_count: int
    last_access: float  # the clock's time
    hits: int
    namespace: str | None = None


def common_prefix_len(a: np.ndarray, b: np.ndarray) -> int:
    """Length of the common prefix of two int64 arrays."""
    m = min(len(a), len(b))
    if m == 0:
        return 0
    neq = a[:m] != b[:m]
    i = int(neq.argmax())
    return i if neq[i] else m


class RadixTree:
    """Token sequences -> KV slots, with lock counts and LRU eviction into ``allocator``."""

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
        self._ids = itertools.count(1)
        self._versions = itertools.count()
        empty = np.zeros(0, dtype=np.int64)
        self.root = TreeNode(0, None, b"", empty, None, None, clock())
        self.evictable_size = 0
        self.protected_size = 0
        self.node_count = 0
        self._heap: list[tuple[float, int, TreeNode]] = []
        self.match_queries = 0
        self.hit_tokens = 0
        self.inserted_tokens = 0
        self.evicted_tokens = 0

    # ----------------------------------------------------------------- queries

    @property
    def total_size(self) -> int:
        return self.evictable_size + self.protected_size

    def match_prefix(self, tokens: TokenIds, namespace: str | None = None) -> MatchResult:
        """Longest cached prefix of ``tokens`` (aligned to the page size) in ``namespace``.

        Splits the last edge when the match ends inside it, so ``node`` ends exactly at
        ``length``; refreshes the access time and hit count of every node on the path.
        Keep at least one token uncached if the model must compute logits for the
        sequence: pass ``tokens[:-1]``.
        """
        toks = as_slots(tokens, "tokens")
        node, length, parts = self._walk(toks, namespace, update=True, hit=True)
        self.match_queries += 1
        self.hit_tokens += length
        slots = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
        return MatchResult(slots, node, length)

    def peek_prefix_len(self, tokens: TokenIds, namespace: str | None = None) -> int:
        """Cached prefix length of ``tokens`` without changing anything (no split, no
        access time, no counters): for scheduling queued requests."""
        toks = as_slots(tokens, "tokens")
        return self._walk(toks, namespace, update=False)[1]

    def node_slots(self, node: TreeNode) -> np.ndarray:
        """The tree's slots of the whole sequence ending at ``node`` (a new array)."""
        parts = []
        while node.parent is not None:
            parts.append(node.value)
            node = node.parent
        if not parts:
            return np.zeros(0, dtype=np.int64)
        parts.reverse()
        return np.concatenate(parts)

    def node_tokens(self, node: TreeNode) -> np.ndarray:
        """The token ids of the whole sequence ending at ``node``."""
        parts = []
        while node.parent is not None:
            parts.append(node.key)
            node = node.parent
        if not parts:
            return np.zeros(0, dtype=np.int64)
        parts.reverse()
        return np.concatenate(parts)

    # ---------------------------------------------------------------- updates

    def insert(
        self, tokens: TokenIds, slots: TokenIds, namespace: str | None = None
    ) -> InsertResult:
        """Add ``tokens`` (aligned down to the page size) with their ``slots``.

        Only the part not cached yet becomes a new node (holding a copy of those slots,
        which the tree owns from now on). ``cached_len`` tells how much was cached
        already: for those tokens the tree keeps its own slots, and the caller frees its
        ``slots[:cached_len]`` that differ from the tree's (see ``cache_finished``).
        """
        toks = as_slots(tokens, "tokens")
        sl = as_slots(slots, "slots")
        if len(toks) != len(sl):
            raise ValueError(f"insert: {len(toks)} tokens but {len(sl)} slots")
        n = len(toks) - len(toks) % self.page_size
        toks = toks[:n]
        node, pos, _ = self._walk(toks, namespace, update=True)
        if pos < n:
            new_slots = sl[pos:n]
            if int(new_slots.min()) < 1 or int(new_slots.max()) >= self.allocator.num_slots:
                raise ValueError(
                    f"insert: slots must be in 1..{self.allocator.num_slots - 1}, got "
                    f"{int(new_slots.min())}..{int(new_slots.max())}"
                )
            kb = toks[pos:n].tobytes()
            ckey = self._child_key(kb, namespace, node is self.root)
            child = TreeNode(
                next(self._ids), node, kb, new_slots.copy(), ckey, namespace, self.clock()
            )
            node.children[ckey] = child
            self.evictable_size += n - pos
            self.node_count += 1
            self.inserted_tokens += n - pos
            self._push(child)
            node = child
        return InsertResult(pos, node, n)

    def lock(self, node: TreeNode) -> None:
        """Protect the path root..node from eviction (one more reference)."""
        if not node.alive:
            raise RuntimeError(f"lock of evicted node {node.node_id}")
        while node.parent is not None:
            if node.lock_count == 0:
                size = len(node.value)
                self.evictable_size -= size
                self.protected_size += size
            node.lock_count += 1
            node = node.parent

    def unlock(self, node: TreeNode) -> None:
        """Drop one reference taken by :meth:`lock` on the same node."""
        if node.parent is not None and node.lock_count <= 0:
            raise RuntimeError(
                f"unlock of node {node.node_id} whose lock count is {node.lock_count}"
            )
        while node.parent is not None:
            node.lock_count -= 1
            if node.lock_count == 0:
                size = len(node.value)
                self.evictable_size += size
                self.protected_size -= size
                if not node.children:
                    self._push(node)
            node = node.parent

    def evict(self, n_tokens: int) -> int:
        """Free at least ``n_tokens`` (or all evictable tokens, if fewer) by removing
        least-recently-used unlocked leaves; their slots go back to the allocator.
        Returns the number of tokens freed (whole nodes, so it may exceed ``n_tokens``)."""
        if n_tokens < 0:
            raise ValueError(f"evict(n_tokens={n_tokens}): must be >= 0")
        freed = 0
        parts = []
        root = self.root
        while freed < n_tokens and self._heap:
            _, version, node = heapq.heappop(self._heap)
            if version != node.heap_version or not node.alive or node.lock_count or node.children:
                continue  # a stale entry
            parent = node.parent
            del parent.children[node.ckey]
            node.alive = False
            node.parent = None
            size = len(node.value)
            parts.append(node.value)
            freed += size
            self.evictable_size -= size
            self.node_count -= 1
            if parent is not root and not parent.children and parent.lock_count == 0:
                self._push(parent)
        if parts:
            self.allocator.free(np.concatenate(parts))
        self.evicted_tokens += freed
        return freed

    def reset(self) -> None:
        """Flush the whole cache, giving every slot back to the allocator. Only allowed
        while no node is locked (no running request uses the cache)."""
        if self.protected_size:
            locked = sum(1 for n in self._nodes() if n.lock_count)
            raise RuntimeError(
                f"cannot reset the prefix cache: {locked} nodes ({self.protected_size} tokens) "
                "are locked by running requests; finish or abort them first"
            )
        nodes = [n for n in self._nodes() if n is not self.root]
        for n in nodes:
            n.alive = False
        if nodes:
            self.allocator.free(np.concatenate([n.value for n in nodes]))
        self.root.children.clear()  # the root stays: requests may hold it unlocked
        self.evictable_size = 0
        self.node_count = 0
        self._heap = []

    # ---------------------------------------------------------------- reports

    def stats(self) -> CacheStats:
        return CacheStats(
            pool_slots=self.allocator.capacity,
            free_slots=self.allocator.free_count,
            total_tokens=self.total_size,
            evictable_tokens=self.evictable_size,
            protected_tokens=self.protected_size,
            nodes=self.node_count,
            match_queries=self.match_queries,
            hit_tokens=self.hit_tokens,
            inserted_tokens=self.inserted_tokens,
            evicted_tokens=self.evicted_tokens,
        )

    def snapshot(self, max_nodes: int = 256, label_tokens: int = 8) -> list[NodeInfo]:
        """The root, then up to ``max_nodes - 1`` nodes, largest subtrees first; a parent
        always comes before its children."""
        if max_nodes < 1:
            raise ValueError(f"max_nodes={max_nodes}: must be >= 1")
        order = list(self._nodes())
        subtree: dict[int, int] = {}
        for node in reversed(order):
            subtree[node.node_id] = len(node.value) + sum(
                subtree[c.node_id] for c in node.children.values()
            )
        root = self.root
        out = [NodeInfo(0, -1, 0, [], 0, root.last_access, 0, None)]
        frontier = [(-subtree[c.node_id], c.node_id, c) for c in root.children.values()]
        heapq.heapify(frontier)
        while frontier and len(out) < max_nodes:
            _, _, node = heapq.heappop(frontier)
            parent = node.parent
            out.append(
                NodeInfo(
                    node.node_id,
                    0 if parent is root else parent.node_id,
                    len(node.value),
                    node.key[:label_tokens].tolist(),
                    node.lock_count,
                    node.last_access,
                    node.hits,
                    node.namespace,
                )
            )
            for c in node.children.values():
                heapq.heappush(frontier, (-subtree[c.node_id], c.node_id, c))
        return out

    def check_integrity(self, idle: bool = False) -> None:
        """Raise CacheIntegrityError on any broken invariant. With ``idle=True`` (no
        request running) also require nothing locked and free + cached == the pool."""
        errors: list[str] = []
        page = self.page_size
        evictable = protected = count = 0
        slot_parts = []
        heap_versions = {v for _, v, n in self._heap if n.alive}
        for node in self._nodes():
            if node is self.root:
                continue
            count += 1
            parent = node.parent
            nid = node.node_id
            size = len(node.kb) // 8
            if not node.alive or parent is None or not parent.alive:
                errors.append(f"node {nid}: dead or detached but reachable")
                continue
            if parent.children.get(node.ckey) is not node:
                errors.append(f"node {nid}: parent {parent.node_id} does not list it")
            if size == 0 or size % page:
                errors.append(f"node {nid}: {size} tokens, not a positive multiple of {page}")
            if len(node.value) != size:
                errors.append(f"node {nid}: {size} tokens but {len(node.value)} slots")
            at_root = parent is self.root
            if size and node.ckey != self._child_key(node.kb, node.namespace, at_root):
                errors.append(f"node {nid}: child key does not match its first tokens")
            if parent is not self.root and node.namespace != parent.namespace:
                errors.append(f"node {nid}: namespace differs from its parent's")
            if node.prefix_len != parent.prefix_len + size:
                errors.append(f"node {nid}: prefix_len {node.prefix_len} is wrong")
            if node.lock_count < 0:
                errors.append(f"node {nid}: lock count {node.lock_count} < 0")
            if parent is not self.root and parent.lock_count < node.lock_count:
                errors.append(
                    f"node {nid}: lock count {node.lock_count} above its parent's "
                    f"{parent.lock_count}"
                )
            if node.lock_count:
                protected += size
            else:
                evictable += size
                if not node.children and node.heap_version not in heap_versions:
                    errors.append(f"node {nid}: evictable leaf missing from the eviction heap")
            slot_parts.append(node.value)
        if count != self.node_count:
            errors.append(f"node count {self.node_count} but {count} nodes reachable")
        if evictable != self.evictable_size:
            errors.append(f"evictable_size {self.evictable_size} but nodes sum to {evictable}")
        if protected != self.protected_size:
            errors.append(f"protected_size {self.protected_size} but nodes sum to {protected}")
        slots = np.concatenate(slot_parts) if slot_parts else np.zeros(0, dtype=np.int64)
        if len(slots):
            if int(slots.min()) < 1 or int(slots.max()) >= self.allocator.num_slots:
                errors.append("tree holds slot 0 or a slot outside the pool")
            elif len(np.unique(slots)) != len(slots):
                errors.append("a slot appears twice in the tree")
            else:
                free_in_tree = np.flatnonzero(self.allocator.are_free(slots))
                if len(free_in_tree):
                    errors.append(f"slot {int(slots[free_in_tree[0]])} is both cached and free")
        try:
            self.allocator.check_integrity()
        except RuntimeError as exc:
            errors.append(f"allocator: {exc}")
        if idle:
            if self.protected_size:
                errors.append(f"idle but {self.protected_size} tokens are still locked")
            if self.allocator.free_count + len(slots) != self.allocator.capacity:
                errors.append(
                    f"idle leak: {self.allocator.free_count} free + {len(slots)} cached != "
                    f"{self.allocator.capacity} slots"
                )
        if errors:
            raise CacheIntegrityError("radix cache integrity: " + "; ".join(errors))

    # --------------------------------------------------------------- internals

    def _child_key(self, kb: bytes, namespace: str | None, at_root: bool) -> object:
        """Key of an edge starting with ``kb`` in its parent's children: its first page
        (bytes), with the namespace at the root."""
        k = kb[: 8 * self.page_size]
        return (namespace, k) if at_root else k

    def _walk(
        self, toks: np.ndarray, namespace: str | None, update: bool, hit: bool = False
    ) -> tuple[TreeNode, int, list[np.ndarray]]:
        """Follow ``toks`` down the tree. With ``update``: split a partly matched edge and
        refresh access times; with ``hit``: count a hit on each matched node. Returns
        (node, matched length, the slot arrays of the matched nodes).

        Whole edges are compared as bytes (one memcmp each); only the edge where the
        match ends is searched token by token (numpy)."""
        page = self.page_size
        n = len(toks) - len(toks) % page
        tb = toks.tobytes()
        end_b = 8 * n
        page_b = 8 * page
        root = self.root
        node = root
        b = 0  # matched length in bytes
        parts: list[np.ndarray] = []
        now = self.clock() if update else 0.0
        while b < end_b:
            k = tb[b : b + page_b]
            child = node.children.get((namespace, k) if node is root else k)
            if child is None:
                break
            kb = child.kb
            stop = b + len(kb)
            if stop <= end_b and tb[b:stop] == kb:
                common = len(kb)
            else:
                pos = b // 8
                m = min(len(kb), end_b - b) // 8
                common = 8 * common_prefix_len(child.key[:m], toks[pos : pos + m])
                common -= common % page_b
                if common == 0:  # cannot happen: the first page matched
                    break
                if not update:
                    b += common
                    break
                child = self._split(child, common // 8)
            if update:
                child.last_access = now
                if hit:
                    child.hits += 1
                if not child.children and child.lock_count == 0:
                    self._push(child)
            parts.append(child.value)
            b += common
            node = child
            if common < len(kb):
                break
        return node, b // 8, parts

    def _split(self, node: TreeNode, at: int) -> TreeNode:
        """Cut ``node``'s edge after ``at`` tokens. A new node takes the upper part (and
        the place under the parent); ``node`` keeps the lower part and its identity, so a
        request holding ``node`` still holds the same sequence end."""
        parent = node.parent
        cut = 8 * at
        upper = TreeNode(
            next(self._ids),
            parent,
            node.kb[:cut],
            node.value[:at],
            node.ckey,
            node.namespace,
            node.last_access,
        )
        upper.lock_count = node.lock_count
        upper.hits = node.hits
        parent.children[node.ckey] = upper
        node.kb = node.kb[cut:]
        node.value = node.value[at:]
        node.ckey = self._child_key(node.kb, node.namespace, False)
        node.parent = upper
        upper.children[node.ckey] = node
        self.node_count += 1
        return upper

    def _push(self, node: TreeNode) -> None:
        version = next(self._versions)
        node.heap_version = version
        heapq.heappush(self._heap, (node.last_access, version, node))
        if len(self._heap) > 4 * self.node_count + 1024:
            self._rebuild_heap()

    def _rebuild_heap(self) -> None:
        self._heap = [
            (n.last_access, n.heap_version, n)
            for n in self._nodes()
            if n is not self.root and not n.children and n.lock_count == 0
        ]
        heapq.heapify(self._heap)

    def _nodes(self) -> Iterator[TreeNode]:
        """Every reachable node, the root first, parents before children."""
        stack = [self.root]
        while stack:
            node = stack.pop()
            yield node
            stack.extend(node.children.values())


def tree_snapshots(
    nodes: list[NodeInfo], decode: Callable[[list[int]], str], time_origin: float = 0.0
) -> list[TreeNodeSnapshot]:
    """The dashboard's :class:`~radtrio.types.TreeNodeSnapshot` list from a snapshot:
    ``decode`` turns a node's first tokens into its label; ``last_access`` becomes
    seconds since ``time_origin`` (the engine's start on the same clock)."""
    return [
        TreeNodeSnapshot(
            node_id=n.node_id,
            parent_id=n.parent_id,
            num_tokens=n.num_tokens,
            label=decode(n.first_tokens) if n.first_tokens else "",
            lock_count=n.lock_count,
            last_access=n.last_access - time_origin,
            hits=n.hits,
        )
        for n in nodes
    ]
