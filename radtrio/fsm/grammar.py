"""A pushdown machine of byte DFAs with counters: the one runtime form of every constraint.

Rules are either

- DFA rules: a minimized byte DFA (from an AST) whose edges may also *call* another rule; the
  call is taken on a byte in the callee's FIRST set, and the callee returns when it is in an
  accepting state and the next byte is not its own;
- REPEAT rules: ``open (item (sep item)*)? close`` with ``min <= count <= max`` items, the count
  kept in the frame (a counter beside the DFA state instead of N unrolled copies).

A regex or a non-recursive schema without large bounds is a single DFA rule. The machine is
deterministic by construction: :meth:`GrammarBuilder.finish` proves that every choice the
walker makes greedily (byte edge, call, return) is the only one possible, and raises
:class:`GrammarConflict` otherwise, so the walker never rejects a string the language holds.
"""

from __future__ import annotations

from itertools import compress

import numpy as np

from radtrio.fsm import machine_kernels as mk
from radtrio.fsm.automaton import DFA, compile_ast
from radtrio.types import RequestError

UNBOUNDED = 1 << 30
MAX_STACK = 64


class GrammarConflict(RequestError):
    """The rules cannot be walked deterministically (an ambiguous call or return)."""


def _union_labelled(sep: DFA, close: DFA) -> tuple[DFA, np.ndarray]:
    """Product DFA of ``sep | close`` with each state labelled by the branch it committed to."""
    ids = {(0, 0): 0}
    order = [(0, 0)]
    rows, acc, br = [], [], []
    i = 0
    while i < len(order):
        a, c = order[i]
        i += 1
        row = np.full(256, -1, dtype=np.int32)
        for b in range(256):
            na = int(sep.trans[a, b]) if a >= 0 else -1
            nc = int(close.trans[c, b]) if c >= 0 else -1
            if na < 0 and nc < 0:
                continue
            key = (na, nc)
            j = ids.get(key)
            if j is None:
                j = len(order)
                ids[key] = j
                order.append(key)
            row[b] = j
        sa = a >= 0 and bool(sep.accept[a])
        sc = c >= 0 and bool(close.accept[c])
        if sa and sc:
            raise GrammarConflict("repeat: separator and close overlap")
        rows.append(row)
        acc.append(sa or sc)
        if sa or (c < 0):
            br.append(mk.BR_SEP)
        elif sc or (a < 0):
            br.append(mk.BR_CLOSE)
        else:
            br.append(mk.BR_ANY)
    return DFA(np.stack(rows), np.array(acc), [{} for _ in rows]), np.array(br, dtype=np.int8)


def _place(dst: np.ndarray, trans: np.ndarray, base: int) -> None:
    """``dst[:] = np.where(trans >= 0, trans + base, -1)``, in two passes for int32 tables:
    ``t >> 31`` is -1 where ``t`` is negative and 0 elsewhere."""
    if trans.dtype != np.int32 or trans.shape != dst.shape:
        dst[...] = np.where(trans >= 0, trans + base, -1)
        return
    np.add(trans, base, out=dst)
    dst |= trans >> 31


