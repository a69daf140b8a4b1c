"""A bar chart of one History field over the window, newest at the right, zero at the bottom."""

from __future__ import annotations

from collections.abc import Callable

from rich.console import Group
from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from radtrio.tui.history import History

EIGHTHS = " ▁▂▃▄▅▆▇█"


def bar_rows(values: list[float | None], height: int, top: float) -> list[str]:
    """Rows (top first) of a block chart: each value fills ``value / top`` of ``height`` rows
    in eighths; None leaves the column blank; a value with data but under an eighth shows '▁'
    on the bottom row so a quiet period still reads as 'measured, zero'."""
    height = max(1, height)
    columns = []
    for v in values:
        if v is None:
            columns.append(" " * height)
            continue
        eighths = 0 if top <= 0 else round(max(0.0, min(1.0, v / top)) * height * 8)
        eighths = max(1, eighths)
        col = []
        for row in range(height):  # bottom first
            fill = max(0, min(8, eighths - row * 8))
            col.append(EIGHTHS[fill])
        columns.append("".join(reversed(col)))
    return ["".join(c[r] for c in columns) for r in range(height)]


def axis(width: int, window_s: float) -> Text:
    """The time axis under a chart: '-5m' at the left, 'now' at the right."""
    left = f"-{window_s / 60:g}m" if window_s >= 60 else f"-{window_s:g}s"
    gap = max(1, width - len(left) - len("now"))
    return Text(left + "─" * gap + "now", style="dim")


class Chart(Widget):
    """Title line (current value and peak) above the bars. ``fixed_top`` pins the scale
    (1.0 for a rate); otherwise the peak in view is the top."""

    version: reactive[int] = reactive(0)

    def __init__(
        self,
        history: History,
        field: str,
        title: str,
        formatter: Callable[[float], str],
        fixed_top: float | None = None,
        style: str = "cyan",
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.history = history
        self.field = field
        self.title = title
        self.formatter = formatter
        self.fixed_top = fixed_top
        self.bar_style = style

    def render(self) -> Group:
        width = max(1, self.content_size.width)
        height = max(1, self.content_size.height - 2)
        values = self.history.binned(self.field, width)
        seen = [v for v in values if v is not None]
        current = self.history.values(self.field)[-1:] or [0.0]
        peak = self.history.peak(self.field)
        top = self.fixed_top if self.fixed_top is not None else max(seen, default=0.0)
        title = Text()
        title.append(self.title, "bold")
        title.append(f"  {self.formatter(current[0])}", self.bar_style)
        title.append(f"   peak {self.formatter(peak)}", "dim")
        rows = [Text(r, self.bar_style) for r in bar_rows(values, height, top)]
        return Group(title, *rows, axis(width, self.history.window_s))
