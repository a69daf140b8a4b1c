"""TopApp under Pilot against a scripted StatsSource: the panels show the numbers they were
sent, the keys do what the help says, and a lost or absent server is reported and retried."""

from __future__ import annotations

import msgspec
from tui_fakes import INFO, FakeSource, snapshot
from tui_pilot import run, text_of, wait_for, wait_snapshots

from radtrio.tui.app import FilterInput, TopApp
from radtrio.tui.screens import ConfirmFlushScreen, HelpScreen
from radtrio.tui.source import SourceError
from radtrio.tui.widgets.radix_tree import RadixTree
from radtrio.tui.widgets.requests import RequestsTable
from radtrio.types import RequestInfo, TreeNodeSnapshot

SIZE = (160, 50)


def make_app(source: FakeSource, **kwargs) -> TopApp:
    kwargs.setdefault("retry_delays_s", (0.02, 0.05))
    return TopApp(source, interval_s=0.25, **kwargs)


def table_rows(table: RequestsTable) -> list[list[str]]:
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


def tree_labels(tree: RadixTree) -> list[str]:
    out, stack = [], [tree.root]
    while stack:
        node = stack.pop()
        out.append(str(node.label))
        stack.extend(reversed(node.children))
    return out


def test_panels_show_the_numbers_sent():
    async def go():
        src = FakeSource()
        app = make_app(src)
        async with app.run_test(size=SIZE) as pilot:
            src.push(snapshot(0))
            await wait_snapshots(pilot, app, 1)
            assert src.intervals == [0.25]
            assert app.sub_title == "fake:30000 · SmolLM2-135M-Instruct"
            pool = text_of(app.query_one("#pool"))
            assert "in use 1,200 (14.6%)" in pool
            assert "evictable 3,000 (36.6%)" in pool
            assert "free 3,992 (48.7%)" in pool
            assert "8,192 slots · running 2 · queued 1 · evicted 12,345 tok" in pool
            facts = text_of(app.query_one("#facts"))
            for fact in (
                "SmolLM2-135M-Instruct",
                "cpu · float32",
                "8,192 slots · context 2,048",
                "lpm · radix cache on",
                "42.0 s · v0.1.0",
                "118 done · 3 aborted",
            ):
                assert fact in facts
            summary = text_of(app.query_one("#tree-summary"))
            assert summary.startswith("6 nodes · 221 cached tokens · depth 3 · 3 locked")
            labels = tree_labels(app.query_one(RadixTree))
            assert labels[0] == "root"
            assert labels[1].startswith("“<|im_start|>system\\nYou…”  64 tok (Σ214)")
            assert "● 2 locks  hits 12  age 2s" in labels[1]  # age = 42.0 - 40.0
            assert "“Translate to French:”  7 tok  ○ evictable  hits 0  age 37s" in labels
            throughput = text_of(app.query_one("#throughput"))
            assert "Prefill  1.5k tok/s" in throughput
            assert "Decode  220 tok/s" in throughput
            assert "Cache hits  25.0%" in throughput
            assert "TTFT  p50 45.0 ms  p99 310 ms" in throughput
            assert "ITL   p50 12.0 ms  p99 41.0 ms" in throughput
            assert "hit rate 60.0% overall" in throughput
            table = app.query_one(RequestsTable)
            assert table_rows(table) == [
                ["req-beta", "running", "120", "94", "64", "3.5 s"],
                ["req-alpha", "running", "106", "94", "17", "1.2 s"],
                ["req-gamma", "queued", "300", "0", "0", "200 ms"],
            ]
            assert table.border_title == "Requests · 2 running · 1 queued"
            # A second snapshot replaces the numbers.
            src.push(snapshot(1, used_slots=4000, evictable_slots=0, free_slots=4192, requests=[]))
            await wait_snapshots(pilot, app, 2)
            pool = text_of(app.query_one("#pool"))
            assert "in use 4,000 (48.8%)" in pool and "free 4,192 (51.2%)" in pool
            assert table.row_count == 0
            assert "Prefill  1.6k tok/s   peak 1.6k tok/s" in text_of(app.query_one("#throughput"))
            # 20 s later TTFT p99 halves: its strip shows a full and a half bar, newest right.
            src.push(snapshot(40, ttft_p99_s=0.155))
            await wait_snapshots(pilot, app, 3)
            ttft = next(
                line for line in text_of(app.query_one("#latency")).splitlines() if "TTFT" in line
            )
            assert "p99 155 ms" in ttft
            assert ttft.rstrip().endswith("▄") and "█" in ttft

    run(go())


