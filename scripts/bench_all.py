"""Run radtrio's benchmark suite (issue 10): every workload, or the ones named.

    python scripts/bench_all.py --cpu                      # SmolLM2-135M (real weights), CPU
    python scripts/bench_all.py --gpu --tokenizer DIR      # Llama-3.2-1B shapes, random bf16
    python scripts/bench_all.py --tiny                     # toy sizes (the smoke test)
    python scripts/bench_all.py --cpu --only few_shot      # one workload
    python scripts/bench_all.py --report docs/bench_suite_cpu.json docs/bench_suite_gpu.json

Workloads: shared_prefix, multi_turn, few_shot, json_decode, tree_of_thought (one module
each in scripts/bench_suite/). Each runs radtrio under several configurations and its
baselines in the same run (radix cache off; HF transformers ``generate``, batched, on the
same weights; on the CPU llama.cpp through llama-cpp-python on the same GGUF file, one
sequence at a time, skipped with its reason where llama_cpp does not import) and gives a
table row per system. Results go to a JSON file (written after
every workload); ``--report`` turns JSON files into markdown tables (stdout, or appended to
``--doc``) and one PNG bar chart per workload under docs/.
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import json
import os
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_suite import WORKLOADS  # noqa: E402

SIZES: dict[str, dict[str, dict[str, Any]]] = {
    "tiny": {
        "shared_prefix": dict(
            groups=2, per_group=2, system=24, question=4, output=3, concurrency=4, max_running=2
        ),
        "multi_turn": dict(sessions=2, turns=2, q_min=8, q_max=12, short=2, long=4),
        "few_shot": dict(subjects=1, per_subject=3, shot_tokens=8, concurrency=3, select=True),
        "json_decode": dict(n=2, concurrency=2, cache_off=False),
        "tree_of_thought": dict(questions=1, question=8, branches=2, depth=2, step_tokens=2,
                                max_running=8),
    },
    "cpu": {
        "shared_prefix": dict(
            groups=4, per_group=4, system=384, question=16, output=16, concurrency=16,
            max_running=8,
        ),
        "multi_turn": dict(sessions=4, turns=4, q_min=64, q_max=128, short=8, long=32),
        "few_shot": dict(subjects=2, per_subject=12, shot_tokens=48, concurrency=12, select=False),
        "json_decode": dict(n=4, concurrency=4),
        "tree_of_thought": dict(questions=2, question=32, branches=2, depth=4, step_tokens=8,
                                max_running=32),
    },
    "gpu": {
        "shared_prefix": dict(
            groups=8, per_group=16, system=1024, question=64, output=64, concurrency=64,
            max_running=32,
        ),
        "multi_turn": dict(sessions=16, turns=4, q_min=256, q_max=512, short=8, long=256),
        "few_shot": dict(subjects=4, per_subject=50, shot_tokens=250, concurrency=64,
                         select="cache"),
        "json_decode": dict(n=64, concurrency=64),
        "tree_of_thought": dict(questions=8, question=128, branches=2, depth=4, step_tokens=32,
                                max_running=128),
    },
}  # fmt: skip


def _commit() -> str:
    """HEAD's short hash, flagged when the tree differs from it (the device machine's copy
    of the tree sits on an older commit's .git)."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=HERE
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, cwd=HERE,
        ).stdout.strip()  # fmt: skip
    except OSError:
        return "unknown"
    if not head:
        return "unknown"
    return f"{head} with uncommitted changes" if dirty else head


