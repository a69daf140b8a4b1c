"""numba kernels that shrink a DFA: trimming (states that are unreachable or cannot reach
an accepting state go), minimization, and :func:`reduce`, which runs both and renumbers the
states.

A DFA here is ``trans[state, letter]`` (-1 = none) over letters that are byte classes (each
stands for a run of bytes the caller maps back; 256 single bytes work too), ``accept[state]``
and call edges as parallel arrays ``(src, label, dst)``. State 0 is the start.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def trim(trans, accept, cs, cd, n_calls, all_reachable=False):
    """States that are reachable from 0 and can reach an accepting state: (keep mask).
    Returns an all-False mask when the start state itself is dead. ``all_reachable``: the
    caller knows every state is reachable from 0 (through bytes and calls), as subset
    construction and products make them; then the live states are the answer (a path from 0
    to a live state runs through live states only) and the forward pass is skipped."""
    n = trans.shape[0]
    n_letters = trans.shape[1]
    # reverse edges (deduplicated per source row)
    seen = np.full(n, -1, dtype=np.int64)
    cnt = np.zeros(n + 1, dtype=np.int64)
    for s in range(n):
        for b in range(n_letters):
            t = trans[s, b]
            if t >= 0 and seen[t] != s:
                seen[t] = s
                cnt[t + 1] += 1
    for k in range(n_calls):
        cnt[cd[k] + 1] += 1
    for s in range(n):
        cnt[s + 1] += cnt[s]
    fill = cnt[:n].copy()
    rev = np.empty(cnt[n], dtype=np.int32)
    seen[:] = -1
    for s in range(n):
        for b in range(n_letters):
            t = trans[s, b]
            if t >= 0 and seen[t] != s:
                seen[t] = s
                rev[fill[t]] = s
                fill[t] += 1
    for k in range(n_calls):
        rev[fill[cd[k]]] = cs[k]
        fill[cd[k]] += 1
    live = accept.copy()
    stack = np.empty(n, dtype=np.int32)
    sp = 0
    for s in range(n):
        if live[s]:
            stack[sp] = s
            sp += 1
    while sp > 0:
        sp -= 1
        s = stack[sp]
        for k in range(cnt[s], cnt[s + 1]):
            p = rev[k]
            if not live[p]:
                live[p] = True
                stack[sp] = p
                sp += 1
    reach = np.zeros(n, dtype=np.bool_)
    if not live[0]:
        return reach
    if all_reachable:
        return live
    # forward reachability through live states (call edges by source)
    reach[0] = True
    stack[0] = 0
    sp = 1
    while sp > 0:
        sp -= 1
        s = stack[sp]
        for b in range(n_letters):
            t = trans[s, b]
            if t >= 0 and live[t] and not reach[t]:
                reach[t] = True
                stack[sp] = t
                sp += 1
        for k in range(n_calls):
            if cs[k] == s:
                t = cd[k]
                if live[t] and not reach[t]:
                    reach[t] = True
                    stack[sp] = t
                    sp += 1
    return reach


@njit(cache=True, nogil=True)
def distinct_columns(trans):
    """One representative column per class of columns every state treats alike (sorted).
    Column hashes are accumulated row by row: the table is row-major, and a column walk
    would touch a cache line per state."""
    n = trans.shape[0]
    n_letters = trans.shape[1]
    hs = np.full(n_letters, np.uint64(1469598103934665603), dtype=np.uint64)
    for s in range(n):
        for c in range(n_letters):
            hs[c] = (hs[c] ^ np.uint64(trans[s, c] + 2)) * np.uint64(1099511628211)
    out = np.empty(n_letters, dtype=np.int64)
    m = 0
    for c in range(n_letters):
        found = False
        for q in range(m):
            r = out[q]
            if hs[r] == hs[c]:
                same = True
                for s in range(n):
                    if trans[s, r] != trans[s, c]:
                        same = False
                        break
                if same:
                    found = True
                    break
        if not found:
            out[m] = c
            m += 1
    return out[:m]


@njit(cache=True, nogil=True)
def minimize(trans, accept, ctab):
    """Minimal partition of a trimmed DFA (every state reachable and live): (class per state,
    number of classes, representative state per class), classes numbered in BFS order from
    state 0. ``ctab[state, j]`` = call target per label j (-1: none); a call label is one
    more letter. Valmari and Lehtinen's refinement of blocks of states and cords of
    transitions ("Efficient minimization of DFAs with partial transition functions", 2008):
    it visits only transitions that exist, O(m log m) for m of them, where Moore's rounds
    cost every state and letter per level of depth (long key literals made that quadratic)
    and Hopcroft's algorithm completes the DFA with a sink."""
    n = trans.shape[0]
    cols = distinct_columns(trans)
    n_letters = cols.shape[0]
    n_labels = ctab.shape[1]
    # transitions grouped by letter (call labels after the letters), states ascending within
    # a letter: the first cords. A counting sort over row-major walks of the tables.
    per = np.zeros(n_letters + n_labels + 1, dtype=np.int64)
    for s in range(n):
        for a in range(n_letters):
            if trans[s, cols[a]] >= 0:
                per[a + 1] += 1
        for a in range(n_labels):
            if ctab[s, a] >= 0:
                per[n_letters + a + 1] += 1
    for a in range(n_letters + n_labels):
        per[a + 1] += per[a]
    m = per[n_letters + n_labels]
    tail = np.empty(m, dtype=np.int64)
    head = np.empty(m, dtype=np.int64)
    letter = np.empty(m, dtype=np.int64)
    for s in range(n):
        for a in range(n_letters + n_labels):
            t = trans[s, cols[a]] if a < n_letters else ctab[s, a - n_letters]
            if t >= 0:
                k = per[a]
                tail[k] = s
                head[k] = t
                letter[k] = a
                per[a] = k + 1
    # blocks: accepting states, then the others
    bE = np.empty(n, dtype=np.int64)
    bL = np.empty(n, dtype=np.int64)
    bS = np.zeros(n, dtype=np.int64)
    bF = np.zeros(n + 1, dtype=np.int64)
    bP = np.zeros(n + 1, dtype=np.int64)
    bM = np.zeros(n + 1, dtype=np.int64)
    bW = np.empty(n + 1, dtype=np.int64)
    pos = 0
    for want in (True, False):
        for s in range(n):
            if accept[s] == want:
                bE[pos] = s
                bL[s] = pos
                pos += 1
    n_final = 0
    for s in range(n):
        n_final += accept[s]
    bF[0] = 0
    bP[0] = n
    nb = 1
    if 0 < n_final < n:  # the smaller side becomes block 1
        nb = 2
        if n_final <= n - n_final:
            bF[1], bP[1], bF[0] = 0, n_final, n_final
        else:
            bF[1], bP[1], bP[0] = n_final, n, n_final
        for i in range(bF[1], bP[1]):
            bS[bE[i]] = 1
    cE = np.arange(m)
    cL = np.arange(m)
    cS = np.zeros(m, dtype=np.int64)
    cF = np.zeros(m + 1, dtype=np.int64)
    cP = np.zeros(m + 1, dtype=np.int64)
    cM = np.zeros(m + 1, dtype=np.int64)
    cW = np.empty(m + 1, dtype=np.int64)
    nc = 0
    if m > 0:
        z = 0
        for i in range(m):
            if i > 0 and letter[i] != letter[i - 1]:
                cP[z] = i
                z += 1
                cF[z] = i
            cS[i] = z
        cP[z] = m
        nc = z + 1
    # incoming transitions per state
    in_ptr = np.zeros(n + 1, dtype=np.int64)
    for t in range(m):
        in_ptr[head[t] + 1] += 1
    for s in range(n):
        in_ptr[s + 1] += in_ptr[s]
    fill = in_ptr[:n].copy()
    incoming = np.empty(m, dtype=np.int64)
    for t in range(m):
        incoming[fill[head[t]]] = t
        fill[head[t]] += 1
    # Each set (of blocks: bE/bL/bS/bF/bP/bM/bW, of cords: cE/...) keeps its marked elements
    # at its front; marking moves an element there, splitting makes the marked or the
    # unmarked part (the smaller) a new set. Written out twice, not as helper functions:
    # numba passed the seven arrays to each call with reference counting, 40% of the time.
    b = 1
    c = 0
    bw = 0
    cw = 0
    while c < nc:
        for i in range(cF[c], cP[c]):
            e = tail[cE[i]]
            st = bS[e]
            i2 = bL[e]
            j2 = bF[st] + bM[st]
            bE[i2] = bE[j2]
            bL[bE[i2]] = i2
            bE[j2] = e
            bL[e] = j2
            if bM[st] == 0:
                bW[bw] = st
                bw += 1
            bM[st] += 1
        while bw > 0:
            bw -= 1
            st = bW[bw]
            j2 = bF[st] + bM[st]
            if j2 == bP[st]:
                bM[st] = 0
                continue
            z = nb
            if bM[st] <= bP[st] - j2:
                bF[z] = bF[st]
                bP[z] = j2
                bF[st] = j2
            else:
                bP[z] = bP[st]
                bF[z] = j2
                bP[st] = j2
            for i2 in range(bF[z], bP[z]):
                bS[bE[i2]] = z
            bM[st] = 0
            bM[z] = 0
            nb = z + 1
        c += 1
        while b < nb:
            for i in range(bF[b], bP[b]):
                q = bE[i]
                for jj in range(in_ptr[q], in_ptr[q + 1]):
                    e = incoming[jj]
                    st = cS[e]
                    i2 = cL[e]
                    j2 = cF[st] + cM[st]
                    cE[i2] = cE[j2]
                    cL[cE[i2]] = i2
                    cE[j2] = e
                    cL[e] = j2
                    if cM[st] == 0:
                        cW[cw] = st
                        cw += 1
                    cM[st] += 1
            while cw > 0:
                cw -= 1
                st = cW[cw]
                j2 = cF[st] + cM[st]
                if j2 == cP[st]:
                    cM[st] = 0
                    continue
                z = nc
                if cM[st] <= cP[st] - j2:
                    cF[z] = cF[st]
                    cP[z] = j2
                    cF[st] = j2
                else:
                    cP[z] = cP[st]
                    cF[z] = j2
                    cP[st] = j2
                for i2 in range(cF[z], cP[z]):
                    cS[cE[i2]] = z
                cM[st] = 0
                cM[z] = 0
                nc = z + 1
            b += 1
    return _bfs_classes(trans, ctab, bS, nb)


