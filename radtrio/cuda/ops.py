"""Python launchers of the CUDA kernels, on torch tensors (CUDA, bf16/fp16/fp32).

These are what the model runtime calls on a CUDA device instead of chains of small torch
ops; each one is a single launch on torch's current stream (so it is captured by CUDA
graphs). Inputs may be row-strided views (e.g. the q/k/v parts of a fused qkv output).
"""

from __future__ import annotations

import math

import torch

from radtrio.cuda.module import cuda_type, f32, i32, i64, kernel, launch, ptr, rows

ATTN_TILE = 64  # tokens per tile of attn_split (csrc/attention.cu)
HEAD_DIMS = (64, 128)
MAX_GROUP = 8  # query heads per KV head one attn_split block handles
# Decode-attention kernel variants: name -> (kernel template, threads per block, K/V staged in
# shared memory, 16-bit only, resident blocks per SM). Template fields: {t} storage type,
# {d} head dim, {g} GQA group. A 16-bit-only variant runs float32 inputs on "regs". Residency
# (bf16, head dim 128, GQA 4; from ptxas' register / shared-memory report) sizes the splits.
ATTN_VARIANTS = {
    # tensor cores (mma.sync m16n8k16): one warp per 16-token tile stream, loads straight
    # into fragment registers, next tile's loads issued while this one computes (~190 regs)
    "mma": ("attn_split_mma<{t}, {d}, {g}, 4, 1>", 128, False, True, 2),
    # the same capped at 168 registers: 3 blocks of 4 warps per SM
    "mma3": ("attn_split_mma<{t}, {d}, {g}, 4, 3>", 128, False, True, 3),
    # K/V straight into registers, 4 warps, CUDA-core math (128 regs)
    "regs": ("attn_split_regs<{t}, {d}, {g}>", 128, False, False, 4),
    # cp.async double-buffered 64-token tiles in shared memory (64 KiB), 4 or 8 warps
    "async128": ("attn_split<{t}, {d}, {g}, 128>", 128, True, False, 3),
    "async256": ("attn_split<{t}, {d}, {g}, 256>", 256, True, False, 3),
}
DEFAULT_VARIANT = "mma"
MAX_GRID_Y = 65535


