"""The dashboard's pure parts: tree building, history binning, bar split, formatting, sorting,
and the reader thread's reconnect loop (no Textual app involved)."""

from __future__ import annotations

import threading
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tui_fakes import END, FakeSource, sample_tree, snapshot

from radtrio.tui import format as fmt
from radtrio.tui.feed import Feed
from radtrio.tui.history import History
from radtrio.tui.source import SourceError, StatsSource
from radtrio.tui.tree_model import build_tree, walk
from radtrio.tui.widgets.chart import axis, bar_rows
from radtrio.tui.widgets.pool import split_bar
from radtrio.tui.widgets.radix_tree import display_label
from radtrio.tui.widgets.requests import sort_requests
from radtrio.types import RequestInfo, TreeNodeSnapshot


def ids(model):
    return [r.node.node_id for r in walk(model.root)]


def test_tree_orders_largest_branch_first_and_counts():
    model = build_tree(sample_tree())
    # node 1 carries 64 + 30 + 12 + 18 + 90 = 214 tokens, node 6 only 7.
    assert ids(model) == [0, 1, 5, 2, 4, 3, 6]
    assert model.root.children[0].branch_tokens == 214
    assert (model.nodes, model.cached_tokens, model.depth, model.locked_nodes) == (6, 221, 3, 3)
    assert model.shown_nodes == 6


def test_tree_filter_keeps_matches_and_their_ancestors():
    model = build_tree(sample_tree(), "HAIKU")
    assert ids(model) == [0, 1, 2, 4]
    assert [r.matched for r in walk(model.root)] == [False, False, False, True]
    assert model.shown_nodes == 3
    assert model.nodes == 6  # the summary still counts the whole tree
    assert model.root.children[0].branch_tokens == 214  # Σ counts hidden descendants too
    assert ids(build_tree(sample_tree(), "no such text")) == [0]


def test_tree_survives_truncated_duplicate_and_cyclic_input():
    T = TreeNodeSnapshot
    nodes = [
        T(1, 99, 5, "orphan", 0, 0.0, 0),  # parent missing: hangs off a synthetic root
        T(1, 98, 6, "duplicate id", 0, 0.0, 0),  # ignored: first occurrence wins
        T(2, 3, 1, "cycle a", 0, 0.0, 0),
        T(3, 2, 1, "cycle b", 0, 0.0, 0),  # unreachable from the root: dropped
        T(4, 4, 2, "own parent", 0, 0.0, 0),
    ]
    model = build_tree(nodes)
    assert model.root.node.node_id == -1
    assert sorted(ids(model)) == [-1, 1, 4]
    assert model.cached_tokens == 7


def test_tree_handles_a_chain_deeper_than_the_recursion_limit():
    T = TreeNodeSnapshot
    chain = [T(0, -1, 0, "", 0, 0.0, 0)]
    chain += [T(i, i - 1, 1, f"n{i}", 0, 0.0, 0) for i in range(1, 5000)]
    model = build_tree(chain)
    assert model.depth == 4999 and model.nodes == 4999
    assert model.root.branch_tokens == 4999


def test_history_window_restart_and_bins():
    h = History(window_s=10.0)
    for i in range(30):  # t = 42.0 .. 56.5 every 0.5 s
        h.add(snapshot(i))
    assert h.latest_time == 56.5
    assert min(t for t, _ in h._samples) >= 46.5  # only the last 10 s are kept
    bins = h.binned("decode_tokens_per_s", 5)
    assert len(bins) == 5 and all(b is not None for b in bins)
    assert h.peak("prefill_tokens_per_s") == 2100.0
    h.add(snapshot(0, time_s=1.0))  # the server's clock went back: a restarted server
    assert len(h) == 1
    assert h.binned("running", 4) == [None, None, None, 2.0]
    with pytest.raises(KeyError, match="no field 'nope'"):
        h.binned("nope", 3)
    with pytest.raises(ValueError, match="window_s"):
        History(0)


@given(
    st.integers(0, 200),
    st.integers(0, 10**6),
    st.integers(0, 10**6),
    st.integers(0, 10**6),
)
def test_split_bar_fills_the_width_and_shows_every_nonzero_part(width, used, evict, free):
    cells = split_bar(width, used, evict, free)
    assert sum(cells) == width
    if width >= 3:
        for part, n in zip((used, evict, free), cells, strict=True):
            if part > 0:
                assert n >= 1
            total = used + evict + free
            if total and part == 0:
                assert n == 0


