"""numba kernels of the pushdown byte machine (see :mod:`radtrio.fsm.grammar`).

A configuration is a stack of frames, each 4 int32: ``(rule, a, b, count)``.
DFA rule frame: ``(rule, state, 0, 0)`` with ``state`` a global DFA state.
REPEAT rule frame: ``(rule, phase, state, count)``.

``step`` consumes one byte in place and returns the new depth (-1: byte not allowed).
``walk_trie`` runs ``step`` over a flattened token trie and sets the bit of every token whose
bytes are all accepted.
"""

from __future__ import annotations

import numpy as np
from numba import njit

KIND_DFA = 0
KIND_REPEAT = 1

PH_OPEN = 0
PH_FIRST = 1
PH_AFTER = 2
PH_BETWEEN = 3

BR_ANY = 0
BR_SEP = 1
BR_CLOSE = 2


@njit(cache=True, nogil=True)
def _branch_ok(branch, count, rmin, rmax):
    if branch == BR_SEP:
        return count < rmax
    if branch == BR_CLOSE:
        return count >= rmin
    return True


@njit(cache=True, nogil=True)
def _push(stk, depth, rule, kind, start, maxd):
    if depth >= maxd:
        return -1
    stk[depth, 0] = rule
    if kind[rule] == KIND_DFA:
        stk[depth, 1] = start[rule]
        stk[depth, 2] = 0
    else:
        stk[depth, 1] = PH_OPEN
        stk[depth, 2] = start[rule]
    stk[depth, 3] = 0
    return depth + 1


@njit(cache=True, nogil=True)
def step(
    stk,
    depth,
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
):
    maxd = stk.shape[0]
    while depth > 0:
        top = depth - 1
        r = stk[top, 0]
        if kind[r] == KIND_DFA:
            s = stk[top, 1]
            t = T[s, b]
            if t >= 0:
                stk[top, 1] = t
                return depth
            pushed = False
            for k in range(call_ptr[s], call_ptr[s + 1]):
                c = call_rule[k]
                if first[c, b]:
                    stk[top, 1] = call_ret[k]
                    depth = _push(stk, depth, c, kind, start, maxd)
                    if depth < 0:
                        return -1
                    pushed = True
                    break
            if pushed:
                continue
            if acc[s] and depth > 1:
                depth -= 1
                continue
            return -1
        # REPEAT frame
        ph = stk[top, 1]
        s = stk[top, 2]
        cnt = stk[top, 3]
        rmin = rep_min[r]
        rmax = rep_max[r]
        item = rep_item[r]
        if ph == PH_OPEN:
            t = T[s, b]
            if t >= 0:
                stk[top, 2] = t
                return depth
            if acc[s]:
                stk[top, 1] = PH_FIRST
                continue
            return -1
        if ph == PH_FIRST:
            if cnt < rmax and first[item, b]:
                stk[top, 1] = PH_AFTER
                stk[top, 3] = cnt + 1
                depth = _push(stk, depth, item, kind, start, maxd)
                if depth < 0:
                    return -1
                continue
            if rmin == 0:
                e = rep_empty[r]
                if e >= 0:
                    t = T[e, b]
                    if t >= 0:
                        stk[top, 1] = PH_BETWEEN
                        stk[top, 2] = t
                        return depth
            return -1
        if ph == PH_AFTER:
            if rep_sep[r] == 0 and cnt < rmax and first[item, b]:
                stk[top, 3] = cnt + 1
                depth = _push(stk, depth, item, kind, start, maxd)
                if depth < 0:
                    return -1
                continue
            t = T[rep_between[r], b]
            if t >= 0 and _branch_ok(branch[t], cnt, rmin, rmax):
                stk[top, 1] = PH_BETWEEN
                stk[top, 2] = t
                return depth
            return -1
        # PH_BETWEEN
        t = T[s, b]
        if t >= 0 and _branch_ok(branch[t], cnt, rmin, rmax):
            stk[top, 2] = t
            return depth
        if acc[s]:
            if branch[s] == BR_SEP:
                if cnt < rmax and first[item, b]:
                    stk[top, 1] = PH_AFTER
                    stk[top, 3] = cnt + 1
                    depth = _push(stk, depth, item, kind, start, maxd)
                    if depth < 0:
                        return -1
                    continue
                return -1
            if branch[s] == BR_CLOSE and depth > 1:
                depth -= 1
                continue
        return -1
    return -1


