"""The torch attention backend against a plain float64 loop over tokens (its definition)."""

from __future__ import annotations

import random

import pytest
import torch

from radtrio.models.batch import ForwardBatch
from radtrio.models.kv_pool import KVPool
from radtrio.models.torch_attention import TorchAttentionBackend


def naive_attention(q, k_all, v_all, seqs, scale, window=None):
    """q [T, nh, hd]; k_all/v_all: per sequence [seq_len, kvh, hd] float64; loops over tokens."""
    out = torch.zeros(q.shape, dtype=torch.float64)
    row = 0
    for (seq_len, ext), k, v in zip(seqs, k_all, v_all, strict=True):
        group = q.shape[1] // k.shape[1]
        for i in range(ext):
            pos = seq_len - ext + i
            lo = 0 if window is None else max(0, pos - window + 1)
            for h in range(q.shape[1]):
                kh = k[lo : pos + 1, h // group]
                vh = v[lo : pos + 1, h // group]
                w = torch.softmax((kh @ q[row, h].double()) * scale, dim=0)
                out[row, h] = w @ vh
            row += 1
    return out


def run_case(seqs, nh=6, kvh=2, hd=8, window=None, seed=0, dtype=torch.float32):
    """seqs: (seq_len, extend_len) per sequence; cached prefixes pre-filled in random slots."""
    gen = torch.Generator().manual_seed(seed)
    rng = random.Random(seed)
    total = sum(s for s, _ in seqs)
    pool = KVPool(2, total + 40, kvh, hd, dtype)
    slots_all = rng.sample(range(1, total + 40), total)
    layer = 1
    k_full, v_full, spec = [], [], []
    for seq_len, ext in seqs:
        slots, slots_all = slots_all[:seq_len], slots_all[seq_len:]
        k = torch.randn(seq_len, kvh, hd, generator=gen, dtype=torch.float64)
        v = torch.randn(seq_len, kvh, hd, generator=gen, dtype=torch.float64)
        cached = seq_len - ext
        pool.k[layer][slots[:cached]] = k[:cached].to(dtype)  # the prefix somebody else wrote
        pool.v[layer][slots[:cached]] = v[:cached].to(dtype)
        k_full.append(k)
        v_full.append(v)
        spec.append((list(range(ext)), slots, seq_len))
    batch = ForwardBatch.build(spec)
    T = batch.num_tokens
    q = torch.randn(T, nh, hd, generator=gen, dtype=torch.float64)
    k_new = torch.cat([k[s - e :] for k, (s, e) in zip(k_full, seqs, strict=True)])
    v_new = torch.cat([v[s - e :] for v, (s, e) in zip(v_full, seqs, strict=True)])
    backend = TorchAttentionBackend(sliding_window=window)
    backend.prepare(batch)
    scale = hd**-0.5
    out = backend.forward(layer, q.to(dtype), k_new.to(dtype), v_new.to(dtype), batch, pool, scale)
    assert out.shape == (T, nh, hd)
    # the new K/V landed in their slots
    assert torch.equal(pool.k[layer][batch.out_slots], k_new.to(dtype))
    assert torch.equal(pool.v[layer][batch.out_slots], v_new.to(dtype))
    ref = naive_attention(q, k_full, v_full, seqs, scale, window)
    return out, ref


@pytest.mark.parametrize(
    "seqs",
    [
        [(1, 1)],  # first token
        [(9, 1)],  # decode, batch 1
        [(5, 1), (17, 1), (3, 1), (17, 1)],  # batched decode, ragged
        [(12, 12)],  # plain prefill
        [(20, 7)],  # prefill chunk over a cached prefix
        [(20, 7), (4, 4), (33, 1), (9, 2), (1, 1)],  # everything mixed
    ],
)
def test_matches_token_loop(seqs):
    out, ref = run_case(seqs)
    assert torch.allclose(out.double(), ref, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("seqs", [[(30, 1), (6, 1)], [(30, 30)], [(30, 5), (40, 1)]])
def test_sliding_window(seqs):
    out, ref = run_case(seqs, window=8, seed=3)
    assert torch.allclose(out.double(), ref, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("kvh", [1, 3, 6])
def test_gqa_groups(kvh):
    out, ref = run_case([(11, 3), (7, 1)], nh=6, kvh=kvh, seed=kvh)
    assert torch.allclose(out.double(), ref, atol=1e-5, rtol=1e-5)


def test_bfloat16_close():
    out, ref = run_case([(20, 7), (33, 1)], dtype=torch.bfloat16, seed=5)
    assert (out.double() - ref).abs().max() < 5e-2


def test_padding_slot_zero_is_harmless():
    """Tokens written to slot 0 (padding) do not disturb other sequences."""
    pool = KVPool(1, 16, 1, 4, torch.float32)
    backend = TorchAttentionBackend()
    batch = ForwardBatch.build([([5], [3], 1)])
    pad = ForwardBatch.build([([5], [0], 1)])
    k = torch.ones(1, 1, 4)
    q = torch.ones(1, 2, 4)
    backend.prepare(pad)
    backend.forward(0, q, k * 9, k * 9, pad, pool, 0.5)
    backend.prepare(batch)
    out = backend.forward(0, q, k, k * 2, batch, pool, 0.5)
    assert torch.equal(out, torch.full((1, 2, 4), 2.0))
