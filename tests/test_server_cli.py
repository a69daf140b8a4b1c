"""`radtrio serve` / `radtrio generate` argument handling, run as a user would (the engine is
the fake one, so no model is loaded)."""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from server_fake_engine import FakeEngine
from server_harness import ServerThread

from radtrio.client import Client
from radtrio.server.cli_args import (
    add_generate_args,
    add_serve_args,
    engine_config,
    run_generate,
)

TESTS = Path(__file__).resolve().parent


def parse(add, *argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add(parser)
    return parser.parse_args(argv)


def test_serve_flags_map_to_the_engine_config():
    args = parse(
        add_serve_args,
        "--model",
        "m.gguf",
        "--device",
        "cpu",
        "--dtype",
        "bfloat16",
        "--max-running",
        "8",
        "--kv-slots",
        "4096",
        "--schedule-policy",
        "fcfs",
        "--no-radix-cache",
    )
    cfg = engine_config(args)
    assert (cfg.model, cfg.device, cfg.dtype, cfg.max_running, cfg.kv_slots) == (
        "m.gguf",
        "cpu",
        "bfloat16",
        8,
        4096,
    )
    assert cfg.schedule_policy == "fcfs" and cfg.radix_cache is False
    assert cfg.jump_forward is True and cfg.jump_forward_min_tokens is None
    jf = engine_config(parse(add_serve_args, "--no-jump-forward", "--jump-forward-min-tokens", "6"))
    assert jf.jump_forward is False and jf.jump_forward_min_tokens == 6
    with pytest.raises(ValueError, match="jump_forward_min_tokens=0"):
        engine_config(parse(add_serve_args, "--jump-forward-min-tokens", "0"))
    assert args.host == "127.0.0.1" and args.port == 30000  # loopback by default
    assert engine_config(parse(add_serve_args, "--mem-fraction", "0.3")).mem_fraction == 0.3
    with pytest.raises(SystemExit):
        parse(add_serve_args, "--kv-slots", "10", "--mem-fraction", "0.3")
    with pytest.raises(ValueError, match="max_running"):
        engine_config(parse(add_serve_args, "--max-running", "0"))


@pytest.fixture(scope="module")
def live():
    with ServerThread(FakeEngine()) as st:
        yield st


def test_generate_connect_sends_a_chat_message(live, capsys):
    rc = run_generate(
        parse(
            add_generate_args,
            "Paris?",
            "--connect",
            live.address,
            "--max-new-tokens",
            "9",
            "--system",
            "be brief",
            "--usage",
        )
    )
    out, err = capsys.readouterr()
    assert rc == 0
    assert out == "Paris?Par\n"  # the fake echoes the last (user) message
    assert "finish=length" in err and "completion=9" in err


def test_generate_stream_and_constraints(live, capsys, tmp_path):
    rc = run_generate(
        parse(
            add_generate_args,
            "abc",
            "--connect",
            live.address,
            "--stream",
            "--max-new-tokens",
            "4",
            "--choices",
            "yes,no",
        )
    )
    out, _ = capsys.readouterr()
    assert rc == 0 and out == "abca\n"
    schema = tmp_path / "s.json"
    schema.write_text(json.dumps({"type": "integer"}))
    assert (
        run_generate(
            parse(
                add_generate_args,
                "n",
                "--connect",
                live.address,
                "--json-schema",
                str(schema),
                "--max-new-tokens",
                "1",
            )
        )
        == 0
    )
    assert (
        run_generate(
            parse(
                add_generate_args,
                "n",
                "--connect",
                live.address,
                "--json-schema",
                str(tmp_path / "missing.json"),
            )
        )
        == 2
    )
    assert "missing.json" in capsys.readouterr().err


def test_generate_errors_are_messages(live, capsys):
    rc = run_generate(
        parse(add_generate_args, "x", "--connect", live.address, "--temperature", "-1")
    )
    assert rc == 1 and "temperature" in capsys.readouterr().err
    rc = run_generate(parse(add_generate_args, "x", "--connect", "127.0.0.1:1"))
    assert rc == 1 and "no radtrio server at 127.0.0.1:1" in capsys.readouterr().err


def test_generate_in_process_without_connect(monkeypatch, capsys):
    import radtrio.engine

    made = []

    def fake_engine(config):
        made.append(config)
        return FakeEngine()

    monkeypatch.setattr(radtrio.engine, "AsyncEngine", fake_engine)
    rc = run_generate(
        parse(add_generate_args, "local", "--max-new-tokens", "7", "--stream", "--device", "cpu")
    )
    assert rc == 0 and capsys.readouterr().out == "localloc\n"[:7] + "\n"
    assert made[0].device == "cpu" and made[0].model is None


SERVE_SCRIPT = """
import sys
sys.path.insert(0, {tests!r})
import radtrio.engine
from server_fake_engine import FakeEngine
radtrio.engine.AsyncEngine = lambda config: FakeEngine(token_delay_s=0.01)
from radtrio.server.__main__ import main
sys.exit(main(sys.argv[1:]))
"""


def test_serve_prints_where_it_listens_and_stops_gracefully_on_sigterm(tmp_path):
    sock = str(tmp_path / "r.sock")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            SERVE_SCRIPT.format(tests=str(TESTS)),
            "serve",
            "--unix",
            sock,
            "--status-interval",
            "0.2",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        line = proc.stdout.readline()
        assert (
            f"radtrio: serving fake-echo (float32, cpu, 4096 KV slots, context 512) on {sock}"
            in line
        ), line
        with Client(sock) as c:
            stream = c.stream("slow", max_new_tokens=100)
            next(stream)
            proc.send_signal(signal.SIGTERM)
            # graceful: the request in flight still completes
            rest = "".join(ch.text for ch in stream)
            assert stream.finished[0].finish_reason == "length"
            assert len(rest) == 99
        assert proc.wait(timeout=20) == 0
        err = proc.stderr.read()
        assert "SIGTERM: shutting down" in err and "radtrio: stopped" in err
        assert "connections=1 running=1" in err  # the periodic status line
        assert not os.path.exists(sock)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
