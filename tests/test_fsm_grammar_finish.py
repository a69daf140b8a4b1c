"""GrammarBuilder.finish (one numba kernel, grammar_kernels.finish_tables) against a frozen copy
of the per-state version it replaced: the same arrays, the same GrammarConflict message."""

from __future__ import annotations

import json

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from radtrio.fsm import machine_kernels as mk
from radtrio.fsm.grammar import DFA, Grammar, GrammarBuilder, GrammarConflict
from radtrio.fsm.json_schema import SchemaCompiler
from radtrio.fsm.regex_parser import N_alt, N_cat, N_rep, N_set


class _ReferenceBuilder(GrammarBuilder):
    """The per-state finish as it was (a frozen copy)."""

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
        T = np.full((total, 256), -1, dtype=np.int32)
        acc = np.zeros(total, dtype=np.bool_)
        branch = np.zeros(total, dtype=np.int8)
        base = 0
        for d, br in parts:
            T[base : base + d.n] = np.where(d.trans >= 0, d.trans + base, -1)
            acc[base : base + d.n] = d.accept
            if br is not None:
                branch[base : base + d.n] = br
            base += d.n
        nr = len(self.rules)
        kind = np.array([r["kind"] for r in self.rules], dtype=np.int8)
        start = np.zeros(nr, dtype=np.int32)
        rep_item = np.full(nr, -1, dtype=np.int32)
        rep_empty = np.full(nr, -1, dtype=np.int32)
        rep_between = np.full(nr, -1, dtype=np.int32)
        rep_sep = np.zeros(nr, dtype=np.int8)
        rep_min = np.zeros(nr, dtype=np.int32)
        rep_max = np.zeros(nr, dtype=np.int32)
        call_lists: list[list[tuple[int, int]]] = [[] for _ in range(total)]
        for i, r in enumerate(self.rules):
            off = offsets[i]
            if r["kind"] == mk.KIND_DFA:
                start[i] = off["dfa"]
                for s, cd in enumerate(r["dfa"].calls):
                    for callee, ret in cd.items():
                        call_lists[off["dfa"] + s].append((callee, off["dfa"] + ret))
            else:
                start[i] = off["open"]
                rep_item[i] = r["item"]
                rep_empty[i] = off.get("empty", -1)
                rep_between[i] = off["between"]
                rep_sep[i] = 1 if r["has_sep"] else 0
                rep_min[i] = r["min"]
                rep_max[i] = r["max"]
        call_ptr = np.zeros(total + 1, dtype=np.int32)
        call_ptr[1:] = np.cumsum([len(c) for c in call_lists])
        call_rule = np.array([c for cl in call_lists for c, _ in cl], dtype=np.int32)
        call_ret = np.array([t for cl in call_lists for _, t in cl], dtype=np.int32)
        first = self._first_sets(T, kind, start, call_lists)
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
        self._check(arrays, call_lists, offsets)
        pure = nr == 1 and kind[0] == mk.KIND_DFA and len(call_rule) == 0
        return Grammar(arrays, root, pure, nr)

    def _first_sets(self, T, kind, start, call_lists) -> np.ndarray:
        nr = len(self.rules)
        first = np.zeros((nr, 256), dtype=np.bool_)
        changed = True
        while changed:
            changed = False
            for i in range(nr):
                s = int(start[i])
                f = T[s] >= 0
                if kind[i] == mk.KIND_DFA:
                    for callee, _ in call_lists[s]:
                        f = f | first[callee]
                new = first[i] | f
                if (new != first[i]).any():
                    first[i] = new
                    changed = True
        called = {c for cl in call_lists for c, _ in cl}
        called |= {r["item"] for r in self.rules if r["kind"] == mk.KIND_REPEAT}
        for i in called:
            if not first[i].any() or (kind[i] == mk.KIND_DFA and self.rules[i]["dfa"].accept[0]):
                raise GrammarConflict("internal: a called rule matches nothing or the empty string")
        return first

    def _check(self, arrays, call_lists, offsets) -> None:
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

        def out(s: int) -> np.ndarray:
            f = T[s] >= 0
            for callee, _ in call_lists[s]:
                f = f | first[callee]
            return f

        # 1. calls at one state: disjoint from each other and from the byte edges
        for s, cl in enumerate(call_lists):
            if not cl:
                continue
            seen = T[s] >= 0
            for callee, _ in cl:
                if (seen & first[callee]).any():
                    raise GrammarConflict(
                        "ambiguous choice: two alternatives start with the same byte where one is "
                        "a recursive or counted rule"
                    )
                seen = seen | first[callee]
        # 2. FOLLOW sets, then returns must be unambiguous
        rule_of = np.zeros(T.shape[0], dtype=np.int32)
        for i, off in enumerate(offsets):
            r = self.rules[i]
            if r["kind"] == mk.KIND_DFA:
                rule_of[off["dfa"] : off["dfa"] + r["dfa"].n] = i
        follow = np.zeros((nr, 256), dtype=np.bool_)
        changed = True
        while changed:
            changed = False
            for cl in call_lists:
                for callee, ret in cl:
                    f = out(ret)
                    if acc[ret]:
                        f = f | follow[rule_of[ret]]
                    new = follow[callee] | f
                    if (new != follow[callee]).any():
                        follow[callee] = new
                        changed = True
            for i in range(nr):
                if kind[i] != mk.KIND_REPEAT:
                    continue
                it = rep_item[i]
                f = T[rep_between[i]] >= 0
                if not rep_sep[i]:
                    f = f | first[it]
                new = follow[it] | f
                if (new != follow[it]).any():
                    follow[it] = new
                    changed = True
        for i in range(nr):
            r = self.rules[i]
            off = offsets[i]
            if r["kind"] == mk.KIND_DFA:
                for s in range(off["dfa"], off["dfa"] + r["dfa"].n):
                    if acc[s] and (out(s) & follow[i]).any():
                        raise GrammarConflict("ambiguous end of a called rule")
                continue
            item_first = first[rep_item[i]]
            o = off["open"]
            empty_first = T[rep_empty[i]] >= 0 if rep_empty[i] >= 0 else np.zeros(256, bool)
            if (item_first & empty_first).any():
                raise GrammarConflict("repeat: item and empty close overlap")
            for s in range(o, o + r["open"].n):
                if acc[s] and (out(s) & (item_first | empty_first)).any():
                    raise GrammarConflict("repeat: open and item overlap")
            if not rep_sep[i] and (item_first & (T[rep_between[i]] >= 0)).any():
                raise GrammarConflict("repeat: item and close overlap")
            bo = off["between"]
            for s in range(bo, bo + r["between"].n):
                if acc[s] and branch[s] == mk.BR_SEP and (out(s) & item_first).any():
                    raise GrammarConflict("repeat: separator and item overlap")
                if acc[s] and branch[s] == mk.BR_CLOSE and (out(s) & follow[i]).any():
                    raise GrammarConflict("ambiguous end of a repeat")


