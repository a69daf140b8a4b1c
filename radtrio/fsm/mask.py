"""Apply packed token bitmasks to a batch of logits (torch, vectorised, in place)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch


def _shifts(device: torch.device) -> torch.Tensor:
    return torch.arange(32, dtype=torch.int32, device=device)


def allocate_token_bitmask(batch: int, vocab_size: int) -> torch.Tensor:
    """An int32 [batch, ceil(vocab/32)] tensor with every token allowed (all bits set)."""
    return torch.full((batch, (vocab_size + 31) // 32), -1, dtype=torch.int32)


def fill_row(bitmask: torch.Tensor, row: int, words: np.ndarray) -> None:
    """Copy a guide's uint32 mask into row ``row`` of an int32 bitmask tensor."""
    n = min(bitmask.shape[1], words.shape[0])
    bitmask[row, :n] = torch.from_numpy(words[:n].view(np.int32))
    if n < bitmask.shape[1]:
        bitmask[row, n:] = 0


def unpack_bitmask(bitmask: torch.Tensor, vocab_size: int) -> torch.Tensor:
    """[B, W] int32 -> [B, vocab_size] bool (True = allowed)."""
    bits = (bitmask.unsqueeze(-1) >> _shifts(bitmask.device)) & 1
    return bits.reshape(bitmask.shape[0], -1)[:, :vocab_size].bool()


def apply_token_bitmask(
    logits: torch.Tensor, bitmask: torch.Tensor, rows: Sequence[int] | torch.Tensor | None = None
) -> None:
    """Set disallowed logits to -inf in place.

    logits: [B, V] float; bitmask: int32 [R, W] with W*32 >= V (ids beyond W*32 are disallowed);
    rows: which logits rows the R bitmask rows apply to (default: all B rows, R == B).
    """
    if bitmask.dtype != torch.int32:
        raise TypeError(f"bitmask must be int32, got {bitmask.dtype}")
    V = logits.shape[1]
    if bitmask.device != logits.device:
        bitmask = bitmask.to(logits.device, non_blocking=True)
    allowed = unpack_bitmask(bitmask, min(V, bitmask.shape[1] * 32))
    if allowed.shape[1] < V:
        pad = torch.zeros(
            (allowed.shape[0], V - allowed.shape[1]), dtype=torch.bool, device=logits.device
        )
        allowed = torch.cat([allowed, pad], dim=1)
    if rows is None:
        if bitmask.shape[0] != logits.shape[0]:
            raise ValueError(
                f"bitmask has {bitmask.shape[0]} rows for {logits.shape[0]} logits rows"
            )
        logits.masked_fill_(~allowed, float("-inf"))
        return
    idx = torch.as_tensor(rows, dtype=torch.long, device=logits.device)
    if idx.numel() != bitmask.shape[0]:
        raise ValueError(f"{idx.numel()} rows for a bitmask of {bitmask.shape[0]} rows")
    sub = logits.index_select(0, idx)
    sub.masked_fill_(~allowed, float("-inf"))
    logits.index_copy_(0, idx, sub)
