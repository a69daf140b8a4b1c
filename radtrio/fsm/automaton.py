"""AST (see :mod:`radtrio.fsm.regex_parser`) -> Thompson NFA over bytes -> minimized DFA.

Code point sets become UTF-8 byte sequences, so a token that ends in the middle of a
multi-byte character simply leaves the DFA in an inner state. ``("call", k)`` nodes become
edges labelled ``k`` (a call of grammar rule ``k``), kept beside the byte transitions.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import time
from dataclasses import dataclass, field

import numpy as np

from radtrio.types import RequestError

MAX_DFA_STATES = 200_000
MAX_NFA_STATES = 2_000_000

_UTF8_BOUNDS = ((0, 0x7F, 1), (0x80, 0x7FF, 2), (0x800, 0xFFFF, 3), (0x10000, 0x10FFFF, 4))


class AutomatonTooLarge(RequestError):
    pass


_DEADLINE: contextvars.ContextVar[float] = contextvars.ContextVar("fsm_deadline", default=0.0)


@contextlib.contextmanager
def time_limit(seconds: float | None):
    """Make automaton constructions inside the block raise AutomatonTooLarge after ``seconds``."""
    token = _DEADLINE.set(time.perf_counter() + seconds if seconds else 0.0)
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def _check_deadline() -> None:
    d = _DEADLINE.get()
    if d and time.perf_counter() > d:
        raise AutomatonTooLarge("constraint too large: compile time limit reached")


def _encode(cp: int, n: int) -> list[int]:
    if n == 1:
        return [cp]
    if n == 2:
        return [0xC0 | (cp >> 6), 0x80 | (cp & 0x3F)]
    if n == 3:
        return [0xE0 | (cp >> 12), 0x80 | ((cp >> 6) & 0x3F), 0x80 | (cp & 0x3F)]
    return [
        0xF0 | (cp >> 18),
        0x80 | ((cp >> 12) & 0x3F),
        0x80 | ((cp >> 6) & 0x3F),
        0x80 | (cp & 0x3F),
    ]


@functools.lru_cache(maxsize=65536)
def utf8_sequences(lo: int, hi: int) -> list[list[tuple[int, int]]]:
    """Byte-range sequences whose union is exactly the UTF-8 encodings of [lo, hi]."""
    out: list[list[tuple[int, int]]] = []
    todo = []
    for blo, bhi, n in _UTF8_BOUNDS:
        a, b = max(lo, blo), min(hi, bhi)
        if a <= b:
            todo.append((a, b, n))
    while todo:
        a, b, n = todo.pop()
        split = False
        for i in range(1, n):
            m = (1 << (6 * i)) - 1
            if (a & ~m) != (b & ~m):
                if a & m:
                    todo.append((a, a | m, n))
                    todo.append(((a | m) + 1, b, n))
                    split = True
                    break
                if (b & m) != m:
                    todo.append((a, (b & ~m) - 1, n))
                    todo.append((b & ~m, b, n))
                    split = True
                    break
        if split:
            continue
        ea, eb = _encode(a, n), _encode(b, n)
        out.append(list(zip(ea, eb, strict=True)))
    return out


@dataclass
class NFA:
    eps: list[list[int]] = field(default_factory=list)
    edges: list[list[tuple[int, int, int]]] = field(default_factory=list)
    calls: list[list[tuple[int, int]]] = field(default_factory=list)

    def new(self) -> int:
        self.eps.append([])
        self.edges.append([])
        self.calls.append([])
        if len(self.eps) > MAX_NFA_STATES:
            raise AutomatonTooLarge("constraint too large: NFA above 2M states")
        return len(self.eps) - 1

    def build(self, node) -> tuple[int, int]:
        kind = node[0]
        if kind == "set":
            s, e = self.new(), self.new()
            for lo, hi in node[1]:
                for seq in utf8_sequences(lo, hi):
                    cur = s
                    for k, (blo, bhi) in enumerate(seq):
                        nxt = e if k == len(seq) - 1 else self.new()
                        self.edges[cur].append((blo, bhi, nxt))
                        cur = nxt
            return s, e
        if kind == "bytes":
            s, e = self.new(), self.new()
            for lo, hi in node[1]:
                self.edges[s].append((lo, hi, e))
            return s, e
        if kind == "cat":
            s = self.new()
            cur = s
            for child in node[1]:
                cs, ce = self.build(child)
                self.eps[cur].append(cs)
                cur = ce
            return s, cur
        if kind == "alt":
            s, e = self.new(), self.new()
            for child in node[1]:
                cs, ce = self.build(child)
                self.eps[s].append(cs)
                self.eps[ce].append(e)
            return s, e
        if kind == "rep":
            _, child, lo, hi = node
            s = self.new()
            cur = s
            for _ in range(lo):
                cs, ce = self.build(child)
                self.eps[cur].append(cs)
                cur = ce
            if hi is None:
                cs, ce = self.build(child)
                e = self.new()
                self.eps[cur].append(cs)
                self.eps[cur].append(e)
                self.eps[ce].append(cs)
                self.eps[ce].append(e)
                return s, e
            e = self.new()
            self.eps[cur].append(e)
            for _ in range(hi - lo):
                cs, ce = self.build(child)
                self.eps[cur].append(cs)
                self.eps[ce].append(e)
                cur = ce
            return s, e
        if kind == "dfa":
            d: DFA = node[1]
            if any(d.calls):
                raise ValueError("cannot embed a DFA with calls")
            base = len(self.eps)
            n = d.n
            self.eps.extend([] for _ in range(n + 1))
            self.calls.extend([] for _ in range(n + 1))
            self.edges.extend([(lo, hi, base + t) for lo, hi, t in row] for row in d.edge_ranges())
            self.edges.append([])
            if len(self.eps) > MAX_NFA_STATES:
                raise AutomatonTooLarge("constraint too large: NFA above 2M states")
            e = base + n
            for q in np.nonzero(d.accept)[0].tolist():
                self.eps[base + q].append(e)
            return base, e
        if kind == "props":
            return self._props(node)
        if kind == "call":
            s, e = self.new(), self.new()
            self.calls[s].append((node[1], e))
            return s, e
        raise ValueError(f"unknown node {kind}")

    def _props(self, node) -> tuple[int, int]:
        """Object members in a fixed order, optional ones skippable, commas only between
        present members: states F (nothing emitted yet) and R (something emitted)."""
        _, entries, sep, extra = node
        s, e = self.new(), self.new()
        F: int | None = s
        R: int | None = None
        for kv, required in entries:
            q, r2 = self.new(), self.new()
            if F is not None:
                self.eps[F].append(q)
            if R is not None:
                ss, se = self.build(sep)
                self.eps[R].append(ss)
                self.eps[se].append(q)
            ks, ke = self.build(kv)
            self.eps[q].append(ks)
            self.eps[ke].append(r2)
            if required:
                F = None
            elif R is not None:
                self.eps[R].append(r2)
            R = r2
        if extra is not None:
            qx, x = self.new(), self.new()
            if F is not None:
                self.eps[F].append(qx)
            for src in ([R] if R is not None else []) + [x]:
                ss, se = self.build(sep)
                self.eps[src].append(ss)
                self.eps[se].append(qx)
            ks, ke = self.build(extra)
            self.eps[qx].append(ks)
            self.eps[ke].append(x)
            self.eps[x].append(e)
        if F is not None:
            self.eps[F].append(e)
        if R is not None:
            self.eps[R].append(e)
        return s, e


@dataclass
class DFA:
    """trans[state, byte] -> state or -1; calls[state] = {rule: state}; start is 0."""

    trans: np.ndarray
    accept: np.ndarray
    calls: list[dict[int, int]]

    @property
    def n(self) -> int:
        return int(self.trans.shape[0])

    def matches(self, data: bytes) -> bool:
        s = 0
        for b in data:
            s = int(self.trans[s, b])
            if s < 0:
                return False
        return bool(self.accept[s])

    def edge_ranges(self) -> list[list[tuple[int, int, int]]]:
        """Per state: (lo, hi, target) runs of equal transitions (cached)."""
        cached = getattr(self, "_ranges", None)
        if cached is not None:
            return cached
        t = self.trans
        change = np.ones_like(t, dtype=bool)
        change[:, 1:] = t[:, 1:] != t[:, :-1]
        rows, cols = np.nonzero(change)
        vals = t[rows, cols]
        out: list[list[tuple[int, int, int]]] = [[] for _ in range(self.n)]
        ends = np.empty_like(cols)
        ends[:-1] = cols[1:] - 1
        same_row = np.zeros(len(rows), dtype=bool)
        same_row[:-1] = rows[1:] == rows[:-1]
        ends = np.where(same_row, ends, 255)
        for r, lo, hi, v in zip(
            rows.tolist(), cols.tolist(), ends.tolist(), vals.tolist(), strict=True
        ):
            if v >= 0:
                out[r].append((lo, hi, v))
        self._ranges = out
        return out

    def first_bytes(self, state: int = 0) -> np.ndarray:
        return self.trans[state] >= 0


def _closure(nfa: NFA, states) -> frozenset[int]:
    seen = set(states)
    stack = list(states)
    while stack:
        s = stack.pop()
        for t in nfa.eps[s]:
            if t not in seen:
                seen.add(t)
                stack.append(t)
    return frozenset(seen)


def determinize(nfa: NFA, start: int, end: int) -> DFA:
    closures: dict[int, frozenset[int]] = {}

    def clo(s: int) -> frozenset[int]:
        c = closures.get(s)
        if c is None:
            c = _closure(nfa, [s])
            closures[s] = c
        return c

    first = clo(start)
    ids = {first: 0}
    order = [first]
    rows: list[np.ndarray] = []
    calls: list[dict[int, int]] = []
    accept: list[bool] = []
    i = 0
    while i < len(order):
        S = order[i]
        i += 1
        if not i & 127:
            _check_deadline()
        row = np.full(256, -1, dtype=np.int32)
        edges = [e for s in S for e in nfa.edges[s]]
        if edges:
            pts = sorted({lo for lo, _, _ in edges} | {hi + 1 for _, hi, _ in edges})
            for a, b in zip(pts, pts[1:], strict=False):
                targets = set()
                for lo, hi, t in edges:
                    if lo <= a <= hi:
                        targets |= clo(t)
                if not targets:
                    continue
                key = frozenset(targets)
                j = ids.get(key)
                if j is None:
                    j = len(order)
                    if j >= MAX_DFA_STATES:
                        raise AutomatonTooLarge("constraint too large: DFA above 200k states")
                    ids[key] = j
                    order.append(key)
                row[a:b] = j
        crow: dict[int, set[int]] = {}
        for s in S:
            for label, t in nfa.calls[s]:
                crow.setdefault(label, set()).update(clo(t))
        cd = {}
        for label, targets in crow.items():
            key = frozenset(targets)
            j = ids.get(key)
            if j is None:
                j = len(order)
                ids[key] = j
                order.append(key)
            cd[label] = j
        rows.append(row)
        calls.append(cd)
        accept.append(end in S)
    return DFA(np.stack(rows), np.array(accept, dtype=bool), calls)


def _distinct_columns(trans: np.ndarray) -> np.ndarray:
    """One representative byte per class of bytes that every state treats alike."""
    ids = _row_ids(trans.T)
    _, idx = np.unique(ids, return_index=True)
    return np.sort(idx)


def _successors(dfa: DFA, cols: np.ndarray) -> list[list[int]]:
    sub = dfa.trans[:, cols]
    out = []
    for s in range(dfa.n):
        row = sub[s]
        nxt = set(row[row >= 0].tolist())
        nxt.update(dfa.calls[s].values())
        out.append(list(nxt))
    return out


def trim(dfa: DFA) -> DFA:
    """Drop states that cannot reach an accepting state (and unreachable ones); start stays 0."""
    n = dfa.n
    succ = _successors(dfa, _distinct_columns(dfa.trans))
    rev: list[list[int]] = [[] for _ in range(n)]
    for a, nxt in enumerate(succ):
        for b in nxt:
            rev[b].append(a)
    live = np.zeros(n, dtype=bool)
    stack = [int(s) for s in np.nonzero(dfa.accept)[0]]
    for s in stack:
        live[s] = True
    while stack:
        s = stack.pop()
        for p in rev[s]:
            if not live[p]:
                live[p] = True
                stack.append(p)
    if not live[0]:
        return DFA(np.full((1, 256), -1, dtype=np.int32), np.zeros(1, dtype=bool), [{}])
    reach = np.zeros(n, dtype=bool)
    reach[0] = True
    stack = [0]
    while stack:
        s = stack.pop()
        for t in succ[s]:
            if live[t] and not reach[t]:
                reach[t] = True
                stack.append(t)
    if reach.all():
        return dfa
    keep = np.nonzero(reach)[0]
    remap = np.full(n + 1, -1, dtype=np.int32)
    remap[keep] = np.arange(len(keep), dtype=np.int32)
    trans = dfa.trans[keep]
    trans = remap[np.where(trans >= 0, trans, n)]
    calls = [{k: int(remap[v]) for k, v in dfa.calls[s].items() if remap[v] >= 0} for s in keep]
    return DFA(trans.astype(np.int32), dfa.accept[keep].copy(), calls)


def _row_ids(sig: np.ndarray) -> np.ndarray:
    """Dense ids of equal rows: a 64-bit hash per row, verified exactly (rows that share a
    hash must be equal, else the exact but slower sort is used)."""
    sig = np.ascontiguousarray(sig, dtype=np.int64)
    if sig.shape[1] == 0:
        return np.zeros(sig.shape[0], dtype=np.int64)
    rng = np.random.default_rng(sig.shape[1])
    w = rng.integers(1, 2**62, size=sig.shape[1], dtype=np.int64) | 1
    with np.errstate(over="ignore"):
        h = (sig * w).sum(axis=1) ^ ((sig + 7) * (w >> 3)).sum(axis=1)
    _, first, inv = np.unique(h, return_index=True, return_inverse=True)
    inv = inv.reshape(-1)
    if np.array_equal(sig, sig[first[inv]]):
        return inv.astype(np.int64)
    v = sig.view(np.dtype((np.void, sig.dtype.itemsize * sig.shape[1]))).reshape(-1)
    _, inv = np.unique(v, return_inverse=True)
    return inv.reshape(-1).astype(np.int64)


def minimize(dfa: DFA) -> DFA:
    """Moore partition refinement (vectorised over byte classes); the start state stays 0."""
    n = dfa.n
    cols = _distinct_columns(dfa.trans)
    sub = dfa.trans[:, cols]
    labels = sorted({k for cd in dfa.calls for k in cd})
    ctab = np.full((n, len(labels)), -1, dtype=np.int64)
    for s, cd in enumerate(dfa.calls):
        for j, k in enumerate(labels):
            if k in cd:
                ctab[s, j] = cd[k]
    succ = np.concatenate([sub.astype(np.int64), ctab], axis=1)
    succ = np.where(succ >= 0, succ, n)
    cls = dfa.accept.astype(np.int64)
    count = len(np.unique(cls))
    while True:
        ext = np.append(cls, -1)
        sig = np.concatenate([cls[:, None], ext[succ]], axis=1)
        new = _row_ids(sig)
        c2 = int(new.max()) + 1
        cls = new
        if c2 == count:
            break
        count = c2
    if count == n:
        return dfa
    # renumber so that the start state's class is 0, in BFS order
    order = {int(cls[0]): 0}
    reps = [0]
    queue = [0]
    qi = 0
    while qi < len(queue):
        s = queue[qi]
        qi += 1
        for t in succ[s].tolist():
            if t >= n:
                continue
            c = int(cls[t])
            if c not in order:
                order[c] = len(order)
                reps.append(t)
                queue.append(t)
    m = len(reps)
    lut = np.full(count, -1, dtype=np.int32)
    for c, i in order.items():
        lut[c] = i
    remap = np.append(lut[cls], -1).astype(np.int32)
    reps_a = np.array(reps)
    trans = remap[np.where(dfa.trans[reps_a] >= 0, dfa.trans[reps_a], n)].astype(np.int32)
    calls = [{k: int(remap[v]) for k, v in dfa.calls[r].items()} for r in reps]
    return DFA(trans.reshape(m, 256), dfa.accept[reps_a].copy(), calls)


def compile_ast(node) -> DFA:
    _check_deadline()
    nfa = NFA()
    s, e = nfa.build(node)
    return minimize(trim(determinize(nfa, s, e)))


def product(a: DFA, b: DFA, op: str) -> DFA:
    """Product of two call-free DFAs: op is "and" (intersection) or "diff" (a minus b)."""
    if any(a.calls) or any(b.calls):
        raise ValueError("product of DFAs with calls")
    ids = {(0, 0): 0}
    order = [(0, 0)]
    rows: list[np.ndarray] = []
    acc: list[bool] = []
    i = 0
    while i < len(order):
        p, q = order[i]
        i += 1
        if not i & 127:
            _check_deadline()
        tp = a.trans[p]
        tq = b.trans[q] if q >= 0 else np.full(256, -1, dtype=np.int32)
        row = np.full(256, -1, dtype=np.int32)
        for byte in np.nonzero(tp >= 0)[0].tolist():
            nq = int(tq[byte])
            if op == "and" and nq < 0:
                continue
            key = (int(tp[byte]), nq)
            j = ids.get(key)
            if j is None:
                j = len(order)
                if j >= MAX_DFA_STATES:
                    raise AutomatonTooLarge("constraint too large: DFA above 200k states")
                ids[key] = j
                order.append(key)
            row[byte] = j
        rows.append(row)
        in_b = q >= 0 and bool(b.accept[q])
        acc.append(bool(a.accept[p]) and (in_b if op == "and" else not in_b))
    d = DFA(np.stack(rows), np.array(acc, dtype=bool), [{} for _ in rows])
    return minimize(trim(d))


def is_empty(d: DFA) -> bool:
    return not bool(trim(d).accept.any())