def make_setup(mode: str, args: argparse.Namespace) -> Any:
    import torch
    from bench_suite.common import Setup, card_line, machine_line

    from radtrio.models.random_model import random_model_with_hf, shape_config

    sizes = SIZES[args.sizes or mode]
    if mode == "cpu":
        from radtrio.models.fetch import default_model_path
        from radtrio.models.loader import load_model

        loaded = load_model(None, dtype="float32", progress=False)
        path = default_model_path(progress=False)

        def hf_factory() -> Any:
            from transformers import AutoModelForCausalLM

            return AutoModelForCausalLM.from_pretrained(
                str(path.parent), gguf_file=path.name, dtype=torch.float32
            ).eval()

        from bench_suite import llamacpp

        if args.skip_llama:
            llama_factory, llama_skip = None, "left out (--skip-llama)"
        else:
            llama_factory, llama_skip = llamacpp.factory(path, torch.get_num_threads())
        return Setup(
            mode, "cpu", "float32", loaded,
            "SmolLM2-135M-Instruct (real weights, Q4_1 GGUF dequantized to float32)",
            machine_line(), card_line("cpu"), sizes,
            None if args.skip_hf else hf_factory, dict(kv_slots=32768),
            llama_factory, llama_skip,
        )  # fmt: skip
    tokenizer = _tokenizer(args.tokenizer)
    if mode == "tiny":
        shape = dict(shape_config("tiny-llama"), vocab_size=len(tokenizer),
                     max_position_embeddings=4096)  # fmt: skip
        pair = random_model_with_hf(shape, tokenizer=tokenizer)
        hf = pair.hf_model
        return Setup(
            mode, "cpu", "float32", pair.loaded,
            "tiny-llama shape (2 layers, hidden 64), random weights, SmolLM2 tokenizer",
            machine_line(), card_line("cpu"), sizes,
            None if args.skip_hf else (lambda: hf), dict(kv_slots=8192),
            None, "tiny mode: a random model with no GGUF file for llama.cpp",
        )  # fmt: skip
    # gpu: the shape's HF model with random bf16 weights, and ours sharing those weights
    from transformers import AutoModelForCausalLM

    from radtrio.models.config import ModelConfig
    from radtrio.models.llama import CausalLM
    from radtrio.models.loader import LoadedModel
    from radtrio.models.random_model import hf_config

    device = args.device  # cpu: a dry run of this path (with --shape tiny-llama --sizes tiny)
    dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    shape = dict(shape_config(args.shape), vocab_size=len(tokenizer))
    torch.manual_seed(0)
    with torch.device(device):
        hf = AutoModelForCausalLM.from_config(hf_config(shape), dtype=dtype).eval()
    state = hf.state_dict()
    config = ModelConfig.from_hf(hf.config)
    model = CausalLM.from_hf_tensors(config, state.__getitem__, dtype, device, state.__contains__)
    loaded = LoadedModel(model, tokenizer, config, args.shape, f"random:{config.arch}")
    return Setup(
        mode, device, str(dtype).removeprefix("torch."), loaded,
        f"{args.shape} shape with SmolLM2's vocabulary ({len(tokenizer)} tokens), random "
        f"{str(dtype).removeprefix('torch.')} weights (HF and radtrio share them)",
        machine_line(), card_line(device), sizes,
        None if args.skip_hf else (lambda: hf), dict(context_len=8192, kv_slots=args.kv_slots),
    )  # fmt: skip


def _tokenizer(path: str | None) -> Any:
    from transformers import AutoTokenizer

    if path:
        return AutoTokenizer.from_pretrained(path)
    from radtrio.models.fetch import default_model_path
    from radtrio.models.gguf_loader import GGUFFile
    from radtrio.models.tokenizer import load_gguf_tokenizer

    gguf = default_model_path(progress=False)
    return load_gguf_tokenizer(gguf, GGUFFile(gguf).meta.get("tokenizer.ggml.pre"))


