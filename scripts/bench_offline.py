"""Offline throughput on the default model: radtrio (cache on/off, float32/bfloat16) vs HF.

16 requests share one ~500-token system prompt and have distinct ~20-token user turns;
64 new tokens each, greedy (EOS ignored so every run produces the same token count).
Also batch-1 decode speed against the weight-bandwidth bound.

    python scripts/bench_offline.py [--repeats 3] [--skip-hf] [--out docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import sys
import time

import torch
import trio

from radtrio.config import EngineConfig
from radtrio.engine import AsyncEngine, make_request
from radtrio.models.loader import load_model
from radtrio.types import OutputChunk, OutputFinished, SamplingParams

TOPICS = [
    "tides",
    "volcanoes",
    "honeybees",
    "glaciers",
    "comets",
    "coral reefs",
    "deserts",
    "thunderstorms",
    "rainbows",
    "earthquakes",
    "auroras",
    "rivers",
    "caves",
    "forests",
    "tornadoes",
    "fog",
]
SYSTEM = (
    "You are a patient science tutor for curious teenagers. You explain natural phenomena "
    "in plain words, with one concrete everyday example, and you never use equations. "
)


def system_prompt(tokenizer, target_tokens: int = 500) -> str:
    text = SYSTEM
    facts = [
        "Keep answers short and friendly.",
        "If a question is unclear, say what you assume before answering.",
        "Prefer examples from the kitchen, the garden or the street.",
        "Mention one surprising fact when it fits.",
        "Avoid jargon; when a technical word is needed, explain it in the same sentence.",
        "End with a question that invites the student to observe something themselves.",
    ]
    i = 0
    while len(tokenizer(text)["input_ids"]) < target_tokens:
        text += facts[i % len(facts)] + " "
        i += 1
    return text


def build_prompts(tokenizer) -> list[list[int]]:
    system = system_prompt(tokenizer)
    prompts = []
    for topic in TOPICS:
        messages = [
            {"role": "system", "content": system},
            {
                "role": "user",
                "content": f"Why do {topic} happen, and where can I see them near home?",
            },
        ]
        ids = tokenizer.apply_chat_template(messages, tokenize=True, add_generation_prompt=True)
        prompts.append(list(ids["input_ids"] if hasattr(ids, "input_ids") else ids))
    return prompts


async def run_radtrio(engine: AsyncEngine, prompts: list[list[int]], new_tokens: int) -> float:
    params = SamplingParams(max_new_tokens=new_tokens, temperature=0.0, ignore_eos=True)
    async with trio.open_nursery() as nursery:
        await nursery.start(engine.run)
        t0 = time.perf_counter()

        async def one(ids: list[int]) -> None:
            async with engine.generate(make_request(ids, params)) as events:
                async for ev in events:
                    if isinstance(ev, OutputFinished) and ev.usage.completion_tokens != new_tokens:
                        raise RuntimeError(f"got {ev.usage.completion_tokens} tokens")

        async with trio.open_nursery() as inner:
            for ids in prompts:
                inner.start_soon(one, ids)
        elapsed = time.perf_counter() - t0
        nursery.cancel_scope.cancel()
    return elapsed


def radtrio_times(
    loaded, prompts, new_tokens, radix: bool, repeats: int
) -> tuple[list[float], float]:
    times, hit = [], 0.0
    for _ in range(repeats):
        engine = AsyncEngine(
            EngineConfig(kv_slots=32768, radix_cache=radix, max_running=32), loaded=loaded
        )
        times.append(trio.run(run_radtrio, engine, prompts, new_tokens))
        hit = engine.stats().cache_hit_rate
    return times, hit


def batch1_decode(loaded, tokens_wanted: int = 64) -> float:
    """Output tokens/s of one request decoding alone (after its prefill)."""
    engine = AsyncEngine(EngineConfig(kv_slots=4096), loaded=loaded)
    prompt = [1, 2, 3, 4, 5, 6, 7, 8]

    async def go() -> float:
        async with trio.open_nursery() as nursery:
            await nursery.start(engine.run)
            stamps: list[tuple[float, int]] = []  # (arrival, tokens so far) per chunk
            tokens = 0
            req = make_request(
                prompt,
                SamplingParams(max_new_tokens=tokens_wanted, temperature=0.0, ignore_eos=True),
                stream=True,
            )
            async with engine.generate(req) as events:
                async for ev in events:
                    if isinstance(ev, OutputChunk):
                        # a chunk may carry several tokens (text held back until it is whole)
                        tokens += len(ev.token_ids)
                        stamps.append((time.perf_counter(), tokens))
            nursery.cancel_scope.cancel()
        (t_first, n_first), (t_last, n_last) = stamps[0], stamps[-1]
        return (n_last - n_first) / (t_last - t_first)  # after the first token (prefill)

    return trio.run(go)


def copy_bandwidth(mib: int = 512, repeats: int = 5) -> float:
    """Bytes read + written per second by a large tensor copy (the bound's denominator)."""
    src = torch.ones(mib << 18, dtype=torch.float32)
    dst = torch.empty_like(src)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        dst.copy_(src)
        best = min(best, time.perf_counter() - t0)
    return 2 * src.numel() * src.element_size() / best


def cpu_name() -> str:
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def hf_times(path, prompts, new_tokens, repeats) -> list[float]:
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(
        str(path.parent), gguf_file=path.name, dtype=torch.float32
    ).eval()
    width = max(len(p) for p in prompts)
    ids = torch.zeros(len(prompts), width, dtype=torch.long)
    mask = torch.zeros(len(prompts), width, dtype=torch.long)
    for i, p in enumerate(prompts):  # left padding
        ids[i, width - len(p) :] = torch.tensor(p)
        mask[i, width - len(p) :] = 1
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        with torch.no_grad():
            model.generate(
                input_ids=ids,
                attention_mask=mask,
                max_new_tokens=new_tokens,
                min_new_tokens=new_tokens,
                do_sample=False,
                pad_token_id=0,
            )
        times.append(time.perf_counter() - t0)
    return times


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--new-tokens", type=int, default=64)
    ap.add_argument("--skip-hf", action="store_true")
    ap.add_argument("--out", default=None, help="append a markdown section to this file")
    args = ap.parse_args()

    from radtrio.models.cpu_features import bf16_matmul_flags
    from radtrio.models.fetch import default_model_path

    bandwidths = [copy_bandwidth()]
    path = default_model_path(progress=False)
    rows = []
    total_out = len(TOPICS) * args.new_tokens
    hf_median = None
    if not args.skip_hf:
        loaded32 = load_model(None, dtype="float32", progress=False)
        prompts = build_prompts(loaded32.tokenizer)
        hf = hf_times(path, prompts, args.new_tokens, args.repeats)
        hf_median = statistics.median(hf)
        rows.append(("HF transformers generate (float32, batched, left padding)", hf, None, None))
    for dtype in ("float32", "bfloat16"):
        loaded = load_model(None, dtype=dtype, progress=False)
        prompts = build_prompts(loaded.tokenizer)
        for radix in (True, False):
            times, hit = radtrio_times(loaded, prompts, args.new_tokens, radix, args.repeats)
            label = f"radtrio {dtype}, radix cache {'on' if radix else 'off'}"
            rows.append((label, times, hit, None))
        # the host is shared and its bandwidth moves between runs: the bound takes the best
        # of a measurement at the start and one before each batch-1 run
        bandwidths.append(copy_bandwidth())
        weight_bytes = loaded.model.num_parameters() * loaded.model.embed.element_size()
        decode = [batch1_decode(loaded) for _ in range(args.repeats)]
        rows.append((f"radtrio {dtype}, batch-1 decode", None, None, (decode, weight_bytes)))
    bandwidth = max(bandwidths)

    prompt_tokens = len(prompts[0])
    lines = [
        f"### Offline shared-prefix batch (bench_offline.py), {datetime.date.today()}",
        "",
        f"Machine: {cpu_name()}, {os.cpu_count()} cores, bf16 matrix instructions: "
        f"{', '.join(bf16_matmul_flags()) or 'none'}, copy bandwidth {bandwidth / 1e9:.1f} GB/s "
        f"(read + write; the best of {', '.join(f'{b / 1e9:.1f}' for b in bandwidths)} "
        f"measured at the start and before each batch-1 run), "
        f"load average {os.getloadavg()[0]:.1f} at the end, "
        f"torch {torch.__version__}. "
        f"Command: `python scripts/bench_offline.py {' '.join(sys.argv[1:])}`. "
        f"16 requests, {prompt_tokens}-token prompts sharing a ~500-token system prompt, "
        f"{args.new_tokens} new tokens each (greedy, EOS ignored); median of {args.repeats} runs "
        f"(batch-1: {args.repeats} runs of 64 tokens).",
        "",
        "| run | wall s (median) | each run s | output tok/s | vs HF | cache hit "
        "| batch-1 decode tok/s (% of bound) | each run tok/s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for label, runs, hit, b1 in rows:
        if runs is None:
            decode, weight_bytes = b1
            bound = bandwidth / weight_bytes
            tok_s = statistics.median(decode)
            each = ", ".join(f"{d:.1f}" for d in decode)
            label = f"{label} (bound {bound:.0f} tok/s)"
            lines.append(
                f"| {label} | | | | | | {tok_s:.1f} ({100 * tok_s / bound:.0f}%) | {each} |"
            )
            continue
        wall = statistics.median(runs)
        each = ", ".join(f"{t:.2f}" for t in runs)
        ratio = f"{hf_median / wall:.1f}x" if hf_median else "n/a"
        hit_s = f"{hit:.2f}" if hit is not None else ""
        lines.append(
            f"| {label} | {wall:.2f} | {each} | {total_out / wall:.1f} | {ratio} | {hit_s} | | |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        with open(args.out, "a") as f:
            f.write("\n" + text)


if __name__ == "__main__":
    main()
