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

import struct
from itertools import chain

import numpy as np

from radtrio.fsm import grammar_kernels as gk
from radtrio.fsm import machine_kernels as mk
from radtrio.fsm.automaton import DFA, call_free, compile_ast
from radtrio.types import RequestError

UNBOUNDED = 1 << 30
MAX_STACK = 64

# GrammarConflict message of each failing check of grammar_kernels.finish_tables
_CONFLICTS = {
    gk.ERR_CALLED_EMPTY: "internal: a called rule matches nothing or the empty string",
    gk.ERR_CALL_CHOICE: "ambiguous choice: two alternatives start with the same byte where one "
    "is a recursive or counted rule",
    gk.ERR_CALLED_END: "ambiguous end of a called rule",
    gk.ERR_REP_ITEM_EMPTY: "repeat: item and empty close overlap",
    gk.ERR_REP_OPEN_ITEM: "repeat: open and item overlap",
    gk.ERR_REP_ITEM_CLOSE: "repeat: item and close overlap",
    gk.ERR_REP_SEP_ITEM: "repeat: separator and item overlap",
    gk.ERR_REP_END: "ambiguous end of a repeat",
}


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
    return call_free(np.stack(rows), np.array(acc)), np.array(br, dtype=np.int8)


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
        # (a list test: numpy's any() costs microseconds on these few rules)
        self.has_repeat = mk.KIND_REPEAT in self.kind.tolist()
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
        """Lay out every rule in one global table (rules in order, a repeat as its open, empty
        and between DFAs) and prove the machine deterministic: raises :class:`GrammarConflict`
        with the message of the first check that fails (the checks and their order:
        :func:`radtrio.fsm.grammar_kernels.finish_tables`)."""
        rules = self.rules
        if None in rules:
            raise ValueError("a reserved rule was never defined")
        nr = len(rules)
        trans: list[np.ndarray] = []
        accept: list[np.ndarray] = []
        part_lo = [0]
        # per rule: kind, start, end of its DFA (a repeat: of its open part), item, empty,
        # between, end of between, has_sep, min, max, number of states with calls
        meta: list[tuple[int, ...]] = []
        labels: list[tuple[int, int, np.ndarray | None]] = []  # None: all BR_CLOSE
        # calls in local state numbers: the states with calls and how many each, then each
        # call's callee and return state (the kernel adds each rule's start)
        call_states: list[int] = []
        call_counts: list[int] = []
        callees: list[int] = []
        rets: list[int] = []
        total = 0
        for r in rules:
            if r["kind"] == mk.KIND_DFA:
                d = r["dfa"]
                o = total
                total += d.n
                trans.append(d.trans)
                accept.append(d.accept)
                part_lo.append(total)
                nz = d.call_states()
                if nz:
                    cds = d.calls
                    ds = [cds[s] for s in nz]
                    call_states += nz
                    call_counts += map(len, ds)
                    callees += chain.from_iterable(ds)
                    rets += chain.from_iterable(m.values() for m in ds)
                meta.append((mk.KIND_DFA, o, total, -1, -1, -1, -1, 0, 0, 0, len(nz)))
                continue
            lo = {}
            for name in ("open", "empty", "between"):
                d = r[name]
                if d is None:
                    continue
                lo[name] = total
                total += d.n
                trans.append(d.trans)
                accept.append(d.accept)
                part_lo.append(total)
                if name == "between":
                    labels.append((lo[name], total, r["branch"]))
                elif name == "empty":  # closing right after open: the frame is complete
                    labels.append((lo[name], total, None))
            op = lo["open"]
            bw = lo["between"]
            meta.append(
                (
                    mk.KIND_REPEAT,
                    op,
                    op + r["open"].n,
                    r["item"],
                    lo.get("empty", -1),
                    bw,
                    bw + r["between"].n,
                    1 if r["has_sep"] else 0,
                    r["min"],
                    r["max"],
                    0,
                )
            )
        # rows of rule fields and of calls: one conversion each (contiguous int32 rows)
        if meta:
            flat = list(chain.from_iterable(meta))
            cols = np.empty(len(flat), dtype=np.int32)
            struct.pack_into(f"{len(flat)}i", cols, 0, *flat)  # quicker than np.array
            cols = cols.reshape(len(meta), 11).T.copy()
        else:
            cols = np.empty((11, 0), dtype=np.int32)
        if callees:
            states = np.array([call_states, call_counts], dtype=np.int32)
            calls = np.array([callees, rets], dtype=np.int32)
        else:
            states = calls = np.empty((2, 0), dtype=np.int32)
        # the kernel copies the first part's table and the rest's (stacked) into T as it shifts
        T = np.empty((total, 256), dtype=np.int32)
        if len(trans) > 1:
            head = trans[0]
            tail = trans[1] if len(trans) == 2 else np.concatenate(trans[1:])
            acc = np.concatenate(accept, dtype=np.bool_, casting="unsafe")
        elif trans:
            head = tail = trans[0]
            acc = accept[0].astype(np.bool_)
        else:
            head = tail = T
            acc = np.empty(0, dtype=np.bool_)
        branch = np.zeros(total, dtype=np.int8)
        for lo_, hi, br in labels:
            branch[lo_:hi] = mk.BR_CLOSE if br is None else br
        kind = cols[0].astype(np.int8)
        rep_sep = cols[7].astype(np.int8)
        call_ptr = np.zeros(total + 1, dtype=np.int32)
        first = np.empty((nr, 256), dtype=np.bool_)
        code = gk.finish_tables(
            head,
            tail,
            T,
            np.array(part_lo, dtype=np.int32),
            acc,
            branch,
            states,
            calls,
            kind,
            cols,
            call_ptr,
            first,
        )
        if code == gk.ERR_NO_RULE:
            raise ValueError("a call or repeat item names no rule")
        if code != gk.OK:
            raise GrammarConflict(_CONFLICTS[code])
        arrays = (
            T,
            acc,
            branch,
            call_ptr,
            calls[0],
            calls[1],
            kind,
            cols[1],
            first,
            cols[3],
            cols[4],
            cols[5],
            rep_sep,
            cols[8],
            cols[9],
        )
        pure = nr == 1 and kind[0] == mk.KIND_DFA and not callees
        return Grammar(arrays, root, pure, nr)