def test_bar_rows_scale_from_zero():
    rows = bar_rows([None, 0.0, 2.5, 5.0, 7.5, 10.0], height=2, top=10.0)
    assert rows == ["    ▄█", " ▁▄███"]
    assert bar_rows([3.0], height=1, top=0.0) == ["▁"]
    assert axis(20, 300.0).plain == "-5m" + "─" * 14 + "now"


def test_formatting():
    assert fmt.count(1234) == "1,234" and fmt.count(12_345_678) == "12.35M"
    assert fmt.rate(0.5) == "0.50" and fmt.rate(250) == "250" and fmt.rate(12_345) == "12.3k"
    assert fmt.duration(0.0004) == "400 µs" and fmt.duration(0.0123) == "12.3 ms"
    assert fmt.duration(4.2) == "4.2 s" and fmt.duration(185) == "3m05s"
    assert fmt.duration(7440) == "2h04m" and fmt.age(125) == "2m"
    assert fmt.percent(1, 3) == "33.3%" and fmt.percent(5, 0) == "0.0%"
    assert display_label("a\nb\tc\x01") == "a\\nb\\tc�"
    assert display_label("x" * 40, 10) == "x" * 9 + "…"


def test_sort_requests_by_each_column():
    reqs = [
        RequestInfo("b", "queued", 10, 0, 0, 0.1),
        RequestInfo("a", "running", 30, 5, 7, 2.0),
        RequestInfo("c", "prefill", 20, 9, 0, 1.0),
    ]
    assert [r.request_id for r in sort_requests(reqs, "id", False)] == ["a", "b", "c"]
    assert [r.request_id for r in sort_requests(reqs, "state", False)] == ["a", "c", "b"]
    assert [r.request_id for r in sort_requests(reqs, "prompt", True)] == ["a", "c", "b"]
    assert [r.request_id for r in sort_requests(reqs, "elapsed", True)] == ["a", "c", "b"]
    with pytest.raises(KeyError, match="unknown"):
        sort_requests(reqs, "colour", False)


def test_fake_source_satisfies_the_interface():
    assert isinstance(FakeSource(), StatsSource)


def test_feed_reports_refusal_then_reconnects_after_a_loss():
    src = FakeSource(connect_errors=[ConnectionRefusedError(111, "Connection refused")])
    events: list[tuple] = []
    got_second = threading.Event()

    def on_snapshot(snap):
        events.append(("snap", snap.time_s))
        if len([e for e in events if e[0] == "snap"]) == 2:
            got_second.set()

    feed = Feed(
        src,
        0.25,
        on_connected=lambda info: events.append(("connected", info.model)),
        on_snapshot=on_snapshot,
        on_lost=lambda why, delay, n: events.append(("lost", why, delay, n)),
        retry_delays_s=(0.01, 0.02),
    )
    src.push(snapshot(0), SourceError("socket closed"), END, snapshot(1))
    feed.start()
    try:
        assert got_second.wait(5)
    finally:
        feed.stop()
    assert not feed.running
    kinds = [e[0] for e in events]
    assert kinds == ["lost", "connected", "snap", "lost", "connected", "lost", "connected", "snap"]
    assert events[0] == ("lost", "ConnectionRefusedError: [Errno 111] Connection refused", 0.01, 1)
    assert events[3] == ("lost", "socket closed", 0.01, 1)  # failures reset after a connect
    assert events[5][1] == "the server closed the stats stream"
    assert src.intervals == [0.25, 0.25, 0.25]


def test_feed_stop_unblocks_a_waiting_stream():
    src = FakeSource()
    feed = Feed(src, 0.5, lambda i: None, lambda s: None, lambda *a: None)
    feed.start()
    time.sleep(0.05)
    feed.stop(timeout_s=30.0)  # returns as soon as the thread ends; a hang fails below
    assert not feed.running
    with pytest.raises(ValueError, match="interval_s"):
        Feed(src, 0, lambda i: None, lambda s: None, lambda *a: None)


def test_feed_closes_a_connection_that_opened_after_stop():
    src = FakeSource()
    src.connect_gate = threading.Event()
    connected = []
    feed = Feed(src, 0.5, connected.append, lambda s: None, lambda *a: None)
    feed.start()
    feed.stop(timeout_s=0.05)  # the thread is still inside connect()
    closes_at_stop = src.closes
    src.connect_gate.set()
    feed._thread.join(5)
    assert not feed.running
    assert connected == []  # stopped: the late connection is not reported...
    assert src.closes == closes_at_stop + 1  # ...and it is closed