def rms_norm(
    x: torch.Tensor,
    weight: torch.Tensor,
    eps: float,
    residual: torch.Tensor | None = None,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """RMSNorm of ``x`` [T, hidden] scaled by ``weight``.

    With ``residual``: returns ``(rms_norm(x + residual), x + residual)`` (the sum rounded to
    the dtype first, as an unfused add would), in one pass.
    """
    hidden = x.shape[-1]
    if weight.shape != (hidden,) or weight.dtype != x.dtype:
        raise ValueError(
            f"weight: expected shape ({hidden},) {x.dtype}, "
            f"got {tuple(weight.shape)} {weight.dtype}"
        )
    if hidden % 8:
        raise ValueError(f"hidden={hidden}: the CUDA rms_norm needs a multiple of 8")
    lead = x.shape[:-1]
    x2, xs = rows("x", x.reshape(-1, hidden), hidden)
    n = x2.shape[0]
    out = torch.empty((n, hidden), dtype=x.dtype, device=x.device)
    res_out = None
    r2, rs = None, 0
    if residual is not None:
        if residual.shape != x.shape or residual.dtype != x.dtype:
            raise ValueError(
                f"residual: expected {tuple(x.shape)} {x.dtype}, "
                f"got {tuple(residual.shape)} {residual.dtype}"
            )
        r2, rs = rows("residual", residual.reshape(-1, hidden), hidden)
        res_out = torch.empty_like(out)
    if n:
        threads = min(1024, max(32, 32 * math.ceil(hidden / 8 / 32)))
        fn = kernel("fused.cu", f"rms_norm<{cuda_type(x.dtype)}>")
        w = weight.contiguous()
        args = (ptr(x2), i64(xs), ptr(r2), i64(rs), ptr(w), ptr(out), i64(hidden))
        args += (ptr(res_out), i64(hidden), i32(hidden), f32(eps))
        launch(fn, (n,), (threads,), args)
    out = out.view(*lead, hidden)
    if residual is None:
        return out
    assert res_out is not None
    return out, res_out.view(*lead, hidden)


def apply_rope_(
    x: torch.Tensor, positions: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor
) -> torch.Tensor:
    """Rotate-half RoPE in place on ``x`` [T, heads, head_dim] (rows may be strided).

    ``cos``/``sin`` are the model's tables [L, head_dim] (any leading ``[L, 1, head_dim]``
    view works): ``cos = [c, c]``, ``sin = [-s, s]`` per position, in ``x``'s dtype.
    """
    if x.dim() != 3:
        raise ValueError(f"x: expected [T, heads, head_dim], got shape {tuple(x.shape)}")
    t, heads, hd = x.shape
    if hd % 2:
        raise ValueError(f"head_dim={hd}: RoPE needs an even head_dim")
    if x.stride(2) != 1 or x.stride(1) != hd:
        raise ValueError(f"x: heads must be contiguous inside a row, got strides {x.stride()}")
    cos2 = cos.reshape(cos.shape[0], -1)
    sin2 = sin.reshape(sin.shape[0], -1)
    if cos2.shape[1] != hd or sin2.shape != cos2.shape:
        raise ValueError(f"cos/sin: expected [L, {hd}], got {tuple(cos.shape)}, {tuple(sin.shape)}")
    if cos2.dtype != x.dtype or sin2.dtype != x.dtype:
        raise ValueError(f"cos/sin: expected dtype {x.dtype}, got {cos2.dtype}, {sin2.dtype}")
    cos2, sin2 = cos2.contiguous(), sin2.contiguous()
    pos = positions.to(device=x.device, dtype=torch.int64).contiguous()
    if t:
        threads = min(1024, 32 * math.ceil(heads * hd // 2 / 32))
        fn = kernel("fused.cu", f"rope_inplace<{cuda_type(x.dtype)}>")
        args = (ptr(x), i64(x.stride(0)), i32(heads), i32(hd), ptr(pos), ptr(cos2), ptr(sin2))
        launch(fn, (t,), (threads,), args + (i64(hd),))
    return x


def silu_mul(gate_up: torch.Tensor) -> torch.Tensor:
    """``silu(gate) * up`` for ``gate_up = [gate | up]`` of shape [T, 2 * inter]."""
    if gate_up.dim() != 2 or gate_up.shape[1] % 16:
        raise ValueError(
            "gate_up: expected [T, 2 * inter] with inter a multiple of 8, "
            f"got {tuple(gate_up.shape)}"
        )
    inter = gate_up.shape[1] // 2
    gu, gs = rows("gate_up", gate_up, 2 * inter)
    n = gu.shape[0]
    out = torch.empty((n, inter), dtype=gate_up.dtype, device=gate_up.device)
    if n:
        threads = 128
        grid = (math.ceil(inter / 8 / threads), n)
        fn = kernel("fused.cu", f"silu_mul<{cuda_type(gate_up.dtype)}>")
        launch(fn, grid, (threads,), (ptr(gu), i64(gs), i32(inter), ptr(out), i64(inter)))
    return out


def store_kv(
    k: torch.Tensor,
    v: torch.Tensor,
    k_cache: torch.Tensor,
    v_cache: torch.Tensor,
    out_slots: torch.Tensor,
) -> None:
    """Write rows ``k[t]``, ``v[t]`` [T, kv_heads, head_dim] into slot ``out_slots[t]`` of the
    caches [slots, kv_heads, head_dim]; slots <= 0 are padding and skipped."""
    if k_cache.shape != v_cache.shape or k_cache.dim() != 3:
        raise ValueError(
            f"caches: expected two [slots, kv_heads, head_dim], got {tuple(k_cache.shape)}"
        )
    inner = k_cache.shape[1] * k_cache.shape[2]
    if not (k_cache.is_contiguous() and v_cache.is_contiguous()):
        raise ValueError("caches must be contiguous")
    for name, t in (("k", k), ("v", v)):
        if t.dtype != k_cache.dtype:
            raise ValueError(f"{name}: dtype {t.dtype} differs from the cache's {k_cache.dtype}")
    k2, ks = rows("k", k, inner)
    v2, vs = rows("v", v, inner)
    n = k2.shape[0]
    if out_slots.shape != (n,) or out_slots.dtype != torch.int64:
        raise ValueError(
            f"out_slots: expected [{n}] int64, got {tuple(out_slots.shape)} {out_slots.dtype}"
        )
    if (inner * k_cache.element_size()) % 16:
        raise ValueError(f"kv row of {inner} elements is not a multiple of 16 bytes")
    if n:
        fn = kernel("attention.cu", f"store_kv<{cuda_type(k.dtype)}>")
        threads = min(256, max(32, inner // 8))
        args = (ptr(k2), i64(ks), ptr(v2), i64(vs), ptr(k_cache), ptr(v_cache))
        launch(fn, (n,), (threads,), args + (ptr(out_slots), i32(inner)))


def attention(
    q: torch.Tensor,
    k_cache: torch.Tensor,
    v_cache: torch.Tensor,
    qo_indptr: torch.Tensor,
    kv_indptr: torch.Tensor,
    kv_indices: torch.Tensor,
    scale: float,
    num_splits: int = 1,
    out: torch.Tensor | None = None,
    workspace: torch.Tensor | None = None,
    kv_major: bool = True,
    variant: str = DEFAULT_VARIANT,
) -> torch.Tensor:
    """Attention of the new queries ``q`` [T, Hq, D] over each sequence's slots (CSR layout of
    :mod:`radtrio.models.batch`), causal within the new tokens. Returns [T, Hq, D].

    ``num_splits`` > 1 splits every sequence's keys over that many blocks (flash-decoding) and
    merges them in a second launch; ``workspace`` (float32, at least
    ``T * Hq * num_splits * (D + 1)`` elements) holds the partial results. ``kv_major`` orders
    the blocks of one query row's KV heads next to each other; ``variant`` picks one of
    :data:`ATTN_VARIANTS` (same results, different speed).
    """
    if q.dim() != 3:
        raise ValueError(f"q: expected [T, heads, head_dim], got shape {tuple(q.shape)}")
    t, hq, d = q.shape
    slots, hkv, dk = k_cache.shape
    if dk != d or v_cache.shape != k_cache.shape:
        raise ValueError(f"caches {tuple(k_cache.shape)} do not match q's head_dim {d}")
    if d not in HEAD_DIMS:
        raise ValueError(f"head_dim={d}: the CUDA attention supports {HEAD_DIMS}")
    if hq % hkv:
        raise ValueError(f"heads={hq} is not a multiple of kv_heads={hkv}")
    group = hq // hkv
    if group > MAX_GROUP:
        raise ValueError(f"GQA group of {group} query heads per KV head: at most {MAX_GROUP}")
    if q.dtype != k_cache.dtype:
        raise ValueError(f"q dtype {q.dtype} differs from the cache's {k_cache.dtype}")
    _check_index(qo_indptr=qo_indptr, kv_indptr=kv_indptr, kv_indices=kv_indices)
    num_seqs = qo_indptr.shape[0] - 1
    q2, qs = rows("q", q, hq * d)
    if out is None:
        out = torch.empty((t, hq, d), dtype=q.dtype, device=q.device)
    if t == 0 or num_seqs < 1:
        return out
    num_splits = max(1, int(num_splits))
    need = t * hq * num_splits * (d + 1)
    if num_splits > 1 and (workspace is None or workspace.numel() < need):
        workspace = torch.empty(need, dtype=torch.float32, device=q.device)
    part_o = part_lse = None
    if num_splits > 1 and workspace is not None:
        part_o = workspace
        part_lse = workspace[t * hq * num_splits * d :]
    if variant not in ATTN_VARIANTS:
        raise ValueError(f"variant={variant!r}: must be one of {', '.join(ATTN_VARIANTS)}")
    if ATTN_VARIANTS[variant][3] and q.dtype not in PREFILL_DTYPES:
        variant = "regs"
    template, threads, staged = ATTN_VARIANTS[variant][:3]
    ct = cuda_type(q.dtype)
    fn = kernel("attention.cu", template.format(t=ct, d=d, g=group))
    args = (ptr(q2), i64(qs), ptr(k_cache), ptr(v_cache), i32(hkv), ptr(qo_indptr), ptr(kv_indptr))
    args += (ptr(kv_indices), i32(num_seqs), f32(scale * math.log2(math.e)), ptr(out))
    kv_major = kv_major and t <= MAX_GRID_Y
    args += (i64(out.stride(0)), ptr(part_o), ptr(part_lse), i32(int(kv_major)))
    smem = 2 * 2 * ATTN_TILE * d * q.element_size() if staged else 0  # SplitSmem::BYTES
    grid = (hkv, t, num_splits) if kv_major else (t, hkv, num_splits)
    launch(fn, grid, (threads,), args, shared_mem=smem)
    if num_splits > 1:
        merge = kernel("attention.cu", f"attn_merge<{ct}>")
        margs = (ptr(part_o), ptr(part_lse), i32(num_splits), i32(hq), i32(d), ptr(out))
        launch(merge, (t, hq), (d,), margs + (i64(out.stride(0)),))
    return out


PREFILL_ROWS = 64  # query rows per attn_prefill block (csrc/prefill.cu)
PREFILL_DTYPES = (torch.bfloat16, torch.float16)


def prefill_work(extend_lens: list[int], device: torch.device | str) -> torch.Tensor:
    """The work list of :func:`prefill_attention`: int32 ``(sequence, first row)`` pairs, one per
    64-row tile of each sequence's new tokens."""
    pairs = [(b, start) for b, n in enumerate(extend_lens) for start in range(0, n, PREFILL_ROWS)]
    host = torch.tensor(pairs, dtype=torch.int32).reshape(-1)
    return host.pin_memory().to(device, non_blocking=True) if host.numel() else host.to(device)


def prefill_attention(
    q: torch.Tensor,
    k_cache: torch.Tensor,
    v_cache: torch.Tensor,
    qo_indptr: torch.Tensor,
    kv_indptr: torch.Tensor,
    kv_indices: torch.Tensor,
    work: torch.Tensor,
    scale: float,
    out: torch.Tensor | None = None,
) -> torch.Tensor:
    """Same result as :func:`attention`, on tensor cores (bf16/fp16): for ragged prefill and
    extend batches of many query tokens. ``work`` comes from :func:`prefill_work`."""
    if q.dim() != 3:
        raise ValueError(f"q: expected [T, heads, head_dim], got shape {tuple(q.shape)}")
    t, hq, d = q.shape
    _, hkv, dk = k_cache.shape
    if q.dtype not in PREFILL_DTYPES:
        raise ValueError(f"prefill_attention runs bfloat16/float16, got {q.dtype}")
    if dk != d or v_cache.shape != k_cache.shape or q.dtype != k_cache.dtype:
        raise ValueError(f"caches {tuple(k_cache.shape)} {k_cache.dtype} do not match q")
    if d not in HEAD_DIMS:
        raise ValueError(f"head_dim={d}: the CUDA attention supports {HEAD_DIMS}")
    if hq % hkv:
        raise ValueError(f"heads={hq} is not a multiple of kv_heads={hkv}")
    if work.dtype != torch.int32 or work.dim() != 1 or work.numel() % 2:
        raise ValueError("work: expected the int32 pairs of prefill_work")
    _check_index(qo_indptr=qo_indptr, kv_indptr=kv_indptr, kv_indices=kv_indices)
    q2, qs = rows("q", q, hq * d)
    if out is None:
        out = torch.empty((t, hq, d), dtype=q.dtype, device=q.device)
    items = work.numel() // 2
    if t == 0 or items == 0:
        return out
    fn = kernel("prefill.cu", f"attn_prefill<{cuda_type(q.dtype)}, {d}>")
    args = (ptr(q2), i64(qs), ptr(k_cache), ptr(v_cache), i32(hkv), i32(hq // hkv))
    args += (ptr(qo_indptr), ptr(kv_indptr), ptr(kv_indices), ptr(work))
    args += (f32(scale * math.log2(math.e)), ptr(out), i64(out.stride(0)))
    launch(fn, (items, hq), (128,), args)
    return out


def _check_index(**tensors: torch.Tensor) -> None:
    for name, ix in tensors.items():
        if ix.dtype != torch.int64 or not ix.is_cuda or not ix.is_contiguous():
            raise ValueError(
                f"{name}: expected a contiguous CUDA int64 tensor, got {ix.dtype} on {ix.device}"
            )


def choose_splits(
    rows_: int, kv_heads: int, max_kv_len: int, num_sms: int, blocks_per_sm: int = 2
) -> int:
    """Splits per sequence so that rows x kv_heads x splits blocks fill the GPU's resident
    block slots (``blocks_per_sm`` x ``num_sms``: one full wave, no partial second wave), with
    at least one 64-token tile per split."""
    blocks = rows_ * kv_heads
    slots = max(1, blocks_per_sm) * num_sms
    if blocks >= slots or max_kv_len <= ATTN_TILE:
        return 1
    want = slots // blocks
    return max(1, min(want, math.ceil(max_kv_len / ATTN_TILE), 64))
