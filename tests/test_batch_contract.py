"""The two ways of building a ForwardBatch describe the same CSR layout."""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from radtrio.models.batch import ForwardBatch


@st.composite
def sequences(draw):
    out = []
    used = draw(st.permutations(range(1, 400)))
    at = 0
    for _ in range(draw(st.integers(1, 6))):
        seq_len = draw(st.integers(1, 40))
        n = draw(st.integers(1, seq_len))
        slots = list(used[at : at + seq_len])
        at += seq_len
        ids = draw(st.lists(st.integers(0, 1000), min_size=n, max_size=n))
        out.append((ids, slots, seq_len))
    return out


@settings(max_examples=150)
@given(sequences())
def test_from_arrays_matches_build(seqs):
    ref = ForwardBatch.build(seqs)
    fast = ForwardBatch.from_arrays(
        [s[0] for s in seqs], [np.array(s[1], dtype=np.int64) for s in seqs], [s[2] for s in seqs]
    )
    for field in ("input_ids", "positions", "out_slots", "qo_indptr", "kv_indptr", "kv_indices"):
        assert torch.equal(getattr(ref, field), getattr(fast, field)), field
    assert ref.seq_lens == fast.seq_lens and ref.extend_lens == fast.extend_lens
    # The contract: the new tokens' slots are the tail of each sequence's slots.
    for b, (ids, slots, seq_len) in enumerate(seqs):
        q0, q1 = int(fast.qo_indptr[b]), int(fast.qo_indptr[b + 1])
        assert fast.out_slots[q0:q1].tolist() == slots[seq_len - len(ids) :]
        assert fast.positions[q0:q1].tolist() == list(range(seq_len - len(ids), seq_len))
