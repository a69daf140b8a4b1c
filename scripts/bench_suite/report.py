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


COLORS = {"": "#3b75af", "off": "#e07b39", "hf": "#9e9e9e", "llama": "#4d9e5b"}
LEGEND = (
    ("", "radtrio", "blue"),
    ("off", "radtrio cache off", "orange"),
    ("hf", "HF", "grey"),
    ("llama", "llama.cpp", "green"),
)


def _fmt(v: Any, digits: int = 1) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    if isinstance(v, float):
        return f"{v:,.{digits}f}"
    return f"{v:,}" if isinstance(v, int) else str(v)


def kind_of(system: str) -> str:
    """Which baseline a row is: "hf", "llama", "off" (radtrio, cache off) or "" (radtrio)."""
    if system.startswith("HF"):
        return "hf"
    if system.startswith("llama.cpp"):
        return "llama"
    return "off" if "cache off" in system else ""


def _baseline(rows: list[dict], row: dict, kind: str) -> dict | None:
    def is_kind(r: dict) -> bool:
        return kind_of(r["system"]) == kind

    same = [r for r in rows if is_kind(r) and r.get("group", "") == row.get("group", "")]
    if same:
        return same[0]
    if kind in ("hf", "llama"):
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
    if "load_average" in result:  # 1-minute load average when the workload started / ended
        start, end = result["load_average"]
        lines += [f"Load average {start:.1f} at the start, {end:.1f} at the end.", ""]
    if "error" in result:
        lines += [f"Not measured: {result['error']}", ""]
        return "\n".join(lines)
    skipped = result.get("skipped", {})
    llama = bool(skipped) or any(kind_of(r["system"]) == "llama" for r in rows)
    lines += [
        f"| system | wall s | {head} | TTFT p50 / p99 ms | TPOT ms | cache hit (ideal) "
        f"| decode steps | {head} vs cache off | vs HF |" + (" vs llama.cpp |" if llama else ""),
        "|---|---|---|---|---|---|---|---|---|" + ("---|" if llama else ""),
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
            + (f" {_ratio(rows, r, 'llama', key)} |" if llama else "")
        )
    for system, why in skipped.items():
        lines.append(f"| {system} | not run: {why} |" + " |" * 7 + (" |" if llama else ""))
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


def _short(system: str) -> str:
    """A chart label: without the "radtrio, " prefix and llama.cpp's long name."""
    return system.replace("radtrio, ", "").replace(
        "(llama-cpp-python), one sequence at a time", "(one seq. at a time)"
    )


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
        labels = [_short(r["system"]) for r in rows]
        values = [r[key] for r in rows]
        colors = [COLORS[kind_of(r["system"])] for r in rows]
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
    kinds = {kind_of(r["system"]) for _, w in panels for r in w["rows"]}
    legend = ", ".join(f"{name} ({color})" for k, name, color in LEGEND if k in kinds)
    fig.suptitle(f"{title}: {legend}", fontsize=10)
    fig.tight_layout()
    path = out / f"bench_{name}.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