def test_pause_holds_the_screen_and_resume_catches_up():
    async def go():
        src = FakeSource()
        app = make_app(src)
        async with app.run_test(size=SIZE) as pilot:
            src.push(snapshot(0))
            await wait_snapshots(pilot, app, 1)
            await pilot.press("p")
            assert app.paused and app.sub_title.endswith("PAUSED")
            src.push(snapshot(1, used_slots=5000))
            await wait_snapshots(pilot, app, 2)
            assert "in use 1,200" in text_of(app.query_one("#pool"))
            assert len(app.history) == 2  # still recorded while paused
            await pilot.press("p")
            await pilot.pause()
            assert not app.paused
            assert "in use 5,000" in text_of(app.query_one("#pool"))

    run(go())


def test_flush_asks_first_and_reports_the_answer():
    async def go():
        src = FakeSource()
        app = make_app(src)
        async with app.run_test(size=SIZE) as pilot:
            src.push(snapshot(0))
            await wait_snapshots(pilot, app, 1)
            await pilot.press("f")
            assert isinstance(app.screen, ConfirmFlushScreen)
            await pilot.press("f")  # asking again does not stack a second dialog
            assert len(app.screen_stack) == 2
            confirm = " ".join(text_of(app.screen.query_one("#confirm-text")).split())
            assert confirm == "Flush the prefix cache? This drops the 221 cached tokens."
            await pilot.press("n")
            await pilot.pause()
            assert not isinstance(app.screen, ConfirmFlushScreen)
            assert src.flush_calls == 0
            await pilot.press("f", "y")
            await wait_for(pilot, lambda: app.flush_results, what="flush answer")
            assert src.flush_calls == 1 and app.flush_results == [True]
            src.flush_answer = False  # the server refuses while requests run
            await pilot.press("f")
            await pilot.click("#confirm-yes")
            await wait_for(pilot, lambda: len(app.flush_results) == 2, what="second answer")
            assert app.flush_results[1] is False
            src.flush_answer = SourceError("connection refused")
            await pilot.press("f", "y")
            await wait_for(pilot, lambda: len(app.flush_results) == 3, what="third answer")
            assert app.flush_results[2] == "connection refused"
            assert app.is_running  # a failed flush never takes the dashboard down

    run(go())


def test_filter_narrows_the_tree_and_escape_clears_it():
    async def go():
        src = FakeSource()
        app = make_app(src)
        async with app.run_test(size=SIZE) as pilot:
            src.push(snapshot(0))
            await wait_snapshots(pilot, app, 1)
            tree = app.query_one(RadixTree)
            assert len(tree_labels(tree)) == 7
            await pilot.press("slash")
            box = app.query_one(FilterInput)
            assert box.has_focus and box.display
            await pilot.press(*"haiku")
            await pilot.pause()
            assert app.tree_filter == "haiku"
            labels = tree_labels(tree)
            assert len(labels) == 4 and "Write a haiku about" in labels[-1]
            summary = text_of(app.query_one("#tree-summary"))
            assert "filter “haiku”: 3 shown" in summary
            assert "6 nodes" in summary  # the summary still describes the whole tree
            await pilot.press("q")  # typed into the filter, does not quit
            assert app.is_running and app.tree_filter == "haikuq"
            await pilot.press("escape")
            await pilot.pause()
            assert app.tree_filter == "" and not box.display and tree.has_focus
            assert len(tree_labels(tree)) == 7

    run(go())


def test_tree_keeps_collapsed_nodes_and_cursor_across_snapshots():
    async def go():
        src = FakeSource()
        app = make_app(src)
        async with app.run_test(size=SIZE) as pilot:
            src.push(snapshot(0))
            await wait_snapshots(pilot, app, 1)
            tree = app.query_one(RadixTree)
            node1 = next(n for n in tree.root.children if n.data == 1)
            assert node1.is_expanded
            node1.collapse()
            tree.move_cursor(next(n for n in tree.root.children if n.data == 6))
            grown = snapshot(1).tree + [TreeNodeSnapshot(7, 6, 300, " in French", 1, 42.0, 0)]
            src.push(snapshot(1, tree=grown))
            await wait_snapshots(pilot, app, 2)
            order = [n.data for n in tree.root.children]
            assert order == [6, 1]  # node 6 now carries the largest branch
            node1 = next(n for n in tree.root.children if n.data == 1)
            assert not node1.is_expanded
            assert tree.cursor_node is not None and tree.cursor_node.data == 6
            assert any("300 tok" in str(c.label) for c in tree.cursor_node.children)

    run(go())


