"""A DFA minus a finite set of literal strings, built directly from a trie of the literals.

Object keys that are not named properties are "any JSON string except these names". Building
that as ``product(key_any, compile_ast(N_alt(names...)), "diff")`` runs Thompson construction,
subset construction and minimization of the name set and then a product: about 1 ms per object
schema on these machines, a large share of a median schema's compile. Here the same language
comes from one pass over the names' bytes: each trie node rides along the state the DFA reaches
on that prefix, and a byte that leaves the trie drops to the DFA's own copy of the next state.
The result is not minimized (callers embed it in a larger automaton that is), but it has no
dead state that the start reaches.
"""

from __future__ import annotations

from itertools import accumulate

import numpy as np
from numba import njit

from radtrio.fsm.automaton import DFA, call_free


def without_literals(dfa: DFA, literals: list[bytes]) -> DFA:
    """The call-free ``dfa`` minus ``literals``: states 0..m-1 follow trie nodes (0 is the
    root, the empty prefix), states m.. are ``dfa``'s own states shifted by m."""
    if dfa.call_states():
        raise ValueError("without_literals needs a call-free DFA")
    data = np.frombuffer(b"".join(literals), dtype=np.uint8)
    offsets = np.fromiter(
        accumulate((len(lit) for lit in literals), initial=0),
        dtype=np.int64,
        count=len(literals) + 1,
    )
    out, acc = _trie_table(
        np.ascontiguousarray(dfa.trans, dtype=np.int32),
        np.asarray(dfa.accept, dtype=np.bool_),
        data,
        offsets,
    )
    return call_free(out, acc)


@njit(cache=True, nogil=True)
def _trie_table(trans, accept, data, offsets):
    """(table, accept) of :func:`without_literals`: the literals ``data[offsets[i]:
    offsets[i + 1]]`` as a trie (children as sibling lists), keeping only prefixes the DFA
    can read; a trie node's row is the row of the DFA state its prefix reaches, with the
    trie's own bytes pointing at the child nodes."""
    cap = data.shape[0] + 1
    node_state = np.empty(cap, dtype=np.int32)  # DFA state each trie node's prefix reaches
    first_child = np.full(cap, -1, dtype=np.int32)
    next_sibling = np.full(cap, -1, dtype=np.int32)
    label = np.zeros(cap, dtype=np.int32)  # the byte into each node
    parent = np.zeros(cap, dtype=np.int32)
    ends = np.zeros(cap, dtype=np.bool_)
    node_state[0] = 0
    m = 1
    for i in range(offsets.shape[0] - 1):
        node = 0
        whole = True
        for k in range(offsets[i], offsets[i + 1]):
            b = data[k]
            c = first_child[node]
            while c >= 0 and label[c] != b:
                c = next_sibling[c]
            if c < 0:
                s = trans[node_state[node], b]
                if s < 0:
                    whole = False  # the DFA never reads this literal: nothing to remove
                    break
                c = m
                m += 1
                node_state[c] = s
                label[c] = b
                parent[c] = node
                next_sibling[c] = first_child[node]
                first_child[node] = c
            node = c
        if whole:
            ends[node] = True
    n = trans.shape[0]
    out = np.empty((m + n, 256), dtype=np.int32)
    acc = np.empty(m + n, dtype=np.bool_)
    for s in range(n):
        for b in range(256):
            t = trans[s, b]
            out[m + s, b] = t + m if t >= 0 else -1
        acc[m + s] = accept[s]
    for node in range(m):
        out[node] = out[m + node_state[node]]
        acc[node] = accept[node_state[node]] and not ends[node]
        c = first_child[node]
        while c >= 0:
            out[node, label[c]] = c
            c = next_sibling[c]
    # a removed literal that the DFA cannot extend ends in a dead node (the closing quote of
    # a key): cut the edges into such nodes, children first (they are numbered after their
    # parents), so the table has no dead state the subset construction would carry along
    # (the DFA's own states count as live: the DFAs given here are minimal, so trimmed)
    live = np.zeros(m, dtype=np.bool_)
    for node in range(m - 1, -1, -1):
        if acc[node]:
            live[node] = True
            continue
        for b in range(256):
            t = out[node, b]
            if t >= m or (t >= 0 and live[t]):
                live[node] = True
                break
        if not live[node] and node > 0:
            out[parent[node], label[node]] = -1
    return out, acc
