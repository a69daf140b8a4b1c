"""Our forward pass against HF transformers: SmolLM2 (real GGUF weights) and random shapes.

Every case runs through the KV-slot contract the engine uses: scattered slots, a prefix
cached by another request, mixed prefill/decode batches, batched decode of ragged lengths.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
import torch

from radtrio.models.loader import LoadedModel
from radtrio.models.random_model import random_model_with_hf, shape_config
from tests import models_fixtures
from tests.models_fixtures import PROMPTS, Runner, hf_logits, rel_err

# session fixtures shared with the other models test modules
smollm2 = models_fixtures.smollm2
smollm2_hf = models_fixtures.smollm2_hf
smollm2_path = models_fixtures.smollm2_path

TOL = 1e-4  # relative error (max abs diff / max abs logit), float32

CASES = ["smollm2", "tiny-qwen2", "tiny-mistral", "tiny-llama3", "tiny-mistral-window"]


class Case:
    def __init__(self, loaded: LoadedModel, hf_model: Any, prompts: list[list[int]]) -> None:
        self.loaded = loaded
        self.hf = hf_model
        self.prompts = prompts  # token ids of 8 prompts of different lengths

    def tokens(self, n: int, seed: int) -> list[int]:
        rng = random.Random(seed)
        return [rng.randrange(3, self.loaded.config.vocab_size) for _ in range(n)]


_CACHE: dict[str, Case] = {}


@pytest.fixture(params=CASES)
def case(request: pytest.FixtureRequest) -> Case:
    name = request.param
    if name not in _CACHE:
        if name == "smollm2":
            loaded = request.getfixturevalue("smollm2")
            hf = request.getfixturevalue("smollm2_hf")
            tok = loaded.tokenizer
            prompts = [
                tok.apply_chat_template(
                    [{"role": "user", "content": p}], add_generation_prompt=True, return_dict=False
                )
                for p in PROMPTS
            ]
            _CACHE[name] = Case(loaded, hf, prompts)
        else:
            shape = "tiny-mistral" if name == "tiny-mistral-window" else name
            cfg = shape_config(shape)
            if name == "tiny-mistral-window":
                cfg["sliding_window"] = 16
            pair = random_model_with_hf(cfg, seed=len(name))
            rng = random.Random(7)
            vocab = cfg["vocab_size"]
            prompts = [[rng.randrange(3, vocab) for _ in range(5 + 7 * i)] for i in range(8)]
            _CACHE[name] = Case(pair.loaded, pair.hf_model, prompts)
            if name == "tiny-mistral-window":
                assert pair.loaded.config.sliding_window == 16
            if name == "tiny-llama3":
                assert pair.loaded.config.rope_scaling["rope_type"] == "llama3"
    return _CACHE[name]


def scattered_slots(n: int, seed: int, lo: int = 1, hi: int = 2000) -> list[int]:
    return random.Random(seed).sample(range(lo, hi), n)


def test_plain_prefill(case: Case) -> None:
    ids = case.prompts[5]
    run = Runner(case.loaded.model)
    ours = run.step([(ids, scattered_slots(len(ids), 1), len(ids))], return_all_logits=True)
    assert ours.shape == (len(ids), case.loaded.config.vocab_size)
    assert ours.dtype == torch.float32
    assert rel_err(ours, hf_logits(case.hf, ids)) < TOL
    last = run.step([(ids, scattered_slots(len(ids), 2), len(ids))])  # default: last token only
    assert last.shape == (1, case.loaded.config.vocab_size)
    assert rel_err(last[0], ours[-1]) < 1e-5


def test_prefix_cached_by_another_request(case: Case) -> None:
    """B extends a prefix A wrote (A's slots, scattered), in a batch mixed with a fresh
    prefill C and a decode step of A; B's own new slots leave holes."""
    prefix = case.prompts[3]
    a_ids = prefix + case.tokens(6, 10)
    b_suffix = case.tokens(9, 11)
    c_ids = case.prompts[1]
    run = Runner(case.loaded.model)
    a_slots = scattered_slots(len(a_ids) + 1, 3, 1, 600)
    run.step([(a_ids, a_slots[: len(a_ids)], len(a_ids))])
    b_slots = a_slots[: len(prefix)] + list(range(1500, 1500 + 3 * len(b_suffix), 3))
    b_ids = prefix + b_suffix
    c_slots = scattered_slots(len(c_ids), 4, 700, 1400)
    a_next = case.tokens(1, 12)
    seqs = [
        (b_suffix, b_slots, len(b_ids)),
        (c_ids, c_slots, len(c_ids)),
        (a_next, a_slots, len(a_ids) + 1),
    ]
    ours = run.step(seqs, return_all_logits=True)
    nb, nc = len(b_suffix), len(c_ids)
    assert ours.shape[0] == nb + nc + 1
    assert rel_err(ours[:nb], hf_logits(case.hf, b_ids)[len(prefix) :]) < TOL
    assert rel_err(ours[nb : nb + nc], hf_logits(case.hf, c_ids)) < TOL
    assert rel_err(ours[-1], hf_logits(case.hf, a_ids + a_next)[-1]) < TOL
    last = run.step([(a_next, a_slots, len(a_ids) + 1)])  # rewrite of the same slot: same answer
    assert rel_err(last[0], ours[-1]) < 1e-5


def test_batched_decode_of_ragged_lengths(case: Case) -> None:
    prompts = [case.prompts[i] for i in (0, 2, 5, 7)]
    run = Runner(case.loaded.model)
    width = 64
    slots = [scattered_slots(width, 20 + i, 1 + i * 500, 1 + (i + 1) * 500) for i in range(4)]
    run.step([(p, slots[i][: len(p)], len(p)) for i, p in enumerate(prompts)])
    seqs = [list(p) for p in prompts]
    steps = []
    for step in range(3):
        new = [case.tokens(1, 100 * step + i) for i in range(4)]
        for s, t in zip(seqs, new, strict=True):
            s.extend(t)
        ours = run.step([(new[i], slots[i][: len(s)], len(s)) for i, s in enumerate(seqs)])
        assert ours.shape == (4, case.loaded.config.vocab_size)
        steps.append(ours)
    for i, s in enumerate(seqs):  # causal: one HF pass over the final sequence has every step
        ref = hf_logits(case.hf, s)
        for step, ours in enumerate(steps):
            assert rel_err(ours[i], ref[len(s) - 3 + step]) < TOL, (step, i)


def test_greedy_continuations_match_hf_generate(case: Case) -> None:
    new_tokens = 32
    run = Runner(case.loaded.model, num_slots=8 * 128 + 8)
    ours = run.greedy(case.prompts, new_tokens)
    # HF: one left-padded batch (its masks and position ids take care of the padding)
    width = max(len(p) for p in case.prompts)
    ids = torch.tensor([[0] * (width - len(p)) + p for p in case.prompts])
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in case.prompts])
    with torch.no_grad():
        out = case.hf.generate(
            ids, attention_mask=mask, max_new_tokens=new_tokens, do_sample=False, pad_token_id=0
        )
    eos = set(case.loaded.config.eos_token_ids)
    for got, row in zip(ours, out[:, width:].tolist(), strict=True):
        want = row
        for j, t in enumerate(row):  # HF pads a row after its EOS; we run all 32
            if t in eos:
                want = row[: j + 1]
                break
        assert got[: len(want)] == want
