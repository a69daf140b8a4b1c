"""The torch attention backend: the CPU path and the reference the CUDA kernels match.

Per layer it writes the step's new K/V into ``pool.k/v[layer][out_slots]`` and then lets
each new query attend to its sequence's slots (``kv_indices``), causally: new token i of a
sequence with ``seq_len`` tokens and ``extend_len`` new ones sees logical positions
``0 .. seq_len - extend_len + i``. GQA: query head h reads KV head ``h // (heads / kv_heads)``.

Pure decode steps run batched: one gather of ``[B, max_len]`` slots, one masked SDPA with
the query heads of each KV head folded into the query-length axis (no K/V repeat); when
sequences share a cached prefix (the same slots), that prefix is read once for all of them
(:mod:`radtrio.models.shared_prefix_attention`). Steps with prefill chunks run one SDPA per
sequence.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from radtrio.models.batch import ForwardBatch
from radtrio.models.kv_pool import KVPool
from radtrio.models.shared_prefix_attention import (
    SharedPrefixPlan,
    plan_shared_prefixes,
    shared_prefix_decode,
)
from radtrio.models.slot_rows import gather_slots, padded_rows


@dataclass
class _SeqPlan:
    q_start: int
    q_end: int
    kv: torch.Tensor  # [seq_len] slots
    mask: torch.Tensor | None  # [extend, seq_len] bool (True = attend), None = no masking
    causal: bool  # square causal (no cached prefix): use is_causal


class TorchAttentionBackend:
    """Reference attention over KV slots with torch SDPA (any device torch runs on)."""

    def __init__(self, sliding_window: int | None = None, shared_prefix: bool = True) -> None:
        self.sliding_window = sliding_window
        self.shared_prefix = shared_prefix  # decode: read a prefix shared by sequences once
        self._shared: SharedPrefixPlan | None = None
        self.shared_prefix_steps = 0  # decode steps that read a shared prefix once
        self._decode = False
        self._idx: torch.Tensor | None = None  # decode: [B, max_len] slots (0-padded)
        self._mask: torch.Tensor | None = None  # decode: [B, 1, 1, max_len] bool, or None
        self._plans: list[_SeqPlan] = []

    @property
    def shared_plan(self) -> SharedPrefixPlan | None:
        """The current decode step's shared-prefix plan (None: plain gathered attention)."""
        return self._shared

    def prepare(self, batch: ForwardBatch) -> None:
        window = self.sliding_window
        device = batch.kv_indices.device
        self._decode = batch.is_decode
        self._plans = []
        self._shared = None
        if self._decode:
            lens = batch.seq_lens
            max_len = max(lens)
            windowed = window is not None and max_len > window
            if len(lens) == 1 and not windowed:
                self._idx = batch.kv_indices.view(1, -1)
                self._mask = None
                return
            lens_t = torch.tensor(lens, dtype=torch.int64, device=device)
            starts = batch.kv_indptr[:-1]
            self._idx, valid = padded_rows(batch.kv_indices, starts, lens_t, max_len)
            if windowed:
                cols = torch.arange(max_len, device=device)
                valid &= cols[None, :] > (lens_t[:, None] - 1 - window)
            self._mask = None if all(n == max_len for n in lens) and not windowed else valid
            if self._mask is not None:
                self._mask = self._mask[:, None, None, :]
            if self.shared_prefix and not windowed:
                self._shared = plan_shared_prefixes(self._idx, lens)
                self.shared_prefix_steps += self._shared is not None
            return
        qo = batch.qo_indptr.tolist()
        kv = batch.kv_indptr.tolist()
        for b, (seq_len, ext) in enumerate(zip(batch.seq_lens, batch.extend_lens, strict=True)):
            slots = batch.kv_indices[kv[b] : kv[b + 1]]
            windowed = window is not None and seq_len > window
            mask = None
            causal = False
            if ext == seq_len and not windowed:
                causal = ext > 1
            elif ext > 1 or windowed:
                rows = torch.arange(seq_len - ext, seq_len, device=device)[:, None]
                cols = torch.arange(seq_len, device=device)[None, :]
                mask = cols <= rows
                if windowed:
                    mask &= cols > rows - window
            self._plans.append(_SeqPlan(qo[b], qo[b + 1], slots, mask, causal))

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
        k_cache = pool.k[layer_id]
        v_cache = pool.v[layer_id]
        k_cache[batch.out_slots] = k.to(k_cache.dtype)
        v_cache[batch.out_slots] = v.to(v_cache.dtype)
        T, nh, hd = q.shape
        kvh = k_cache.shape[1]
        group = nh // kvh
        if self._shared is not None:
            query = q.reshape(T, kvh, group, hd)
            out = shared_prefix_decode(query, k_cache, v_cache, self._shared, scale)
            return out.reshape(T, nh, hd)
        if self._decode:
            idx = self._idx
            keys = gather_slots(k_cache, idx).transpose(1, 2)  # [B, kvh, L, hd]
            values = gather_slots(v_cache, idx).transpose(1, 2)
            query = q.reshape(T, kvh, group, hd)  # the group's heads as query rows
            out = F.scaled_dot_product_attention(
                query, keys.to(q.dtype), values.to(q.dtype), attn_mask=self._mask, scale=scale
            )
            return out.reshape(T, nh, hd)
        out = torch.empty_like(q, memory_format=torch.contiguous_format)
        for plan in self._plans:
            # 4-D [1, heads, len, hd]: torch's CPU flash kernel takes only batched inputs
            # (3-D ones fall back to the math path, 7x slower on a 512-token prefill)
            query = q[plan.q_start : plan.q_end].transpose(0, 1)[None]  # [1, nh, ext, hd]
            keys = gather_slots(k_cache, plan.kv).transpose(0, 1)[None].to(q.dtype)
            values = gather_slots(v_cache, plan.kv).transpose(0, 1)[None].to(q.dtype)
            o = F.scaled_dot_product_attention(
                query,
                keys,
                values,
                attn_mask=plan.mask,
                is_causal=plan.causal,
                scale=scale,
                enable_gqa=group > 1,
            )
            out[plan.q_start : plan.q_end] = o[0].transpose(0, 1)
        return out
