"""Few-shot (MMLU style): a 5-shot prefix per subject (about 1.5k tokens at full size),
questions per subject, one output token (prefill-bound), written in the frontend language:
``s += prefix + question; s += gen("answer", max_tokens=1)`` and, where the sizes ask for it,
``s += select("answer", choices=[" A", " B", " C", " D"])``."""

from __future__ import annotations

import random
import time
from typing import Any

import radtrio.lang as rt
from bench_suite import llamacpp
from bench_suite.common import RecordingBackend, Setup, hf_replay, hf_warm, measure, warm_engine
from bench_suite.common import words_text as _words  # noqa: I001

TITLE = "Few-shot"
LETTERS = "ABCD"


def _item(rng: random.Random, tok: Any, tokens: int) -> tuple[str, str]:
    q = _words(rng, tok, tokens).strip()
    opts = "".join(f"\n{L}. {_words(rng, tok, 6).strip()}" for L in LETTERS)
    return f"{q}{opts}\nAnswer:", rng.choice(LETTERS)


def build(setup: Setup, subjects: int, per_subject: int, shot_tokens: int) -> list[dict]:
    tok = setup.tokenizer
    rng = random.Random(2)
    batch = []
    for k in range(subjects):
        prefix = (
            f"The following are multiple choice questions (with answers) about subject {k}.\n\n"
        )
        for _ in range(5):
            body, answer = _item(rng, tok, shot_tokens)
            prefix += f"{body} {answer}\n\n"
        for _ in range(per_subject):
            body, _ = _item(rng, tok, shot_tokens // 2)
            batch.append({"prefix": prefix, "question": body})
    rng.shuffle(batch)
    return batch


@rt.function
def answer_gen(s, prefix, question):
    s += prefix + question
    s += rt.gen("answer", max_tokens=1, temperature=0.0)


@rt.function
def answer_select(s, prefix, question):
    s += prefix + question
    s += rt.select("answer", choices=[" A", " B", " C", " D"])


def run(setup: Setup) -> dict[str, Any]:
    z = setup.sizes["few_shot"]
    batch = build(setup, z["subjects"], z["per_subject"], z["shot_tokens"])
    variants = [
        ("radtrio, radix cache, gen", answer_gen, True),
        ("radtrio, cache off, gen", answer_gen, False),
    ]
    if z.get("select"):  # True: with the cache on and off; "cache": on only
        variants.append(("radtrio, radix cache, select", answer_select, True))
    if z.get("select") is True:
        variants.append(("radtrio, cache off, select", answer_select, False))
    rows = []
    records = None
    for label, program, radix in variants:

        def go(engine: Any, program: Any = program) -> Any:
            backend = RecordingBackend(engine)
            try:
                t = time.perf_counter()
                program.run_batch(batch, backend=backend, max_workers=z["concurrency"])
                wall = time.perf_counter() - t
            finally:
                backend.close()
            return backend.records, wall

        engine = setup.engine(max_running=z["concurrency"], radix_cache=radix)
        row, recs = measure(label, engine, go, warm_engine)
        row["questions_s"] = len(batch) / row["wall_s"]  # select sends 4 requests a question
        row["group"] = label.rsplit(", ", 1)[1]
        rows.append(row)
        if program is answer_gen:
            records = records or recs
    hf = setup.hf()
    if hf is not None:
        hf_warm(hf, setup.device)
        row = hf_replay(hf, records, z["concurrency"], setup.device)
        row["questions_s"] = len(batch) / row["wall_s"]
        row["group"] = "gen"
        rows.append(row)
    for row in llamacpp.baseline(setup, records, group="gen"):
        row["questions_s"] = len(batch) / row["wall_s"]
        rows.append(row)
    n = len(records[0].prompt_ids)
    return dict(
        rows=rows,
        headline="questions_s",
        params=dict(z, prompt_tokens_example=n),
        description=(
            f"{z['subjects']} subjects x {z['per_subject']} questions, a 5-shot prefix per "
            f"subject (prompts about {n} tokens), 1 output token (`gen`, greedy)"
            + (", and `select` over 4 choices" if z.get("select") else "")
            + f"; the frontend language's run_batch with {z['concurrency']} programs at once. "
            f"HF: the same prompts, 1 new token, batches of {z['concurrency']}. llama.cpp "
            "(CPU): the same prompts one at a time in radtrio's arrival order, reusing the "
            "previous prompt's KV prefix (subjects interleave, so about half the time)."
        ),
    )
