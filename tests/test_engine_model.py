"""The whole engine on SmolLM2 (CPU, float32) against HF transformers run one prompt at a time."""

from __future__ import annotations

from typing import Any

import pytest
import torch
import trio
from models_fixtures import smollm2, smollm2_hf, smollm2_path  # noqa: F401  (fixtures)

from radtrio.config import EngineConfig
from radtrio.engine import AsyncEngine, make_request
from radtrio.types import OutputChunk, OutputFinished, SamplingParams

SYSTEM = (
    "You are a careful assistant for a small bookshop. Answer in one or two short sentences, "
    "be friendly, never invent prices, and suggest a classic novel when asked for advice."
)
QUESTIONS = [
    "Do you sell maps?",
    "What should I read on a rainy day?",
    "Are you open on Sundays?",
    "Recommend a book for a ten year old.",
    "Can I order a book that is out of stock?",
    "Who wrote Moby Dick?",
]


def chat(q: str) -> list[dict]:
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": q}]


@torch.no_grad()
def hf_greedy(hf: Any, ids: list[int], n: int) -> list[int]:
    out = hf.generate(
        torch.tensor([ids]), max_new_tokens=n, do_sample=False, pad_token_id=0, eos_token_id=None
    )
    return out[0, len(ids) :].tolist()


async def run_batch(engine: AsyncEngine, requests, abort_after: dict[int, int] | None = None):
    abort_after = abort_after or {}
    results: dict[int, OutputFinished | None] = {}

    async def one(i: int, request) -> None:
        seen = 0
        async with engine.generate(request) as events:
            async for ev in events:
                if isinstance(ev, OutputChunk):
                    seen += len(ev.token_ids)
                    if i in abort_after and seen >= abort_after[i]:
                        results[i] = None
                        return
                else:
                    results[i] = ev

    async with trio.open_nursery() as nursery:
        await nursery.start(engine.run)
        async with trio.open_nursery() as inner:
            for i, r in enumerate(requests):
                inner.start_soon(one, i, r)
        await engine.wait_idle()
        nursery.cancel_scope.cancel()
    return results


def greedy(n: int) -> SamplingParams:
    return SamplingParams(max_new_tokens=n, temperature=0.0, ignore_eos=True)


@pytest.fixture(scope="module")
def reference(smollm2, smollm2_hf):  # noqa: F811
    tok = smollm2.tokenizer
    refs = {}
    for i, q in enumerate(QUESTIONS):
        ids = tok.apply_chat_template(chat(q), tokenize=True, add_generation_prompt=True)
        ids = list(ids["input_ids"] if hasattr(ids, "input_ids") else ids)
        refs[i] = (ids, hf_greedy(smollm2_hf, ids, 12 + 2 * i))
    return refs


def test_mixed_batch_matches_hf_one_by_one(smollm2, reference):  # noqa: F811
    engine = AsyncEngine(EngineConfig(kv_slots=8192, max_running=8), loaded=smollm2)
    requests = [
        make_request(chat(q), greedy(12 + 2 * i), stream=True) for i, q in enumerate(QUESTIONS)
    ]
    # Two more that are aborted mid-stream by their callers.
    requests.append(make_request(chat("Tell me a long story."), greedy(200), stream=True))
    requests.append(make_request(chat("Another long one, please."), greedy(200), stream=True))
    results = trio.run(run_batch, engine, requests, {6: 3, 7: 5})
    for i in range(len(QUESTIONS)):
        ids, ref = reference[i]
        out = results[i]
        assert out is not None and out.finish_reason == "length"
        assert out.token_ids == ref, f"prompt {i}: {out.text!r}"
        assert out.usage.prompt_tokens == len(ids)
    assert results[6] is None and results[7] is None
    stats = engine.stats()
    # The shared system prompt was computed once and reused by the others.
    assert stats.total_cached_tokens >= (len(QUESTIONS) - 1) * 40
    # and the decode steps read it once for all of them (the cascade path matched HF too)
    assert engine.executor.runner.backend.shared_prefix_steps > 0
    assert stats.aborted_requests == 2
    engine.cache.check_integrity(idle=True)
    assert stats.used_slots == 0 and stats.free_slots + stats.evictable_slots == stats.pool_slots


def test_greedy_is_the_same_with_the_radix_cache_off(smollm2, reference):  # noqa: F811
    outputs = {}
    for radix in (True, False):
        engine = AsyncEngine(EngineConfig(kv_slots=4096, radix_cache=radix), loaded=smollm2)
        requests = [make_request(chat(q), greedy(12)) for q in QUESTIONS[:4]]
        results = trio.run(run_batch, engine, requests)
        outputs[radix] = [results[i].token_ids for i in range(4)]
        assert (engine.stats().total_cached_tokens > 0) == radix
        engine.cache.check_integrity(idle=True)
    assert outputs[True] == outputs[False]
    assert outputs[True][0] == reference[0][1][:12]


def test_seeded_sampling_is_reproducible_across_batches(smollm2):  # noqa: F811
    params = SamplingParams(max_new_tokens=10, temperature=0.9, top_p=0.9, top_k=50, seed=1234)
    alone = AsyncEngine(EngineConfig(kv_slots=2048), loaded=smollm2)
    (solo,) = trio.run(run_batch, alone, [make_request(chat("Name a fruit."), params)]).values()
    crowd = AsyncEngine(EngineConfig(kv_slots=4096), loaded=smollm2)
    requests = [make_request(chat(q), greedy(6)) for q in QUESTIONS[:3]]
    requests.append(make_request(chat("Name a fruit."), params))
    together = trio.run(run_batch, crowd, requests)[3]
    assert solo.token_ids == together.token_ids
    other = SamplingParams(max_new_tokens=10, temperature=0.9, top_p=0.9, top_k=50, seed=99)
    (diff,) = trio.run(run_batch, alone, [make_request(chat("Name a fruit."), other)]).values()
    assert diff.token_ids != solo.token_ids


def test_prompt_logprobs_match_hf(smollm2, smollm2_hf):  # noqa: F811
    engine = AsyncEngine(EngineConfig(kv_slots=2048), loaded=smollm2)
    ids = smollm2.tokenizer("The capital of France is Paris.")["input_ids"]
    request = make_request(list(ids), SamplingParams(max_new_tokens=1, temperature=0.0))
    request.return_prompt_logprobs = True
    (out,) = trio.run(run_batch, engine, [request]).values()
    with torch.no_grad():
        logits = smollm2_hf(torch.tensor([ids])).logits[0].float()
    ref = torch.log_softmax(logits, -1)[torch.arange(len(ids) - 1), torch.tensor(ids[1:])]
    assert out.prompt_logprobs is not None and len(out.prompt_logprobs) == len(ids) - 1
    assert torch.allclose(torch.tensor(out.prompt_logprobs), ref, atol=1e-3)
