"""Multi-turn chat (SGLang's multi_turn_chat): S sessions x 4 turns; each turn appends a
256-512-token user message (scaled on CPU) to the whole history and generates a short (8)
or long (256) answer; every turn sends the whole conversation, so the radix cache can serve
the earlier turns. Sessions run concurrently; turns of one session in order."""

from __future__ import annotations

import random
import time
from typing import Any

import trio

from bench_suite import llamacpp
from bench_suite.common import Record, Setup, hf_replay, hf_warm, measure, warm_engine, words_text
from radtrio.engine import AsyncEngine
from radtrio.types import ChatMessage, GenerateRequest, OutputFinished, SamplingParams

TITLE = "Multi-turn chat"


def questions(setup: Setup, sessions: int, turns: int, lo: int, hi: int) -> list[list[str]]:
    rng = random.Random(1)
    return [
        [words_text(rng, setup.tokenizer, rng.randint(lo, hi)) for _ in range(turns)]
        for _ in range(sessions)
    ]


async def _chat(engine: AsyncEngine, qs: list[list[str]], answer: int) -> list[Record]:
    records: list[Record] = []
    params = SamplingParams(max_new_tokens=answer, temperature=0.0, ignore_eos=True)

    async def session(i: int, turns: list[str]) -> None:
        history = [ChatMessage(role="system", content=f"You are assistant number {i}.")]
        for q in turns:
            history.append(ChatMessage(role="user", content=q))
            request = GenerateRequest(messages=list(history), params=params)
            rec = Record(request, time.perf_counter())
            records.append(rec)
            async with engine.generate(request) as events:
                async for ev in events:
                    if isinstance(ev, OutputFinished):
                        rec.out = ev
            rec.finish = time.perf_counter()
            history.append(ChatMessage(role="assistant", content=rec.out.text))

    async with trio.open_nursery() as nursery:
        await nursery.start(engine.run)
        async with trio.open_nursery() as inner:
            for i, turns in enumerate(qs):
                inner.start_soon(session, i, turns)
        nursery.cancel_scope.cancel()
    return records


def run(setup: Setup) -> dict[str, Any]:
    z = setup.sizes["multi_turn"]
    qs = questions(setup, z["sessions"], z["turns"], z["q_min"], z["q_max"])
    rows = []
    hf = setup.hf()
    if hf is not None:
        hf_warm(hf, setup.device)
    for kind, answer in (("short", z["short"]), ("long", z["long"])):
        records = None
        for label, radix in (("radix cache", True), ("cache off", False)):

            def go(engine: Any, answer: int = answer) -> Any:
                t = time.perf_counter()
                recs = trio.run(_chat, engine, qs, answer)
                return recs, time.perf_counter() - t

            engine = setup.engine(max_running=z["sessions"], radix_cache=radix)
            row, recs = measure(f"radtrio, {label}, {kind} answers", engine, go, warm_engine)
            row["group"] = kind
            rows.append(row)
            records = records or recs
        if hf is not None:
            row = hf_replay(
                hf, records, z["sessions"], setup.device,
                label=f"HF transformers generate, {kind} answers",
                wave_of=lambda r: len(r.request.messages),
            )  # fmt: skip
            row["group"] = kind
            rows.append(row)
        rows += llamacpp.baseline(setup, records, f"{llamacpp.LABEL}, {kind} answers", group=kind)
    return dict(
        rows=rows,
        headline="output_tok_s",
        params=z,
        description=(
            f"{z['sessions']} sessions x {z['turns']} turns, each turn a {z['q_min']}-"
            f"{z['q_max']}-token user message appended to the whole history, answers of "
            f"{z['short']} (short) or {z['long']} (long) tokens (greedy, EOS ignored); sessions "
            "concurrent, turns in order. HF: the same rendered prompts, turn by turn, one "
            "batch of all sessions per turn. llama.cpp (CPU): the same prompts one at a "
            "time in radtrio's arrival order (sessions interleaved), reusing the previous "
            "prompt's KV prefix."
        ),
    )
