"""Thompson construction (``NFA.build`` and ``NFA.arrays``) makes exactly the NFA a plain
reference builder makes, written here one state and one edge at a time: the same states in
the same order, the same edge lists, on random ASTs of every node kind; and it refuses an NFA
above ``MAX_NFA_STATES`` as before. Where the builder shares one copy of a repeated child
(``X{lo,}`` and the list form ``X (S X)*``), its minimal DFA is the one of the textbook
construction with a copy per use."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from radtrio.fsm import automaton
from radtrio.fsm import nfa as nfa_module
from radtrio.fsm import subset_kernels as sk
from radtrio.fsm.automaton import NFA, AutomatonTooLarge, compile_ast, utf8_sequences
from radtrio.fsm.regex_parser import LitChars, N_lit


class RefNFA:
    """The reference: every state through :meth:`new`, every epsilon edge through :meth:`ep`.
    With ``shared_loops`` it makes the loops of :meth:`NFA.build` (one copy of X in
    ``X{lo,}``, lo > 0, and in ``X (S X)*``); without, a copy per use."""

    def __init__(self, shared_loops: bool = True) -> None:
        self.shared_loops = shared_loops
        self.n = 0
        self.eps: list[int] = []
        self.edges: list[int] = []
        self.calls: list[int] = []
        self.embedded: list[tuple[int, object]] = []

    def new(self) -> int:
        self.n += 1
        return self.n - 1

    def ep(self, a: int, b: int) -> None:
        self.eps += (a, b)

    def set_edges(self, s: int, ranges, e: int) -> None:
        for lo, hi in ranges:
            for seq in utf8_sequences(lo, hi):
                cur = s
                for k, (blo, bhi) in enumerate(seq):
                    nxt = e if k == len(seq) - 1 else self.new()
                    self.edges += (cur, blo, bhi, nxt)
                    cur = nxt

    def build(self, node) -> tuple[int, int]:
        kind = node[0]
        if kind == "set":
            s, e = self.new(), self.new()
            self.set_edges(s, node[1], e)
            return s, e
        if kind == "bytes":
            s, e = self.new(), self.new()
            for lo, hi in node[1]:
                self.edges += (s, lo, hi, e)
            return s, e
        if kind == "cat":
            s = cur = self.new()
            children = list(node[1])
            while children:
                child = children.pop(0)
                if child[0] == "set":
                    nxt = self.new()
                    self.set_edges(cur, child[1], nxt)
                    cur = nxt
                    continue
                if type(child[1]) is LitChars and (not children or children[0][0] != "rep"):
                    children = list(child[1]) + children  # its characters, in line
                    continue
                if child[0] == "cat" and not child[1]:
                    continue  # the empty string: nothing to step over
                cs, ce = self.build(child)
                self.ep(cur, cs)
                cur = ce
                if self.shared_loops and children and self.is_list_loop(children[0], child):
                    ss, se = self.build(("cat", children.pop(0)[1][1][:-1]))
                    self.ep(ce, ss)
                    self.ep(se, cs)
            return s, cur
        if kind == "alt":
            s, e = self.new(), self.new()
            for child in node[1]:
                if child[0] == "set":
                    self.set_edges(s, child[1], e)
                else:
                    cs, ce = self.build(child)
                    self.ep(s, cs)
                    self.ep(ce, e)
            return s, e
        if kind == "rep":
            _, child, lo, hi = node
            s = cur = self.new()
            if self.shared_loops and hi is None and lo > 0:
                for _ in range(lo - 1):
                    cs, ce = self.build(child)
                    self.ep(cur, cs)
                    cur = ce
                cs, ce = self.build(child)
                self.ep(cur, cs)
                self.ep(ce, cs)
                return s, ce
            for _ in range(lo):
                cs, ce = self.build(child)
                self.ep(cur, cs)
                cur = ce
            if hi is None:
                cs, ce = self.build(child)
                e = self.new()
                for a, b in ((cur, cs), (cur, e), (ce, cs), (ce, e)):
                    self.ep(a, b)
                return s, e
            e = self.new()
            self.ep(cur, e)
            for _ in range(hi - lo):
                cs, ce = self.build(child)
                self.ep(cur, cs)
                self.ep(ce, e)
                cur = ce
            return s, e
        if kind == "dfa":
            d = node[1]
            base = self.n
            self.n += d.n + 1
            self.embedded.append((base, d))
            for q in np.nonzero(d.accept)[0].tolist():
                self.ep(base + q, base + d.n)
            return base, base + d.n
        if kind == "call":
            s, e = self.new(), self.new()
            self.calls += (s, node[1], e)
            return s, e
        if kind == "props":
            return self.props(node)
        if kind == "graph":
            _, n, accepting, edges = node
            states = [self.new() for _ in range(n)]
            e = self.new()
            for src, ast, dst in edges:
                cs, ce = self.build(ast)
                self.ep(states[src], cs)
                self.ep(ce, states[dst])
            for q in accepting:
                self.ep(states[q], e)
            return states[0], e
        raise ValueError(kind)

    @staticmethod
    def is_list_loop(node, item) -> bool:
        """Whether ``node`` is (S item)* with a separator S of at least one part."""
        return (
            node[0] == "rep"
            and node[2:] == (0, None)
            and node[1][0] == "cat"
            and len(node[1][1]) > 1
            and node[1][1][-1] is item
        )

    def props(self, node) -> tuple[int, int]:
        _, entries, sep, extra, min_members = node[:5]
        max_members = node[5] if len(node) > 5 else None
        some = node[6] if len(node) > 6 else None
        top = max(min_members, 1) if max_members is None else max_members

        def after(j: int) -> int | None:
            if max_members is None:
                return min(j + 1, top)
            return j + 1 if j < top else None

        s, e = self.new(), self.new()
        level: list[int | None] = [s] + [None] * top
        for kv, required in entries:
            nxt: list[int | None] = [None] * (top + 1)
            for k in range(1, top + 1):
                sources = [
                    (at, j) for j, at in enumerate(level) if at is not None and after(j) == k
                ]
                if not sources:
                    continue
                q = self.after_member_sep(sep, sources)
                ks, ke = self.build(kv)
                self.ep(q, ks)
                nxt[k] = self.new()
                self.ep(ke, nxt[k])
            if not required:
                for j, at in enumerate(level):
                    if at is not None:
                        if nxt[j] is None:
                            nxt[j] = self.new()
                        self.ep(at, nxt[j])
            level = nxt
        ends: list[tuple[int, int]] = []
        if some is None:
            ends = [(at, j) for j, at in enumerate(level) if at is not None]
        if extra is not None or some is not None:
            ends += self.extra_members(level, sep, extra, max_members, min_members > 0, some)
        for state, lower in ends:
            if lower >= min_members:
                self.ep(state, e)
        return s, e

    def extra_members(self, level, sep, extra, max_members, distinct, some):
        members = [] if extra is None else [(0, extra)]
        need = 0
        if some is not None and some[0] == "somes":
            need = (1 << some[1]) - 1
            members += list(some[2])
        elif some is not None:
            need = 1
            members.append((1, some))
        targets: dict = {}
        sources: dict = {}
        frontier = [(j, j, 0, level[j]) for j in range(len(level)) if level[j] is not None]
        while frontier:
            j, total, seen, at = frontier.pop()
            if max_members is not None and total >= max_members:
                continue
            for m, (mask, _) in enumerate(members):
                key = (
                    j if distinct else -1,
                    total + 1 if max_members is not None else 1,
                    seen | mask,
                )
                sources.setdefault((key, m), []).append((at, total))
                if key not in targets:
                    targets[key] = self.new()
                    frontier.append((*key, targets[key]))
        for (key, m), srcs in sources.items():
            q = self.after_member_sep(sep, srcs)
            ks, ke = self.build(members[m][1])
            self.ep(q, ks)
            self.ep(ke, targets[key])
        return [
            (state, j + 1 if distinct else total)
            for (j, total, seen), state in targets.items()
            if seen == need
        ]

    def after_member_sep(self, sep, sources) -> int:
        q = self.new()
        later = [state for state, j in sources if j > 0]
        for state, j in sources:
            if j == 0:
                self.ep(state, q)
        if later:
            ss, se = self.build(sep)
            for state in later:
                self.ep(state, ss)
            self.ep(se, q)
        return q


_CODE_POINTS = st.sampled_from(
    [0x20, 0x22, 0x41, 0x61, 0x7A, 0x7F, 0x80, 0x7FF, 0x800, 0xFFFF, 0x10000]
)
_DFAS = [
    compile_ast(("set", [(0x61, 0x63)])),
    compile_ast(("rep", ("set", [(0x30, 0x39)]), 1, None)),
]


@st.composite
def ranges(draw) -> list[tuple[int, int]]:
    cps = sorted(set(draw(st.lists(_CODE_POINTS, min_size=1, max_size=4))))
    if len(cps) % 2:
        cps.append(cps[-1])
    return [(cps[i], cps[i + 1]) for i in range(0, len(cps), 2)]


def _leaf() -> st.SearchStrategy:
    return st.one_of(
        ranges().map(lambda r: ("set", r)),
        st.integers(0x20, 0x7E).map(lambda c: ("set", [(c, c)])),
        st.lists(st.integers(0, 255), min_size=1, max_size=2).map(
            lambda bs: ("bytes", [(b, b) for b in sorted(set(bs))])
        ),
        st.integers(0, 5).map(lambda k: ("call", k)),
        st.sampled_from(_DFAS).map(lambda d: ("dfa", d)),
        # literals: an ASCII one is a chain the builder lays out on its own (NFA.literals)
        st.text(alphabet='ab":,é', max_size=4).map(N_lit),
    )


def _compound(children: st.SearchStrategy) -> st.SearchStrategy:
    lists = st.lists(children, max_size=4)
    bounds = st.tuples(st.integers(0, 2), st.one_of(st.none(), st.integers(0, 2)))
    member = st.tuples(children, st.booleans())
    maxes = st.one_of(st.none(), st.integers(0, 3))
    some = st.one_of(
        st.none(),
        children,
        st.lists(st.tuples(st.integers(1, 3), children), min_size=1, max_size=2).map(
            lambda ms: ("somes", 2, ms)
        ),
    )
    graph_edges = st.lists(st.tuples(st.integers(0, 2), children, st.integers(0, 2)), max_size=4)
    return st.one_of(
        # a list: X (S X)* with the same X object twice
        st.tuples(children, st.lists(children, min_size=1, max_size=2)).map(
            lambda t: ("cat", [t[0], ("rep", ("cat", [*t[1], t[0]]), 0, None)])
        ),
        lists.map(lambda xs: ("cat", xs)),
        lists.map(lambda xs: ("alt", xs)),
        st.tuples(children, bounds).map(
            lambda t: ("rep", t[0], t[1][0], None if t[1][1] is None else t[1][0] + t[1][1])
        ),
        st.tuples(
            st.lists(member, max_size=3),
            children,
            st.one_of(st.none(), children),
            st.integers(0, 3),
            maxes,
            some,
        ).map(lambda t: ("props", *t)),
        st.tuples(graph_edges, st.lists(st.integers(0, 2), max_size=2)).map(
            lambda t: ("graph", 3, t[1], t[0])
        ),
    )


ASTS = st.recursive(_leaf(), _compound, max_leaves=12)


@settings(max_examples=400, deadline=None)
@given(ASTS)
def test_build_makes_the_reference_nfa(ast):
    ref = RefNFA()
    want = ref.build(ast)
    nfa = NFA()
    assert nfa.build(ast) == want
    assert nfa.n == ref.n
    assert nfa.eps == ref.eps and nfa.calls == ref.calls
    # the reference lists every byte edge; the builder keeps ASCII literals as chains, whose
    # states have no other byte edge: per source state, the same edges in the same order
    chains = []
    for src, base, data in nfa.literals:
        chains += [
            v for j, b in enumerate(data) for v in (base + j - 1 if j else src, b, b, base + j)
        ]
    assert _by_source(nfa.edges + chains) == _by_source(ref.edges)
    assert not set(_by_source(nfa.edges)) & set(_by_source(chains))
    assert [(b, id(d)) for b, d in nfa.embedded] == [(b, id(d)) for b, d in ref.embedded]
    eps, edges, lits, lit_data, calls, runs, run_off, emb = nfa.arrays()
    for got, lst in ((eps, ref.eps), (edges, nfa.edges), (calls, ref.calls)):
        assert got.dtype == np.int32 and got.flags.writeable
        assert got.tolist() == lst
    assert lits.tolist() == [v for src, base, d in nfa.literals for v in (src, base, len(d))]
    assert lit_data.dtype == np.uint8
    assert lit_data.tobytes() == b"".join(d for _, _, d in nfa.literals)
    assert emb.dtype == np.int32 and emb.shape == (2 * len(ref.embedded),)
    assert emb[0::2].tolist() == [b for b, _ in ref.embedded]
    # each distinct DFA's runs once, in the order of first embedding
    distinct = list({id(d): d for _, d in ref.embedded}.values())
    assert [id(distinct[k]) for k in emb[1::2].tolist()] == [id(d) for _, d in ref.embedded]
    assert run_off.tolist() == np.cumsum([0] + [len(d.runs()) for d in distinct]).tolist()
    assert runs.shape == (int(run_off[-1]), 4)
    for k, d in enumerate(distinct):
        assert runs[run_off[k] : run_off[k + 1]].tolist() == d.runs().tolist()


def _by_source(edges: list[int]) -> dict[int, list[tuple[int, int, int]]]:
    """Flat (src, lo, hi, dst) edges as each source state's (lo, hi, dst) list, in order."""
    out: dict[int, list[tuple[int, int, int]]] = {}
    for k in range(0, len(edges), 4):
        out.setdefault(edges[k], []).append((edges[k + 1], edges[k + 2], edges[k + 3]))
    return out


