"""numba kernel of :meth:`radtrio.fsm.grammar.GrammarBuilder.finish`: lays out the global
transition table, builds the call index, computes FIRST and FOLLOW sets and runs every
determinism check in one dispatch.

The parts' tables (local state numbers) arrive as the first one and the others stacked;
:func:`finish_tables` copies them into ``T[state, byte]`` shifted to global numbers, in one
pass. Calls arrive in local state numbers, rules in order. Outputs are allocated by the caller
(boxing arrays a kernel returns costs more). A byte set is a row of 256 bools.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from radtrio.fsm.machine_kernels import BR_CLOSE, BR_SEP, KIND_DFA, KIND_REPEAT

OK = 0
ERR_NO_RULE = -1  # a call or repeat item names a rule that is not there
ERR_CALLED_EMPTY = 1
ERR_CALL_CHOICE = 2
ERR_CALLED_END = 3
ERR_REP_ITEM_EMPTY = 4
ERR_REP_OPEN_ITEM = 5
ERR_REP_ITEM_CLOSE = 6
ERR_REP_SEP_ITEM = 7
ERR_REP_END = 8


@njit(cache=True, nogil=True)
def _shift(head, tail, T, part_lo):
    """Part ``p``'s rows ``part_lo[p]:part_lo[p+1]`` of ``T``: its table (the first part's is
    ``head``, the others lie stacked in ``tail``) with its base added to the local state
    numbers, and -1 for every negative entry."""
    for p in range(part_lo.shape[0] - 1):
        base = np.int32(part_lo[p])
        for s in range(part_lo[p], part_lo[p + 1]):
            a = head[s] if p == 0 else tail[s - part_lo[1]]
            row = T[s]
            for b in range(256):
                t = a[b]
                row[b] = t + base if t >= 0 else -1


@njit(cache=True, nogil=True)
def _meets(T, s, crow, call_first, other):
    """Whether a byte that continues from state ``s`` (an edge, or a call: ``call_first[crow]``
    where ``crow >= 0``) lies in the byte set ``other``."""
    if crow >= 0:
        cf = call_first[crow]
        for b in range(256):
            if cf[b] and other[b]:
                return True
        return False
    row = T[s]
    for b in range(256):
        if row[b] >= 0 and other[b]:
            return True
    return False


@njit(cache=True, nogil=True)
def finish_tables(head, tail, T, part_lo, acc, branch, states, calls, kind, cols, call_ptr, first):
    """Fill ``T`` from ``head`` and ``tail`` (see :func:`_shift`), ``call_ptr`` (zeros, one
    past the states) and ``first`` (rules x 256), make the return states in ``calls``
    global; return :data:`OK` or the first check that fails:

    1. every called rule and repeat item matches something and not the empty string
       (:data:`ERR_CALLED_EMPTY`);
    2. at each state with calls, the byte edges and the callees' FIRST sets are pairwise
       disjoint (:data:`ERR_CALL_CHOICE`);
    3. rule by rule: a DFA rule's accepting states continue with no byte of its FOLLOW set
       (:data:`ERR_CALLED_END`); a repeat's item and empty close start differently
       (:data:`ERR_REP_ITEM_EMPTY`), its open part's accepting states continue with neither
       (:data:`ERR_REP_OPEN_ITEM`), without separator its item and close start differently
       (:data:`ERR_REP_ITEM_CLOSE`), and each accepting state of its between part, in order,
       continues with no byte of the item if it ends a separator (:data:`ERR_REP_SEP_ITEM`)
       nor of the repeat's FOLLOW set if it ends the close (:data:`ERR_REP_END`).

    ``states`` rows: each state with calls (ascending within its rule, rules in order) and its
    number of calls; ``calls`` rows: callee, return state of each call in that order; both in
    the rule's local state numbers. ``cols`` rows, a column per rule: kind, start state, end
    of its states (a DFA rule's; a repeat's open part's), repeat item, empty part start (-1:
    none), between part start, between part end, has separator, min, max (these seven unused
    for DFA rules), number of states with calls. :data:`ERR_NO_RULE` comes
    before all checks where a callee or item is not a rule."""
    call_rule = calls[0]
    call_ret = calls[1]
    start = cols[1]
    rule_hi = cols[2]
    rep_item = cols[3]
    rep_empty = cols[4]
    rep_between = cols[5]
    rep_between_hi = cols[6]
    rep_sep = cols[7]
    total = T.shape[0]
    nr = kind.shape[0]
    nc = call_rule.shape[0]
    for k in range(nc):
        if call_rule[k] < 0 or call_rule[k] >= nr:
            return ERR_NO_RULE
    for i in range(nr):
        if kind[i] == KIND_REPEAT and (rep_item[i] < 0 or rep_item[i] >= nr):
            return ERR_NO_RULE
    _shift(head, tail, T, part_lo)
    j = 0
    k = 0
    for i in range(nr):
        o = start[i]
        for _ in range(cols[10, i]):
            n = states[1, j]
            call_ptr[states[0, j] + o + 1] = n
            j += 1
            for _ in range(n):
                call_ret[k] += o
                k += 1
    for s in range(total):
        call_ptr[s + 1] += call_ptr[s]
    # FIRST sets: the bytes of each rule's start state and the FIRST sets of the rules called
    # there (least fixed point)
    for i in range(nr):
        row = T[start[i]]
        for b in range(256):
            first[i, b] = row[b] >= 0
    changed = True
    while changed:
        changed = False
        for i in range(nr):
            if kind[i] != KIND_DFA:
                continue
            s = start[i]
            for k in range(call_ptr[s], call_ptr[s + 1]):
                c = call_rule[k]
                for b in range(256):
                    if first[c, b] and not first[i, b]:
                        first[i, b] = True
                        changed = True
    called = np.zeros(nr, dtype=np.bool_)
    for k in range(nc):
        called[call_rule[k]] = True
    for i in range(nr):
        if kind[i] == KIND_REPEAT:
            called[rep_item[i]] = True
    for i in range(nr):
        if called[i]:
            if kind[i] == KIND_DFA and acc[start[i]]:
                return ERR_CALLED_EMPTY
            empty = True
            for b in range(256):
                if first[i, b]:
                    empty = False
                    break
            if empty:
                return ERR_CALLED_EMPTY
    # 1. calls at one state: disjoint from each other and from the byte edges; call_first of
    # each state with calls holds all bytes that continue from it
    crow_of = np.full(total, -1, dtype=np.int32)
    n_rows = 0
    for s in range(total):
        if call_ptr[s + 1] > call_ptr[s]:
            crow_of[s] = n_rows
            n_rows += 1
    call_first = np.zeros((n_rows, 256), dtype=np.bool_)
    clash = False
    for s in range(total):
        r = crow_of[s]
        if r < 0:
            continue
        seen = call_first[r]
        row = T[s]
        for b in range(256):
            seen[b] = row[b] >= 0
        for k in range(call_ptr[s], call_ptr[s + 1]):
            f = first[call_rule[k]]
            for b in range(256):
                if f[b]:
                    if seen[b]:
                        clash = True
                    seen[b] = True
    if clash:
        return ERR_CALL_CHOICE
    # 2. FOLLOW sets: a callee is followed by what continues from its return state, and where
    # that state accepts, by what follows the caller's rule; a repeat's item by what may come
    # after an item
    follow = np.zeros((nr, 256), dtype=np.bool_)
    rule_of = np.full(total, -1, dtype=np.int32)
    for i in range(nr):
        if kind[i] == KIND_DFA:
            rule_of[start[i] : rule_hi[i]] = i
    via_c = np.empty(nc, dtype=np.int32)
    via_v = np.empty(nc, dtype=np.int32)
    n_via = 0
    for k in range(nc):
        c = call_rule[k]
        t = call_ret[k]
        r = crow_of[t]
        if r >= 0:
            cf = call_first[r]
            for b in range(256):
                if cf[b]:
                    follow[c, b] = True
        else:
            row = T[t]
            for b in range(256):
                if row[b] >= 0:
                    follow[c, b] = True
        if acc[t]:
            via_c[n_via] = c
            via_v[n_via] = rule_of[t]
            n_via += 1
    for i in range(nr):
        if kind[i] != KIND_REPEAT:
            continue
        it = rep_item[i]
        row = T[rep_between[i]]
        for b in range(256):
            if row[b] >= 0 or (rep_sep[i] == 0 and first[it, b]):
                follow[it, b] = True
    changed = n_via > 0
    while changed:
        changed = False
        for k in range(n_via):
            c = via_c[k]
            v = via_v[k]
            for b in range(256):
                if follow[v, b] and not follow[c, b]:
                    follow[c, b] = True
                    changed = True
    # 3. returns and repeat choices, rule by rule
    item_or_empty = np.empty(256, dtype=np.bool_)
    for i in range(nr):
        if kind[i] == KIND_DFA:
            fol = follow[i]
            if not fol.any():
                continue
            for s in range(start[i], rule_hi[i]):
                if acc[s] and _meets(T, s, crow_of[s], call_first, fol):
                    return ERR_CALLED_END
            continue
        item_first = first[rep_item[i]]
        e = rep_empty[i]
        for b in range(256):
            ef = e >= 0 and T[e, b] >= 0
            if item_first[b] and ef:
                return ERR_REP_ITEM_EMPTY
            item_or_empty[b] = item_first[b] or ef
        for s in range(start[i], rule_hi[i]):
            if acc[s] and _meets(T, s, crow_of[s], call_first, item_or_empty):
                return ERR_REP_OPEN_ITEM
        if rep_sep[i] == 0:
            row = T[rep_between[i]]
            for b in range(256):
                if item_first[b] and row[b] >= 0:
                    return ERR_REP_ITEM_CLOSE
        fol = follow[i]
        for s in range(rep_between[i], rep_between_hi[i]):
            if not acc[s]:
                continue
            if branch[s] == BR_SEP and _meets(T, s, crow_of[s], call_first, item_first):
                return ERR_REP_SEP_ITEM
            if branch[s] == BR_CLOSE and _meets(T, s, crow_of[s], call_first, fol):
                return ERR_REP_END
    return OK
