"""Plain-character tokens: most of a vocabulary is printable ASCII without ``"`` or ``\\``.

Inside a JSON string such a token is allowed as a whole whenever the machine absorbs any run
of plain characters (a DFA state that loops on them, or a counted string with ``n`` characters
left: then tokens of up to ``n`` bytes). :class:`PlainTokens` holds their masks by length and
a trie of the remaining tokens, so a mask there walks a few thousand nodes instead of all.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from radtrio.fsm import machine_kernels as mk
from radtrio.fsm.token_trie import TokenTrie, build_trie

PLAIN = np.array([0x20 <= b <= 0x7E and b not in (0x22, 0x5C) for b in range(256)])
_PLAIN_BYTES = np.nonzero(PLAIN)[0]


@dataclass(frozen=True)
class PlainTokens:
    by_len: np.ndarray  # uint32 [max_len + 1, n_words]: plain tokens of at most L bytes
    rest: TokenTrie  # every other token
    max_len: int

    @classmethod
    def build(cls, token_bytes: list[bytes | None], n_words: int) -> PlainTokens:
        table = PLAIN.tolist()
        plain: list[tuple[int, int]] = []
        rest: list[tuple[bytes, int]] = []
        for i, b in enumerate(token_bytes):
            if not b:
                continue
            if all(table[c] for c in b):
                plain.append((len(b), i))
            else:
                rest.append((b, i))
        max_len = max((n for n, _ in plain), default=0)
        by_len = np.zeros((max_len + 1, n_words), dtype=np.uint32)
        for n, i in plain:
            by_len[n, i >> 5] |= np.uint32(1 << (i & 31))
        by_len = np.bitwise_or.accumulate(by_len, axis=0)
        by_len.setflags(write=False)
        return cls(by_len=by_len, rest=build_trie(rest), max_len=max_len)


@dataclass(frozen=True)
class PlainInfo:
    """Per grammar: DFA states from which every run of plain bytes stays inside the rule
    (``loop``), dead ends (accepting, no byte edge, no call: the next byte returns) and the
    repeat rules that count plain characters."""

    loop: np.ndarray
    dead_end: np.ndarray
    counts_chars: np.ndarray

    @classmethod
    def of(cls, g) -> PlainInfo:
        T = g.T
        sub = T[:, _PLAIN_BYTES]
        # the largest set of states closed under every plain byte (so any run stays inside)
        loop = (sub >= 0).all(axis=1)
        while True:
            nxt = loop & loop[np.where(sub >= 0, sub, 0)].all(axis=1)
            if (nxt == loop).all():
                break
            loop = nxt
        no_calls = g.call_ptr[1:] == g.call_ptr[:-1]
        dead_end = g.acc & (T < 0).all(axis=1) & no_calls
        counts = np.zeros(len(g.kind), dtype=np.bool_)
        for r in range(len(g.kind)):
            if g.kind[r] != mk.KIND_REPEAT or g.rep_sep[r]:
                continue
            item = int(g.rep_item[r])
            if g.kind[item] != mk.KIND_DFA:
                continue
            nxt = T[int(g.start[item]), _PLAIN_BYTES]
            if (nxt < 0).any() or not dead_end[nxt].all():
                continue
            if (T[int(g.rep_between[r]), _PLAIN_BYTES] >= 0).any():
                continue
            e = int(g.rep_empty[r])
            if e >= 0 and (T[e, _PLAIN_BYTES] >= 0).any():
                continue
            counts[r] = True
        return cls(loop=loop, dead_end=dead_end, counts_chars=counts)


def plain_run_limit(g, stk: np.ndarray, depth: int, horizon: int) -> int | None:
    """How many plain bytes in a row the configuration takes (whatever they are), capped at
    ``horizon``; None when that is not known to hold for every plain byte."""
    info = g.plain_info
    if info is None:
        info = g.plain_info = PlainInfo.of(g)
    d = depth
    while d > 1 and g.kind[stk[d - 1, 0]] == mk.KIND_DFA and info.dead_end[stk[d - 1, 1]]:
        d -= 1
    r = int(stk[d - 1, 0])
    if g.kind[r] == mk.KIND_DFA:
        return horizon if info.loop[stk[d - 1, 1]] else None
    ph = stk[d - 1, 1]
    opened = ph == mk.PH_OPEN and info.dead_end[stk[d - 1, 2]]  # the next byte ends ``open``
    if info.counts_chars[r] and (opened or ph in (mk.PH_FIRST, mk.PH_AFTER)):
        return min(max(int(g.rep_max[r]) - int(stk[d - 1, 3]), 0), horizon)
    return None
