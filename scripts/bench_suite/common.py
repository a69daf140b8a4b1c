"""What every workload of the suite shares: the model setup, an engine per configuration,
request recording, the metrics of a run, the ideal cache hit rate, and the HF baseline
(the llama.cpp baseline is in ``llamacpp.py``).

A workload builds its requests, runs them through radtrio under a few configurations (radix
cache on/off, schedule policies, jump-forward on/off) and replays the same requests through
HF transformers ``generate`` (batched, left padding); each run gives one row of metrics.
"""

from __future__ import annotations

import gc
import math
import os
import platform
import random
import statistics
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import torch
import trio

from radtrio.actors.ingress import Tokenizing
from radtrio.config import EngineConfig
from radtrio.engine import AsyncEngine
from radtrio.lang.backend import EngineBackend
from radtrio.types import GenerateRequest, OutputFinished


# ------------------------------------------------------------------------ the setup
@dataclass
class Setup:
    """The model and the sizes of one suite run (``cpu``, ``gpu`` or ``tiny``)."""

    mode: str
    device: str
    dtype: str
    loaded: Any  # radtrio.models.loader.LoadedModel
    model_label: str
    machine: str
    card: str
    sizes: dict[str, dict[str, Any]]
    hf_factory: Any = None  # () -> HF model (eval) on `device`, or None to skip HF
    engine_defaults: dict[str, Any] = field(default_factory=dict)
    llama_factory: Any = None  # () -> llama_cpp.Llama on the same GGUF, or None to skip it
    llama_skip: str = ""  # why the llama.cpp baseline is not run ("": not applicable here)
    _hf: Any = None
    _llama: Any = None

    @property
    def tokenizer(self) -> Any:
        return self.loaded.tokenizer

    def hf(self) -> Any:
        if self.hf_factory is None:
            return None
        if self._hf is None:
            self._hf = self.hf_factory()
        return self._hf

    def llama(self) -> Any:
        if self.llama_factory is None:
            return None
        if self._llama is None:
            self._llama = self.llama_factory()
        return self._llama

    def engine(self, **config: Any) -> AsyncEngine:
        cfg = {**self.engine_defaults, **config}
        free_memory()  # the previous configuration's KV pool
        return AsyncEngine(
            EngineConfig(device=self.device, dtype=self.dtype, **cfg), loaded=self.loaded
        )


def machine_line() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return f"{cpu}, {os.cpu_count()} cores, load average {load:.1f} at start"


def card_line(device: str) -> str:
    if not device.startswith("cuda"):
        return "none (CPU)"
    props = torch.cuda.get_device_properties(0)
    return f"{props.name}, {props.total_memory / 2**30:.0f} GiB"


def free_memory() -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


# ------------------------------------------------------------------------ synthetic text
WORDS = (
    "river stone garden window lantern harbor meadow copper violin pencil orchard signal "
    "market ladder candle forest engine planet basket mirror thunder pillow canvas bridge "
    "valley rocket marble feather compass island jacket silver kettle tunnel blanket summit "
    "harvest glacier parrot anchor velvet circuit spiral cabinet museum pepper quartz saddle "
    "theory number method pattern measure balance history culture science reason season "
    "quickly slowly gently bravely calmly warmly openly nearly simply rarely often always "
    "build carry follow gather notice explain compare protect discover imagine remember"
).split()


def words_text(rng: random.Random, tokenizer: Any, tokens: int) -> str:
    """Sentences of common words, about ``tokens`` tokens long."""
    parts: list[str] = []
    n = 0
    while n < tokens:
        sentence = " ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 14)))
        sentence = sentence[0].upper() + sentence[1:] + ". "
        parts.append(sentence)
        n += len(tokenizer(sentence, add_special_tokens=False)["input_ids"])
    return "".join(parts)


# ------------------------------------------------------------------------ recording
@dataclass
class Record:
    """One request the engine served: when it went in and out, and what it was."""

    request: GenerateRequest
    arrival: float
    finish: float = 0.0
    out: OutputFinished | None = None
    tag: str = ""  # e.g. "fork-prefill": left out of the HF replay
    prompt_ids: list[int] | None = None  # filled after the run (outside the timing)


