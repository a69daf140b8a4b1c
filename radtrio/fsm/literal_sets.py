"""A DFA minus a finite set of literal strings, built directly from a trie of the literals.

Object keys that are not named properties are "any JSON string except these names". Building
that as ``product(key_any, compile_ast(N_alt(names...)), "diff")`` runs Thompson construction,
subset construction and minimization of the name set and then a product: about 1 ms per object
schema on these machines, a large share of a median schema's compile. Here the same language
comes from one pass over the names' bytes: each trie node rides along the state the DFA reaches
on that prefix, and a byte that leaves the trie drops to the DFA's own copy of the next state.
The result is not minimized (callers embed it in a larger automaton that is).
"""

from __future__ import annotations

import numpy as np

from radtrio.fsm.automaton import DFA


def without_literals(dfa: DFA, literals: list[bytes]) -> DFA:
    """The call-free ``dfa`` minus ``literals``: states 0..m-1 follow trie nodes (0 is the
    root, the empty prefix), states m.. are ``dfa``'s own states shifted by m."""
    if any(dfa.calls):
        raise ValueError("without_literals needs a call-free DFA")
    trans = np.asarray(dfa.trans, dtype=np.int32)
    accept = np.asarray(dfa.accept, dtype=np.bool_)
    # trie over the literals' bytes, keeping only prefixes the DFA can read
    node_state = [0]  # DFA state reached by each trie node's prefix
    children: list[dict[int, int]] = [{}]
    ends = [False]
    for lit in literals:
        node = 0
        for b in lit:
            nxt = children[node].get(b)
            if nxt is None:
                s = int(trans[node_state[node], b])
                if s < 0:
                    break  # the DFA never reads this literal: nothing to remove
                nxt = len(node_state)
                node_state.append(s)
                children.append({})
                ends.append(False)
                children[node][b] = nxt
            node = nxt
        else:
            ends[node] = True
    m = len(node_state)
    shifted = np.where(trans >= 0, trans + m, -1).astype(np.int32)
    out = np.empty((m + trans.shape[0], 256), dtype=np.int32)
    out[:m] = shifted[node_state]
    out[m:] = shifted
    for node, kids in enumerate(children):
        for b, child in kids.items():
            out[node, b] = child
    acc = np.concatenate([accept[node_state] & ~np.array(ends, dtype=np.bool_), accept])
    return DFA(out, acc, [{} for _ in range(out.shape[0])])
