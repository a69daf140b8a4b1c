"""The batched sampler against plain references: filtering, penalties, masks, seeds."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from radtrio.sampling.random import row_keys, uniform
from radtrio.sampling.sampler import SamplingRow, sample
from radtrio.types import RequestError, SamplingParams

V = 64


def logits_for(seed: int, rows: int = 1) -> torch.Tensor:
    return torch.randn(rows, V, generator=torch.Generator().manual_seed(seed)) * 3


def row(seed: int = 0, step: int = 0, **params) -> SamplingRow:
    return SamplingRow(params=SamplingParams(**params), seed=seed, step=step)


def draws(logits: torch.Tensor, n: int = 150, **params) -> list[int]:
    return [sample(logits, [row(seed=s, **params)]).token_ids[0] for s in range(n)]


def test_greedy_is_argmax_for_every_row():
    logits = logits_for(0, rows=5)
    out = sample(logits, [row(temperature=0.0) for _ in range(5)])
    assert out.token_ids == logits.argmax(-1).tolist()


def test_top_k_and_top_p_and_min_p_keep_only_their_sets():
    logits = logits_for(1)
    order = logits[0].argsort(descending=True).tolist()
    assert set(draws(logits, top_k=3)) <= set(order[:3])
    probs = torch.softmax(logits[0], -1)
    cum = probs[order].cumsum(0)
    nucleus = set(order[: int((cum < 0.7).sum()) + 1])
    assert set(draws(logits, top_p=0.7)) <= nucleus
    keep = {t for t in range(V) if probs[t] >= 0.2 * probs.max()}
    assert set(draws(logits, min_p=0.2)) <= keep
    assert draws(logits, n=20, top_k=1) == [order[0]] * 20


def test_sampling_follows_the_softmax():
    logits = torch.tensor([[2.0, 1.0, 0.0, -1.0] + [-30.0] * (V - 4)])
    n = 1500
    counts = np.bincount(draws(logits, n=n, temperature=1.0), minlength=V)[:4] / n
    expected = torch.softmax(logits[0, :4], -1).numpy()
    assert np.abs(counts - expected).max() < 0.05
    hot = np.bincount(draws(logits, n=n, temperature=0.5), minlength=V)[:4] / n
    assert hot[0] > counts[0]  # lower temperature sharpens


def test_a_masked_token_is_never_chosen():
    logits = torch.zeros(1, V)
    logits[0, 5] = 50.0  # the model loves token 5, the mask forbids it
    allowed = np.zeros(V // 32, dtype=np.uint32)
    for t in (7, 40):
        allowed[t >> 5] |= np.uint32(1 << (t & 31))
    picks = {
        sample(
            logits, [SamplingRow(SamplingParams(temperature=1.0), s, 0, bitmask=allowed)]
        ).token_ids[0]
        for s in range(150)
    }
    assert picks == {7, 40}


def test_uniforms_stay_strictly_inside_the_unit_interval():
    keys = row_keys(torch.arange(256, dtype=torch.int64), torch.zeros(256, dtype=torch.int64))
    u = uniform(keys, 49152)
    assert float(u.min()) > 0.0 and float(u.max()) < 1.0


def test_repetition_penalty_matches_transformers():
    from transformers import RepetitionPenaltyLogitsProcessor

    logits = logits_for(3)
    seen = [3, 9, 9, 20]
    ours_row = SamplingRow(
        SamplingParams(temperature=0.0, repetition_penalty=1.3, logprobs=True),
        0,
        0,
        prompt_ids=seen[:2],
        output_ids=seen[2:],
    )
    ref = RepetitionPenaltyLogitsProcessor(1.3)(torch.tensor([seen]), logits.clone())
    out = sample(logits, [ours_row])
    assert out.token_ids[0] == int(ref.argmax())
    assert out.logprobs[0] == pytest.approx(float(torch.log_softmax(ref, -1).max()), abs=1e-5)


def test_frequency_and_presence_penalties_push_repeats_down():
    logits = torch.zeros(1, V)
    logits[0, 4] = 1.0
    r = SamplingRow(
        SamplingParams(temperature=0.0, frequency_penalty=0.6, presence_penalty=0.6),
        0,
        0,
        output_ids=[4],
    )
    assert sample(logits, [r]).token_ids[0] != 4
    r.output_ids = []
    assert sample(logits, [r]).token_ids[0] == 4


def test_seeded_rows_do_not_depend_on_their_neighbours():
    logits = logits_for(4, rows=3)
    alone = sample(logits[1:2], [row(seed=77, step=5, temperature=1.0)]).token_ids[0]
    crowd = sample(
        logits,
        [row(seed=1, temperature=1.0), row(seed=77, step=5, temperature=1.0), row(temperature=0.0)],
    ).token_ids[1]
    assert alone == crowd


def test_banned_ids_and_top_logprobs():
    logits = logits_for(5)
    best = int(logits.argmax())
    r = SamplingRow(SamplingParams(temperature=0.0, top_logprobs=3), 0, 0, banned_ids=[best])
    out = sample(logits, [r])
    assert out.token_ids[0] != best
    assert len(out.top_logprobs[0]) == 3
    values = [v for _, v in out.top_logprobs[0]]
    assert values == sorted(values, reverse=True)


@pytest.mark.parametrize(
    "field,value,words",
    [
        ("temperature", -1.0, "temperature=-1.0"),
        ("top_p", 0.0, "top_p=0.0"),
        ("top_k", 0, "top_k=0"),
        ("max_new_tokens", 0, ">= 1"),
        ("min_p", 1.5, "in [0, 1]"),
        ("n", 100, "in [1, 64]"),
        ("temperature", float("nan"), "finite"),
    ],
)
def test_bad_parameters_name_field_value_and_range(field, value, words):
    with pytest.raises(RequestError, match=field) as err:
        SamplingParams(**{field: value}).validate()
    assert words in str(err.value)
