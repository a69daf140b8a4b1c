"""Tree of thought: per question, a binary tree of reasoning steps (2 branches x 4 levels:
2 + 4 + 8 + 16 = 30 generated steps), written in the frontend language with ``fork``; the
levels expand breadth-first so each level's branches decode together, and the questions run
concurrently. radtrio under the dfs-weight and lpm schedules, the cache off, and HF
transformers on the same prompts level by level."""

from __future__ import annotations

import random
import time
from typing import Any

import radtrio.lang as rt
from bench_suite import llamacpp
from bench_suite.common import (
    RecordingBackend,
    Setup,
    hf_replay,
    hf_warm,
    measure,
    warm_engine,
    words_text,
)

TITLE = "Tree of thought"


@rt.function
def tree(s, question, branches, depth, step_tokens, seed):
    s += rt.system("You solve problems step by step. Each step is one short sentence.")
    s += rt.user(question)
    with s.assistant():
        s += "Let's think step by step."
        frontier = [s]
        for level in range(depth):
            children = []
            for node in frontier:
                forks = node.fork(branches)
                for i, f in enumerate(forks):
                    f += f"\nStep {level + 1}.{i + 1}:"
                    f += rt.gen(
                        f"step{level}", max_tokens=step_tokens, temperature=0.8,
                        seed=seed * 1000 + level * 10 + i, ignore_eos=True,
                    )  # fmt: skip
                children += list(forks)
            frontier = children
        for leaf in frontier:
            leaf.sync()
    return len(frontier)


def run(setup: Setup) -> dict[str, Any]:
    z = setup.sizes["tree_of_thought"]
    rng = random.Random(3)
    batch = [
        dict(
            question=words_text(rng, setup.tokenizer, z["question"]) + " What follows?",
            branches=z["branches"],
            depth=z["depth"],
            step_tokens=z["step_tokens"],
            seed=q,
        )  # fmt: skip
        for q in range(z["questions"])
    ]
    rows = []
    records = None
    for label, cfg in (
        ("radtrio, radix cache, dfs-weight", dict(schedule_policy="dfs-weight")),
        ("radtrio, radix cache, lpm", dict(schedule_policy="lpm")),
        ("radtrio, cache off", dict(schedule_policy="fcfs", radix_cache=False)),
    ):

        def go(engine: Any) -> Any:
            backend = RecordingBackend(engine)
            try:
                t = time.perf_counter()
                tree.run_batch(batch, backend=backend, max_workers=len(batch))
                wall = time.perf_counter() - t
            finally:
                backend.close()
            return backend.records, wall

        engine = setup.engine(max_running=z["max_running"], **cfg)
        row, recs = measure(label, engine, go, warm_engine)
        rows.append(row)
        records = records or recs
    hf = setup.hf()
    if hf is not None:
        hf_warm(hf, setup.device)
        rows.append(
            hf_replay(
                hf,
                records,
                z["max_running"],
                setup.device,
                wave_of=lambda r: (r.request.text or "").count("\nStep "),
            )  # fmt: skip
        )
    rows += llamacpp.baseline(setup, records)
    gens = sum(1 for r in records if r.tag != "fork-prefill")
    return dict(
        rows=rows,
        headline="output_tok_s",
        params=z,
        description=(
            f"{z['questions']} questions (about {z['question']} tokens) x a tree of "
            f"{z['branches']} branches x {z['depth']} levels ({gens} generated steps of "
            f"{z['step_tokens']} tokens, sampled, EOS ignored; each fork first prefills the "
            f"shared text), all questions at once, max_running {z['max_running']}. HF: the "
            "same step prompts level by level (no fork prefills). llama.cpp (CPU): the same "
            "step prompts one at a time in radtrio's arrival order, greedy, reusing the "
            "previous prompt's KV prefix."
        ),
    )
