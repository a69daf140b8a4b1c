"""Throughput over the last minutes (prefill and decode tokens/s, cache hit rate) and latency."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.reactive import reactive
from textual.widget import Widget

from radtrio.tui import format as fmt
from radtrio.tui.history import History
from radtrio.tui.widgets.chart import Chart
from radtrio.types import StatsSnapshot


def _tok_s(v: float) -> str:
    return f"{fmt.rate(v)} tok/s"


def _share(v: float) -> str:
    return f"{100.0 * v:.1f}%"


class LatencySummary(Widget):
    snapshot: reactive[StatsSnapshot | None] = reactive(None)

    def render(self) -> Table | Text:
        s = self.snapshot
        if s is None:
            return Text("")
        tokens_out = fmt.count(s.total_generated_tokens)
        grid = Table.grid(padding=(0, 2))
        for _ in range(4):
            grid.add_column(no_wrap=True)
        grid.add_row(
            Text("TTFT", "bold"),
            f"p50 {fmt.duration(s.ttft_p50_s)}",
            f"p99 {fmt.duration(s.ttft_p99_s)}",
            Text(f"hit rate {_share(s.cache_hit_rate)} overall", "dim"),
        )
        grid.add_row(
            Text("ITL", "bold"),
            f"p50 {fmt.duration(s.itl_p50_s)}",
            f"p99 {fmt.duration(s.itl_p99_s)}",
            Text(f"{fmt.count(s.total_prompt_tokens)} in · {tokens_out} out", "dim"),
        )
        return grid


class ThroughputPanel(Vertical):
    def __init__(self, history: History, **kwargs) -> None:
        super().__init__(**kwargs)
        self.history = history

    def compose(self) -> ComposeResult:
        # Children held by reference: show() may run while the app tears the DOM down.
        self.charts = [
            Chart(
                self.history,
                "prefill_tokens_per_s",
                "Prefill",
                _tok_s,
                style="cyan",
                id="chart-prefill",
            ),
            Chart(
                self.history,
                "decode_tokens_per_s",
                "Decode",
                _tok_s,
                style="magenta",
                id="chart-decode",
            ),
            Chart(
                self.history,
                "recent_cache_hit_rate",
                "Cache hits",
                _share,
                fixed_top=1.0,
                style="green",
                id="chart-hits",
            ),
        ]
        self.latency = LatencySummary(id="latency")
        yield from self.charts
        yield self.latency

    def show(self, snap: StatsSnapshot) -> None:
        for chart in self.charts:
            chart.version += 1
        self.latency.snapshot = snap