class RecordingBackend(EngineBackend):
    """The frontend language's in-process backend, keeping a Record of every request."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.records: list[Record] = []
        self._rec_lock = threading.Lock()
        self._tag = threading.local()
        super().__init__(engine)

    async def _one(self, request: GenerateRequest) -> OutputFinished:
        rec = Record(request, time.perf_counter())
        with self._rec_lock:
            self.records.append(rec)
        out = await super()._one(request)
        rec.finish = time.perf_counter()
        rec.out = out
        return out

    def generate(self, request: GenerateRequest) -> OutputFinished:
        tag = getattr(self._tag, "value", "")

        async def one() -> OutputFinished:  # the tag travels into the Trio thread
            rec = Record(request, time.perf_counter(), tag=tag)
            with self._rec_lock:
                self.records.append(rec)
            out = await EngineBackend._one(self, request)
            rec.finish = time.perf_counter()
            rec.out = out
            return out

        return trio.from_thread.run(one, trio_token=self._check())

    def prefill(self, text: str) -> OutputFinished:
        self._tag.value = "fork-prefill"
        try:
            return super().prefill(text)
        finally:
            self._tag.value = ""


async def _drive(
    engine: AsyncEngine, requests: list[GenerateRequest], concurrency: int
) -> list[Record]:
    """Send all requests at once, at most ``concurrency`` in flight (bench_serving style)."""
    records: list[Record] = []
    limit = trio.Semaphore(concurrency)

    async def one(request: GenerateRequest) -> None:
        async with limit:
            rec = Record(request, time.perf_counter())
            records.append(rec)
            outs = []
            async with engine.generate(request) as events:
                async for ev in events:
                    if isinstance(ev, OutputFinished):
                        outs.append(ev)
            rec.finish = time.perf_counter()
            rec.out = min(outs, key=lambda o: o.index)

    async with trio.open_nursery() as nursery:
        await nursery.start(engine.run)
        async with trio.open_nursery() as inner:
            for request in requests:
                inner.start_soon(one, request)
        nursery.cancel_scope.cancel()
    return records


def run_requests(
    engine: AsyncEngine, requests: list[GenerateRequest], concurrency: int
) -> tuple[list[Record], float]:
    """Serve ``requests`` (all at once under a concurrency cap); records and wall seconds."""
    t = time.perf_counter()
    records = trio.run(_drive, engine, requests, concurrency)
    return records, time.perf_counter() - t


def fill_prompt_ids(engine: AsyncEngine, records: list[Record]) -> None:
    """Each record's prompt token ids, rendered as the engine's ingress renders them."""
    parts = engine.parts
    tok = Tokenizing(parts.tokenizer, parts.context_len, parts.vocab_size)
    for rec in records:
        if rec.prompt_ids is None:
            rec.prompt_ids = tok.prompt_ids(rec.request)


# ------------------------------------------------------------------------ metrics
def percentile(values: list[float], q: float) -> float:
    if not values:
        return math.nan
    s = sorted(values)
    k = (len(s) - 1) * q / 100
    lo, hi = math.floor(k), math.ceil(k)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


_MOD = (1 << 61) - 1


def _prefix_hashes(ids: list[int]) -> list[int]:
    h, out = 0, []
    for t in ids:
        h = (h * 1_000_003 + t + 1) % _MOD
        out.append(h)
    return out


def ideal_hit_rate(records: list[Record]) -> float:
    """The hit rate of an unbounded prefix cache that computes every distinct prefix once:
    in arrival order, each prompt's longest prefix already seen in an earlier prompt or an
    earlier request's prompt + output (at most all but the last token, which must run)."""
    seen: set[tuple[int, int]] = set()
    cached = total = 0
    for rec in sorted(records, key=lambda r: r.arrival):
        ids = rec.prompt_ids or []
        hashes = _prefix_hashes(ids)
        n = 0
        while n < len(ids) - 1 and (n + 1, hashes[n]) in seen:
            n += 1
        cached += n
        total += len(ids)
        full = ids + (list(rec.out.token_ids) if rec.out is not None else [])
        for i, h in enumerate(_prefix_hashes(full)):
            seen.add((i + 1, h))
    return cached / max(1, total)


def summarize(
    label: str, records: list[Record], wall: float, engine: AsyncEngine | None, before: Any
) -> dict[str, Any]:
    """The metrics of one radtrio run (usage of every request + the engine's counters)."""
    outs = [r.out for r in records if r.out is not None]
    errors = [o for o in outs if o.finish_reason in ("error", "abort")]
    if errors:
        raise RuntimeError(f"{label}: {len(errors)} requests failed, first: {errors[0].error}")
    ttft = [o.usage.ttft_s for o in outs]
    tpot = [
        (o.usage.latency_s - o.usage.ttft_s) / (o.usage.completion_tokens - 1)
        for o in outs
        if o.usage.completion_tokens > 1
    ]
    out_tokens = sum(o.usage.completion_tokens for o in outs)
    prompt_tokens = sum(o.usage.prompt_tokens for o in outs)
    row: dict[str, Any] = dict(
        system=label,
        requests=len(outs),
        wall_s=wall,
        output_tokens=out_tokens,
        prompt_tokens=prompt_tokens,
        output_tok_s=out_tokens / wall,
        total_tok_s=(out_tokens + prompt_tokens) / wall,
        req_s=len(outs) / wall,
        ttft_p50_ms=1e3 * percentile(ttft, 50),
        ttft_p99_ms=1e3 * percentile(ttft, 99),
        tpot_ms=1e3 * statistics.mean(tpot) if tpot else math.nan,
        latency_p50_ms=1e3 * percentile([o.usage.latency_s for o in outs], 50),
        decode_steps=sum(o.usage.decode_steps for o in outs),
        forced_tokens=sum(o.usage.forced_tokens for o in outs),
    )
    if engine is not None:
        after = engine.stats(include_tree=False)
        p = after.total_prompt_tokens - before.total_prompt_tokens
        c = after.total_cached_tokens - before.total_cached_tokens
        row["hit_rate"] = c / max(1, p)
        row["forward_steps"] = after.forward_steps - before.forward_steps
        fill_prompt_ids(engine, records)
        row["ideal_hit_rate"] = ideal_hit_rate(records)
    return row


