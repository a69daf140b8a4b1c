"""The Thompson NFA builder (:class:`NFA`) over bytes, and the UTF-8 byte-range splitting of
code point ranges (:func:`utf8_sequences`) it uses. :mod:`radtrio.fsm.automaton` turns the NFA
into a minimized DFA."""

from __future__ import annotations

import functools
import struct
from typing import TYPE_CHECKING

import numpy as np

from radtrio.fsm.deadline import AutomatonTooLarge
from radtrio.fsm.regex_parser import LitChars

if TYPE_CHECKING:
    from radtrio.fsm.automaton import DFA

MAX_NFA_STATES = 2_000_000

_UTF8_BOUNDS = ((0, 0x7F, 1), (0x80, 0x7FF, 2), (0x800, 0xFFFF, 3), (0x10000, 0x10FFFF, 4))


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


class NFA:
    """Thompson NFA over bytes in flat lists, the input of the subset-construction kernel
    (:mod:`radtrio.fsm.letter_kernels` describes the layout).

    States are numbered in the order they are made; :meth:`build` makes them inline (``n``
    counts them) and checks the :data:`MAX_NFA_STATES` bound after each loop that can grow the
    automaton without bound, so a too-large one is refused before it costs much memory."""

    def __init__(self) -> None:
        self.n = 0
        self.eps: list[int] = []  # src, dst, src, dst, ...
        self.edges: list[int] = []  # src, lo, hi, dst, ...
        self.calls: list[int] = []  # src, label, dst, ...
        # literal chains, each a run of bytes from state src through the fresh states base,
        # base + 1, ...: byte 0 from src to base, byte j from base + j - 1 to base + j (laid
        # out as edges by the kernel; its sources have no other byte edges): src, base,
        # length, ... and the bytes of each
        self.lit_meta: list[int] = []
        self.lit_bytes: list[bytes] = []
        self.embedded: list[tuple[int, DFA]] = []  # (NFA state of the DFA's start, DFA)
        # id of an embedded DFA (alive in self.embedded) -> (its states, its accepting states)
        self._embeddable: dict[int, tuple[int, list[int]]] = {}

    def new(self) -> int:
        """A fresh state."""
        self.n += 1
        self._check_size()
        return self.n - 1

    def _check_size(self) -> None:
        """Refuse the automaton once it holds more than :data:`MAX_NFA_STATES` states."""
        if self.n > MAX_NFA_STATES:
            raise AutomatonTooLarge("constraint too large: NFA above 2M states")

    def build(self, node) -> tuple[int, int]:
        """Add the fragment of an AST node; returns its (start, end) states. The end state
        has no outgoing edges yet."""
        kind = node[0]
        if kind == "cat":
            children = node[1]
            if type(children) is LitChars:  # an ASCII literal: a chain of byte edges
                s = self.n
                k = len(children.data)
                self.n = s + k + 1
                self._check_size()
                if k:
                    self.lit_meta += (s, s + 1, k)
                    self.lit_bytes.append(children.data)
                return s, s + k
            # a fragment's end state has no outgoing edges yet, so a set or a literal byte
            # steps straight out of it, without a state and an epsilon edge of its own
            # (n counts the states here and goes back to self.n around the calls that make some)
            eps = self.eps
            edges = self.edges
            s = cur = n = self.n
            n += 1
            skip_next = False
            for i, child in enumerate(children):
                if skip_next:
                    skip_next = False
                    continue
                if child[0] == "set":
                    ranges = child[1]
                    if len(ranges) == 1 and ranges[0][1] < 0x80:  # one ASCII range
                        lo, hi = ranges[0]
                        edges += (cur, lo, hi, n)
                        cur = n
                        n += 1
                    else:
                        self.n = n + 1
                        self._set_edges(cur, ranges, n)
                        cur = n
                        n = self.n
                elif type(child[1]) is LitChars and (
                    i + 1 == len(children) or children[i + 1][0] != "rep"
                ):  # an ASCII literal steps on from cur too (unless it may start a list loop)
                    k = len(child[1].data)
                    if k:
                        self.lit_meta += (cur, n, k)
                        self.lit_bytes.append(child[1].data)
                        cur = n + k - 1
                        n += k
                elif child[0] == "cat" and not child[1]:
                    pass  # the empty string (compact whitespace): no state, no edge
                else:
                    self.n = n
                    cs, ce = self.build(child)
                    eps += (cur, cs)
                    cur = ce
                    loop = children[i + 1] if i + 1 < len(children) else None
                    if (
                        loop is not None
                        and loop[0] == "rep"
                        and loop[2] == 0
                        and loop[3] is None
                        and loop[1][0] == "cat"
                        and len(loop[1][1]) > 1
                        and loop[1][1][-1] is child
                    ):
                        # X (S X)*, a list with separators: one copy of X whose end leads back
                        # through S to its start (two copies would make the subset
                        # construction build the item's states twice, for the first item and
                        # for the others)
                        ss, se = self.build(("cat", loop[1][1][:-1]))
                        eps += (ce, ss, se, cs)
                        skip_next = True
                    n = self.n
            self.n = n
            self._check_size()
            return s, cur
        if kind == "set":
            s = self.n
            self.n = s + 2
            ranges = node[1]
            if len(ranges) == 1 and ranges[0][1] < 0x80:
                lo, hi = ranges[0]
                self.edges += (s, lo, hi, s + 1)
            else:
                self._set_edges(s, ranges, s + 1)
            return s, s + 1
        if kind == "alt":
            eps = self.eps
            s = self.n
            e = s + 1
            self.n = s + 2
            for child in node[1]:
                if child[0] == "set":
                    self._set_edges(s, child[1], e)
                else:
                    cs, ce = self.build(child)
                    eps += (s, cs, ce, e)
            self._check_size()
            return s, e
        if kind == "rep":
            return self._rep(node)
        if kind == "dfa":
            d: DFA = node[1]
            # the same few DFAs (strings, numbers) are embedded many times over
            known = self._embeddable.get(id(d))
            if known is None:
                if d.call_states():
                    raise ValueError("cannot embed a DFA with calls")
                known = self._embeddable[id(d)] = (d.n, d.accepting())
            size, accepting = known
            base = self.n
            e = base + size
            self.n = e + 1
            self._check_size()
            self.embedded.append((base, d))
            eps = self.eps
            for q in accepting:
                eps += (base + q, e)
            return base, e
        if kind == "call":
            s = self.n
            self.n = s + 2
            self.calls += (s, node[1], s + 1)
            return s, s + 1
        if kind == "bytes":
            s = self.n
            self.n = s + 2
            edges = self.edges
            for lo, hi in node[1]:
                edges += (s, lo, hi, s + 1)
            return s, s + 1
        if kind == "props":
            return self._props(node)
        if kind == "graph":
            return self._graph(node)
        raise ValueError(f"unknown node {kind}")

    def _rep(self, node) -> tuple[int, int]:
        """``("rep", child, lo, hi)``: ``lo`` copies of the child in a row, then either a loop
        (``hi`` None: the last copy's end leads back to its start, or with ``lo`` 0 one
        optional copy that does) or ``hi - lo`` optional copies, each of which may end the
        repetition."""
        _, child, lo, hi = node
        eps = self.eps
        build = self.build
        s = cur = self.n
        self.n = s + 1
        for _ in range(lo):
            cs, ce = build(child)
            eps += (cur, cs)
            cur = ce
            self._check_size()
        if hi is None and lo > 0:  # X{lo,}: the last copy also leads back to its own start
            eps += (ce, cs)
            return s, ce
        if hi is None:
            cs, ce = build(child)
            e = self.n
            self.n = e + 1
            eps += (cur, cs, cur, e, ce, cs, ce, e)
            self._check_size()
            return s, e
        e = self.n
        self.n = e + 1
        eps += (cur, e)
        for _ in range(hi - lo):
            cs, ce = build(child)
            eps += (cur, cs, ce, e)
            cur = ce
            self._check_size()
        return s, e

    def _set_edges(self, s: int, ranges, e: int) -> None:
        """Edges from ``s`` to ``e`` over the UTF-8 encodings of the code points in ``ranges``."""
        edges = self.edges
        for lo, hi in ranges:
            if hi < 0x80:  # ASCII: one byte, the one sequence utf8_sequences would give
                edges += (s, lo, hi, e)
                continue
            for seq in utf8_sequences(lo, hi):
                cur = s
                last = len(seq) - 1
                for k, (blo, bhi) in enumerate(seq):
                    if k == last:
                        nxt = e
                    else:
                        nxt = self.n
                        self.n = nxt + 1
                    edges += (cur, blo, bhi, nxt)
                    cur = nxt

    def _props(self, node) -> tuple[int, int]:
        """Object members in a fixed order, optional ones skippable, commas only between
        present members, then any number of ``extra`` members; at least ``min_members`` in
        all and, when the node has a sixth field that is not None, at most ``max_members``;
        a seventh field that is not None (``some``, from a negation) is one member that must
        occur at least once among the extras (it counts as an extra one: see
        :meth:`_extra_members`). ``level[j]`` is the state after j members (without a maximum
        the top level counts "that many or more"; without a minimum the levels are "none yet"
        and "some")."""
        _, entries, sep, extra, min_members = node[:5]
        max_members = node[5] if len(node) > 5 else None
        some = node[6] if len(node) > 6 else None
        # after a member, j members become j + 1; without a maximum the top level also
        # follows itself ("that many or more"), with one nothing follows the top level
        top = max(min_members, 1) if max_members is None else max_members
        eps = self.eps
        s = self.n
        e = s + 1
        self.n = s + 2
        level: list[int | None] = [s] + [None] * top
        for kv, required in entries:
            nxt: list[int | None] = [None] * (top + 1)
            for k in range(1, top + 1):
                at = level[k - 1]
                sources = [] if at is None else [(at, k - 1)]
                if k == top and max_members is None and level[top] is not None:
                    sources.append((level[top], top))
                if not sources:
                    continue
                q = self._after_member_sep(sep, sources)
                ks, ke = self.build(kv)
                t = self.n
                self.n = t + 1
                nxt[k] = t
                eps += (q, ks, ke, t)
            if not required:
                for j, at in enumerate(level):
                    if at is not None:
                        t = nxt[j]
                        if t is None:
                            t = nxt[j] = self.n
                            self.n += 1
                        eps += (at, t)
            self._check_size()
            level = nxt
        ends: list[tuple[int, int]] = []
        if some is None:
            ends = [(at, j) for j, at in enumerate(level) if at is not None]
        if extra is not None or some is not None:
            ends += self._extra_members(level, sep, extra, max_members, min_members > 0, some)
        for state, lower in ends:
            if lower >= min_members:
                eps += (state, e)
        return s, e

    def _extra_members(
        self, level, sep, extra, max_members: int | None, distinct: bool, some=None
    ) -> list[tuple[int, int]]:
        """Any number of ``extra`` members after the named ones (at ``level[j]``: j named
        members so far). Extra keys are never named keys, but the automaton cannot keep them
        apart from each other: ``{"x":1,"x":2}`` has one property. So toward a minimum (when
        ``distinct``) all the extras together count as one, while toward ``max_members`` each
        counts. With ``some`` (one member, also with a key that is not named) the members may
        only end after at least one ``some`` member among the extras; it counts like an extra
        member (once toward the minimum, together with the others; each toward the maximum).
        ``some`` may also be ``("somes", n, [(mask, ast), ...])``: n requirements, each to be
        met by some extra member, where an ``ast`` member meets (at least) the requirements in
        the bits of ``mask`` (a member may meet several at once).
        Returns (state, members surely distinct) where the members may end."""
        # state key: (named members or -1 when no minimum needs them, members for the
        # maximum, the requirements met so far as bits)
        members: list[tuple[int, tuple]] = [] if extra is None else [(0, extra)]
        need = 0
        if some is not None and some[0] == "somes":
            need = (1 << some[1]) - 1
            members += [(mask, ast) for mask, ast in some[2]]
        elif some is not None:
            need = 1
            members.append((1, some))
        targets: dict[tuple[int, int, int], int] = {}
        sources: dict[tuple[tuple[int, int, int], int], list[tuple[int, int]]] = {}
        frontier = [(j, j, 0, level[j]) for j in range(len(level)) if level[j] is not None]
        while frontier:
            j, total, seen, at = frontier.pop()
            if max_members is not None and total >= max_members:
                continue  # no room for another member
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
        eps = self.eps
        for (key, m), srcs in sources.items():
            q = self._after_member_sep(sep, srcs)
            ks, ke = self.build(members[m][1])
            eps += (q, ks, ke, targets[key])
        return [
            (state, j + 1 if distinct else total)
            for (j, total, seen), state in targets.items()
            if seen == need
        ]

    def _graph(self, node) -> tuple[int, int]:
        """``("graph", n, accepting, edges)``: a small automaton whose ``n`` states (0 is the
        start) are joined by ``(src, ast, dst)`` edges that each read the language of ``ast``."""
        _, n, accepting, edges = node
        first = self.n
        e = first + n
        self.n = e + 1
        self._check_size()
        eps = self.eps
        for src, ast, dst in edges:
            cs, ce = self.build(ast)
            eps += (first + src, cs, ce, first + dst)
        for q in accepting:
            eps += (first + q, e)
        self._check_size()
        return first, e

    def _after_member_sep(self, sep, sources: list[tuple[int, int]]) -> int:
        """A state where the next member starts, reached from each (state, members so far):
        directly from the start, through one shared separator otherwise."""
        q = self.n
        self.n = q + 1
        eps = self.eps
        later = False
        for state, j in sources:
            if j == 0:
                eps += (state, q)
            else:
                later = True
        if later:
            ss, se = self.build(sep)
            for state, j in sources:
                if j > 0:
                    eps += (state, ss)
            eps += (se, q)
        return q

    def arrays(self) -> tuple[np.ndarray, ...]:
        """(eps, edges, lits, lit_data, calls, runs, run_off, emb) for the kernel, int32 but
        the literals' bytes (uint8, read-only): the literal chains as (src, base, length)
        triples over their concatenated bytes, the runs of each distinct embedded DFA once
        (cut once per DFA, see :meth:`DFA.runs`), and per embedding the pair (its base
        state, which distinct DFA)."""
        if self.embedded:
            index: dict[int, int] = {}  # id of a distinct DFA -> its number
            tables: list[np.ndarray] = []
            run_off = [0]
            emb: list[int] = []
            for base, d in self.embedded:
                k = index.get(id(d))
                if k is None:
                    k = index[id(d)] = len(tables)
                    t = d.runs()
                    tables.append(t)
                    run_off.append(run_off[-1] + t.shape[0])
                emb += (base, k)
            runs = tables[0] if len(tables) == 1 else np.concatenate(tables)
            return (
                _int32(self.eps),
                _int32(self.edges),
                *self._literal_arrays(),
                _int32(self.calls),
                runs,
                _int32(run_off),
                _int32(emb),
            )
        return (
            _int32(self.eps),
            _int32(self.edges),
            *self._literal_arrays(),
            _int32(self.calls),
            *_NO_EMBEDDED,
        )

    def _literal_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """(lits, lit_data) of :attr:`literals` for the kernel (see
        :mod:`radtrio.fsm.letter_kernels`)."""
        if not self.lit_bytes:
            return _NO_LITERALS
        return (
            _int32(self.lit_meta),
            np.frombuffer(b"".join(self.lit_bytes), dtype=np.uint8),
        )

    @property
    def literals(self) -> list[tuple[int, int, bytes]]:
        """The literal chains as (src, base, bytes)."""
        m = self.lit_meta
        return [(m[3 * i], m[3 * i + 1], d) for i, d in enumerate(self.lit_bytes)]


def _int32(values: list[int]) -> np.ndarray:
    """A new, writable int32 array of ``values`` (struct packs a list of ints about twice as
    fast as ``np.array`` converts it)."""
    out = np.empty(len(values), dtype=np.int32)
    struct.pack_into(f"{len(values)}i", out, 0, *values)
    return out


# read-only like the bytes of real literals, so that the kernel sees one array type
_NO_LITERALS = (np.zeros(0, dtype=np.int32), np.frombuffer(b"", dtype=np.uint8))
_NO_EMBEDDED = (
    np.zeros((0, 4), dtype=np.int32),
    np.zeros(1, dtype=np.int32),
    np.zeros(0, dtype=np.int32),
)