@njit(cache=True, nogil=True)
def _bfs_classes(trans, ctab, cls, count):
    """Classes renumbered in BFS order from state 0: (class per state, classes reached,
    representative state per class)."""
    n = trans.shape[0]
    n_letters = trans.shape[1]
    L = ctab.shape[1]
    order = np.full(count, -1, dtype=np.int64)
    rep_of = np.empty(count, dtype=np.int64)
    queue = np.empty(count, dtype=np.int64)
    order[cls[0]] = 0
    rep_of[0] = 0
    queue[0] = 0
    m = 1
    qi = 0
    while qi < m:
        s = queue[qi]
        qi += 1
        for b in range(n_letters):
            t = trans[s, b]
            if t >= 0 and order[cls[t]] < 0:
                order[cls[t]] = m
                rep_of[m] = t
                queue[m] = t
                m += 1
        for q in range(L):
            t = ctab[s, q]
            if t >= 0 and order[cls[t]] < 0:
                order[cls[t]] = m
                rep_of[m] = t
                queue[m] = t
                m += 1
    out = np.empty(n, dtype=np.int64)
    for s in range(n):
        out[s] = order[cls[s]]
    return out, m, rep_of[:m]


@njit(cache=True, nogil=True)
def call_table(n, cs, cl, cd, n_calls):
    """(sorted call labels, ``ctab[state, j]`` = target of the call labelled ``labels[j]``
    from that state, -1 where none)."""
    labels = np.unique(cl[:n_calls])
    ctab = np.full((n, labels.shape[0]), -1, dtype=np.int32)
    for e in range(n_calls):
        ctab[cs[e], np.searchsorted(labels, cl[e])] = cd[e]
    return labels, ctab