class Grammar:
    """Flat arrays of the machine plus the root rule; immutable once built."""

    def __init__(self, arrays: tuple, root: int, pure_dfa: bool, n_rules: int) -> None:
        self.arrays = arrays
        self.root = root
        self.pure_dfa = pure_dfa
        self.n_rules = n_rules
        self.plain_info = None  # set by radtrio.fsm.plain_tokens on first use
        (
            self.T,
            self.acc,
            self.branch,
            self.call_ptr,
            self.call_rule,
            self.call_ret,
            self.kind,
            self.start,
            self.first,
            self.rep_item,
            self.rep_empty,
            self.rep_between,
            self.rep_sep,
            self.rep_min,
            self.rep_max,
        ) = arrays
        self.has_repeat = bool((self.kind == mk.KIND_REPEAT).any())
        # configuration (frames bytes) -> the bytes forced from it; shared by every guide of
        # this grammar (jump-forward asks after each sampled token of each request)
        self.forced_cache: dict[bytes, bytes] = {}

    @property
    def n_states(self) -> int:
        return int(self.T.shape[0])

    def initial(self) -> tuple[np.ndarray, int]:
        stk = np.zeros((MAX_STACK, 4), dtype=np.int32)
        depth = mk._push(stk, 0, self.root, self.kind, self.start, MAX_STACK)
        return stk, depth

    def step_bytes(self, stk: np.ndarray, depth: int, data: bytes) -> int:
        """Consume ``data`` in place; the new depth, or -1 if some byte is not allowed."""
        if not data:
            return depth
        return int(mk.step_bytes(stk, depth, np.frombuffer(data, dtype=np.uint8), *self.arrays))

    def can_end(self, stk: np.ndarray, depth: int) -> bool:
        return bool(mk.can_end(stk, depth, self.acc, self.branch, self.kind))

    def allowed_bytes(self, stk: np.ndarray, depth: int) -> np.ndarray:
        out = np.zeros(256, dtype=np.uint8)
        mk.allowed_bytes(stk, depth, out, *self.arrays)
        return out

    def key(self, stk: np.ndarray, depth: int, horizon: int) -> bytes:
        """A cache key: equal keys give equal token masks for tokens up to ``horizon`` bytes.

        Counts enter only as how far they are from min and max, capped at the horizon."""
        if not self.has_repeat:
            return stk[:depth].tobytes()
        frames = stk[:depth].astype(np.int64)
        for f in range(depth):
            r = int(frames[f, 0])
            if self.kind[r] == mk.KIND_REPEAT:
                cnt = int(frames[f, 3])
                to_min = min(max(int(self.rep_min[r]) - cnt, 0), horizon)
                to_max = min(int(self.rep_max[r]) - cnt, horizon)
                frames[f, 3] = to_min * (horizon + 2) + to_max
        return frames.tobytes()

    def matches(self, data: bytes) -> bool:
        stk, depth = self.initial()
        depth = self.step_bytes(stk, depth, data)
        return depth >= 0 and self.can_end(stk, depth)


