"""Throughput over the last minutes (prefill and decode tokens/s, cache hit rate) and latency."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.reactive import reactive
from textual.widget import Widget

from radtrio.tui import format as fmt
from radtrio.tui.history import History
from radtrio.tui.widgets.chart import Chart, bar_rows
from radtrio.types import StatsSnapshot


def _tok_s(v: float) -> str:
    return f"{fmt.rate(v)} tok/s"


def _share(v: float) -> str:
    return f"{100.0 * v:.1f}%"


class LatencySummary(Widget):
    """TTFT and inter-token latency p50/p99 now, with a strip of p99 over the window."""

    snapshot: reactive[StatsSnapshot | None] = reactive(None)

    def __init__(self, history: History, **kwargs) -> None:
        super().__init__(**kwargs)
        self.history = history

    def _strip(self, field: str, width: int) -> Text:
        values = self.history.binned(field, width)
        top = max((v for v in values if v is not None), default=0.0)
        return Text(bar_rows(values, 1, top)[0], "yellow")

    def render(self) -> Table | Text:
        s = self.snapshot
        if s is None:
            return Text("")
        grid = Table.grid(padding=(0, 2))
        for _ in range(3):
            grid.add_column(no_wrap=True)
        grid.add_column(no_wrap=True, ratio=1)
        strip = max(4, self.content_size.width - 34)
        grid.add_row(
            Text("TTFT", "bold"),
            f"p50 {fmt.duration(s.ttft_p50_s)}",
            f"p99 {fmt.duration(s.ttft_p99_s)}",
            self._strip("ttft_p99_s", strip),
        )
        grid.add_row(
            Text("ITL", "bold"),
            f"p50 {fmt.duration(s.itl_p50_s)}",
            f"p99 {fmt.duration(s.itl_p99_s)}",
            self._strip("itl_p99_s", strip),
        )
        tokens_in = fmt.count(s.total_prompt_tokens)
        tokens_out = fmt.count(s.total_generated_tokens)
        footer = Text(
            f"hit rate {_share(s.cache_hit_rate)} overall · {tokens_in} in · {tokens_out} out",
            "dim",
        )
        return Group(grid, footer)


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
        self.latency = LatencySummary(self.history, id="latency")
        yield from self.charts
        yield self.latency

    def show(self, snap: StatsSnapshot) -> None:
        for chart in self.charts:
            chart.version += 1
        self.latency.snapshot = snap
