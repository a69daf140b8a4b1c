"""Decode attention over prefixes shared through the radix cache (same slots): the cascade
path against a float64 softmax per sequence, and its plan against the slot lists."""

from __future__ import annotations

import random

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from radtrio.models.batch import ForwardBatch
from radtrio.models.kv_pool import KVPool
from radtrio.models.shared_prefix_attention import plan_shared_prefixes
from radtrio.models.torch_attention import TorchAttentionBackend

NH, KVH, HD = 6, 2, 8


def make_slots(groups: list[tuple[int, list[int]]], seed: int) -> list[list[int]]:
    """groups: (shared prefix length, [own tail length per member]); distinct slots except the
    shared ones, in a shuffled order so nothing depends on slots being contiguous."""
    rng = random.Random(seed)
    need = sum(p + sum(tails) for p, tails in groups)
    free = rng.sample(range(1, need + 1), need)
    seqs = []
    for prefix_len, tails in groups:
        prefix, free = free[:prefix_len], free[prefix_len:]
        for tail in tails:
            own, free = free[:tail], free[tail:]
            seqs.append(prefix + own)
    return seqs


def reference(q, pool, layer, seqs, scale):
    out = torch.zeros(q.shape, dtype=torch.float64)
    group = NH // KVH
    for b, slots in enumerate(seqs):
        k = pool.k[layer][slots].double()
        v = pool.v[layer][slots].double()
        for h in range(NH):
            w = torch.softmax((k[:, h // group] @ q[b, h].double()) * scale, dim=0)
            out[b, h] = w @ v[:, h // group]
    return out


def decode(seqs, shared_prefix: bool, seed: int = 0, dtype=torch.float32):
    gen = torch.Generator().manual_seed(seed)
    size = max(max(s) for s in seqs) + 1
    pool = KVPool(1, size, KVH, HD, dtype)
    pool.k[0].copy_(torch.randn(size, KVH, HD, generator=gen))
    pool.v[0].copy_(torch.randn(size, KVH, HD, generator=gen))
    batch = ForwardBatch.build([([1], s, len(s)) for s in seqs])
    B = len(seqs)
    q = torch.randn(B, NH, HD, generator=gen).to(dtype)
    k_new = torch.randn(B, KVH, HD, generator=gen).to(dtype)
    v_new = torch.randn(B, KVH, HD, generator=gen).to(dtype)
    backend = TorchAttentionBackend(shared_prefix=shared_prefix)
    backend.prepare(batch)
    scale = HD**-0.5
    out = backend.forward(0, q, k_new, v_new, batch, pool, scale)
    return out, reference(q, pool, 0, seqs, scale), backend


def test_one_shared_prefix_matches_the_reference_and_is_planned():
    seqs = make_slots([(40, [3, 1, 7, 2])], seed=1)
    out, ref, backend = decode(seqs, shared_prefix=True)
    assert torch.allclose(out.double(), ref, atol=1e-5, rtol=1e-5)
    plan = backend.shared_plan
    assert plan is not None and len(plan.groups) == 1
    assert plan.groups[0].rows is None  # every row shares it
    assert plan.groups[0].slots.tolist() == seqs[0][:40]
    assert plan.suffix_slots.shape == (4, 7)


def test_groups_singletons_and_short_prefixes():
    # two groups of sharers, one lone sequence, and a pair sharing too little to bother
    seqs = make_slots([(50, [2, 5, 1]), (33, [4, 4]), (0, [60]), (5, [40, 41])], seed=2)
    out, ref, backend = decode(seqs, shared_prefix=True, seed=2)
    assert torch.allclose(out.double(), ref, atol=1e-5, rtol=1e-5)
    plan = backend.shared_plan
    assert [g.rows.tolist() for g in plan.groups] == [[0, 1, 2], [3, 4]]
    assert [len(g.slots) for g in plan.groups] == [50, 33]
    plain, _, plain_backend = decode(seqs, shared_prefix=False, seed=2)
    assert plain_backend.shared_plan is None
    assert torch.allclose(out, plain, atol=1e-5, rtol=1e-5)


def test_a_sequence_inside_anothers_prefix_keeps_a_slot_of_its_own():
    long = make_slots([(0, [80])], seed=3)[0]
    seqs = [long[:45], long]  # the first is a prefix of the second (a fork's parent)
    out, ref, backend = decode(seqs, shared_prefix=True, seed=3)
    assert torch.allclose(out.double(), ref, atol=1e-5, rtol=1e-5)
    assert len(backend.shared_plan.groups[0].slots) == 44  # below the shorter one's length


def test_bfloat16_close():
    seqs = make_slots([(64, [3, 9, 1])], seed=4)
    out, ref, _ = decode(seqs, shared_prefix=True, seed=4, dtype=torch.bfloat16)
    assert out.dtype == torch.bfloat16
    assert (out.double() - ref).abs().max() < 5e-2


def test_no_plan_for_one_sequence_or_nothing_shared():
    assert plan_shared_prefixes(torch.arange(1, 101).view(1, 100), [100]) is None
    slots = torch.tensor(make_slots([(0, [50, 50])], seed=5))
    assert plan_shared_prefixes(slots, [50, 50]) is None


@settings(max_examples=40, deadline=None)
@given(
    groups=st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=70),
            st.lists(st.integers(min_value=1, max_value=12), min_size=1, max_size=4),
        ),
        min_size=1,
        max_size=4,
    ),
    seed=st.integers(min_value=0, max_value=2**16),
)
def test_any_sharing_pattern_matches_the_reference(groups, seed):
    seqs = make_slots(groups, seed)
    out, ref, backend = decode(seqs, shared_prefix=True, seed=seed)
    assert torch.allclose(out.double(), ref, atol=1e-5, rtol=1e-5)
    plan = backend.shared_plan
    planned = 0 if plan is None else sum(len(g.slots) for g in plan.groups)
    # a group is planned exactly when two or more sequences share >= 32 slots
    expected = sum(p for p, tails in groups if len(tails) > 1 and p >= 32)
    assert planned == expected