def _outcome(builder_cls, rules: list, root: int):
    b = builder_cls()
    b.rules = rules
    try:
        g = b.finish(root)
    except GrammarConflict as e:
        return "conflict: " + str(e)
    return [
        (str(np.asarray(a).dtype), np.asarray(a).shape, np.asarray(a).tobytes()) for a in g.arrays
    ] + [
        g.pure_dfa,
        g.n_rules,
        g.root,
    ]


def _same(rules: list, root: int) -> str | list:
    new = _outcome(GrammarBuilder, rules, root)
    assert new == _outcome(_ReferenceBuilder, rules, root)
    return new


LETTERS = [N_set([(c, c)]) for c in b"ab[],"]


def _ast(draw, n_rules: int, depth: int):
    pick = draw(st.integers(0, 5 if depth else 1))
    if pick == 0:
        return draw(st.sampled_from(LETTERS))
    if pick == 1:
        return ("call", draw(st.integers(0, n_rules - 1)))
    kids = [_ast(draw, n_rules, depth - 1) for _ in range(draw(st.integers(1, 3)))]
    if pick in (2, 3):
        return N_cat(*kids)
    if pick == 4:
        return N_alt(*kids)
    return N_rep(kids[0], draw(st.integers(0, 1)), draw(st.sampled_from([None, 1, 2])))


