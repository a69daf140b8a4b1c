"""GPU benchmarks of radtrio's CUDA path, all in one run (one device call).

    python scripts/bench_gpu.py [--out DIR] [--tiny] [--skip-hf] [--skip-engine]

1. copy bandwidth (device-to-device, read + write bytes), the roofline's denominator;
2. decode step time, Llama-3.1-8B shapes (random bf16 weights), batch 1/16/64/256, context
   1024: radtrio (CUDA graphs; also eager) vs the roofline (weight bytes + KV bytes read per
   step over the copy bandwidth) vs HF transformers ``generate`` (per-step time from
   17 vs 1 new tokens);
3. prefill: attention alone (our tensor-core kernel vs torch SDPA, causal, GQA) and the whole
   8B model (tokens/s, ours vs HF forward) at 1k and 8k tokens;
4. the shared-prefix workload through the engine (16 groups x 32 prompts, 2048-token system
   prompt, 128-token question, 128 output tokens), radix cache on vs off, with hit rate.

Prints a table per section and writes bench_gpu.json (and the log) under --out.
``--tiny`` runs every section on small shapes (a smoke test of the script).
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import statistics
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from radtrio.cuda import ops
from radtrio.cuda.backend import CudaAttentionBackend
from radtrio.cuda.graph_runner import GraphRunner
from radtrio.models.batch import ForwardBatch
from radtrio.models.config import ModelConfig
from radtrio.models.llama import CausalLM
from radtrio.models.random_model import hf_config, shape_config

DEV = torch.device("cuda")
RESULTS: dict[str, Any] = {}


def log(*parts: Any) -> None:
    print(*parts, flush=True)


def timed(fn, reps: int = 20, warmup: int = 3) -> float:
    """Median seconds of fn() between CUDA events."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        b.synchronize()
        times.append(a.elapsed_time(b) / 1e3)
    return statistics.median(times)


def free() -> None:
    gc.collect()
    torch.cuda.empty_cache()


# -- 1. copy bandwidth ------------------------------------------------------------------
def copy_bandwidth(gib: float) -> float:
    n = int(gib * (1 << 30)) // 2
    src = torch.randn(n, device=DEV, dtype=torch.float16)
    dst = torch.empty_like(src)
    t = timed(lambda d=dst, s=src: d.copy_(s), reps=20)
    bw = 2 * n * 2 / t
    src = dst = None
    free()
    log(f"copy bandwidth: {bw / 1e12:.2f} TB/s (read + write, {gib} GiB buffers)")
    RESULTS["copy_bandwidth_TBps"] = bw / 1e12
    return bw


# -- models ---------------------------------------------------------------------------
def hf_model(shape: str | dict, dtype: torch.dtype) -> Any:
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    with torch.device(DEV):
        model = AutoModelForCausalLM.from_config(hf_config(shape_config(shape)), dtype=dtype)
    return model.eval()


def ours_from_hf(hf: Any, dtype: torch.dtype) -> CausalLM:
    state = hf.state_dict()
    config = ModelConfig.from_hf(hf.config)
    return CausalLM.from_hf_tensors(config, state.__getitem__, dtype, DEV, state.__contains__)


def weight_bytes(model: CausalLM) -> int:
    """Bytes of weights one decode step reads (all but the embedding table, of which it reads
    a few rows; the tied head reads the table once)."""
    total = model.final_norm.numel() + model.lm_head.numel()
    for layer in model.layers:
        for t in (layer.input_norm, layer.qkv_t, layer.o_t, layer.post_norm, layer.gate_up_t):
            total += t.numel()
        total += layer.down_t.numel()
        if layer.qkv_bias is not None:
            total += layer.qkv_bias.numel()
    return total * model.embed.element_size()


def decode_batch(bs: int, ctx: int, stride: int) -> ForwardBatch:
    seqs = []
    for b in range(bs):
        slots = list(range(1 + b * stride, 1 + b * stride + ctx + 1))
        seqs.append(([(7 * b + 3) % 1000], slots, ctx + 1))
    return ForwardBatch.build(seqs)