class GrammarBuilder:
    def __init__(self) -> None:
        self.rules: list[dict | None] = []

    def reserve(self) -> int:
        self.rules.append(None)
        return len(self.rules) - 1

    def set_dfa(self, rid: int, ast) -> None:
        self.rules[rid] = {"kind": mk.KIND_DFA, "dfa": compile_ast(ast)}

    def set_compiled(self, rid: int, dfa: DFA) -> None:
        self.rules[rid] = {"kind": mk.KIND_DFA, "dfa": dfa}

    def add_dfa(self, ast) -> int:
        rid = self.reserve()
        self.set_dfa(rid, ast)
        return rid

    def add_repeat(
        self, open_ast, item: int, sep_ast, close_ast, empty_ast, rmin: int, rmax: int | None
    ) -> int:
        """``open (item (sep item)*)? close`` with rmin..rmax items; ``empty_ast`` closes when
        there are no items (right after ``open``). ``sep_ast=None``: items follow directly."""
        rid = self.reserve()
        close = compile_ast(close_ast)
        if sep_ast is not None:
            between, branch = _union_labelled(compile_ast(sep_ast), close)
        else:
            between, branch = close, np.full(close.n, mk.BR_CLOSE, dtype=np.int8)
        self.rules[rid] = {
            "kind": mk.KIND_REPEAT,
            "open": compile_ast(open_ast),
            "empty": compile_ast(empty_ast) if rmin == 0 else None,
            "between": between,
            "branch": branch,
            "item": item,
            "has_sep": sep_ast is not None,
            "min": rmin,
            "max": UNBOUNDED if rmax is None else rmax,
        }
        return rid

    def finish(self, root: int) -> Grammar:
        if any(r is None for r in self.rules):
            raise ValueError("a reserved rule was never defined")
        # lay out every DFA in one global table
        parts: list[tuple[DFA, np.ndarray | None]] = []
        offsets: list[dict[str, int]] = []
        total = 0
        for r in self.rules:
            off = {}
            names = ["dfa"] if r["kind"] == mk.KIND_DFA else ["open", "empty", "between"]
            for name in names:
                d = r[name]
                if d is None:
                    continue
                off[name] = total
                if name == "between":
                    labels = r["branch"]
                elif name == "empty":  # closing right after open: the frame is complete
                    labels = np.full(d.n, mk.BR_CLOSE, dtype=np.int8)
                else:
                    labels = None
                parts.append((d, labels))
                total += d.n
            offsets.append(off)
        T = np.empty((total, 256), dtype=np.int32)
        acc = np.empty(total, dtype=np.bool_)
        branch = np.zeros(total, dtype=np.int8)
        base = 0
        for d, br in parts:
            n = d.n
            _place(T[base : base + n], d.trans, base)
            acc[base : base + n] = d.accept
            if br is not None:
                branch[base : base + n] = br
            base += n
        nr = len(self.rules)
        kind = np.array([r["kind"] for r in self.rules], dtype=np.int8)
        start = np.zeros(nr, dtype=np.int32)
        rep_item = np.full(nr, -1, dtype=np.int32)
        rep_empty = np.full(nr, -1, dtype=np.int32)
        rep_between = np.full(nr, -1, dtype=np.int32)
        rep_sep = np.zeros(nr, dtype=np.int8)
        rep_min = np.zeros(nr, dtype=np.int32)
        rep_max = np.zeros(nr, dtype=np.int32)
        # calls as (global state, callee, global return state), sorted by state: rules lie in
        # the table in their order, and only DFA rules call
        calls: dict[int, list[tuple[int, int]]] = {}
        for i, r in enumerate(self.rules):
            off = offsets[i]
            if r["kind"] == mk.KIND_DFA:
                o = start[i] = off["dfa"]
                cds = r["dfa"].calls
                for s in compress(range(len(cds)), cds):
                    calls[o + s] = [(callee, o + ret) for callee, ret in cds[s].items()]
            else:
                start[i] = off["open"]
                rep_item[i] = r["item"]
                rep_empty[i] = off.get("empty", -1)
                rep_between[i] = off["between"]
                rep_sep[i] = 1 if r["has_sep"] else 0
                rep_min[i] = r["min"]
                rep_max[i] = r["max"]
        call_ptr = np.zeros(total + 1, dtype=np.int32)
        if calls:
            counts = np.zeros(total, dtype=np.int64)
            counts[list(calls)] = [len(cl) for cl in calls.values()]
            call_ptr[1:] = np.cumsum(counts)
        call_rule = np.array([c for cl in calls.values() for c, _ in cl], dtype=np.int32)
        call_ret = np.array([t for cl in calls.values() for _, t in cl], dtype=np.int32)
        first = self._first_sets(T, kind, start, calls)
        arrays = (
            T,
            acc,
            branch,
            call_ptr,
            call_rule,
            call_ret,
            kind,
            start,
            first,
            rep_item,
            rep_empty,
            rep_between,
            rep_sep,
            rep_min,
            rep_max,
        )
        self._check(arrays, calls, offsets)
        pure = nr == 1 and kind[0] == mk.KIND_DFA and len(call_rule) == 0
        return Grammar(arrays, root, pure, nr)

    def _first_sets(self, T, kind, start, calls: dict[int, list[tuple[int, int]]]) -> np.ndarray:
        """FIRST set of each rule: the bytes of its start state and the FIRST sets of the rules
        called there (the least fixed point)."""
        nr = len(self.rules)
        first = T[start] >= 0
        callers = [
            (i, [callee for callee, _ in calls[int(start[i])]])
            for i in range(nr)
            if kind[i] == mk.KIND_DFA and int(start[i]) in calls
        ]
        changed = bool(callers)
        while changed:
            changed = False
            for i, callees in callers:
                new = first[i] | first[callees].any(axis=0)
                if (new != first[i]).any():
                    first[i] = new
                    changed = True
        called = {c for cl in calls.values() for c, _ in cl}
        called |= {r["item"] for r in self.rules if r["kind"] == mk.KIND_REPEAT}
        for i in called:
            if not first[i].any() or (kind[i] == mk.KIND_DFA and self.rules[i]["dfa"].accept[0]):
                raise GrammarConflict("internal: a called rule matches nothing or the empty string")
        return first

    def _check(self, arrays, calls: dict[int, list[tuple[int, int]]], offsets) -> None:
        (
            T,
            acc,
            branch,
            call_ptr,
            call_rule,
            call_ret,
            kind,
            start,
            first,
            rep_item,
            rep_empty,
            rep_between,
            rep_sep,
            rep_min,
            rep_max,
        ) = arrays
        nr = len(self.rules)
        # 1. calls at one state: disjoint from each other and from the byte edges
        srcs = np.fromiter(calls, dtype=np.int64, count=len(calls))
        callee = np.array([c for cl in calls.values() for c, _ in cl], dtype=np.int64)
        ret = np.array([t for cl in calls.values() for _, t in cl], dtype=np.int64)
        # FIRST sets of the byte edges and the rules called at each state with calls
        row_of = {s: k for k, s in enumerate(calls)}
        if calls:
            n_calls = np.array([len(cl) for cl in calls.values()], dtype=np.int64)
            seg = np.cumsum(n_calls) - n_calls
            edges = T[srcs] >= 0
            one = n_calls == 1  # most states call one rule: a single overlap test for them all
            call_first = edges | first[callee[seg]]
            clash = (edges[one] & first[callee[seg[one]]]).any()
            for k in np.flatnonzero(~one).tolist():
                seen = edges[k].copy()
                for c in callee[seg[k] : seg[k] + n_calls[k]].tolist():
                    clash = clash or (seen & first[c]).any()
                    seen |= first[c]
                call_first[k] = seen
            if clash:
                raise GrammarConflict(
                    "ambiguous choice: two alternatives start with the same byte where one is "
                    "a recursive or counted rule"
                )
        else:
            call_first = np.zeros((0, 256), dtype=np.bool_)

        def out(states: np.ndarray) -> np.ndarray:
            """Bytes that continue from each of ``states`` (edges and calls)."""
            f = T[states] >= 0
            for k, s in enumerate(states.tolist()):
                if s in row_of:
                    f[k] = call_first[row_of[s]]
            return f

        # 2. FOLLOW sets, then returns must be unambiguous
        reps = [i for i in range(nr) if kind[i] == mk.KIND_REPEAT]
        follow = np.zeros((nr, 256), dtype=np.bool_)
        if calls or reps:
            rule_of = np.zeros(T.shape[0], dtype=np.int32)
            for i, off in enumerate(offsets):
                r = self.rules[i]
                if r["kind"] == mk.KIND_DFA:
                    rule_of[off["dfa"] : off["dfa"] + r["dfa"].n] = i
            # a callee is followed by what comes after its return state, and where that
            # state accepts, by what follows the caller's rule
            after = out(ret)
            for c in np.unique(callee).tolist():
                follow[c] = after[callee == c].any(axis=0)
            via = sorted(
                {
                    (c, int(rule_of[t]))
                    for c, t in zip(callee.tolist(), ret.tolist(), strict=True)
                    if acc[t]
                }
            )
            for i in reps:
                it = rep_item[i]
                f = T[rep_between[i]] >= 0
                if not rep_sep[i]:
                    f = f | first[it]
                follow[it] |= f
            changed = bool(via)
            while changed:
                changed = False
                for c, v in via:
                    new = follow[c] | follow[v]
                    if (new != follow[c]).any():
                        follow[c] = new
                        changed = True
        for i in range(nr):
            r = self.rules[i]
            off = offsets[i]
            if r["kind"] == mk.KIND_DFA:
                if follow[i].any():
                    lo = off["dfa"]
                    ends = lo + np.flatnonzero(acc[lo : lo + r["dfa"].n])
                    if (out(ends) & follow[i]).any():
                        raise GrammarConflict("ambiguous end of a called rule")
                continue
            item_first = first[rep_item[i]]
            o = off["open"]
            empty_first = T[rep_empty[i]] >= 0 if rep_empty[i] >= 0 else np.zeros(256, bool)
            if (item_first & empty_first).any():
                raise GrammarConflict("repeat: item and empty close overlap")
            ends = o + np.flatnonzero(acc[o : o + r["open"].n])
            if (out(ends) & (item_first | empty_first)).any():
                raise GrammarConflict("repeat: open and item overlap")
            if not rep_sep[i] and (item_first & (T[rep_between[i]] >= 0)).any():
                raise GrammarConflict("repeat: item and close overlap")
            bo = off["between"]
            be = bo + r["between"].n
            ob = out(np.arange(bo, be))
            a = acc[bo:be]
            sep_bad = a & (branch[bo:be] == mk.BR_SEP) & (ob & item_first).any(axis=1)
            close_bad = a & (branch[bo:be] == mk.BR_CLOSE) & (ob & follow[i]).any(axis=1)
            bad = np.flatnonzero(sep_bad | close_bad)
            if len(bad):
                if sep_bad[bad[0]]:
                    raise GrammarConflict("repeat: separator and item overlap")
                raise GrammarConflict("ambiguous end of a repeat")
