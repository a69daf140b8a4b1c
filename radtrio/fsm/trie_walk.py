"""Token-mask kernel: walk the flattened token trie from one machine configuration.

Most bytes of most tokens only move the top frame's DFA state (a byte edge of the rule being
walked), so the walker keeps, per trie depth, just that top state and a reference to the
trie depth whose stack copy holds the frames below. A full stack copy and the generic
pushdown :func:`~radtrio.fsm.machine_kernels.step` happen only where a byte needs a call, a
return or a repeat frame. A pure-DFA walk therefore costs one table lookup per trie node.

``skip_ok``/``skip_tokens``: tokens whose every byte keeps the start state where it is
(for instance plain characters inside a JSON string) can be set in one go from a precomputed
mask; the caller then walks a reduced trie holding only the other tokens.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from radtrio.fsm.machine_kernels import KIND_DFA, step


@njit(cache=True, nogil=True)
def walk_trie_hybrid(
    stk0,
    depth0,
    node_byte,
    node_depth,
    node_skip,
    tok_ptr,
    tok_ids,
    maxdepth,
    out_bits,
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
):
    """Set the bit of every token whose bytes the machine accepts from ``stk0[:depth0]``.

    Returns the number of allowed tokens."""
    n = node_byte.shape[0]
    fd = stk0.shape[0]
    stacks = np.empty((maxdepth + 1, fd, 4), dtype=np.int32)
    src = np.empty(maxdepth + 1, dtype=np.int64)  # which slot of ``stacks`` holds the frames
    dep = np.empty(maxdepth + 1, dtype=np.int64)  # stack depth
    top = np.empty(maxdepth + 1, dtype=np.int32)  # top DFA state (valid when isdfa)
    isdfa = np.zeros(maxdepth + 1, dtype=np.bool_)
    for f in range(depth0):
        for c in range(4):
            stacks[0, f, c] = stk0[f, c]
    src[0] = 0
    dep[0] = depth0
    if depth0 > 0 and kind[stk0[depth0 - 1, 0]] == KIND_DFA:
        isdfa[0] = True
        top[0] = stk0[depth0 - 1, 1]
    count = 0
    i = 0
    while i < n:
        d = node_depth[i]
        p = d - 1
        b = node_byte[i]
        if isdfa[p]:
            sp_ = top[p]
            t = T[sp_, b]
            if t < 0 and call_ptr[sp_] == call_ptr[sp_ + 1] and not (acc[sp_] and dep[p] > 1):
                i = node_skip[i]  # no edge, no call, no return: the generic step fails too
                continue
            if t >= 0:
                src[d] = src[p]
                dep[d] = dep[p]
                top[d] = t
                isdfa[d] = True
                for k in range(tok_ptr[i], tok_ptr[i + 1]):
                    tid = tok_ids[k]
                    out_bits[tid >> 5] |= np.uint32(1) << np.uint32(tid & 31)
                    count += 1
                i += 1
                continue
        # generic step on a materialized copy of the parent's stack
        pd = dep[p]
        sp = src[p]
        for f in range(pd):
            for c in range(4):
                stacks[d, f, c] = stacks[sp, f, c]
        if isdfa[p]:
            stacks[d, pd - 1, 1] = top[p]
        nd = step(
            stacks[d],
            pd,
            b,
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
        if nd < 0:
            i = node_skip[i]
            continue
        src[d] = d
        dep[d] = nd
        if kind[stacks[d, nd - 1, 0]] == KIND_DFA:
            isdfa[d] = True
            top[d] = stacks[d, nd - 1, 1]
        else:
            isdfa[d] = False
        for k in range(tok_ptr[i], tok_ptr[i + 1]):
            tid = tok_ids[k]
            out_bits[tid >> 5] |= np.uint32(1) << np.uint32(tid & 31)
            count += 1
        i += 1
    return count
