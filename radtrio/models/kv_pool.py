"""The KV pool: per layer, K and V tensors of shape [num_slots, kv_heads, head_dim]."""

from __future__ import annotations

import torch


class KVPool:
    """Token-slot storage for keys and values. Slot 0 is reserved for padding writes."""

    def __init__(
        self,
        num_layers: int,
        num_slots: int,
        kv_heads: int,
        head_dim: int,
        dtype: torch.dtype,
        device: torch.device | str = "cpu",
    ) -> None:
        if num_slots < 2:
            raise ValueError(f"num_slots must be >= 2 (slot 0 is padding), got {num_slots}")
        self.num_layers = num_layers
        self.num_slots = num_slots
        self.kv_heads = kv_heads
        self.head_dim = head_dim
        self.dtype = dtype
        self.device = torch.device(device)
        shape = (num_slots, kv_heads, head_dim)
        self.k = [torch.zeros(shape, dtype=dtype, device=self.device) for _ in range(num_layers)]
        self.v = [torch.zeros(shape, dtype=dtype, device=self.device) for _ in range(num_layers)]

    @property
    def bytes_per_slot(self) -> int:
        element = torch.empty((), dtype=self.dtype).element_size()
        return 2 * self.num_layers * self.kv_heads * self.head_dim * element

    @property
    def total_bytes(self) -> int:
        return self.bytes_per_slot * self.num_slots

    @staticmethod
    def slots_for_bytes(
        budget_bytes: int, num_layers: int, kv_heads: int, head_dim: int, dtype: torch.dtype
    ) -> int:
        element = torch.empty((), dtype=dtype).element_size()
        return max(2, budget_bytes // (2 * num_layers * kv_heads * head_dim * element))
