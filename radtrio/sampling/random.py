"""Counter-based random numbers: reproducible per (seed, step, token), independent of the batch.

A request's sample at step t depends only on its seed and t, never on which other
requests share the batch, and the whole batch is drawn in a few vectorised integer ops
(on CPU or GPU alike). The mixer is the "lowbias32" integer hash.
"""

from __future__ import annotations

import torch

_MASK32 = 0xFFFFFFFF


def hash32(x: torch.Tensor) -> torch.Tensor:
    """lowbias32 on int64 tensors holding values in [0, 2**32)."""
    x = x & _MASK32
    x = x ^ (x >> 16)
    x = (x * 0x7FEB352D) & _MASK32
    x = x ^ (x >> 15)
    x = (x * 0x846CA68B) & _MASK32
    x = x ^ (x >> 16)
    return x


def row_keys(seeds: torch.Tensor, steps: torch.Tensor) -> torch.Tensor:
    """One 32-bit key per row from a 64-bit seed and the row's step counter."""
    lo = seeds & _MASK32
    hi = (seeds >> 32) & _MASK32
    return hash32(hash32(lo ^ hash32(hi + 0x9E3779B9)) + hash32(steps + 0x85EBCA6B))


def uniform(keys: torch.Tensor, width: int) -> torch.Tensor:
    """[B, width] float32 uniforms in (0, 1) for row keys [B]."""
    columns = hash32(torch.arange(width, device=keys.device, dtype=torch.int64) + 0x27D4EB2F)
    bits = hash32(hash32((keys[:, None] + columns[None, :]) & _MASK32) ^ keys[:, None])
    u = (bits.to(torch.float64) + 0.5).div_(4294967296.0).to(torch.float32)
    # float32 rounds the largest draws to exactly 1.0, whose Gumbel noise is +inf (and
    # +inf plus a masked -inf logit is NaN, which argmax would pick): keep u inside (0, 1).
    return u.clamp_(min=1e-7, max=1.0 - 1e-7)


def gumbel(keys: torch.Tensor, width: int) -> torch.Tensor:
    """[B, width] Gumbel(0, 1) noise: argmax(logits + noise) samples softmax(logits)."""
    return -torch.log(-torch.log(uniform(keys, width)))