def run_isolated(mode: str, args: argparse.Namespace, argv: list[str]) -> dict[str, Any]:
    """Each workload in a fresh process (`--only NAME`), results merged into one file: on the
    CPU, HF generate ran up to 10x slower late in a long process that had run many engines
    (8.7 s alone vs 84 s as the suite's fourth workload), so no workload inherits another's."""
    import tempfile

    t0 = time.perf_counter()
    out = Path(args.out or f"docs/bench_suite_{mode}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    merged: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="radtrio-bench-") as tmp:
        for name in args.only or list(WORKLOADS):
            part = Path(tmp) / f"{name}.json"
            cmd = [sys.executable, str(Path(__file__).resolve()), *argv, "--no-isolate",
                   "--only", name, "--out", str(part)]  # fmt: skip
            subprocess.run(cmd, check=False)
            if not part.is_file():
                res = {"meta": {}, "workloads": {name: {"error": "the workload's process failed"}}}
            else:
                res = json.loads(part.read_text())
            if not merged:
                merged = res
            else:
                merged["workloads"].update(res["workloads"])
                merged["meta"].setdefault("sizes", {}).update(res["meta"].get("sizes", {}))
            merged["meta"]["total_s"] = time.perf_counter() - t0
            merged["meta"]["command"] = "python scripts/bench_all.py " + " ".join(argv)
            merged["meta"]["isolated"] = "each workload in its own process"
            out.write_text(json.dumps(merged, indent=1, default=str))
    print(f"results: {out} ({time.perf_counter() - t0:.0f} s)")
    return merged


def run_suite(
    mode: str, args: argparse.Namespace, adjust: Callable[[Any], None] | None = None
) -> dict[str, Any]:
    """Every workload in this process; ``adjust(setup)`` may change the setup first (tests
    put a fake llama.cpp into it)."""
    import torch

    t0 = time.perf_counter()
    setup = make_setup(mode, args)
    if adjust is not None:
        adjust(setup)
    names = args.only or list(WORKLOADS)
    out = Path(args.out or f"docs/bench_suite_{mode}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {
        "meta": dict(
            mode=mode, date=datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
            machine=setup.machine, card=setup.card, model=setup.model_label,
            model_short=setup.loaded.name, card_short=setup.card.split(",")[0],
            torch=torch.__version__, commit=_commit(),
            command="python scripts/bench_all.py " + " ".join(sys.argv[1:]),
            sizes={n: setup.sizes[n] for n in names}, total_s=0.0,
        ),
        "workloads": {},
    }  # fmt: skip
    print(f"[{mode}] model loaded in {time.perf_counter() - t0:.1f} s: {setup.model_label}")
    for name in names:
        elapsed = time.perf_counter() - t0
        if args.budget_s and elapsed > args.budget_s:
            results["workloads"][name] = {"error": f"skipped: {elapsed:.0f} s budget spent"}
            print(f"== {name}: skipped (budget)")
            continue
        module = importlib.import_module(f"bench_suite.{name}")
        print(f"== {name} ({module.TITLE})", flush=True)
        t = time.perf_counter()
        load = os.getloadavg()[0]
        try:
            res = module.run(setup)
        except Exception as err:  # later workloads still run and report
            traceback.print_exc()
            res = {"error": f"{type(err).__name__}: {err}"[:400]}
        res["seconds"] = time.perf_counter() - t
        res["load_average"] = [round(load, 2), round(os.getloadavg()[0], 2)]  # start, end
        if setup.llama_factory is None and setup.llama_skip and "error" not in res:
            res["skipped"] = {"llama.cpp (llama-cpp-python)": setup.llama_skip}
        print(f"   ({name}: {res['seconds']:.1f} s)", flush=True)
        results["workloads"][name] = res
        results["meta"]["total_s"] = time.perf_counter() - t0
        out.write_text(json.dumps(results, indent=1, default=str))
    print(f"results: {out}")
    return results


def report(paths: list[str], doc: str | None, plots: str | None) -> None:
    from bench_suite.report import plot, section

    titles = {n: importlib.import_module(f"bench_suite.{n}").TITLE for n in WORKLOADS}
    runs = [json.loads(Path(p).read_text()) for p in paths]
    text = "\n".join(section(r, titles) for r in runs)
    if doc:
        with open(doc, "a") as f:
            f.write("\n" + text)
    else:
        print(text)
    if plots:
        for name in WORKLOADS:
            if any(name in r["workloads"] and r["workloads"][name].get("rows") for r in runs):
                print("chart:", plot(name, titles[name], runs, Path(plots)))


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--cpu", action="store_true", help="SmolLM2-135M on the CPU (default)")
    mode.add_argument("--gpu", action="store_true", help="random weights of --shape on CUDA")
    mode.add_argument("--tiny", action="store_true", help="toy sizes and a tiny model")
    mode.add_argument("--report", nargs="+", metavar="JSON", help="tables/charts from results")
    ap.add_argument("--only", nargs="+", choices=WORKLOADS, help="run only these workloads")
    ap.add_argument("--out", help="results JSON (default docs/bench_suite_MODE.json)")
    ap.add_argument("--skip-hf", action="store_true", help="leave out the HF baseline")
    ap.add_argument("--skip-llama", action="store_true", help="leave out llama.cpp (CPU)")
    ap.add_argument("--shape", default="llama-3.2-1b", help="random-weight shape for --gpu")
    ap.add_argument("--device", default="cuda", help="--gpu's device (cpu: a dry run)")
    ap.add_argument("--sizes", choices=sorted(SIZES), help="sizes of another mode")
    ap.add_argument("--kv-slots", type=int, default=262144, help="--gpu's KV pool (tokens)")
    ap.add_argument("--tokenizer", help="a tokenizer folder (default: the default model's)")
    ap.add_argument("--budget-s", type=float, default=0.0, help="skip workloads after this")
    ap.add_argument("--no-isolate", action="store_true", help="all workloads in this one process")
    ap.add_argument("--doc", help="with --report: append the markdown to this file")
    ap.add_argument("--plots", help="with --report: write PNG charts into this folder")
    args = ap.parse_args()
    if args.report:
        report(args.report, args.doc, args.plots)
        return
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import numpy as np

    if not hasattr(np, "row_stack"):  # numba on numpy >= 2.5 (the GPU machine) still uses it
        np.row_stack = np.vstack
    mode = "gpu" if args.gpu else "tiny" if args.tiny else "cpu"
    names = args.only or list(WORKLOADS)
    if mode == "cpu" and len(names) > 1 and not args.no_isolate:
        argv = [a for a in sys.argv[1:]]
        if "--only" in argv:  # the child gets its own --only
            i = argv.index("--only")
            j = i + 1
            while j < len(argv) and not argv[j].startswith("--"):
                j += 1
            del argv[i:j]
        if "--out" in argv:
            i = argv.index("--out")
            del argv[i : i + 2]
        run_isolated(mode, args, argv)
        return
    run_suite(mode, args)


if __name__ == "__main__":
    main()
