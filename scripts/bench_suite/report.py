"""Markdown tables and PNG bar charts from the suite's JSON results."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

HEADLINE_NAMES = {
    "output_tok_s": "output tok/s",
    "req_s": "requests/s",
    "questions_s": "questions/s",
}


def _fmt(v: Any, digits: int = 1) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    if isinstance(v, float):
        return f"{v:,.{digits}f}"
    return f"{v:,}" if isinstance(v, int) else str(v)


def _baseline(rows: list[dict], row: dict, kind: str) -> dict | None:
    def is_kind(r: dict) -> bool:
        return r["system"].startswith("HF") if kind == "hf" else "cache off" in r["system"]

    same = [r for r in rows if is_kind(r) and r.get("group", "") == row.get("group", "")]
    if same:
        return same[0]
    if kind == "hf":
        anyg = [r for r in rows if is_kind(r)]
        return anyg[0] if anyg else None
    return None


def _ratio(rows: list[dict], row: dict, kind: str, key: str) -> str:
    base = _baseline(rows, row, kind)
    if base is None or base is row or not base.get(key):
        return ""
    return f"{row[key] / base[key]:.2f}x"


def workload_table(name: str, title: str, result: dict, meta: dict) -> str:
    rows = result.get("rows", [])
    key = result.get("headline", "output_tok_s")
    head = HEADLINE_NAMES.get(key, key)
    lines = [
        f"#### {title} ({meta['mode']}; `{name}`)",
        "",
        f"{result.get('description', '')}",
        "",
    ]
    if "error" in result:
        lines += [f"Not measured: {result['error']}", ""]
        return "\n".join(lines)
    lines += [
        f"| system | wall s | {head} | TTFT p50 / p99 ms | TPOT ms | cache hit (ideal) "
        f"| decode steps | {head} vs cache off | vs HF |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        ttft = (
            f"{_fmt(r['ttft_p50_ms'], 0)} / {_fmt(r['ttft_p99_ms'], 0)}"
            if "ttft_p50_ms" in r
            else ""
        )
        hit = f"{r['hit_rate']:.3f} ({r['ideal_hit_rate']:.3f})" if "hit_rate" in r else ""
        digits = 1 if key == "output_tok_s" else 2
        lines.append(
            f"| {r['system']} | {_fmt(r['wall_s'], 2)} | {_fmt(r[key], digits)}"
            f" | {ttft} | {_fmt(r.get('tpot_ms'), 1)} | {hit} | {_fmt(r.get('decode_steps'))} "
            f"| {_ratio(rows, r, 'off', key)} | {_ratio(rows, r, 'hf', key)} |"
        )
    return "\n".join(lines) + "\n"


def section(results: dict, titles: dict[str, str]) -> str:
    meta = results["meta"]
    lines = [
        f"### Benchmark suite, {meta['mode']} ({meta['date']})",
        "",
        f"Machine: {meta['machine']}. Card: {meta['card']}. Model: {meta['model']}. "
        f"torch {meta['torch']}, commit {meta['commit']}. Command: `{meta['command']}` "
        f"({meta['total_s']:.0f} s in all).",
        "",
    ]
    for name, result in results["workloads"].items():
        lines.append(workload_table(name, titles.get(name, name), result, meta))
    return "\n".join(lines)


def plot(name: str, title: str, runs: list[dict], out: Path) -> Path:
    """One PNG per workload: the headline metric of every system, a panel per machine."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [(r["meta"], r["workloads"][name]) for r in runs if name in r["workloads"]]
    panels = [(m, w) for m, w in panels if w.get("rows")]
    height = 0.5 * max(len(w["rows"]) for _, w in panels) + 1.6
    fig, axes = plt.subplots(1, len(panels), figsize=(6.4 * len(panels), height), squeeze=False)
    for ax, (meta, w) in zip(axes[0], panels, strict=True):
        key = w.get("headline", "output_tok_s")
        rows = w["rows"]
        labels = [r["system"].replace("radtrio, ", "") for r in rows]
        values = [r[key] for r in rows]
        colors = [
            "#9e9e9e" if r["system"].startswith("HF")
            else "#e07b39" if "cache off" in r["system"] else "#3b75af"
            for r in rows
        ]  # fmt: skip
        y = range(len(rows))
        ax.barh(list(y), values, color=colors)
        ax.set_yticks(list(y), labels, fontsize=8)
        ax.invert_yaxis()
        for i, v in enumerate(values):
            ax.text(v, i, f" {v:,.1f}", va="center", fontsize=8)
        ax.set_xlim(0, max(values) * 1.25)
        ax.set_xlabel(HEADLINE_NAMES.get(key, key) + " (higher is better)")
        where = meta.get("card_short", "") if meta["mode"] == "gpu" else "2-core CPU"
        ax.set_title(f"{meta['mode']}: {meta['model_short']}, {where}", fontsize=9)
    fig.suptitle(f"{title}: radtrio (blue), radtrio cache off (orange), HF (grey)", fontsize=10)
    fig.tight_layout()
    path = out / f"bench_{name}.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