@njit(cache=True, nogil=True)
def can_end(stk, depth, acc, branch, kind):
    """True when every frame, top to bottom, is in an accepting state."""
    for top in range(depth - 1, -1, -1):
        r = stk[top, 0]
        if kind[r] == KIND_DFA:
            if not acc[stk[top, 1]]:
                return False
        else:
            s = stk[top, 2]
            if stk[top, 1] != PH_BETWEEN or not acc[s] or branch[s] != BR_CLOSE:
                return False
    return depth > 0


@njit(cache=True, nogil=True)
def walk_trie(
    stk0,
    depth0,
    node_byte,
    node_depth,
    node_skip,
    tok_ptr,
    tok_ids,
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
    """Set bits in ``out_bits`` for every token whose bytes the machine accepts from stk0.

    Returns the number of allowed tokens."""
    maxdepth = 0
    n = node_byte.shape[0]
    for i in range(n):
        if node_depth[i] > maxdepth:
            maxdepth = node_depth[i]
    fd = stk0.shape[0]
    stacks = np.empty((maxdepth + 1, fd, 4), dtype=np.int32)
    depths = np.empty(maxdepth + 1, dtype=np.int64)
    stacks[0, :, :] = stk0
    depths[0] = depth0
    count = 0
    # single DFA frame fast path: no calls reachable means pure DFA walk
    i = 0
    while i < n:
        d = node_depth[i]
        pd = depths[d - 1]
        for f in range(pd):
            for c in range(4):
                stacks[d, f, c] = stacks[d - 1, f, c]
        nd = step(
            stacks[d],
            pd,
            node_byte[i],
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
        depths[d] = nd
        for k in range(tok_ptr[i], tok_ptr[i + 1]):
            t = tok_ids[k]
            out_bits[t >> 5] |= np.uint32(1) << np.uint32(t & 31)
            count += 1
        i += 1
    return count


@njit(cache=True, nogil=True)
def walk_trie_dfa(s0, node_byte, node_depth, node_skip, tok_ptr, tok_ids, out_bits, T):
    """Fast path: a single DFA frame whose rule makes no calls."""
    maxdepth = 0
    n = node_byte.shape[0]
    for i in range(n):
        if node_depth[i] > maxdepth:
            maxdepth = node_depth[i]
    states = np.empty(maxdepth + 1, dtype=np.int32)
    states[0] = s0
    count = 0
    i = 0
    while i < n:
        d = node_depth[i]
        t = T[states[d - 1], node_byte[i]]
        if t < 0:
            i = node_skip[i]
            continue
        states[d] = t
        for k in range(tok_ptr[i], tok_ptr[i + 1]):
            tid = tok_ids[k]
            out_bits[tid >> 5] |= np.uint32(1) << np.uint32(tid & 31)
            count += 1
        i += 1
    return count


@njit(cache=True, nogil=True)
def step_bytes(
    stk,
    depth,
    data,
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
    for j in range(data.shape[0]):
        depth = step(
            stk,
            depth,
            data[j],
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
        if depth < 0:
            return -1
    return depth


@njit(cache=True, nogil=True)
def allowed_bytes(
    stk,
    depth,
    out,
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
    """out[b] = 1 for each byte that may follow; returns how many."""
    tmp = np.empty_like(stk)
    n = 0
    for b in range(256):
        tmp[:, :] = stk
        d = step(
            tmp,
            depth,
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
        out[b] = 1 if d >= 0 else 0
        if d >= 0:
            n += 1
    return n
