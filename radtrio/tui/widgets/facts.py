"""Server facts: model, device, dtype, pool size, uptime, policy, and the running totals."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from radtrio.tui import format as fmt
from radtrio.types import ServerInfo, StatsSnapshot


class ServerFacts(Widget):
    info: reactive[ServerInfo | None] = reactive(None)
    snapshot: reactive[StatsSnapshot | None] = reactive(None)

    def render(self) -> Table | Text:
        info, snap = self.info, self.snapshot
        if info is None:
            return Text("not connected", style="dim")
        grid = Table.grid(padding=(0, 1))
        grid.add_column(style="dim", no_wrap=True)
        grid.add_column(no_wrap=True, overflow="ellipsis")
        grid.add_row("model", Text(info.model, style="bold"))
        grid.add_row("device", f"{info.device} · {info.dtype}")
        grid.add_row(
            "pool", f"{fmt.count(info.pool_slots)} slots · context {fmt.count(info.context_len)}"
        )
        radix = "radix cache on" if info.radix_cache else "radix cache off"
        grid.add_row("policy", f"{info.schedule_policy} · {radix}")
        uptime = fmt.duration(snap.time_s) if snap is not None else "–"
        grid.add_row("uptime", f"{uptime} · v{info.version}")
        if snap is not None:
            done, aborted = fmt.count(snap.finished_requests), fmt.count(snap.aborted_requests)
            grid.add_row("served", f"{done} done · {aborted} aborted")
        return grid