@st.composite
def grammars(draw):
    n = draw(st.integers(1, 4))
    b = GrammarBuilder()
    for _ in range(n):
        b.reserve()
    for rid in range(n):
        if rid and draw(st.booleans()):  # a repeat of an earlier rule (or of itself)
            item = draw(st.integers(0, n - 1))
            rep = GrammarBuilder()
            rep.rules = [None] * rid
            sep = draw(st.sampled_from([None, N_set([(44, 44)])]))
            lo = draw(st.integers(0, 2))
            rep.add_repeat(
                N_set([(91, 91)]), item, sep, N_set([(93, 93)]), N_set([(93, 93)]), lo, lo + 3
            )
            b.rules[rid] = rep.rules[rid]
        else:
            b.set_dfa(rid, _ast(draw, n, 3))
    return b.rules, draw(st.integers(0, n - 1))


@settings(max_examples=300, deadline=None)
@given(grammars())
def test_finish_matches_reference_on_random_grammars(g) -> None:
    _same(*g)


def _schema_rules(schema, flexible: bool, counters: bool) -> tuple[list, int]:
    comp = SchemaCompiler(schema, flexible, False, use_counters=counters)
    root = comp.b.add_dfa(comp.value(comp.root, "#"))
    return comp.b.rules, root


SCHEMAS = [
    {"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "integer"}}},
    {"type": "array", "items": {"type": "integer"}, "minItems": 3, "maxItems": 50},
    {"type": "array", "items": {"type": "array", "items": {"type": "string"}}, "maxItems": 40},
    {"$defs": {"t": {"type": "array", "items": {"$ref": "#/$defs/t"}}}, "$ref": "#/$defs/t"},
    {
        "$defs": {
            "n": {
                "type": "object",
                "properties": {
                    "v": {"type": "integer"},
                    "kids": {"type": "array", "items": {"$ref": "#/$defs/n"}},
                },
            }
        },
        "$ref": "#/$defs/n",
    },
    {
        "anyOf": [
            {"type": "array", "items": {"$ref": "#"}},
            {"type": "array", "items": {"type": "integer"}},
        ]
    },
    {"type": "object", "additionalProperties": True},
    True,
]


def test_finish_matches_reference_on_schemas() -> None:
    for schema in SCHEMAS:
        for flexible in (False, True):
            for counters in (True, False):
                _same(*_schema_rules(json.loads(json.dumps(schema)), flexible, counters))


def test_finish_pure_single_dfa() -> None:
    b = GrammarBuilder()
    root = b.add_dfa(N_cat(N_set([(97, 97)]), N_rep(N_set([(98, 98)]), 0, None)))
    g = b.finish(root)
    assert g.pure_dfa and g.matches(b"abb") and not g.matches(b"ba")
    assert _same(b.rules, root)[0][1] == (g.n_states, 256)


def test_finish_conflicts_match_reference() -> None:
    a, c = N_set([(97, 97)]), N_set([(99, 99)])
    cases = [
        # a call and a byte edge start alike
        [N_alt(("call", 1), a), a],
        # a called rule may end where its caller goes on with the same byte
        [N_cat(("call", 1), a), N_rep(a, 1, None)],
        # a called rule that matches the empty string
        [("call", 1), N_rep(a, 0, None)],
        # fine: different bytes
        [N_cat(("call", 1), c), N_rep(a, 1, None)],
    ]
    seen = set()
    for asts in cases:
        b = GrammarBuilder()
        for ast in asts:
            b.add_dfa(ast)
        out = _same(b.rules, 0)
        seen.add(out if isinstance(out, str) else "ok")
    assert len(seen) == 4, seen


def test_finish_repeat_conflicts_match_reference() -> None:
    a, comma = N_set([(97, 97)]), N_set([(44, 44)])
    lb, rb = N_set([(91, 91)]), N_set([(93, 93)])
    seen = set()
    for item_ast, sep, close in [
        (N_rep(a, 1, None), None, rb),  # items follow directly and run into each other
        (N_cat(a, N_rep(comma, 0, 1)), comma, rb),  # an item may end with the separator
        (a, comma, N_alt(rb, N_cat(comma, rb))),  # separator and close overlap
        (a, None, N_alt(rb, a)),  # item and close overlap
        (a, comma, rb),
    ]:
        b = GrammarBuilder()
        item = b.add_dfa(item_ast)
        try:
            root = b.add_repeat(lb, item, sep, close, rb, 0, 5)
        except GrammarConflict as e:
            seen.add(str(e))
            continue
        out = _same(b.rules, root)
        seen.add(out if isinstance(out, str) else "ok")
    assert len(seen) >= 3, seen


def test_dfa_calls_at_accepting_states() -> None:
    """A rule whose accepting state also calls: its FOLLOW meets the callee's FIRST set."""
    a, b_ = N_set([(97, 97)]), N_set([(98, 98)])
    for tail in (a, b_):
        b = GrammarBuilder()
        b.add_dfa(N_cat(("call", 1), tail))
        b.add_dfa(N_cat(b_, N_rep(("call", 2), 0, None)))
        b.add_dfa(a)
        _same(b.rules, 0)


def _plain_ast(draw, depth: int):
    """A small call-free AST over a few letters (for the parts of a repeat)."""
    pick = draw(st.integers(0, 3 if depth else 0))
    if pick == 0:
        return draw(st.sampled_from(LETTERS))
    kids = [_plain_ast(draw, depth - 1) for _ in range(draw(st.integers(1, 2)))]
    if pick == 1:
        return N_cat(*kids)
    if pick == 2:
        return N_alt(*kids)
    return N_rep(kids[0], draw(st.integers(0, 1)), draw(st.sampled_from([None, 1])))


@st.composite
def repeat_grammars(draw):
    """Repeats with random open, separator, close and empty parts over calling DFA rules:
    every repeat check of finish gets to fail first somewhere."""
    n = draw(st.integers(2, 4))
    b = GrammarBuilder()
    for _ in range(n):
        b.reserve()
    for rid in range(n):
        if rid and draw(st.booleans()):
            rep = GrammarBuilder()
            rep.rules = [None] * rid
            lo = draw(st.integers(0, 2))
            try:
                rep.add_repeat(
                    _plain_ast(draw, 2),
                    draw(st.integers(0, n - 1)),
                    draw(st.sampled_from([None, _plain_ast(draw, 1)])),
                    _plain_ast(draw, 2),
                    _plain_ast(draw, 1),
                    lo,
                    draw(st.sampled_from([lo + 1, None])),
                )
            except GrammarConflict:  # separator and close overlap: refused before finish
                b.set_dfa(rid, _ast(draw, n, 2))
                continue
            b.rules[rid] = rep.rules[rid]
        else:
            b.set_dfa(rid, _ast(draw, n, 2))
    return b.rules, draw(st.integers(0, n - 1))


@settings(max_examples=300, deadline=None)
@given(repeat_grammars())
def test_finish_matches_reference_on_random_repeats(g) -> None:
    _same(*g)


def test_finish_without_rules() -> None:
    assert _same([], 0)[0][1] == (0, 256)