@njit(cache=True, nogil=True)
def reduce(trans, accept, cs, cl, cd, n_calls, all_reachable=False, all_live=False):
    """Trim, then minimize. Returns ``(trans, accept, cs, cl, cd, n_calls)`` of the minimal
    DFA: states in BFS order from the start, call edges grouped by state with labels
    ascending. A DFA whose start cannot reach acceptance becomes one dead state.
    ``all_reachable``: every state is known to be reachable from 0 (see :func:`trim`);
    ``all_live``: every state is also known to reach an accepting state, so nothing is
    trimmed and the trim pass is skipped."""
    n = trans.shape[0]
    n_letters = trans.shape[1]
    if all_reachable and all_live:
        keep = np.ones(n, dtype=np.bool_)
    else:
        keep = trim(trans, accept, cs, cd, n_calls, all_reachable)
    if not keep[0]:
        z = np.zeros(0, dtype=np.int32)
        return np.full((1, n_letters), -1, dtype=np.int32), np.zeros(1, dtype=np.bool_), z, z, z, 0
    m = 0
    for s in range(n):
        m += keep[s]
    if m < n:
        remap = np.full(n, -1, dtype=np.int32)
        j = 0
        for s in range(n):
            if keep[s]:
                remap[s] = j
                j += 1
        t2 = np.empty((m, n_letters), dtype=np.int32)
        a2 = np.empty(m, dtype=np.bool_)
        for s in range(n):
            if keep[s]:
                r = remap[s]
                a2[r] = accept[s]
                for b in range(n_letters):
                    t = trans[s, b]
                    t2[r, b] = remap[t] if t >= 0 else -1
        cs2 = np.empty(n_calls, dtype=np.int32)
        cl2 = np.empty(n_calls, dtype=np.int32)
        cd2 = np.empty(n_calls, dtype=np.int32)
        nc2 = 0
        for e in range(n_calls):
            if keep[cs[e]] and keep[cd[e]]:
                cs2[nc2] = remap[cs[e]]
                cl2[nc2] = cl[e]
                cd2[nc2] = remap[cd[e]]
                nc2 += 1
        trans, accept, cs, cl, cd, n_calls, n = t2, a2, cs2, cl2, cd2, nc2, m
    labels, ctab = call_table(n, cs, cl, cd, n_calls)
    cls, m, reps = minimize(trans, accept, ctab)
    identity = m == n
    if identity:
        for s in range(n):
            if cls[s] != s:
                identity = False
                break
    if not identity:
        t2 = np.empty((m, n_letters), dtype=np.int32)
        a2 = np.empty(m, dtype=np.bool_)
        c2 = np.full((m, ctab.shape[1]), -1, dtype=np.int32)
        for i in range(m):
            r = reps[i]
            a2[i] = accept[r]
            for b in range(n_letters):
                t = trans[r, b]
                t2[i, b] = cls[t] if t >= 0 else -1
            for j in range(ctab.shape[1]):
                t = ctab[r, j]
                c2[i, j] = cls[t] if t >= 0 else -1
        trans, accept, ctab, n = t2, a2, c2, m
    n_out = 0
    for s in range(n):
        for j in range(ctab.shape[1]):
            n_out += ctab[s, j] >= 0
    cs3 = np.empty(n_out, dtype=np.int32)
    cl3 = np.empty(n_out, dtype=np.int32)
    cd3 = np.empty(n_out, dtype=np.int32)
    e = 0
    for s in range(n):
        for j in range(ctab.shape[1]):
            if ctab[s, j] >= 0:
                cs3[e] = s
                cl3[e] = labels[j]
                cd3[e] = ctab[s, j]
                e += 1
    return trans, accept, cs3, cl3, cd3, n_out
