"""radtrio.cuda kernels against float64 torch references (needs a CUDA GPU and CuPy).

Fresh random inputs for every case, ragged lengths, GQA ratios 1/3/4/8, head dims 64/128,
slot layouts with holes and shared prefixes, outputs poisoned with NaN beforehand.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

pytestmark = pytest.mark.gpu

if not torch.cuda.is_available():
    pytest.skip("needs a CUDA GPU", allow_module_level=True)
pytest.importorskip("cupy")

from radtrio.cuda import ops  # noqa: E402

DEV = torch.device("cuda")
DTYPES = [torch.float32, torch.bfloat16, torch.float16]
TOL = {torch.float32: 1e-5, torch.bfloat16: 1e-2, torch.float16: 1e-2}


def rel_err(out: torch.Tensor, ref: torch.Tensor) -> float:
    out64, ref64 = out.double(), ref.double()
    assert torch.isfinite(out64).all(), "output has NaN/inf (an element was not written?)"
    return float((out64 - ref64).norm() / ref64.norm())


def make_slots(seq_lens: list[int], shared: int, gen: torch.Generator) -> tuple[list[int], int]:
    """Distinct random slots (never 0) with holes; sequence 1 reuses sequence 0's first
    ``shared`` slots (a radix hit)."""
    total = sum(seq_lens)
    num_slots = 2 * total + 17
    perm = (torch.randperm(num_slots - 1, generator=gen) + 1).tolist()
    flat: list[int] = []
    taken = 0
    for b, n in enumerate(seq_lens):
        if b == 1 and shared:
            own = perm[taken : taken + n - shared]
            taken += n - shared
            flat += flat[:shared] + own
        else:
            flat += perm[taken : taken + n]
            taken += n
    return flat, num_slots


def make_case(
    seq_lens: list[int],
    ext_lens: list[int],
    kv_heads: int,
    group: int,
    head_dim: int,
    dtype: torch.dtype,
    seed: int,
    shared: int = 0,
) -> dict:
    gen = torch.Generator().manual_seed(seed)
    flat, num_slots = make_slots(seq_lens, shared, gen)
    hq = kv_heads * group
    t = sum(ext_lens)
    kc = torch.randn(num_slots, kv_heads, head_dim, generator=gen).to(DEV, dtype)
    vc = torch.randn(num_slots, kv_heads, head_dim, generator=gen).to(DEV, dtype)
    # q as a row-strided view of a wider buffer, like the model's fused qkv output.
    wide = torch.randn(t, hq * head_dim + 3 * head_dim, generator=gen).to(DEV, dtype)
    q = wide[:, : hq * head_dim].view(t, hq, head_dim)

    def indptr(lens: list[int]) -> torch.Tensor:
        return torch.tensor([0] + list(torch.tensor(lens).cumsum(0).tolist()), device=DEV)

    return dict(
        q=q, kc=kc, vc=vc, qo=indptr(ext_lens), kvp=indptr(seq_lens),
        kvi=torch.tensor(flat, device=DEV), seq_lens=seq_lens, ext_lens=ext_lens,
        scale=head_dim**-0.5,
    )  # fmt: skip


def ref_attention(c: dict) -> torch.Tensor:
    q, kc, vc = c["q"].double(), c["kc"].double(), c["vc"].double()
    hq, hkv = q.shape[1], kc.shape[1]
    out = torch.empty_like(q)
    qo, kvp, kvi = c["qo"].tolist(), c["kvp"].tolist(), c["kvi"]
    for b, (n, ext) in enumerate(zip(c["seq_lens"], c["ext_lens"], strict=True)):
        slots = kvi[kvp[b] : kvp[b + 1]]
        k = kc[slots].repeat_interleave(hq // hkv, dim=1).transpose(0, 1)  # [hq, n, d]
        v = vc[slots].repeat_interleave(hq // hkv, dim=1).transpose(0, 1)
        qb = q[qo[b] : qo[b + 1]].transpose(0, 1)  # [hq, ext, d]
        s = qb @ k.transpose(1, 2) * c["scale"]
        i = torch.arange(ext, device=DEV)[:, None]
        j = torch.arange(n, device=DEV)[None, :]
        s = s.masked_fill(j > n - ext + i, float("-inf"))
        out[qo[b] : qo[b + 1]] = (s.softmax(-1) @ v).transpose(0, 1)
    return out


RAGGED = ([1, 70, 300, 129, 64], [1, 7, 300, 1, 64])  # decode rows, extends, a full prefill


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
@pytest.mark.parametrize("head_dim", [64, 128])
@pytest.mark.parametrize("group", [1, 3, 4, 8])
def test_split_attention_ragged(dtype: torch.dtype, head_dim: int, group: int) -> None:
    seed = 100 * DTYPES.index(dtype) + 10 * group + head_dim
    c = make_case(*RAGGED, kv_heads=2, group=group, head_dim=head_dim, dtype=dtype, seed=seed)
    ref = ref_attention(c)
    for variant in ops.ATTN_VARIANTS:
        for splits, kv_major in ((1, True), (3, False)):
            out = torch.full_like(ref, float("nan"), dtype=dtype)
            ws = torch.full((out.numel() * splits + 4096,), float("nan"), device=DEV)
            args = (c["q"], c["kc"], c["vc"], c["qo"], c["kvp"], c["kvi"], c["scale"])
            ops.attention(
                *args, num_splits=splits, out=out, workspace=ws, kv_major=kv_major, variant=variant
            )
            assert rel_err(out, ref) < TOL[dtype], (variant, splits, rel_err(out, ref))


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_decode_long_context_many_splits(dtype: torch.dtype) -> None:
    seq_lens = [3000, 17, 1025, 64]
    c = make_case(seq_lens, [1] * 4, kv_heads=8, group=4, head_dim=128, dtype=dtype, seed=5)
    ref = ref_attention(c)
    splits = ops.choose_splits(4, 8, max(seq_lens), num_sms=132)
    assert splits > 1
    for variant in ops.ATTN_VARIANTS:
        out = torch.full_like(ref, float("nan"), dtype=dtype)
        args = (c["q"], c["kc"], c["vc"], c["qo"], c["kvp"], c["kvi"], c["scale"])
        ops.attention(*args, num_splits=splits, out=out, variant=variant)
        assert rel_err(out, ref) < TOL[dtype], variant


def test_shared_prefix_and_empty_sequences() -> None:
    # Sequence 1 shares 200 slots with sequence 0; sequence 2 is empty (graph padding).
    c = make_case([260, 230, 0], [4, 30, 0], 2, 4, 64, torch.bfloat16, seed=9, shared=200)
    c["qo"] = torch.tensor([0, 4, 34, 34], device=DEV)
    ref = ref_attention({**c, "seq_lens": [260, 230], "ext_lens": [4, 30]})
    for variant in ops.ATTN_VARIANTS:
        for splits in (1, 4):
            out = torch.full((34, 8, 64), float("nan"), dtype=torch.bfloat16, device=DEV)
            args = (c["q"], c["kc"], c["vc"], c["qo"], c["kvp"], c["kvi"], c["scale"])
            ops.attention(*args, num_splits=splits, out=out, variant=variant)
            assert rel_err(out, ref) < 1e-2, (variant, splits)


def test_padding_rows_attend_to_nothing() -> None:
    c = make_case([40, 1], [1, 1], 2, 3, 64, torch.float32, seed=3)
    # the second sequence is a padding row: no keys at all
    c["kvp"] = torch.tensor([0, 40, 40], device=DEV)
    for variant in ops.ATTN_VARIANTS:
        out = torch.full((2, 6, 64), float("nan"), device=DEV)
        args = (c["q"], c["kc"], c["vc"], c["qo"], c["kvp"], c["kvi"][:40], 0.1, 3)
        ops.attention(*args, out=out, variant=variant)
        assert torch.equal(out[1], torch.zeros_like(out[1]))
        assert torch.isfinite(out[0]).all()


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("head_dim", [64, 128])
@pytest.mark.parametrize("group", [1, 3, 4, 8])
def test_prefill_attention_tensor_cores(dtype: torch.dtype, head_dim: int, group: int) -> None:
    seq_lens, ext_lens = [1, 70, 300, 129, 200, 511], [1, 7, 300, 1, 65, 130]
    seed = 1000 + 100 * DTYPES.index(dtype) + 10 * group + head_dim
    c = make_case(seq_lens, ext_lens, 2, group, head_dim, dtype, seed=seed, shared=0)
    ref = ref_attention(c)
    work = ops.prefill_work(ext_lens, DEV)
    out = torch.full_like(ref, float("nan"), dtype=dtype)
    args = (c["q"], c["kc"], c["vc"], c["qo"], c["kvp"], c["kvi"], work, c["scale"])
    ops.prefill_attention(*args, out=out)
    assert rel_err(out, ref) < TOL[dtype], rel_err(out, ref)


def test_prefill_attention_matches_sdpa_on_a_long_prompt() -> None:
    n, hkv, group, d = 2048, 8, 4, 128
    c = make_case([n], [n], hkv, group, d, torch.bfloat16, seed=11)
    work = ops.prefill_work([n], DEV)
    out = ops.prefill_attention(
        c["q"], c["kc"], c["vc"], c["qo"], c["kvp"], c["kvi"], work, c["scale"]
    )
    k = c["kc"][c["kvi"]].transpose(0, 1).repeat_interleave(group, 0)
    v = c["vc"][c["kvi"]].transpose(0, 1).repeat_interleave(group, 0)
    sdpa = F.scaled_dot_product_attention(c["q"].transpose(0, 1), k, v, is_causal=True)
    ref = ref_attention(c)
    assert rel_err(out, ref) < 1e-2
    assert rel_err(out, ref) < 2 * rel_err(sdpa.transpose(0, 1), ref) + 1e-3


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_store_kv_skips_padding_and_writes_only_its_slots(dtype: torch.dtype) -> None:
    gen = torch.Generator().manual_seed(1)
    hkv, d, t = 3, 64, 9
    qkv = torch.randn(t, (3 + 2 * hkv) * d, generator=gen).to(DEV, dtype)
    k = qkv[:, 3 * d : (3 + hkv) * d].view(t, hkv, d)
    v = qkv[:, (3 + hkv) * d :].view(t, hkv, d)
    slots = torch.tensor([5, 0, 17, 3, -1, 40, 2, 0, 33], device=DEV)
    kc = torch.full((50, hkv, d), 7.0, dtype=dtype, device=DEV)
    vc = torch.full((50, hkv, d), -7.0, dtype=dtype, device=DEV)
    ops.store_kv(k, v, kc, vc, slots)
    written = slots > 0
    assert torch.equal(kc[slots[written]], k[written])
    assert torch.equal(vc[slots[written]], v[written])
    untouched = torch.ones(50, dtype=torch.bool, device=DEV)
    untouched[slots[written]] = False
    assert (kc[untouched] == 7.0).all() and (vc[untouched] == -7.0).all()


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
@pytest.mark.parametrize("hidden", [576, 4096])
def test_rms_norm(dtype: torch.dtype, hidden: int) -> None:
    gen = torch.Generator().manual_seed(hidden)
    x = (torch.randn(37, hidden, generator=gen) * 3).to(DEV, dtype)
    r = torch.randn(37, hidden, generator=gen).to(DEV, dtype)
    w = (torch.rand(hidden, generator=gen) + 0.5).to(DEV, dtype)
    eps = 1e-5

    def ref(a: torch.Tensor) -> torch.Tensor:
        a = a.double()
        return a * torch.rsqrt(a.pow(2).mean(-1, keepdim=True) + eps) * w.double()

    out = ops.rms_norm(x, w, eps)
    assert rel_err(out, ref(x)) < TOL[dtype] / 2
    out2, h = ops.rms_norm(x, w, eps, residual=r)
    assert torch.equal(h, x + r)  # the sum is rounded as torch's add rounds it
    assert rel_err(out2, ref(h)) < TOL[dtype] / 2
    assert rel_err(out, F.rms_norm(x, (hidden,), w, eps)) < TOL[dtype] / 2


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("head_dim", [64, 128])
def test_rope_in_place_on_strided_qk(dtype: torch.dtype, head_dim: int) -> None:
    gen = torch.Generator().manual_seed(head_dim)
    t, nh, kvh = 11, 6, 2
    half = head_dim // 2
    inv = 1.0 / (10000.0 ** (torch.arange(0, head_dim, 2).double() / head_dim))
    freqs = torch.arange(4096).double()[:, None] * inv[None, :]
    cos = torch.cat([freqs.cos(), freqs.cos()], -1).to(DEV, dtype)
    sin = torch.cat([-freqs.sin(), freqs.sin()], -1).to(DEV, dtype)
    qkv = torch.randn(t, (nh + 2 * kvh) * head_dim, generator=gen).to(DEV, dtype)
    before = qkv.clone()
    qk = qkv[:, : (nh + kvh) * head_dim].view(t, nh + kvh, head_dim)
    pos = torch.randint(0, 4096, (t,), generator=gen).to(DEV)
    ops.apply_rope_(qk, pos, cos[:, None, :], sin[:, None, :])
    x = before[:, : (nh + kvh) * head_dim].view(t, nh + kvh, head_dim).double()
    swapped = torch.cat([x[..., half:], x[..., :half]], -1)
    ref = x * cos[pos][:, None].double() + swapped * sin[pos][:, None].double()
    assert rel_err(qk, ref) < TOL[dtype]
    assert torch.equal(qkv[:, (nh + kvh) * head_dim :], before[:, (nh + kvh) * head_dim :])


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_silu_mul(dtype: torch.dtype) -> None:
    gen = torch.Generator().manual_seed(2)
    gu = (torch.randn(13, 2 * 1536, generator=gen) * 4).to(DEV, dtype)
    out = ops.silu_mul(gu)
    g, u = gu.double().chunk(2, -1)
    assert rel_err(out, F.silu(g) * u) < TOL[dtype]


def test_token_bitmask_on_gpu() -> None:
    from radtrio.cuda.logits_mask import apply_token_bitmask_

    gen = torch.Generator().manual_seed(4)
    b, vocab = 5, 1000
    logits = torch.randn(b, vocab, generator=gen).to(DEV)
    words = math.ceil(990 / 32)  # the tokenizer knows fewer tokens than the logits have
    bits = torch.randint(-(2**31), 2**31 - 1, (b, words), generator=gen, dtype=torch.int64)
    bitmask = bits.to(torch.int32).to(DEV)
    rows = torch.tensor([0, 1, -1, 3, 4], dtype=torch.int32, device=DEV)
    expect = logits.clone()
    tok = torch.arange(vocab)
    for i, r in enumerate(rows.tolist()):
        if r < 0:
            continue
        word = tok // 32
        ok = (word < words) & ((bits[r, word.clamp(max=words - 1)] >> (tok % 32)) & 1).bool()
        expect[i, ~ok.to(DEV)] = float("-inf")
    apply_token_bitmask_(logits, bitmask, rows)
    torch.cuda.synchronize()
    assert torch.equal(logits, expect)


def test_bitmask_rows_matches_the_torch_sampler_path() -> None:
    import numpy as np

    from radtrio.cuda.logits_mask import apply_bitmask_rows
    from radtrio.sampling.sampler import apply_bitmask

    rng = np.random.default_rng(5)
    logits = torch.from_numpy(rng.standard_normal((6, 777)).astype(np.float32)).to(DEV)
    masks = [rng.integers(0, 2**32, 24, dtype=np.uint64).astype(np.uint32) for _ in range(3)]
    ref = logits.clone()
    apply_bitmask(ref, [4, 1, 5], masks)
    apply_bitmask_rows(logits, [4, 1, 5], masks)
    torch.cuda.synchronize()
    assert torch.equal(logits, ref)


def test_bad_inputs_name_the_field() -> None:
    c = make_case([10], [1], 2, 16, 64, torch.bfloat16, seed=1)
    with pytest.raises(ValueError, match="GQA group"):
        ops.attention(c["q"], c["kc"], c["vc"], c["qo"], c["kvp"], c["kvi"], 0.1)
    c = make_case([10], [1], 2, 2, 64, torch.bfloat16, seed=1)
    with pytest.raises(ValueError, match="kv_indices"):
        ops.attention(c["q"], c["kc"], c["vc"], c["qo"], c["kvp"], c["kvi"].int(), 0.1)