# -- 2. decode ------------------------------------------------------------------------
def bench_decode(
    model: CausalLM, batches: list[int], ctx: int, bw: float, variant: str
) -> list[dict]:
    stride = ctx + 8
    pool = model.make_kv_pool(1 + max(batches) * stride)
    for layer in range(pool.num_layers):  # real data, never zeros
        pool.k[layer].normal_()
        pool.v[layer].normal_()
    backend = CudaAttentionBackend(model, pool, variant=variant)
    runner = GraphRunner(model, pool, backend, batch_sizes=tuple(batches), max_context=ctx + 8)
    log(f"decode-attention variant: {variant}")
    wbytes = weight_bytes(model)
    rows = []
    for bs in batches:
        batch = decode_batch(bs, ctx, stride)
        dev_batch = batch.to(DEV)
        assert runner.run(batch) is not None
        graph_t = timed(lambda r=runner, b=batch: r.run(b), reps=30)
        # the captured graph alone (inputs already in place): run() minus the input copies
        replay_t = timed(runner._graphs[runner.padded_size(bs)].replay, reps=30)
        eager_t = timed(lambda b=dev_batch, p=pool, k=backend: model.forward(b, p, k), 5, 1)
        kv = bs * (ctx + 1) * model.kv_bytes_per_token()
        roof = (wbytes + kv) / bw
        row = dict(
            batch=bs, ctx=ctx, variant=variant, graph_ms=graph_t * 1e3, eager_ms=eager_t * 1e3,
            replay_ms=replay_t * 1e3, splits=backend.num_splits,
            roofline_ms=roof * 1e3, roofline_frac=roof / graph_t, tok_s=bs / graph_t,
            weight_GB=wbytes / 1e9, kv_GB=kv / 1e9,
        )  # fmt: skip
        rows.append(row)
        log(
            f"decode bs {bs:4d} ctx {ctx}: graph {graph_t * 1e3:8.2f} ms (replay alone "
            f"{replay_t * 1e3:.2f}, splits {backend.num_splits})  eager "
            f"{eager_t * 1e3:8.2f} ms  roofline {roof * 1e3:7.2f} ms  "
            f"({100 * roof / graph_t:5.1f}% of roofline)  {bs / graph_t:9.0f} tok/s"
        )
    runner = backend = pool = None
    free()
    return rows


def bench_hf_decode(hf: Any, batches: list[int], ctx: int, steps: int) -> list[dict]:
    rows = []
    for bs in batches:
        try:
            ids = torch.randint(0, 1000, (bs, ctx), device=DEV)
            mask = torch.ones_like(ids)

            def gen(n: int, ids=ids, mask=mask) -> float:
                torch.cuda.synchronize()
                t = time.perf_counter()
                hf.generate(
                    ids, attention_mask=mask, do_sample=False, max_new_tokens=n,
                    min_new_tokens=n, pad_token_id=0,
                )  # fmt: skip
                torch.cuda.synchronize()
                return time.perf_counter() - t

            with torch.no_grad():
                gen(2)
                t1 = gen(1)
                tn = gen(1 + steps)
            step = (tn - t1) / steps
            rows.append(dict(batch=bs, ctx=ctx, step_ms=step * 1e3, tok_s=bs / step))
            log(
                f"HF generate bs {bs:4d} ctx {ctx}: {step * 1e3:8.2f} ms/step, "
                f"{bs / step:7.0f} tok/s"
            )
        except torch.OutOfMemoryError as err:
            rows.append(dict(batch=bs, ctx=ctx, error=f"out of memory: {err}"[:200]))
            log(f"HF generate bs {bs}: out of memory")
        free()
    return rows


