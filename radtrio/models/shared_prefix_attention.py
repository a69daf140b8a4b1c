"""Decode attention that reads a prefix shared by several sequences once (cascade attention).

Sequences that reuse a cached prefix through the radix tree hold the very same KV slots for
it. A plain decode step gathers each sequence's slots into ``[B, L]`` rows, so a 500-token
system prompt shared by 16 requests is copied 16 times per layer per step (on CPU the
gathers took over a third of a batch-16 SmolLM2 step). Here each group of sequences that
starts with the same slots attends to its common prefix in one batched product, every
sequence attends to the rest of its own slots, and the two partial softmaxes are merged
through their maxima and sums (the log-sum-exp merge of FlashInfer's cascade attention).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from radtrio.models.slot_rows import gather_slots, padded_rows

MIN_SHARED_TOKENS = 32  # a shorter common prefix is not worth the extra products


@dataclass
class PrefixGroup:
    rows: torch.Tensor | None  # [n] batch rows sharing the prefix; None = every row
    slots: torch.Tensor  # [C] the shared prefix's slots


@dataclass
class SharedPrefixPlan:
    groups: list[PrefixGroup]
    suffix_slots: torch.Tensor  # [B, S] each sequence's slots after its shared prefix, 0-padded
    suffix_valid: torch.Tensor  # [B, 1, 1, S] True where suffix_slots holds a real slot


def plan_shared_prefixes(
    slots: torch.Tensor, lens: list[int], min_shared: int = MIN_SHARED_TOKENS
) -> SharedPrefixPlan | None:
    """Plan a decode step over ``slots`` (``[B, max_len]``, row b valid up to ``lens[b]``).

    Rows are grouped by their first slot; a group's shared prefix is the run of columns on
    which all its rows agree, kept below every member's length so each sequence has at least
    one slot of its own. None when no group of two or more shares ``min_shared`` slots.
    """
    batch = len(lens)
    if batch < 2:
        return None
    rows_by_first: dict[int, list[int]] = {}
    for row, first in enumerate(slots[:, 0].tolist()):
        rows_by_first.setdefault(first, []).append(row)
    shared = [0] * batch
    groups: list[PrefixGroup] = []
    for rows in rows_by_first.values():
        limit = min(lens[r] for r in rows) - 1
        if len(rows) < 2 or limit < min_shared:
            continue
        block = slots[rows, :limit]
        agree = (block == block[:1]).all(dim=0)
        length = limit if bool(agree.all()) else int(agree.to(torch.int8).argmin())
        if length < min_shared:
            continue
        for r in rows:
            shared[r] = length
        index = None if len(rows) == batch else torch.tensor(rows, device=slots.device)
        groups.append(PrefixGroup(index, block[0, :length].clone()))
    if not groups:
        return None
    starts = torch.tensor(shared, dtype=torch.int64, device=slots.device)
    suffix_lens = torch.tensor(lens, dtype=torch.int64, device=slots.device) - starts
    row_starts = torch.arange(batch, device=slots.device) * slots.shape[1] + starts
    width = max(n - s for n, s in zip(lens, shared, strict=True))
    suffix, valid = padded_rows(slots.reshape(-1), row_starts, suffix_lens, width)
    return SharedPrefixPlan(groups, suffix, valid[:, None, None, :])


def shared_prefix_decode(
    query: torch.Tensor,
    k_cache: torch.Tensor,
    v_cache: torch.Tensor,
    plan: SharedPrefixPlan,
    scale: float,
) -> torch.Tensor:
    """Attention of one new token per sequence: ``query`` ``[B, kvh, group, hd]`` (the query
    heads of each KV head as rows) over the planned slots; returns ``[B, kvh, group, hd]``."""
    batch, kvh, group, hd = query.shape
    q = query.float()
    # each sequence over its own slots: unnormalised output, row maxima and sums
    keys = gather_slots(k_cache, plan.suffix_slots).float().permute(0, 2, 3, 1)  # [B,kvh,hd,S]
    values = gather_slots(v_cache, plan.suffix_slots).float().transpose(1, 2)  # [B,kvh,S,hd]
    scores = torch.matmul(q, keys).mul_(scale)
    scores.masked_fill_(~plan.suffix_valid, float("-inf"))
    top = scores.amax(dim=-1, keepdim=True)  # finite: every row has a slot of its own
    weights = torch.exp(scores.sub_(top))
    total = weights.sum(dim=-1, keepdim=True)
    out = torch.matmul(weights, values)
    for g in plan.groups:
        pk = gather_slots(k_cache, g.slots).float().permute(1, 2, 0)  # [kvh, hd, C]
        pv = gather_slots(v_cache, g.slots).float().transpose(0, 1)  # [kvh, C, hd]
        gq = q if g.rows is None else q.index_select(0, g.rows)
        n = gq.shape[0]
        flat = gq.permute(1, 0, 2, 3).reshape(kvh, n * group, hd)
        s = torch.bmm(flat, pk).mul_(scale)  # [kvh, n * group, C]
        p_top = s.amax(dim=-1, keepdim=True)
        p_weights = torch.exp(s.sub_(p_top))
        p_total = p_weights.sum(dim=-1, keepdim=True)
        p_out = torch.bmm(p_weights, pv)

        def per_row(t: torch.Tensor, n: int = n) -> torch.Tensor:  # [kvh, n*group, x] -> rows
            return t.view(kvh, n, group, t.shape[-1]).permute(1, 0, 2, 3)

        p_top, p_total, p_out = per_row(p_top), per_row(p_total), per_row(p_out)
        if g.rows is None:
            r_top, r_total, r_out = top, total, out
        else:
            r_top, r_total, r_out = (t.index_select(0, g.rows) for t in (top, total, out))
        new_top = torch.maximum(r_top, p_top)
        own = torch.exp(r_top - new_top)
        prefix = torch.exp(p_top - new_top)
        merged_out = r_out * own + p_out * prefix
        merged_total = r_total * own + p_total * prefix
        if g.rows is None:
            top, total, out = new_top, merged_total, merged_out
        else:
            top.index_copy_(0, g.rows, new_top)
            total.index_copy_(0, g.rows, merged_total)
            out.index_copy_(0, g.rows, merged_out)
    return out.div_(total).to(query.dtype)
