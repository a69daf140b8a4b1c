"""Reading KV slots as rows: ragged slot lists padded into a ``[B, width]`` table, and the
cache rows of a slot table."""

from __future__ import annotations

import torch


def padded_rows(
    flat: torch.Tensor, starts: torch.Tensor, lens: torch.Tensor, width: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Run b of ``flat`` (``flat[starts[b] : starts[b] + lens[b]]``) as row b of a
    ``[B, width]`` table padded with 0 (the padding slot), and the ``[B, width]`` bool
    table of which entries are real. ``width`` is at least ``max(lens)`` (a host value,
    so no device sync)."""
    cols = torch.arange(width, device=flat.device)
    valid = cols[None, :] < lens[:, None]
    source = (starts[:, None] + cols[None, :]).clamp_(max=flat.numel() - 1)
    return torch.where(valid, flat[source], 0), valid


def gather_slots(cache: torch.Tensor, slots: torch.Tensor) -> torch.Tensor:
    """``cache[slots]`` (rows of ``[num_slots, kvh, hd]`` for a slot tensor of any shape)
    through ``index_select``: on CPU 4x faster than advanced indexing for decode gathers."""
    rows = cache.index_select(0, slots.reshape(-1))
    return rows.view(*slots.shape, *cache.shape[1:])