def bench_attention_decode(batches: list[int], ctx: int, hq: int, hkv: int, d: int, bw: float):
    """The split-KV decode kernel alone (one layer, in a CUDA graph as the model runs it):
    time and achieved KV bandwidth of every kernel variant, each with the splits the backend
    would pick for it; picks the fastest correct one."""
    rows = []
    sms = torch.cuda.get_device_properties(DEV).multi_processor_count
    total = dict.fromkeys(ops.ATTN_VARIANTS, 0.0)
    for bs in batches:
        n = bs * (ctx + 1)
        kc = torch.randn(n + 1, hkv, d, device=DEV, dtype=torch.bfloat16)
        vc = torch.randn_like(kc)
        q = torch.randn(bs, hq, d, device=DEV, dtype=torch.bfloat16)
        qo = torch.arange(bs + 1, device=DEV)
        kvp = qo * (ctx + 1)
        kvi = torch.arange(1, n + 1, device=DEV)
        kv_bytes = 2 * n * hkv * d * 2
        # reference: the CUDA-core kernel (fp32 math) in one split
        ref = ops.attention(q, kc, vc, qo, kvp, kvi, d**-0.5, variant="regs").float()
        for variant, spec in ops.ATTN_VARIANTS.items():
            splits = ops.choose_splits(bs, hkv, ctx + 1, sms, spec[4])
            args = (q, kc, vc, qo, kvp, kvi, d**-0.5, splits)
            out = ops.attention(*args, variant=variant)
            err = float((out.float() - ref).norm() / ref.norm())
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                ops.attention(*args, variant=variant)
            t = timed(graph.replay, reps=30)
            total[variant] += t if err < 1e-2 else math.inf
            rows.append(dict(batch=bs, ctx=ctx, splits=splits, variant=variant, us=t * 1e6,
                             TBps=kv_bytes / t / 1e12, frac_of_copy=kv_bytes / t / bw,
                             rel_err_vs_regs=err))  # fmt: skip
            log(
                f"decode attention bs {bs:4d} ctx {ctx} {variant:9s}: {t * 1e6:8.1f} us, "
                f"splits {splits:2d}, {kv_bytes / t / 1e12:5.2f} TB/s "
                f"({100 * kv_bytes / t / bw:5.1f}% of copy), err {err:.0e}"
            )
            graph = out = None
        kc = vc = q = args = ref = None
        free()
    best = min(total, key=total.get)
    log(f"fastest decode-attention variant: {best}")
    return {"rows": rows, "best": best}


# -- 3. prefill -----------------------------------------------------------------------
def bench_attention_prefill(lengths: list[int], hq: int, hkv: int, d: int) -> list[dict]:
    rows = []
    for n in lengths:
        q = torch.randn(n, hq, d, device=DEV, dtype=torch.bfloat16)
        kc = torch.randn(n + 1, hkv, d, device=DEV, dtype=torch.bfloat16)
        vc = torch.randn_like(kc)
        qo = torch.tensor([0, n], device=DEV)
        kvi = torch.randperm(n, device=DEV) + 1
        work = ops.prefill_work([n], DEV)
        scale = d**-0.5
        args = (q, kc, vc, qo, qo, kvi, work, scale)
        ours = timed(lambda a=args: ops.prefill_attention(*a))
        # SDPA on contiguous, already-gathered K/V (the best case for it)
        qs = q.transpose(0, 1).unsqueeze(0)
        ks = kc[kvi].transpose(0, 1).unsqueeze(0)
        vs = vc[kvi].transpose(0, 1).unsqueeze(0)
        sargs = (qs, ks, vs)
        sdpa = timed(
            lambda a=sargs: F.scaled_dot_product_attention(*a, is_causal=True, enable_gqa=True)
        )
        out = ops.prefill_attention(*args)
        ref = F.scaled_dot_product_attention(qs, ks, vs, is_causal=True, enable_gqa=True)
        err = float((out.float() - ref[0].transpose(0, 1).float()).norm() / ref.float().norm())
        flops = 4 * n * n / 2 * hq * d
        rows.append(dict(tokens=n, ours_ms=ours * 1e3, sdpa_ms=sdpa * 1e3,
                         ours_TFLOPs=flops / ours / 1e12, sdpa_TFLOPs=flops / sdpa / 1e12,
                         rel_err_vs_sdpa=err))  # fmt: skip
        log(
            f"attention prefill {n:5d} tok: ours {ours * 1e3:7.3f} ms ({flops / ours / 1e12:6.1f} "
            f"TFLOP/s)  SDPA {sdpa * 1e3:7.3f} ms ({flops / sdpa / 1e12:6.1f} TFLOP/s) "
            f"err {err:.0e}"
        )
        q = kc = vc = qs = ks = vs = args = sargs = None
        free()
    return rows