def test_sort_key_and_header_click_reorder_requests():
    async def go():
        src = FakeSource()
        app = make_app(src)
        async with app.run_test(size=SIZE) as pilot:
            src.push(snapshot(0))
            await wait_snapshots(pilot, app, 1)
            table = app.query_one(RequestsTable)
            await pilot.press("s")  # elapsed -> id (wraps around), ascending
            assert (table.sort_column, table.sort_reverse) == ("id", False)
            assert [r[0] for r in table_rows(table)] == ["req-alpha", "req-beta", "req-gamma"]
            table.set_sort("prompt")
            assert [r[0] for r in table_rows(table)] == ["req-gamma", "req-beta", "req-alpha"]
            table.set_sort("prompt")  # the same column again flips the direction
            assert [r[0] for r in table_rows(table)] == ["req-alpha", "req-beta", "req-gamma"]
            await pilot.click("#requests", offset=(34, 1))  # the "Cached" heading
            await pilot.pause()
            assert table.sort_column == "cached"
            # The highlighted request stays highlighted when the rows are refreshed.
            table.move_cursor(row=[r[0] for r in table_rows(table)].index("req-gamma"))
            src.push(snapshot(1, requests=list(reversed(snapshot(1).requests))))
            await wait_snapshots(pilot, app, 2)
            assert table_rows(table)[table.cursor_row][0] == "req-gamma"
            src.push(snapshot(2, requests=[RequestInfo("req-new", "prefill", 9, 8, 0, 0.0)]))
            await wait_snapshots(pilot, app, 3)
            assert table_rows(table) == [["req-new", "prefill", "9", "8", "0", "0 µs"]]

    run(go())


def test_help_opens_and_closes_and_q_quits():
    async def go():
        src = FakeSource()
        app = make_app(src)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("question_mark")
            assert isinstance(app.screen, HelpScreen)
            assert "flush the prefix cache" in text_of(app.screen.query_one("#help-text"))
            await pilot.press("escape")
            assert not isinstance(app.screen, HelpScreen)
            await pilot.press("q")
            await pilot.pause()
            assert not app.is_running
        assert not app.feed.running  # the reader thread stopped with the app

    run(go())


def test_connection_loss_shows_a_banner_and_reconnects():
    async def go():
        src = FakeSource()
        app = make_app(src)
        async with app.run_test(size=SIZE) as pilot:
            src.push(snapshot(0))
            await wait_snapshots(pilot, app, 1)
            banner = app.query_one("#banner")
            assert not banner.display
            src.connect_errors = [ConnectionRefusedError(111, "Connection refused")] * 1000
            src.push(SourceError("connection reset by peer"))
            await wait_for(pilot, lambda: src.connects >= 3, what="reconnect attempts")
            assert banner.display and not app.connected
            shown = " ".join(text_of(banner).split())
            assert shown.startswith("⚠ Connection to fake:30000 lost: ")
            assert "showing the last data received" in shown
            assert "reconnecting…" in app.sub_title
            assert "in use 1,200" in text_of(app.query_one("#pool"))  # last data still shown
            src.connect_errors.clear()  # the server is back
            await wait_for(pilot, lambda: app.connected, what="reconnection")
            assert not banner.display and app.banner == ""
            src.push(snapshot(1, used_slots=2222))
            await wait_snapshots(pilot, app, 2)
            assert "in use 2,222" in text_of(app.query_one("#pool"))

    run(go())


def test_absent_server_gives_a_clear_message_until_it_appears():
    async def go():
        refused = ConnectionRefusedError(111, "Connection refused")
        src = FakeSource(connect_errors=[refused] * 100_000)
        app = make_app(src, retry_delays_s=(0.01,))
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: app.banner, what="the banner")
            text = app.banner
            assert text.startswith("Cannot reach a radtrio server at fake:30000: ")
            assert "Connection refused" in text and "`radtrio serve`" in text
            assert app.sub_title == "fake:30000 · connecting…"
            assert "not connected" in text_of(app.query_one("#facts"))
            # the new info first: the reader thread may connect as soon as errors are cleared
            src.info = msgspec.structs.replace(INFO, model="tiny-random")
            src.connect_errors.clear()
            await wait_for(pilot, lambda: app.connected, what="the first connection")
            assert app.banner == ""
            assert "tiny-random" in text_of(app.query_one("#facts"))

    run(go())
