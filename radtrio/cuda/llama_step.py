"""The Llama-family step on CUDA with radtrio's fused kernels.

Same math and rounding points as :meth:`radtrio.models.llama.CausalLM.forward` (which
dispatches here when the model lives on a CUDA device and CuPy is importable), with the
small-op chains replaced by one launch each: RMSNorm, RoPE in place on the fused qkv output,
SiLU-and-mul. cuBLAS (torch) keeps the linear layers, with the residual adds inside
``addmm``. About 11 launches per layer; everything here is capturable in a CUDA graph.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from radtrio.cuda import ops
from radtrio.models.attention_backend import AttentionBackend
from radtrio.models.batch import ForwardBatch
from radtrio.models.kv_pool import KVPool


def supports(model: Any) -> bool:
    """Whether the fused kernels take this model's shapes (else the torch ops run)."""
    cfg = model.config
    return (
        cfg.hidden % 8 == 0
        and cfg.intermediate % 8 == 0
        and cfg.head_dim % 8 == 0
        and model.dtype in ops.PREFILL_DTYPES + (torch.float32,)
    )


def forward_cuda(
    model: Any, batch: ForwardBatch, pool: KVPool, backend: AttentionBackend
) -> torch.Tensor:
    """One step of ``model`` (a CausalLM on CUDA); float32 logits as CausalLM.forward."""
    cfg = model.config
    T = batch.num_tokens
    nh, kvh, hd = cfg.heads, cfg.kv_heads, cfg.head_dim
    q_width = nh * hd
    qk_width = (nh + kvh) * hd
    eps = cfg.rms_eps

    backend.prepare(batch)
    model.rope.ensure(max(batch.seq_lens))
    cos, sin = model.rope.cos, model.rope.sin

    x = F.embedding(batch.input_ids, model.embed)  # residual stream [T, hidden]
    for i, layer in enumerate(model.layers):
        h = ops.rms_norm(x, layer.input_norm, eps)
        qkv = F.linear(h, layer.qkv, layer.qkv_bias)
        qk = qkv[:, :qk_width].view(T, nh + kvh, hd)
        ops.apply_rope_(qk, batch.positions, cos, sin)
        v = qkv[:, qk_width:].view(T, kvh, hd)
        o = backend.forward(i, qk[:, :nh], qk[:, nh:], v, batch, pool, model.scale)
        x = torch.addmm(x, o.reshape(T, q_width), layer.o_t)
        h = ops.rms_norm(x, layer.post_norm, eps)
        x = torch.addmm(x, ops.silu_mul(F.linear(h, layer.gate_up)), layer.down_t)

    if batch.logits_indices is not None:
        x = x[batch.logits_indices]
    elif not batch.return_all_logits and T != batch.num_seqs:
        x = x[batch.last_token_rows()]
    h = ops.rms_norm(x, model.final_norm, eps)
    return F.linear(h, model.lm_head).float()