def bench_model_prefill(model: CausalLM, hf: Any, lengths: list[int]) -> list[dict]:
    rows = []
    for n in lengths:
        pool = model.make_kv_pool(n + 2)
        backend = CudaAttentionBackend(model, pool)
        batch = ForwardBatch.build([(list(range(3, 3 + n)), list(range(1, n + 1)), n)]).to(DEV)
        ours = timed(lambda b=batch, p=pool, k=backend: model.forward(b, p, k), 5, 2)
        ids = torch.arange(3, 3 + n, device=DEV)[None]
        hf_t = math.nan
        if hf is not None:
            with torch.no_grad():
                hf_t = timed(lambda i=ids: hf(i, logits_to_keep=1), reps=5, warmup=2)
        rows.append(dict(tokens=n, ours_ms=ours * 1e3, ours_tok_s=n / ours,
                         hf_ms=hf_t * 1e3, hf_tok_s=n / hf_t))  # fmt: skip
        log(
            f"model prefill {n:5d} tok: ours {ours * 1e3:8.2f} ms ({n / ours:9.0f} tok/s)  "
            f"HF {hf_t * 1e3:8.2f} ms ({n / hf_t:9.0f} tok/s)"
        )
        pool = backend = None
        free()
    return rows


# -- 4. shared-prefix workload through the engine ------------------------------------
class RunnerTimes:
    """Time the engine's ModelRunner.run calls (device work + sampling) during a workload,
    to tell runner time from the actors' host time."""

    def __init__(self) -> None:
        self.acc: dict[str, float] = {}

    def __enter__(self) -> RunnerTimes:
        from radtrio import runner

        self._cls = runner.ModelRunner
        self._orig = orig = runner.ModelRunner.run
        acc = self.acc

        def run(this: Any, work: Any) -> Any:
            t = time.perf_counter()
            res = orig(this, work)
            kind = "decode" if work.batch.is_decode else "prefill"
            acc[kind + "_steps"] = acc.get(kind + "_steps", 0) + 1
            acc[kind + "_tokens"] = acc.get(kind + "_tokens", 0) + work.batch.num_tokens
            acc[kind + "_run_s"] = acc.get(kind + "_run_s", 0.0) + time.perf_counter() - t
            acc[kind + "_forward_s"] = acc.get(kind + "_forward_s", 0.0) + res.forward_s
            acc[kind + "_sample_s"] = acc.get(kind + "_sample_s", 0.0) + res.sample_s
            acc["graphs_captured"] = float(bool(this.graphs is not None and this.graphs.captured))
            return res

        runner.ModelRunner.run = run
        return self

    def __exit__(self, *exc: Any) -> None:
        self._cls.run = self._orig


class NumberTokenizer:
    """Enough of a tokenizer for token-id prompts: the streamer only decodes."""

    eos_token_id = None

    def decode(self, ids: list[int], skip_special_tokens: bool = True) -> str:
        return "".join(f"<{i}>" for i in ids)


def bench_shared_prefix(
    shape: str | dict, groups: int, per_group: int, system: int, question: int, out: int,
    max_running: int, device: str = "cuda",
) -> list[dict]:  # fmt: skip
    from radtrio.config import EngineConfig
    from radtrio.engine import AsyncEngine, Engine
    from radtrio.models.random_model import random_model

    gen = torch.Generator().manual_seed(0)
    prompts = []
    for _ in range(groups):
        sys_ids = torch.randint(10, 500, (system,), generator=gen).tolist()
        for _ in range(per_group):
            prompts.append(sys_ids + torch.randint(10, 500, (question,), generator=gen).tolist())
    warm = [torch.randint(1, 10, (system + question,), generator=gen).tolist()]
    params = dict(max_new_tokens=out, temperature=0.0, ignore_eos=True)
    rows = []
    dtype = "bfloat16" if device == "cuda" else "float32"
    loaded = random_model(shape, dtype=dtype, device=device, tokenizer=NumberTokenizer())
    for radix in (True, False):
        config = EngineConfig(
            device=device, dtype=dtype, radix_cache=radix, max_running=max_running,
            context_len=system + question + out + 8,
        )  # fmt: skip
        engine = Engine.__new__(Engine)
        engine.async_engine = AsyncEngine(config, loaded=loaded)
        engine.generate(warm * 2, params)  # warm-up: compile kernels, capture graphs
        before = engine.stats()
        t = time.perf_counter()
        with RunnerTimes() as times:
            results = engine.generate(prompts, params)
        wall = time.perf_counter() - t
        after = engine.stats()
        n_out = sum(len(r.token_ids) for r in results)
        prompt_tok = after.total_prompt_tokens - before.total_prompt_tokens
        cached = after.total_cached_tokens - before.total_cached_tokens
        row = dict(
            radix_cache=radix, requests=len(prompts), wall_s=wall, output_tok_s=n_out / wall,
            total_tok_s=(n_out + prompt_tok) / wall, hit_rate=cached / max(1, prompt_tok),
            output_tokens=n_out, runner={k: round(v, 3) for k, v in times.acc.items()},
        )  # fmt: skip
        rows.append(row)
        log(
            f"shared prefix radix={radix}: {wall:7.2f} s  {n_out / wall:8.0f} out tok/s  "
            f"hit rate {row['hit_rate']:.3f}\n    runner: {row['runner']}"
        )
        engine = None
        if device == "cuda":
            free()
    return rows


