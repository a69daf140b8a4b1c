"""The attention-backend interface the model runtime calls once per layer.

A backend stores the step's new K/V into their slots, then computes attention of the
new queries over each sequence's slots (see :mod:`radtrio.models.batch`). The torch
CPU backend (:mod:`radtrio.models.torch_attention`) is the reference; the CUDA
backend in :mod:`radtrio.cuda` implements the same call with its own kernels.
"""

from __future__ import annotations

from typing import Protocol

import torch

from radtrio.models.batch import ForwardBatch
from radtrio.models.kv_pool import KVPool


class AttentionBackend(Protocol):
    def prepare(self, batch: ForwardBatch) -> None:
        """Called once per forward step before the layers run (precompute metadata)."""

    def forward(
        self,
        layer_id: int,
        q: torch.Tensor,  # [T, num_heads, head_dim] (RoPE applied)
        k: torch.Tensor,  # [T, kv_heads, head_dim] (RoPE applied)
        v: torch.Tensor,  # [T, kv_heads, head_dim]
        batch: ForwardBatch,
        pool: KVPool,
        scale: float,
    ) -> torch.Tensor:  # [T, num_heads, head_dim]
        """Write k/v to ``batch.out_slots`` of layer ``layer_id``, then attend."""
        ...
