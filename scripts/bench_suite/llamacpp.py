"""The llama.cpp baseline of the CPU runs: llama-cpp-python on the very GGUF file radtrio
serves by default, replaying the prompts radtrio saw (token ids) one sequence at a time,
greedy, with the same output lengths (EOS ignored: the replay stops after N tokens).

llama-cpp-python serves one sequence at a time. Between sequential calls it keeps the previous
sequence's KV cache and reuses its longest common prefix with the next prompt
(``Llama.generate(..., reset=True)``), so same-prefix prompts that follow each other skip the
shared part; nothing else is cached. The replay keeps radtrio's arrival order (no reordering
to help that reuse) and reports the reused share of prompt tokens as its cache hit rate.

Not a project dependency: ``CMAKE_ARGS="-DGGML_NATIVE=ON" pip install llama-cpp-python==0.3.36``
(about 9 minutes of compiling on 2 cores). Where it is not importable the baseline is skipped
with the reason in the tables.
"""

from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from bench_suite.common import Record, Setup, ideal_hit_rate, percentile

LABEL = "llama.cpp (llama-cpp-python), one sequence at a time"


def import_error() -> str:
    """Why llama_cpp cannot be used here ("" when it can)."""
    try:
        import llama_cpp  # noqa: F401
    except Exception as err:  # ImportError, or a shared library that fails to load
        return f"llama_cpp not importable ({type(err).__name__}: {err})"[:200]
    return ""


@contextlib.contextmanager
def _no_extra_bufts() -> Iterator[None]:
    """Model params with ``use_extra_bufts = False`` while a model loads: llama.cpp's AMX
    weight repacking (an extra buffer type) segfaults at the first decode on these CPUs."""
    import llama_cpp.llama_cpp as low

    original = low.llama_model_default_params

    def patched() -> Any:
        params = original()
        params.use_extra_bufts = False
        return params

    low.llama_model_default_params = patched
    try:
        yield
    finally:
        low.llama_model_default_params = original


def load(path: Path, threads: int, n_ctx: int = 4096) -> Any:
    """A ``llama_cpp.Llama`` on ``path`` (CPU, ``threads`` threads, no AMX repacking)."""
    from llama_cpp import Llama

    with _no_extra_bufts():
        return Llama(
            model_path=str(path), n_ctx=n_ctx, n_batch=512, n_threads=threads,
            n_threads_batch=threads, n_gpu_layers=0, seed=0, verbose=False,
        )  # fmt: skip


def factory(path: Path, threads: int) -> tuple[Callable[[], Any] | None, str]:
    """``(load the model, "")`` where llama_cpp imports, else ``(None, why not)``."""
    reason = import_error()
    if reason:
        return None, reason
    return (lambda: load(path, threads)), ""


def warm(llm: Any) -> None:
    """One short generation (page in the weights), then an empty KV cache."""
    for i, _ in enumerate(llm.generate(list(range(10, 42)), top_k=1, temp=0.0, reset=True)):
        if i >= 1:
            break
    llm.reset()


def _common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def replay_prompts(llm: Any, prompts: list[tuple[list[int], int]]) -> dict[str, Any]:
    """Serve ``(prompt ids, new tokens)`` in order, one at a time; the metrics of the run.
    The reused prefix is counted as llama-cpp-python computes it: the previous prompt plus
    the outputs it evaluated (all but the last, which is sampled and never fed back), never
    the whole new prompt (its last token runs again to give logits)."""
    previous: list[int] = []
    reused = out_tokens = prompt_tokens = 0
    ttft: list[float] = []
    tpot: list[float] = []
    t0 = time.perf_counter()
    for ids, n in prompts:
        n = max(1, n)
        hit = _common_prefix(previous, ids)
        reused += min(hit, len(ids) - 1)
        out: list[int] = []
        t = time.perf_counter()
        first = t
        for token in llm.generate(ids, top_k=1, temp=0.0, reset=True):
            if not out:
                first = time.perf_counter()
            out.append(token)
            if len(out) >= n:
                break
        end = time.perf_counter()
        if len(out) != n:
            raise RuntimeError(f"llama.cpp stopped after {len(out)} of {n} tokens")
        ttft.append(first - t)
        if n > 1:
            tpot.append((end - first) / (n - 1))
        previous = list(ids) + out[:-1]
        out_tokens += n
        prompt_tokens += len(ids)
    wall = time.perf_counter() - t0
    return dict(
        requests=len(prompts),
        wall_s=wall,
        output_tokens=out_tokens,
        prompt_tokens=prompt_tokens,
        output_tok_s=out_tokens / wall,
        total_tok_s=(out_tokens + prompt_tokens) / wall,
        req_s=len(prompts) / wall,
        call_ttft_p50_ms=1e3 * percentile(ttft, 50),
        tpot_ms=1e3 * statistics.mean(tpot) if tpot else float("nan"),
        hit_rate=reused / max(1, prompt_tokens),
    )


def replay(
    llm: Any,
    records: list[Record],
    label: str = LABEL,
    new_tokens_of: Callable[[Record], int] | None = None,
) -> dict[str, Any]:
    """The prompts radtrio served (its token ids, in its arrival order; fork prefills left
    out, as for HF), each with as many new tokens as radtrio produced (or ``new_tokens_of``)."""
    kept = sorted((r for r in records if r.tag != "fork-prefill"), key=lambda r: r.arrival)
    prompts = [
        (
            list(r.prompt_ids or []),
            new_tokens_of(r) if new_tokens_of else r.out.usage.completion_tokens,
        )
        for r in kept
    ]
    row = dict(system=label, **replay_prompts(llm, prompts))
    row["ideal_hit_rate"] = ideal_hit_rate(kept)
    print(
        f"  {label:38s} {row['wall_s']:7.2f} s  {row['output_tok_s']:8.1f} out tok/s  "
        f"reused prefix {row['hit_rate']:.3f} (ideal {row['ideal_hit_rate']:.3f})",
        flush=True,
    )
    return row


def baseline(
    setup: Setup,
    records: list[Record],
    label: str = LABEL,
    new_tokens_of: Callable[[Record], int] | None = None,
    group: str | None = None,
) -> list[dict[str, Any]]:
    """The llama.cpp row for a workload's records, or none where the setup has no llama.cpp
    (the reason, ``setup.llama_skip``, goes into the results as a skipped baseline)."""
    llm = setup.llama()
    if llm is None:
        return []
    warm(llm)
    row = replay(llm, records, label, new_tokens_of)
    if group is not None:
        row["group"] = group
    return [row]