SECTIONS: list[str] | None = None


def section(name: str, fn, *args: Any, **kw: Any) -> Any:
    if SECTIONS is not None and name not in SECTIONS:
        return None
    log(f"\n== {name} ==")
    t = time.perf_counter()
    try:
        out = fn(*args, **kw)
    except Exception as err:  # keep going: later sections still report
        traceback.print_exc()
        out = {"error": f"{type(err).__name__}: {err}"[:500]}
    RESULTS[name] = out
    log(f"({name}: {time.perf_counter() - t:.1f} s)")
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=".")
    ap.add_argument("--tiny", action="store_true")
    ap.add_argument("--skip-hf", action="store_true")
    ap.add_argument("--skip-engine", action="store_true")
    ap.add_argument("--sections", nargs="*", default=None, help="run only these sections")
    args = ap.parse_args()
    props = torch.cuda.get_device_properties(DEV)
    RESULTS["device"] = (
        f"{props.name}, {props.multi_processor_count} SMs, {props.total_memory / 2**30:.0f} GiB"
    )
    RESULTS["torch"] = torch.__version__
    RESULTS["date"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    RESULTS["argv"] = sys.argv[1:]
    log(RESULTS["device"], "torch", torch.__version__)

    global SECTIONS
    SECTIONS = args.sections
    tiny = args.tiny
    shape = (
        dict(shape_config("llama-3.1-8b"), num_hidden_layers=2, vocab_size=4096)
        if tiny else "llama-3.1-8b"
    )  # fmt: skip
    batches = [1, 4] if tiny else [1, 16, 64, 256]
    ctx = 128 if tiny else 1024
    bw = copy_bandwidth(0.25 if tiny else 4.0)

    hf = hf_model(shape, torch.bfloat16)
    model = ours_from_hf(hf, torch.bfloat16)
    if args.skip_hf:
        del hf
        hf = None
    free()
    micro = section("attention_decode", bench_attention_decode, batches, ctx, 32, 8, 128, bw)
    variant = micro.get("best", ops.DEFAULT_VARIANT) if isinstance(micro, dict) else None
    section("decode_8b", bench_decode, model, batches, ctx, bw, variant or ops.DEFAULT_VARIANT)
    section(
        "attention_prefill",
        bench_attention_prefill,
        [1024, 8192] if not tiny else [256],
        32,
        8,
        128,
    )
    section("model_prefill_8b", bench_model_prefill, model, hf, [1024, 8192] if not tiny else [256])
    del model
    free()
    if hf is not None:
        section("hf_decode_8b", bench_hf_decode, hf, batches, ctx, 4 if tiny else 16)
        del hf
        free()
    if not args.skip_engine:
        section(
            "shared_prefix", bench_shared_prefix, "llama-3.2-1b" if not tiny else shape,
            2 if tiny else 16, 4 if tiny else 32, 64 if tiny else 2048, 16 if tiny else 128,
            8 if tiny else 128, 64 if tiny else 128,
        )  # fmt: skip
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench_gpu.json").write_text(json.dumps(RESULTS, indent=1, default=str))
    log("\n" + json.dumps(RESULTS, default=str))


if __name__ == "__main__":
    main()
