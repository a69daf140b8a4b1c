"""Snapshot tests of `radtrio top` (pytest-textual-snapshot): the screen at fixed sizes, fed a
fixed sequence of snapshots by a scripted source. The server's clock is in the data, so the
pictures do not depend on when the test runs. Update with `pytest --snapshot-update`."""

from __future__ import annotations

from tui_fakes import FakeSource, snapshot
from tui_pilot import wait_for, wait_snapshots

from radtrio.tui.app import TopApp

FRAMES = 120  # one minute of server time at 0.5 s per snapshot


def loaded_app(**kwargs) -> tuple[TopApp, FakeSource]:
    src = FakeSource()
    src.push(*(snapshot(i) for i in range(FRAMES)))
    kwargs.setdefault("history_s", 120.0)
    return TopApp(src, interval_s=0.5, **kwargs), src


def test_main_screen(snap_compare):
    app, _ = loaded_app()

    async def settle(pilot):
        await wait_snapshots(pilot, app, FRAMES)

    assert snap_compare(app, terminal_size=(160, 50), run_before=settle)


def test_small_terminal_with_a_filter(snap_compare):
    app, _ = loaded_app()

    async def settle(pilot):
        await wait_snapshots(pilot, app, FRAMES)
        await pilot.press("slash", *"assistant", "enter")

    assert snap_compare(app, terminal_size=(110, 34), run_before=settle)


def test_lost_connection_banner_over_the_last_data(snap_compare):
    app, src = loaded_app(retry_delays_s=(30.0,))  # one attempt shown, no retry during the test

    async def settle(pilot):
        await wait_snapshots(pilot, app, FRAMES)
        src.connect_errors = [ConnectionRefusedError(111, "Connection refused")] * 10**6
        src.push(ConnectionResetError(104, "Connection reset by peer"))
        await wait_for(pilot, lambda: app.banner, what="the banner")

    assert snap_compare(app, terminal_size=(160, 50), run_before=settle)


def test_flush_confirmation(snap_compare):
    app, _ = loaded_app()

    async def settle(pilot):
        await wait_snapshots(pilot, app, FRAMES)
        await pilot.press("f")

    assert snap_compare(app, terminal_size=(160, 50), run_before=settle)
