"""The Llama-family step on CUDA with radtrio's fused kernels.

The same math as :meth:`radtrio.models.llama.CausalLM.forward` (which dispatches here when
the model lives on a CUDA device and CuPy is importable), with the small-op chains replaced
by one launch each: RMSNorm, RoPE in place on the fused qkv output, SiLU-and-mul, and (with
:data:`FUSED_RESIDUAL`) each residual add inside the next RMSNorm. cuBLAS (torch) keeps the
linear layers. About 11 launches per layer; everything here is capturable in a CUDA graph.

Rounding differs from the torch path in two places: a fused residual add rounds the
projection, then the sum (as HF does; ``addmm`` rounds once), and the head writes float32
logits straight from cuBLAS where torch's ``mm`` takes ``out_dtype`` (16-bit logits are not
rounded to 16 bits first).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from radtrio.cuda import ops
from radtrio.models.attention_backend import AttentionBackend
from radtrio.models.batch import ForwardBatch
from radtrio.models.kv_pool import KVPool
from radtrio.models.llama import project


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
    fuse = FUSED_RESIDUAL
    pending: torch.Tensor | None = None  # a projection not yet added to x (fused mode)
    for i, layer in enumerate(model.layers):
        if pending is None:
            h = ops.rms_norm(x, layer.input_norm, eps)
        else:
            h, x = ops.rms_norm(pending, layer.input_norm, eps, residual=x)
        qkv = project(h, layer.qkv_t, layer.qkv_bias)
        qk = qkv[:, :qk_width].view(T, nh + kvh, hd)
        ops.apply_rope_(qk, batch.positions, cos, sin)
        v = qkv[:, qk_width:].view(T, kvh, hd)
        o = backend.forward(i, qk[:, :nh], qk[:, nh:], v, batch, pool, model.scale)
        if fuse:  # residual add inside the next RMSNorm (one pass, no copy of x for beta=1)
            h, x = ops.rms_norm(torch.mm(o.reshape(T, q_width), layer.o_t), layer.post_norm,
                                eps, residual=x)  # fmt: skip
            pending = torch.mm(ops.silu_mul(torch.mm(h, layer.gate_up_t)), layer.down_t)
        else:
            x = torch.addmm(x, o.reshape(T, q_width), layer.o_t)
            h = ops.rms_norm(x, layer.post_norm, eps)
            x = torch.addmm(x, ops.silu_mul(torch.mm(h, layer.gate_up_t)), layer.down_t)

    rows = None
    if batch.logits_indices is not None:
        rows = batch.logits_indices
    elif not batch.return_all_logits and T != batch.num_seqs:
        rows = batch.last_token_rows()
    if rows is not None:
        x = x[rows]
        pending = pending[rows] if pending is not None else None
    if pending is None:
        h = ops.rms_norm(x, model.final_norm, eps)
    else:
        h, _ = ops.rms_norm(pending, model.final_norm, eps, residual=x)
    return lm_head_float(h, model.lm_head)


# Residual adds inside the next RMSNorm (rms_norm(proj, residual=x): one pass writes x + proj
# and its norm) instead of addmm's beta=1 epilogue, which first copies x into the output.
FUSED_RESIDUAL = True
LM_HEAD_MM_DTYPE = True  # float32 logits straight out of cuBLAS (bf16/fp16 in), no cast pass
_mm_dtype_ok: bool | None = None  # torch.mm(..., out_dtype=) works here (checked once)


def lm_head_float(h: torch.Tensor, lm_head: torch.Tensor) -> torch.Tensor:
    """float32 logits ``h @ lm_head.T``: for 16-bit weights, one cuBLAS call that writes float32
    (no bf16 logits and cast pass) where torch has ``mm(..., out_dtype=)``; else linear+float."""
    global _mm_dtype_ok
    half = h.dtype in (torch.bfloat16, torch.float16)
    if LM_HEAD_MM_DTYPE and half and _mm_dtype_ok is not False:
        if _mm_dtype_ok is None and not torch.cuda.is_current_stream_capturing():
            try:
                probe = torch.mm(h[:1], lm_head[:8].t(), out_dtype=torch.float32)
                _mm_dtype_ok = probe.dtype == torch.float32
            except (TypeError, RuntimeError, NotImplementedError):
                _mm_dtype_ok = False
        if _mm_dtype_ok:  # None while capturing before the first probe: linear + float
            return torch.mm(h, lm_head.t(), out_dtype=torch.float32)
    return F.linear(h, lm_head).float()
