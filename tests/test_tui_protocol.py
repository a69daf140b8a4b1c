"""`radtrio top` against a real radtrio.server.Server over TCP and a unix socket: what the
server sends is what the panels show, a flush reaches the engine, a server that goes away is
reported and reconnected to, and the command line fails clearly without a server."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest
from tui_fakes import snapshot
from tui_pilot import run, text_of, wait_for, wait_snapshots
from tui_server import ServerThread, StatsEngine

from radtrio.tui.app import TopApp
from radtrio.tui.cli_args import add_top_args, run_top
from radtrio.tui.client_source import ClientSource
from radtrio.tui.source import SourceError
from radtrio.tui.widgets.radix_tree import RadixTree
from radtrio.tui.widgets.requests import RequestsTable

SIZE = (160, 50)


def test_panels_show_what_the_server_sends_and_flush_reaches_the_engine():
    engine = StatsEngine()

    async def go(address: str):
        app = TopApp(ClientSource(address, max_tree_nodes=50), interval_s=0.2)
        async with app.run_test(size=SIZE) as pilot:
            await wait_snapshots(pilot, app, 1)
            assert engine.stats_calls[0] == (True, 50)
            assert "in use 1,200 (14.6%)" in text_of(app.query_one("#pool"))
            assert "SmolLM2-135M-Instruct" in text_of(app.query_one("#facts"))
            assert app.query_one(RequestsTable).row_count == 3
            assert str(app.query_one(RadixTree).root.children[0].label).startswith(
                "“<|im_start|>system\\nYou…”  64 tok (Σ214)"
            )
            engine.snap = snapshot(5, used_slots=777, requests=[])
            await wait_for(pilot, lambda: "in use 777" in text_of(app.query_one("#pool")))
            assert app.query_one(RequestsTable).row_count == 0
            await pilot.press("f", "y")
            await wait_for(pilot, lambda: app.flush_results, what="the flush answer")
            assert app.flush_results == [True] and engine.flushes == 1
            engine.flush_answer = False
            await pilot.press("f", "y")
            await wait_for(pilot, lambda: len(app.flush_results) == 2, what="the second answer")
            assert app.flush_results[1] is False and engine.flushes == 2

    with ServerThread(engine) as server:
        run(go(server.address))


def test_unix_socket(tmp_path):
    path = str(tmp_path / "radtrio.sock")

    async def go():
        app = TopApp(ClientSource(f"unix:{path}"), interval_s=0.2)
        async with app.run_test(size=SIZE) as pilot:
            await wait_snapshots(pilot, app, 1)
            assert app.sub_title == f"unix:{path} · SmolLM2-135M-Instruct"
            assert "in use 1,200" in text_of(app.query_one("#pool"))

    with ServerThread(StatsEngine(), unix_path=path):
        run(go())


def test_server_restart_shows_a_banner_then_reconnects():
    first = ServerThread(StatsEngine()).start()
    port = first.server.addresses[0].rsplit(":", 1)[1]
    address = f"127.0.0.1:{port}"

    async def go():
        nonlocal first
        app = TopApp(ClientSource(address), interval_s=0.2, retry_delays_s=(0.05, 0.1))
        async with app.run_test(size=SIZE) as pilot:
            await wait_snapshots(pilot, app, 1)
            first.stop()
            await wait_for(pilot, lambda: app.banner, what="the banner")
            assert app.banner.startswith(f"Connection to {address} lost")
            assert app.query_one("#banner").display
            second = ServerThread(StatsEngine(snapshot(3, used_slots=4321)), port=int(port))
            with second:
                await wait_for(pilot, lambda: app.connected, timeout_s=10, what="reconnection")
                assert not app.query_one("#banner").display
                await wait_for(pilot, lambda: "in use 4,321" in text_of(app.query_one("#pool")))

    try:
        run(go())
    finally:
        first.stop()


def test_client_source_errors_are_source_errors():
    src = ClientSource("127.0.0.1:1", connect_timeout_s=1.0)
    with pytest.raises(SourceError, match="no radtrio server at 127.0.0.1:1"):
        src.connect()
    with pytest.raises(SourceError, match="not connected to 127.0.0.1:1"):
        src.flush_cache()
    with ServerThread(StatsEngine(), auth_token="s3cret") as server:
        with pytest.raises(SourceError, match="unauthorized"):
            ClientSource(server.address, auth_token="wrong").connect()
        ok = ClientSource(server.address, auth_token="s3cret")
        assert ok.connect().model == "SmolLM2-135M-Instruct"
        ok.close()


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="radtrio top")
    add_top_args(parser)
    return parser.parse_args(argv)


def test_command_line_without_a_server_or_with_bad_arguments(capsys):
    assert run_top(parse("--connect", "127.0.0.1:1")) == 1
    err = capsys.readouterr().err
    assert err.startswith("radtrio top: no radtrio server at 127.0.0.1:1")
    assert "`radtrio serve`" in err
    assert run_top(parse("--interval", "0.01")) == 2
    assert (
        "--interval 0.01 is invalid: must be in [0.05, 3600.0] seconds" in capsys.readouterr().err
    )
    assert run_top(parse("--connect", "host:notaport")) == 2
    assert "--connect: address 'host:notaport' is invalid" in capsys.readouterr().err
    assert run_top(parse("--max-tree-nodes", "0")) == 2
    assert run_top(parse("--max-tree-nodes", "10001")) == 2
    assert "must be in [1, 10000]" in capsys.readouterr().err
    assert parse("--unix", "/run/r.sock").unix == "/run/r.sock"
    with pytest.raises(SystemExit):
        parse("--unix", "/run/r.sock", "--connect", "h:1")


def test_run_top_starts_the_app_with_the_arguments(monkeypatch):
    started: list[TopApp] = []

    def fake_run(self):  # the real run() needs a terminal
        started.append(self)
        return None

    monkeypatch.setattr(TopApp, "run", fake_run)
    monkeypatch.setenv("RADTRIO_AUTH_TOKEN", "from-env")
    # No server and no --wait: a message, and no dashboard.
    assert run_top(parse("--connect", "127.0.0.1:1")) == 1 and not started
    # --wait: the dashboard starts anyway (its banner reports the absent server).
    assert run_top(parse("--connect", "127.0.0.1:1", "--wait", "--interval", "0.5")) == 0
    app = started[-1]
    assert app.feed.interval_s == 0.5 and app.source.address == "127.0.0.1:1"
    assert app.source.auth_token == "from-env"
    with ServerThread(StatsEngine()) as server:
        args = parse("--connect", server.address, "--history", "60", "--max-tree-nodes", "9")
        assert run_top(args) == 0
    app = started[-1]
    assert app.history.window_s == 60.0 and app.source.max_tree_nodes == 9
    assert run_top(parse("--unix", "/nonexistent/r.sock", "--wait", "--auth-token", "t")) == 0
    assert started[-1].source.address == "unix:/nonexistent/r.sock"
    assert started[-1].source.auth_token == "t"


def test_the_command_line_module_does_not_import_textual():
    code = (
        "import sys, argparse\n"
        "import radtrio.tui.cli_args as c\n"
        "p = argparse.ArgumentParser(); c.add_top_args(p)\n"
        "assert c.run_top(p.parse_args(['--connect', '127.0.0.1:1'])) == 1\n"
        "print('textual' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
