"""AST (see :mod:`radtrio.fsm.regex_parser`) -> Thompson NFA over bytes -> minimized DFA.

Code point sets become UTF-8 byte sequences, so a token that ends in the middle of a
multi-byte character simply leaves the DFA in an inner state. ``("call", k)`` nodes become
edges labelled ``k`` (a call of grammar rule ``k``), kept beside the byte transitions.

This module holds the :class:`DFA` and the compile entry points; the NFA builder is
:mod:`radtrio.fsm.nfa`, the compile deadline :mod:`radtrio.fsm.deadline`.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

from radtrio.fsm import letter_kernels as lk
from radtrio.fsm import minimize_kernels as mink
from radtrio.fsm import subset_kernels as sk

# the "X as X" imports are re-exports: other modules and the tests import them from here
from radtrio.fsm.deadline import AutomatonTooLarge as AutomatonTooLarge
from radtrio.fsm.deadline import _check_deadline
from radtrio.fsm.deadline import time_limit as time_limit
from radtrio.fsm.nfa import NFA as NFA
from radtrio.fsm.nfa import utf8_sequences as utf8_sequences

MAX_DFA_STATES = 200_000


@dataclass
class DFA:
    """trans[state, byte] -> state or -1; calls[state] = {rule: state} (a state without
    calls may hold the shared empty :data:`NO_CALLS`); start is 0. The arrays are not changed
    after construction (``_runs``, ``_accepting`` and ``_call_states`` cache what is derived
    from them)."""

    trans: np.ndarray
    accept: np.ndarray
    calls: list[Mapping[int, int]]
    _runs: np.ndarray | None = field(default=None, init=False, repr=False, compare=False)
    _accepting: list[int] | None = field(default=None, init=False, repr=False, compare=False)
    _call_states: list[int] | None = field(default=None, init=False, repr=False, compare=False)

    def call_states(self) -> list[int]:
        """The states with calls, ascending (computed on the first call unless the
        constructor's caller knew them)."""
        if self._call_states is None:
            self._call_states = [s for s, c in enumerate(self.calls) if c]
        return self._call_states

    def accepting(self) -> list[int]:
        """The accepting states, ascending (computed on the first call, like :meth:`runs`)."""
        if self._accepting is None:
            self._accepting = np.flatnonzero(self.accept).tolist()
        return self._accepting

    def runs(self) -> np.ndarray:
        """The byte table cut into runs, int32 rows ``(src, lo, hi, dst)``
        (:func:`radtrio.fsm.letter_kernels.table_runs`), computed on the first call: the same
        DFAs are embedded in many NFAs."""
        if self._runs is None:
            self._runs = lk.table_runs(np.ascontiguousarray(self.trans, dtype=np.int32))
        return self._runs

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

    def first_bytes(self, state: int = 0) -> np.ndarray:
        return self.trans[state] >= 0


# the calls of a state without any: one read-only empty mapping shared by every such state
# (a dict per state cost about 1% of a compile to make and to free)
NO_CALLS: Mapping[int, int] = MappingProxyType({})


def call_free(trans: np.ndarray, accept: np.ndarray) -> DFA:
    """A DFA without calls (every state shares :data:`NO_CALLS`)."""
    d = DFA(trans, accept, [NO_CALLS] * len(accept))
    d._call_states = []
    return d


def _kernel_dfa(trans: np.ndarray, accept: np.ndarray, cs, cl, cd) -> DFA:
    """The DFA of a kernel's table and call edges (src, label, dst), which the kernels group
    by state, ascending: its calls and its states with calls."""
    src = cs.tolist()
    calls: list[Mapping[int, int]] = [NO_CALLS] * len(accept)
    for s, lab, t in zip(src, cl.tolist(), cd.tolist(), strict=True):
        own = calls[s]
        if own is NO_CALLS:
            own = calls[s] = {}
        own[lab] = t  # type: ignore[index]
    d = DFA(trans, accept, calls)
    d._call_states = list(dict.fromkeys(src))
    return d


def _call_arrays(dfa: DFA) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    calls = dfa.calls
    trip = [(s, lab, t) for s in dfa.call_states() for lab, t in calls[s].items()]
    if not trip:
        z = np.zeros(0, dtype=np.int32)
        return z, z, z
    a = np.array(trip, dtype=np.int32)
    return a[:, 0].copy(), a[:, 1].copy(), a[:, 2].copy()


def minimize(dfa: DFA) -> DFA:
    """Trimmed minimal DFA (numba, :mod:`radtrio.fsm.minimize_kernels`); the start state
    stays 0, states in BFS order."""
    cs, cl, cd = _call_arrays(dfa)
    trans, accept, cs, cl, cd, nc = mink.reduce(
        np.ascontiguousarray(dfa.trans, dtype=np.int32),
        dfa.accept.astype(bool),
        cs,
        cl,
        cd,
        len(cs),
    )
    return _kernel_dfa(trans, accept, cs[:nc], cl[:nc], cd[:nc])


def compile_ast(node) -> DFA:
    """Minimized DFA of an AST (an already compiled ``("dfa", d)`` node is ``d`` itself)."""
    _check_deadline()
    if node[0] == "dfa":
        return node[1]
    nfa = NFA()
    s, e = nfa.build(node)
    nfa._check_size()
    n, trans, accept, cs, cl, cd, nc = sk.minimal_dfa(nfa.n, *nfa.arrays(), s, e, MAX_DFA_STATES)
    if n == sk.TOO_LARGE:
        raise AutomatonTooLarge("constraint too large: DFA above 200k states")
    return _kernel_dfa(trans, accept, cs[:nc], cl[:nc], cd[:nc])


def product(a: DFA, b: DFA, op: str) -> DFA:
    """Product of two call-free DFAs: op is "and" (intersection) or "diff" (a minus b)."""
    if a.call_states() or b.call_states():
        raise ValueError("product of DFAs with calls")
    _check_deadline()
    n, trans, acc = sk.minimal_product(
        np.ascontiguousarray(a.trans, dtype=np.int32),
        np.asarray(a.accept, dtype=np.bool_),
        np.ascontiguousarray(b.trans, dtype=np.int32),
        np.asarray(b.accept, dtype=np.bool_),
        op == "diff",
        MAX_DFA_STATES,
    )
    if n == sk.TOO_LARGE:
        raise AutomatonTooLarge("constraint too large: DFA above 200k states")
    return call_free(trans, acc)


def is_empty(d: DFA) -> bool:
    """Whether no string (through calls as edges) leads from the start to acceptance."""
    cs, _, cd = _call_arrays(d)
    trans = np.ascontiguousarray(d.trans, dtype=np.int32)
    return not mink.trim(trans, np.asarray(d.accept, dtype=np.bool_), cs, cd, len(cs))[0]


@functools.cache
def compile_kernels() -> None:
    """Run every automaton kernel once on a tiny input, so that numba compiles them (or loads
    its on-disk cache) before a compile deadline starts: the first request after an install
    would otherwise spend its time limit in the JIT. Once per process."""
    with time_limit(None):
        letters = compile_ast(("set", [(0x61, 0x7A)]))
        compile_ast(
            ("cat", [("dfa", letters), ("call", 1), ("rep", ("set", [(0x30, 0x39)]), 0, None)])
        )
        is_empty(product(letters, letters, "diff"))
        minimize(letters)
        # the kernels of the grammar builder and of key sets, imported here (they import
        # this module)
        from radtrio.fsm.grammar import GrammarBuilder
        from radtrio.fsm.literal_sets import without_literals

        without_literals(letters, [b"a", b"ab"])
        b = GrammarBuilder()
        digits = b.reserve()
        b.set_dfa(digits, ("rep", ("set", [(0x30, 0x39)]), 1, None))
        b.finish(b.add_dfa(("cat", [("call", digits), ("set", [(0x2C, 0x2C)])])))
