"""KV pool occupancy: one bar split into in use / evictable cache / free, with the numbers."""

from __future__ import annotations

from rich.console import Group
from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from radtrio.tui import format as fmt
from radtrio.types import StatsSnapshot

USED_STYLE = "bold green"
EVICTABLE_STYLE = "yellow"
FREE_STYLE = "grey37"
BLOCK = "█"


def split_bar(width: int, used: int, evictable: int, free: int) -> tuple[int, int, int]:
    """Cells for each part of a bar ``width`` wide; nonzero parts get at least one cell when
    there is room, and the cells always add up to ``width``."""
    total = used + evictable + free
    if width <= 0:
        return 0, 0, 0
    if total <= 0:
        return 0, 0, width
    parts = [used, evictable, free]
    cells = [round(width * p / total) for p in parts]
    for i, p in enumerate(parts):
        if p > 0 and cells[i] == 0:
            cells[i] = 1
    while sum(cells) > width:  # take from the largest part
        i = max(range(3), key=lambda j: cells[j])
        cells[i] -= 1
    while sum(cells) < width:  # give to the part with the largest share
        i = max(range(3), key=lambda j: parts[j])
        cells[i] += 1
    return cells[0], cells[1], cells[2]


class PoolBar(Widget):
    """Two lines of bar and a legend; reads the slot counts of the latest snapshot."""

    snapshot: reactive[StatsSnapshot | None] = reactive(None)

    def render(self) -> Group:
        snap = self.snapshot
        width = max(1, self.content_size.width)
        if snap is None:
            return Group(Text("waiting for the first snapshot…", style="dim"))
        total = snap.pool_slots or (snap.used_slots + snap.evictable_slots + snap.free_slots)
        used, evict, free = split_bar(width, snap.used_slots, snap.evictable_slots, snap.free_slots)
        bar = Text()
        bar.append(BLOCK * used, USED_STYLE)
        bar.append(BLOCK * evict, EVICTABLE_STYLE)
        bar.append(BLOCK * free, FREE_STYLE)
        legend = Text()
        for name, value, style in (
            ("in use", snap.used_slots, USED_STYLE),
            ("evictable", snap.evictable_slots, EVICTABLE_STYLE),
            ("free", snap.free_slots, FREE_STYLE),
        ):
            legend.append("■ ", style)
            legend.append(f"{name} ")
            legend.append(fmt.count(value), "bold")
            legend.append(f" ({fmt.percent(value, total)})   ")
        totals = Text(
            f"{fmt.count(total)} slots · running {snap.running} · queued {snap.queued}"
            f" · evicted {fmt.count(snap.evicted_tokens)} tok · retracted {snap.retractions}",
            style="dim",
        )
        return Group(bar, bar, legend, totals)
