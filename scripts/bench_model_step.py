"""Raw forward-step time of the model runtime on CPU: decode at batch 1 and 16, prefill.

    python scripts/bench_model_step.py [--model SPEC] [--dtype float32 bfloat16] [--ctx 256]

Each decode step runs every sequence with one new token over a cached context of
``--ctx`` tokens (the KV pool is filled by a prefill first). Prints ms per step and tok/s.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from radtrio.models.batch import ForwardBatch
from radtrio.models.loader import load_model
from radtrio.models.random_model import random_model
from radtrio.models.torch_attention import TorchAttentionBackend


def decode_batch(batch_size: int, ctx: int, step: int) -> ForwardBatch:
    seqs = []
    for b in range(batch_size):
        base = 1 + b * (ctx + 64)
        seq_len = ctx + step + 1
        slots = list(range(base, base + seq_len))
        seqs.append(([100 + b], slots, seq_len))
    return ForwardBatch.build(seqs)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=None)
    ap.add_argument("--shape", default=None, help="random weights of a SHAPES entry instead")
    ap.add_argument("--dtype", nargs="+", default=["float32", "bfloat16"])
    ap.add_argument("--batch", nargs="+", type=int, default=[1, 16])
    ap.add_argument("--ctx", type=int, default=256)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--prefill", type=int, default=500)
    args = ap.parse_args()
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}")
    # The KV pool is sized for the longest run below.
    for dtype in args.dtype:
        if args.shape:
            lm = random_model(args.shape, dtype=dtype, std=0.02)
        else:
            lm = load_model(args.model, dtype=dtype, progress=False)
        model = lm.model
        backend = TorchAttentionBackend(lm.config.sliding_window)
        bmax = max(args.batch)
        pool = model.make_kv_pool(1 + bmax * (args.ctx + 64) + args.prefill + 8)
        print(f"{lm.name} {dtype}: loaded in {lm.load_seconds:.1f} s")
        ids = list(range(1000, 1000 + args.prefill))
        pf = ForwardBatch.build([(ids, list(range(1, args.prefill + 1)), args.prefill)])
        times = []
        for _ in range(3):
            t = time.perf_counter()
            model(pf, pool, backend)
            times.append(time.perf_counter() - t)
        print(f"  prefill {args.prefill} tokens: {min(times) * 1e3:.1f} ms")
        for bs in args.batch:
            times = []
            for step in range(args.steps + 3):
                batch = decode_batch(bs, args.ctx, step)
                t = time.perf_counter()
                model(batch, pool, backend)
                times.append(time.perf_counter() - t)
            times = times[3:]
            med = statistics.median(times)
            print(
                f"  decode bs {bs:3d} ctx {args.ctx}: median {med * 1e3:.2f} ms/step "
                f"(min {min(times) * 1e3:.2f}), {bs / med:.1f} tok/s"
            )


if __name__ == "__main__":
    main()
