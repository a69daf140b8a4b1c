"""The `radtrio top` application: wires the reader thread's messages to the panels.

State lives in reactive attributes (server info, latest snapshot shown, paused, connection);
the reader thread (radtrio.tui.feed.Feed) posts messages, which are thread-safe in Textual.
Styling is in top.tcss.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import Footer, Header, Input, Static

from radtrio.tui import format as fmt
from radtrio.tui.feed import RETRY_DELAYS_S, Feed, describe
from radtrio.tui.history import History
from radtrio.tui.screens import ConfirmFlushScreen, HelpScreen
from radtrio.tui.source import StatsSource
from radtrio.tui.tree_model import build_tree
from radtrio.tui.widgets.facts import ServerFacts
from radtrio.tui.widgets.pool import PoolBar
from radtrio.tui.widgets.radix_tree import RadixTree
from radtrio.tui.widgets.requests import RequestsTable
from radtrio.tui.widgets.throughput import ThroughputPanel
from radtrio.types import ServerInfo, StatsSnapshot


@dataclass(frozen=True)
class Panels:
    facts: ServerFacts
    pool: PoolBar
    throughput: ThroughputPanel
    requests: RequestsTable
    tree: RadixTree
    tree_summary: Static
    banner: Static


class FilterInput(Input):
    BINDINGS = [Binding("escape", "app.clear_filter", "Clear filter", show=False)]


class TopApp(App[int]):
    CSS_PATH = "top.tcss"
    TITLE = "radtrio top"
    BINDINGS = [
        Binding("q", "quit", "Quit"),
        Binding("f", "flush", "Flush cache"),
        Binding("p", "toggle_pause", "Pause"),
        Binding("slash", "filter", "Filter tree"),
        Binding("s", "sort", "Sort requests"),
        Binding("question_mark", "help", "Help"),
    ]

    info: reactive[ServerInfo | None] = reactive(None)
    snapshot: reactive[StatsSnapshot | None] = reactive(None, always_update=True)
    paused: reactive[bool] = reactive(False)
    connected: reactive[bool] = reactive(False)
    banner: reactive[str] = reactive("")
    tree_filter: reactive[str] = reactive("")

    class Connected(Message):
        def __init__(self, info: ServerInfo) -> None:
            super().__init__()
            self.info = info

    class SnapshotArrived(Message):
        def __init__(self, snapshot: StatsSnapshot) -> None:
            super().__init__()
            self.snapshot = snapshot

    class Lost(Message):
        def __init__(self, reason: str, retry_in_s: float, attempt: int) -> None:
            super().__init__()
            self.reason = reason
            self.retry_in_s = retry_in_s
            self.attempt = attempt

    def __init__(
        self,
        source: StatsSource,
        interval_s: float = 0.5,
        history_s: float = 300.0,
        retry_delays_s: Sequence[float] = RETRY_DELAYS_S,
    ) -> None:
        super().__init__()
        self.source = source
        self.history = History(history_s)
        self.latest: StatsSnapshot | None = None  # newest received, shown or not (paused)
        self.snapshots_received = 0
        self.ever_connected = False
        self.flush_results: list[bool | str] = []  # True/False = server's answer, str = error
        self.panels: Panels | None = None
        self.feed = Feed(
            source,
            interval_s,
            on_connected=lambda info: self.post_message(self.Connected(info)),
            on_snapshot=lambda snap: self.post_message(self.SnapshotArrived(snap)),
            on_lost=lambda why, delay, n: self.post_message(self.Lost(why, delay, n)),
            retry_delays_s=retry_delays_s,
        )

    # -- layout -------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False, icon="●")
        yield Static("", id="banner")
        with Horizontal(id="top-row"):
            yield ServerFacts(id="facts")
            yield PoolBar(id="pool")
        with Horizontal(id="middle"):
            with Vertical(id="tree-panel"):
                yield Static("", id="tree-summary")
                yield FilterInput(placeholder="filter the tree by text…", id="tree-filter")
                yield RadixTree(id="tree")
            yield ThroughputPanel(self.history, id="throughput")
        yield RequestsTable(id="requests")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = f"{self.source.address} · connecting…"
        self.query_one("#facts").border_title = "Server"
        self.query_one("#pool").border_title = "KV pool"
        self.query_one("#tree-panel").border_title = "Radix tree"
        minutes = self.history.window_s / 60
        self.query_one("#throughput").border_title = f"Throughput · last {minutes:g} min"
        self.query_one("#requests").border_title = "Requests"
        self.query_one(RadixTree).focus()
        # Panels held by reference: messages still queued while the app shuts down must not
        # look them up in a DOM that is being torn down.
        self.panels = Panels(
            facts=self.query_one(ServerFacts),
            pool=self.query_one(PoolBar),
            throughput=self.query_one(ThroughputPanel),
            requests=self.query_one(RequestsTable),
            tree=self.query_one(RadixTree),
            tree_summary=self.query_one("#tree-summary", Static),
            banner=self.query_one("#banner", Static),
        )
        self.feed.start()

    def on_unmount(self) -> None:
        self.feed.stop()

    # -- messages from the reader thread ------------------------------------------------------

    def on_top_app_connected(self, message: Connected) -> None:
        if self.ever_connected and not self.connected:
            self.notify("Reconnected", timeout=3)
        self.ever_connected = True
        self.info = message.info
        self.connected = True
        self.banner = ""

    def on_top_app_snapshot_arrived(self, message: SnapshotArrived) -> None:
        snap = message.snapshot
        self.snapshots_received += 1
        self.history.add(snap)
        self.latest = snap
        if not self.paused:
            self.snapshot = snap

    def on_top_app_lost(self, message: Lost) -> None:
        self.connected = False
        where = self.source.address
        retry = f"{message.retry_in_s:g} s (attempt {message.attempt})"
        if self.ever_connected:
            self.banner = (
                f"Connection to {where} lost: {message.reason}. Reconnecting in {retry}; "
                "showing the last data received."
            )
        else:
            self.banner = (
                f"Cannot reach a radtrio server at {where}: {message.reason}. "
                f"Is `radtrio serve` running there? Retrying in {retry}."
            )

    # -- reactive state -> panels -------------------------------------------------------------

    def _update_sub_title(self) -> None:
        parts = [self.source.address]
        if self.info is not None:
            parts.append(self.info.model)
        if not self.connected:
            parts.append("reconnecting…" if self.ever_connected else "connecting…")
        if self.paused:
            parts.append("PAUSED")
        self.sub_title = " · ".join(parts)

    def watch_info(self, info: ServerInfo | None) -> None:
        if self.panels is not None:
            self.panels.facts.info = info
        self._update_sub_title()

    def watch_connected(self, connected: bool) -> None:
        self._update_sub_title()

    def watch_paused(self, paused: bool) -> None:
        self._update_sub_title()
        if not paused and self.latest is not None:
            self.snapshot = self.latest

    def watch_banner(self, text: str) -> None:
        if self.panels is None:
            return
        banner = self.panels.banner
        banner.update(f"⚠ {text}" if text else "")
        banner.set_class(bool(text), "-visible")

    def watch_snapshot(self, snap: StatsSnapshot | None) -> None:
        if snap is None or self.panels is None:
            return
        self.panels.facts.snapshot = snap
        self.panels.pool.snapshot = snap
        self.panels.throughput.show(snap)
        table = self.panels.requests
        table.show_requests(snap.requests)
        table.border_title = f"Requests · {snap.running} running · {snap.queued} queued"
        self._show_tree()

    def watch_tree_filter(self, text: str) -> None:
        self._show_tree()

    def _show_tree(self) -> None:
        snap = self.snapshot
        if snap is None or self.panels is None:
            return
        model = build_tree(snap.tree, self.tree_filter)
        self.panels.tree.show_model(model, snap.time_s, self.tree_filter.strip())
        total_nodes = max(snap.tree_nodes, model.nodes)
        total_tokens = max(snap.tree_cached_tokens, model.cached_tokens)
        parts = [
            f"[b]{fmt.count(total_nodes)}[/b] nodes",
            f"[b]{fmt.count(total_tokens)}[/b] cached tokens",
            f"depth {model.depth}",
            f"[green]{model.locked_nodes} locked[/green]",
        ]
        if model.nodes < total_nodes:
            parts.append(f"[dim]showing the largest {fmt.count(model.nodes)}[/dim]")
        if self.tree_filter.strip():  # first, so a narrow panel still shows it
            parts.insert(0, f"filter “{self.tree_filter.strip()}”: {model.shown_nodes} shown")
        self.panels.tree_summary.update(" · ".join(parts))

    # -- keys ---------------------------------------------------------------------------------

    def action_toggle_pause(self) -> None:
        self.paused = not self.paused

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def action_sort(self) -> None:
        self.query_one(RequestsTable).cycle_sort()

    def action_filter(self) -> None:
        box = self.query_one(FilterInput)
        box.add_class("-visible")
        box.focus()

    def action_clear_filter(self) -> None:
        box = self.query_one(FilterInput)
        box.value = ""
        box.remove_class("-visible")
        self.tree_filter = ""
        self.query_one(RadixTree).focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "tree-filter":
            self.tree_filter = event.value

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "tree-filter":
            if not event.value.strip():
                self.action_clear_filter()
            else:
                self.query_one(RadixTree).focus()

    def action_flush(self) -> None:
        tokens = self.latest.tree_cached_tokens if self.latest is not None else None

        def answered(yes: bool | None) -> None:
            if yes:
                self._flush_in_thread()

        self.push_screen(ConfirmFlushScreen(tokens), answered)

    @work(thread=True, exclusive=True, group="flush")
    def _flush_in_thread(self) -> None:
        try:
            done = self.source.flush_cache()
        except Exception as exc:  # noqa: BLE001 - shown to the user, the app keeps running
            self.call_from_thread(self._flush_answered, describe(exc))
        else:
            self.call_from_thread(self._flush_answered, done)

    def _flush_answered(self, result: bool | str) -> None:
        self.flush_results.append(result)
        if result is True:
            self.notify("Prefix cache flushed", timeout=4)
        elif result is False:
            self.notify("Flush refused: requests are running", severity="warning", timeout=5)
        else:
            self.notify(f"Flush failed: {result}", severity="error", timeout=6)
