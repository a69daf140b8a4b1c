"""Shared prefix (bench_serving's generated-shared-prefix): G groups x P prompts, a long
system prompt per group and a short question each, fixed output length (EOS ignored), all
sent at once under a concurrency cap, in shuffled order. radtrio with the radix cache under
lpm and fcfs, the cache off, and HF transformers on the same prompts."""

from __future__ import annotations

import random
from typing import Any

from bench_suite import llamacpp
from bench_suite.common import (
    Setup,
    hf_replay,
    hf_warm,
    measure,
    run_requests,
    warm_engine,
    words_text,
)
from radtrio.types import GenerateRequest, SamplingParams

TITLE = "Shared prefix"


def build(setup: Setup, groups: int, per_group: int, system: int, question: int) -> list[list[int]]:
    tok = setup.tokenizer
    rng = random.Random(0)
    prompts = []
    for g in range(groups):
        sys_text = f"Group {g}. " + words_text(rng, tok, system)
        for _ in range(per_group):
            messages = [
                {"role": "system", "content": sys_text},
                {"role": "user", "content": words_text(rng, tok, question)},
            ]
            ids = tok.apply_chat_template(messages, tokenize=True, add_generation_prompt=True)
            prompts.append(list(ids["input_ids"] if hasattr(ids, "input_ids") else ids))
    rng.shuffle(prompts)
    return prompts


def run(setup: Setup) -> dict[str, Any]:
    z = setup.sizes["shared_prefix"]
    prompts = build(setup, z["groups"], z["per_group"], z["system"], z["question"])
    params = SamplingParams(max_new_tokens=z["output"], temperature=0.0, ignore_eos=True)

    def requests() -> list[GenerateRequest]:
        return [GenerateRequest(input_ids=p, params=params) for p in prompts]

    def go(engine: Any) -> Any:
        return run_requests(engine, requests(), z["concurrency"])

    rows = []
    records = None
    for label, cfg in (
        ("radtrio, radix cache, lpm", dict(radix_cache=True, schedule_policy="lpm")),
        ("radtrio, radix cache, fcfs", dict(radix_cache=True, schedule_policy="fcfs")),
        ("radtrio, cache off", dict(radix_cache=False, schedule_policy="fcfs")),
    ):
        engine = setup.engine(max_running=z["max_running"], **cfg)
        row, recs = measure(label, engine, go, warmup=warm_engine)
        rows.append(row)
        records = records or recs
    hf = setup.hf()
    if hf is not None:
        hf_warm(hf, setup.device)
        rows.append(hf_replay(hf, records, z["concurrency"], setup.device))
    rows += llamacpp.baseline(setup, records)
    prompt_len = sum(len(p) for p in prompts) / len(prompts)
    return dict(
        rows=rows,
        headline="output_tok_s",
        params=dict(z, mean_prompt_tokens=round(prompt_len, 1), requests=len(prompts)),
        description=(
            f"{z['groups']} groups x {z['per_group']} prompts, a system prompt per group "
            f"(~{z['system']} tokens counted sentence by sentence) + a ~{z['question']}-token "
            f"question (chat template; mean prompt {prompt_len:.0f} tokens), {z['output']} "
            "output tokens each (greedy, EOS ignored), "
            f"all sent at once in shuffled order, at most {z['concurrency']} in flight, "
            f"max_running {z['max_running']}. HF: the same prompts in batches of "
            f"{z['concurrency']}. llama.cpp (CPU): the same prompts one at a time in the "
            "same order, reusing the previous prompt's KV prefix."
        ),
    )