def _minimal(nfa, start: int, end: int) -> tuple:
    n, trans, accept, cs, cl, cd, nc = sk.minimal_dfa(
        nfa.n, *nfa.arrays(), start, end, automaton.MAX_DFA_STATES
    )
    return n, trans.tolist(), accept.tolist(), cs[:nc].tolist(), cl[:nc].tolist(), cd[:nc].tolist()


@settings(max_examples=300, deadline=None)
@given(ASTS)
def test_shared_loops_keep_the_language(ast):
    """The minimal DFA (canonical: states in BFS order) of the builder's NFA is the one of the
    copy-per-use construction."""
    plain = RefNFA(shared_loops=False)
    start, end = plain.build(ast)
    as_nfa = NFA()
    as_nfa.n, as_nfa.eps, as_nfa.edges, as_nfa.calls = plain.n, plain.eps, plain.edges, plain.calls
    as_nfa.embedded = plain.embedded
    built = NFA()
    assert _minimal(built, *built.build(ast)) == _minimal(as_nfa, start, end)


@pytest.mark.parametrize(
    "ast",
    [
        ("rep", ("set", [(0x61, 0x61)]), 40, None),
        ("cat", [("set", [(0x61, 0x61)])] * 40),
        ("rep", ("rep", ("set", [(0x800, 0xFFFF)]), 3, 7), 3, None),
        ("props", [(("set", [(0x61, 0x62)]), False)] * 5, ("set", [(0x2C, 0x2C)]), None, 0, 9),
        ("graph", 50, [49], [(0, ("set", [(0x61, 0x61)]), 1)]),
        ("cat", [("dfa", _DFAS[1]), ("dfa", _DFAS[0])]),
    ],
)
def test_too_many_states_is_refused(monkeypatch, ast):
    size = RefNFA()
    size.build(ast)
    monkeypatch.setattr(nfa_module, "MAX_NFA_STATES", size.n - 1)
    with pytest.raises(AutomatonTooLarge, match="NFA above 2M states"):
        compile_ast(ast)
    monkeypatch.setattr(nfa_module, "MAX_NFA_STATES", size.n)
    compile_ast(ast)


@settings(max_examples=150, deadline=None)
@given(ASTS)
def test_compiled_dfa_knows_its_states_with_calls(ast):
    """compile_ast hands the DFA the states with calls from the kernel's call edges; they are
    the states whose calls are not empty, ascending (what a DFA built elsewhere computes)."""
    d = compile_ast(ast)
    want = [s for s, c in enumerate(d.calls) if c]
    assert d.call_states() == want
    assert automaton.DFA(d.trans, d.accept, d.calls).call_states() == want
