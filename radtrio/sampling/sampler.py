"""Batched sampling: penalties, masks, temperature, top-k / top-p / min-p, seeds, logprobs.

Every request of a batch brings its own parameters; rows that need no filtering skip
the sort, greedy rows skip the noise. Randomness is counter-based (see
:mod:`radtrio.sampling.random`), so a seeded request samples the same tokens whatever
else is in its batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from radtrio.sampling.random import gumbel, row_keys
from radtrio.types import SamplingParams


@dataclass
class SamplingRow:
    """What the sampler needs to know about one row of the batch."""

    params: SamplingParams
    seed: int
    step: int  # output tokens produced so far (the counter of the random stream)
    prompt_ids: Sequence[int] = ()
    output_ids: Sequence[int] = ()
    banned_ids: Sequence[int] = ()  # e.g. EOS and stop ids before min_new_tokens
    bitmask: object = None  # packed allowed-token mask from the FSM (numpy int32/uint32 words)


@dataclass
class SampleOutput:
    token_ids: list[int]
    logprobs: list[float] | None = None  # of the chosen tokens
    top_logprobs: list[list[tuple[int, float]]] | None = None
    extra: dict[str, object] = field(default_factory=dict)


def apply_bitmask(logits: torch.Tensor, rows: list[int], masks: list[object]) -> None:
    """Set logits of disallowed tokens to -inf.

    Masks are packed 32-bit words: bit j of word w allows token 32 * w + j.
    """
    import numpy as np

    words = torch.from_numpy(np.stack([np.asarray(m).view(np.int32) for m in masks]))
    words = words.to(logits.device, dtype=torch.int64)
    shifts = torch.arange(32, device=logits.device, dtype=torch.int64)
    allowed = ((words[:, :, None] >> shifts) & 1).bool().reshape(len(rows), -1)
    vocab = logits.shape[1]
    if allowed.shape[1] < vocab:
        pad = torch.zeros(
            len(rows), vocab - allowed.shape[1], dtype=torch.bool, device=logits.device
        )
        allowed = torch.cat([allowed, pad], dim=1)
    index = torch.tensor(rows, device=logits.device)
    sub = logits.index_select(0, index)
    sub.masked_fill_(~allowed[:, :vocab], float("-inf"))
    logits.index_copy_(0, index, sub)


def _apply_penalties(logits: torch.Tensor, rows: list[int], batch: Sequence[SamplingRow]) -> None:
    vocab = logits.shape[1]
    device = logits.device
    for r in rows:
        p = batch[r].params
        out = torch.tensor(list(batch[r].output_ids), dtype=torch.int64, device=device)
        row = logits[r]
        if p.repetition_penalty != 1.0:
            seen = torch.tensor(
                list(batch[r].prompt_ids) + list(batch[r].output_ids),
                dtype=torch.int64,
                device=device,
            )
            if seen.numel():
                seen = seen[seen < vocab]
                values = row[seen]
                row[seen] = torch.where(
                    values > 0, values / p.repetition_penalty, values * p.repetition_penalty
                )
        if out.numel() and (p.frequency_penalty or p.presence_penalty):
            out = out[out < vocab]
            counts = torch.bincount(out, minlength=vocab).to(row.dtype)
            row -= p.frequency_penalty * counts + p.presence_penalty * (counts > 0).to(row.dtype)


def _filter_rows(logits: torch.Tensor, batch: Sequence[SamplingRow], rows: list[int]) -> None:
    """In place on temperature-scaled logits: min-p, top-k and top-p filtering."""
    device = logits.device
    minp_rows = [r for r in rows if batch[r].params.min_p > 0.0]
    if minp_rows:
        index = torch.tensor(minp_rows, device=device)
        sub = logits.index_select(0, index)
        probs = torch.softmax(sub, dim=-1)
        min_p = torch.tensor([batch[r].params.min_p for r in minp_rows], device=device)
        cut = probs < (min_p[:, None] * probs.max(dim=-1, keepdim=True).values)
        logits.index_copy_(0, index, sub.masked_fill(cut, float("-inf")))
    sort_rows = [r for r in rows if batch[r].params.top_k > 0 or batch[r].params.top_p < 1.0]
    if not sort_rows:
        return
    vocab = logits.shape[1]
    index = torch.tensor(sort_rows, device=device)
    sub = logits.index_select(0, index)
    values, order = torch.sort(sub, dim=-1, descending=True)
    ranks = torch.arange(vocab, device=device)[None, :]
    top_k = torch.tensor(
        [batch[r].params.top_k if batch[r].params.top_k > 0 else vocab for r in sort_rows],
        device=device,
    )
    drop = ranks >= top_k[:, None]
    top_p = torch.tensor([batch[r].params.top_p for r in sort_rows], device=device)
    probs = torch.softmax(values.masked_fill(drop, float("-inf")), dim=-1)
    before = torch.cumsum(probs, dim=-1) - probs  # mass strictly before each token
    drop |= before >= top_p[:, None]
    drop[:, 0] = False  # always keep the best token
    values = values.masked_fill(drop, float("-inf"))
    logits.index_copy_(0, index, torch.empty_like(sub).scatter_(1, order, values))


def sample(logits: torch.Tensor, batch: Sequence[SamplingRow]) -> SampleOutput:
    """Pick one token per row of ``logits`` [B, vocab] (float32)."""
    if logits.shape[0] != len(batch):
        raise ValueError(f"{logits.shape[0]} logit rows for {len(batch)} sampling rows")
    logits = logits.float().clone()
    device = logits.device
    vocab = logits.shape[1]

    penalized = [
        i
        for i, row in enumerate(batch)
        if row.params.repetition_penalty != 1.0
        or row.params.frequency_penalty != 0.0
        or row.params.presence_penalty != 0.0
    ]
    if penalized:
        _apply_penalties(logits, penalized, batch)
    for i, row in enumerate(batch):
        if row.banned_ids:
            ids = torch.tensor(
                [t for t in row.banned_ids if t < vocab], dtype=torch.int64, device=device
            )
            logits[i, ids] = float("-inf")
    masked = [i for i, row in enumerate(batch) if row.bitmask is not None]
    if masked:
        apply_bitmask(logits, masked, [batch[i].bitmask for i in masked])

    want_logprobs = any(row.params.logprobs or row.params.top_logprobs for row in batch)
    logprobs_all = torch.log_softmax(logits, dim=-1) if want_logprobs else None

    chosen = logits.argmax(dim=-1)
    sampled = [i for i, row in enumerate(batch) if row.params.temperature > 0.0]
    if sampled:
        index = torch.tensor(sampled, device=device)
        temps = torch.tensor([batch[i].params.temperature for i in sampled], device=device)
        scaled = logits.index_select(0, index) / temps[:, None]
        local = list(range(len(sampled)))
        sub_batch = [batch[i] for i in sampled]
        _filter_rows(scaled, sub_batch, local)
        seeds = torch.tensor([batch[i].seed for i in sampled], dtype=torch.int64, device=device)
        steps = torch.tensor([batch[i].step for i in sampled], dtype=torch.int64, device=device)
        noise = gumbel(row_keys(seeds, steps), vocab)
        # Masked tokens stay at -inf whatever the noise.
        picks = torch.where(torch.isneginf(scaled), scaled, scaled + noise).argmax(dim=-1)
        chosen.index_copy_(0, index, picks)

    token_ids = chosen.tolist()
    out = SampleOutput(token_ids=token_ids)
    if logprobs_all is not None:
        out.logprobs = logprobs_all.gather(1, chosen[:, None]).squeeze(1).tolist()
        k = max(row.params.top_logprobs for row in batch)
        if k > 0:
            top_values, top_ids = logprobs_all.topk(k, dim=-1)
            tops: list[list[tuple[int, float]]] = []
            for i, row in enumerate(batch):
                n = row.params.top_logprobs
                tops.append(
                    list(zip(top_ids[i, :n].tolist(), top_values[i, :n].tolist(), strict=True))
                )
            out.top_logprobs = tops
    return out