def measure(
    label: str, engine: AsyncEngine, fn: Any, warmup: Any = None
) -> tuple[dict[str, Any], list[Record]]:
    """Run ``fn(engine) -> (records, wall)`` after an optional warm-up; its metrics row."""
    if warmup is not None:
        warmup(engine)
    before = engine.stats(include_tree=False)
    records, wall = fn(engine)
    row = summarize(label, records, wall, engine, before)
    print(
        f"  {label:38s} {wall:7.2f} s  {row['output_tok_s']:8.1f} out tok/s  "
        f"ttft p50 {row['ttft_p50_ms']:8.1f} ms  hit {row['hit_rate']:.3f} "
        f"(ideal {row['ideal_hit_rate']:.3f})",
        flush=True,
    )
    return row, records


def warm_engine(engine: AsyncEngine, tokens: int = 32) -> None:
    """One short request so the first timed step pays no one-off costs (graphs, kernels)."""
    ids = list(range(10, 10 + tokens))
    req = GenerateRequest(input_ids=ids)
    req.params.max_new_tokens = 4
    req.params.temperature = 0.0
    run_requests(engine, [req], 1)


# ------------------------------------------------------------------------ HF baseline
@torch.no_grad()
def hf_replay(
    hf: Any,
    records: list[Record],
    batch_size: int,
    device: str,
    label: str = "HF transformers generate",
    new_tokens_of: Any = None,
    wave_of: Any = None,
) -> dict[str, Any]:
    """The same prompts through HF ``generate`` (greedy, batched, left padding), wave by
    wave (``wave_of(record)``: requests of one wave are independent; a later wave's prompts
    hold an earlier wave's outputs), in batches of ``batch_size`` with equal output lengths,
    producing the same output token counts (``min_new_tokens`` = ``max_new_tokens``). Fork
    prefill requests are left out (HF has no cache to fill)."""
    kept = [r for r in records if r.tag != "fork-prefill"]
    depth = [wave_of(r) if wave_of else 0 for r in kept]
    groups: dict[tuple[int, int], list[list[int]]] = {}
    for rec, d in zip(kept, depth, strict=True):
        n = new_tokens_of(rec) if new_tokens_of else rec.out.usage.completion_tokens
        groups.setdefault((d, max(1, n)), []).append(rec.prompt_ids)
    ttft_like: list[float] = []
    out_tokens = prompt_tokens = 0
    pad = 0
    t0 = time.perf_counter()
    for (_, n), prompts in sorted(groups.items()):
        for i in range(0, len(prompts), batch_size):
            chunk = prompts[i : i + batch_size]
            width = max(len(p) for p in chunk)
            ids = torch.full((len(chunk), width), pad, dtype=torch.long)
            mask = torch.zeros(len(chunk), width, dtype=torch.long)
            for k, p in enumerate(chunk):
                ids[k, width - len(p) :] = torch.tensor(p)
                mask[k, width - len(p) :] = 1
            ids, mask = ids.to(device), mask.to(device)
            t = time.perf_counter()
            hf.generate(
                input_ids=ids, attention_mask=mask, max_new_tokens=n, min_new_tokens=n,
                do_sample=False, pad_token_id=pad,
            )  # fmt: skip
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            ttft_like.append(time.perf_counter() - t)
            out_tokens += n * len(chunk)
            prompt_tokens += sum(len(p) for p in chunk)
    wall = time.perf_counter() - t0
    row = dict(
        system=label,
        requests=len(kept),
        wall_s=wall,
        output_tokens=out_tokens,
        prompt_tokens=prompt_tokens,
        output_tok_s=out_tokens / wall,
        total_tok_s=(out_tokens + prompt_tokens) / wall,
        req_s=len(kept) / wall,
        batches=len(ttft_like),
        batch_latency_p50_ms=1e3 * percentile(ttft_like, 50),
    )
    print(f"  {label:38s} {wall:7.2f} s  {row['output_tok_s']:8.1f} out tok/s", flush=True)
    return row


def hf_warm(hf: Any, device: str) -> None:
    with torch.no_grad():
        ids = torch.arange(10, 42, device=device)[None]
        hf.generate(input_ids=ids, max_new_tokens=2, do_sample=False, pad_token_id=0)
