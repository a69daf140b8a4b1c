"""CudaAttentionBackend: the AttentionBackend of radtrio.models on CUDA, on our own kernels."""

from __future__ import annotations

from typing import Any

import torch

from radtrio.cuda import ops
from radtrio.models.batch import ForwardBatch
from radtrio.models.kv_pool import KVPool


class CudaAttentionBackend:
    """Stores the step's K/V into their slots and runs split-KV attention over the slots.

    ``prepare`` (once per step, host only) records the batch; the first ``forward`` of the
    step plans for all layers: a decode step (and any fp32 step) runs the split-KV kernel,
    with the number of splits picked from the batch's shape and the GPU's multiprocessor
    count; a prefill/extend step in bf16/fp16 runs the tensor-core kernel over a work list of
    64-row tiles (one small host-to-device copy per step). Decode steps launch nothing that a
    CUDA graph cannot capture.
    """

    def __init__(
        self,
        model: Any = None,
        pool: KVPool | None = None,
        *,
        device: torch.device | str | None = None,
        use_tensor_cores: bool = True,
        variant: str = ops.DEFAULT_VARIANT,
    ) -> None:
        """``model`` and ``pool`` are optional: they only tell the device and check that the
        kernels support the model (head dim, GQA group, no sliding window)."""
        if device is None:
            device = pool.device if pool is not None else getattr(model, "device", "cuda")
        self.device = torch.device(device)
        if self.device.type != "cuda":
            raise ValueError(f"CudaAttentionBackend needs a CUDA device, got {self.device}")
        config = getattr(model, "config", None)
        if config is not None:
            check_model(config)
        self.use_tensor_cores = use_tensor_cores  # prefill/extend of bf16/fp16 on mma kernels
        if variant not in ops.ATTN_VARIANTS:
            raise ValueError(f"variant={variant!r}: must be one of {', '.join(ops.ATTN_VARIANTS)}")
        self.variant = variant  # split-KV kernel variant (ops.ATTN_VARIANTS)
        self.num_sms = torch.cuda.get_device_properties(self.device).multi_processor_count
        self.num_splits = 1
        self._max_kv_len = 0
        self._planned = False
        self._workspace: torch.Tensor | None = None
        self._work: torch.Tensor | None = None
        self._extend_lens: list[int] | None = None

    def prepare(self, batch: ForwardBatch) -> None:
        self._max_kv_len = max(batch.seq_lens) if batch.seq_lens else 0
        self._planned = False
        self._workspace = None
        self._work = None
        self._extend_lens = None if batch.is_decode else batch.extend_lens

    def _plan(self, q: torch.Tensor, pool: KVPool) -> None:
        t, hq, d = q.shape
        self._planned = True
        tensor_cores = self.use_tensor_cores and q.dtype in ops.PREFILL_DTYPES
        if self._extend_lens is not None and tensor_cores:
            self._work = ops.prefill_work(self._extend_lens, q.device)
            return
        resident = ops.ATTN_VARIANTS[self.variant][4]
        self.num_splits = ops.choose_splits(
            t, pool.kv_heads, self._max_kv_len, self.num_sms, resident
        )
        if self.num_splits > 1:
            size = t * hq * self.num_splits * (d + 1)
            self._workspace = torch.empty(size, dtype=torch.float32, device=q.device)

    def forward(
        self,
        layer_id: int,
        q: torch.Tensor,
        k: torch.Tensor,
        v: torch.Tensor,
        batch: ForwardBatch,
        pool: KVPool,
        scale: float,
    ) -> torch.Tensor:
        k_cache, v_cache = pool.k[layer_id], pool.v[layer_id]
        ops.store_kv(k, v, k_cache, v_cache, batch.out_slots)
        if not self._planned:
            self._plan(q, pool)
        if self._work is not None:
            return ops.prefill_attention(
                q, k_cache, v_cache, batch.qo_indptr, batch.kv_indptr, batch.kv_indices,
                self._work, scale,
            )  # fmt: skip
        return ops.attention(
            q, k_cache, v_cache, batch.qo_indptr, batch.kv_indptr, batch.kv_indices, scale,
            num_splits=self.num_splits, workspace=self._workspace, variant=self.variant,
        )  # fmt: skip


def check_model(config: Any) -> None:
    """Raise a clear error for model shapes the CUDA kernels do not run."""
    if config.head_dim not in ops.HEAD_DIMS:
        raise ValueError(
            f"head_dim={config.head_dim}: the CUDA attention kernels support {ops.HEAD_DIMS}"
        )
    group = config.heads // config.kv_heads
    if group > ops.MAX_GROUP:
        raise ValueError(
            f"{config.heads} heads over {config.kv_heads} KV heads: the CUDA attention kernels "
            f"support GQA groups of at most {ops.MAX_GROUP}"
        )
    if getattr(config, "sliding_window", None):
        raise ValueError(
            f"sliding_window={config.sliding_window}: not supported by the CUDA attention "
            "kernels yet (run on the torch backend)"
        )
