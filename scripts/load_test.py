#!/usr/bin/env python3
"""Load test of `radtrio serve` on loopback: N concurrent clients, each sending several streamed
requests (some aborted mid-stream), against a server running a tiny random-weight model on CPU.

    python scripts/load_test.py                      # 200 clients, spawns its own server
    python scripts/load_test.py --clients 1000 --requests 3
    python scripts/load_test.py --connect 127.0.0.1:30000   # an already running server

Reports completed / aborted / failed counts, p50/p99 latency and time to first token, the
server's RSS, and checks that the KV pool has no leaked slot afterwards (used_slots == 0,
nothing running). Bounded: --time-limit seconds at most (default 300); loopback only.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

import trio

from radtrio.client import AsyncClient, Client, ServerError
from radtrio.server.client_common import ConnectionLost, parse_address

SYSTEM_PROMPT = (
    "You are a helpful assistant. Answer briefly and precisely. This shared system prompt "
    "lets the radix cache reuse its KV across every client."
)


@dataclass
class LoadResult:
    clients: int
    requests_per_client: int
    completed: int = 0
    aborted: int = 0
    failed: int = 0
    failures: dict[str, int] = field(default_factory=dict)
    connect_failures: int = 0
    wall_s: float = 0.0
    latency_p50_s: float = 0.0
    latency_p99_s: float = 0.0
    ttft_p50_s: float = 0.0
    ttft_p99_s: float = 0.0
    completion_tokens: int = 0
    chunks: int = 0  # streamed chunk messages received
    tokens_per_s: float = 0.0
    server_cpu_s: float = 0.0  # user + system CPU of the server process during the load
    server_rss_mib: float = 0.0
    used_slots_after: int = -1
    running_after: int = -1
    cache_hit_rate: float = 0.0
    engine_ttft_p50_s: float = 0.0  # the engine's own view (StatsSnapshot), recent window
    engine_ttft_p99_s: float = 0.0
    timed_out: bool = False

    @property
    def leak_free(self) -> bool:
        return self.used_slots_after == 0 and self.running_after == 0


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


async def run_load(
    address: str,
    *,
    clients: int = 200,
    requests: int = 4,
    max_new_tokens: int = 16,
    abort_fraction: float = 0.2,
    time_limit_s: float = 300.0,
    seed: int = 0,
    auth_token: str | None = None,
) -> LoadResult:
    """The load itself (importable by tests): every client on its own connection."""
    result = LoadResult(clients=clients, requests_per_client=requests)
    latencies: list[float] = []
    ttfts: list[float] = []
    failures: Counter[str] = Counter()
    rng = random.Random(seed)
    plans = [
        [
            (rng.random() < abort_fraction, rng.randint(1, max(1, max_new_tokens // 2)))
            for _ in range(requests)
        ]
        for _ in range(clients)
    ]

    async def one_client(i: int) -> None:
        try:
            client = AsyncClient(address, auth_token=auth_token, connect_timeout=60)
            await client.__aenter__()
        except (OSError, ServerError, ConnectionLost, trio.TooSlowError) as exc:
            result.connect_failures += 1
            failures[f"connect:{type(exc).__name__}"] += 1
            return
        try:
            for j, (abort, abort_after) in enumerate(plans[i]):
                t0 = time.perf_counter()
                first = None
                got = 0
                try:
                    async with client.stream(
                        f"Client {i} request {j}: count to ten.",
                        system=SYSTEM_PROMPT,
                        max_new_tokens=max_new_tokens,
                        temperature=0.0,
                        ignore_eos=True,
                    ) as stream:
                        async for _chunk in stream:
                            if first is None:
                                first = time.perf_counter() - t0
                            got += 1
                            result.chunks += 1
                            if abort and got >= abort_after:
                                break
                    if abort and got >= abort_after:
                        result.aborted += 1
                        continue
                    fin = stream.finished[0]
                    if fin.finish_reason in ("stop", "length"):
                        result.completed += 1
                        latencies.append(time.perf_counter() - t0)
                        ttfts.append(first if first is not None else latencies[-1])
                        result.completion_tokens += fin.usage.completion_tokens
                    else:
                        result.failed += 1
                        failures[f"finish:{fin.finish_reason}"] += 1
                except ServerError as exc:
                    result.failed += 1
                    failures[exc.code] += 1
                except ConnectionLost:
                    result.failed += 1
                    failures["connection_lost"] += 1
                    return
        finally:
            await client.aclose()

    t_start = time.perf_counter()
    with trio.move_on_after(time_limit_s) as scope:
        async with trio.open_nursery() as nursery:
            for i in range(clients):
                nursery.start_soon(one_client, i)
    result.timed_out = scope.cancelled_caught
    result.wall_s = time.perf_counter() - t_start
    result.failures = dict(failures)
    result.latency_p50_s = percentile(latencies, 0.5)
    result.latency_p99_s = percentile(latencies, 0.99)
    result.ttft_p50_s = percentile(ttfts, 0.5)
    result.ttft_p99_s = percentile(ttfts, 0.99)
    result.tokens_per_s = result.completion_tokens / result.wall_s if result.wall_s else 0.0
    return result


def check_pool(address: str, result: LoadResult, auth_token: str | None, wait_s: float = 10.0):
    """After the load: wait for aborted requests to leave, then read used_slots / running."""
    with Client(address, auth_token=auth_token, timeout=30) as c:
        deadline = time.monotonic() + wait_s
        while True:
            s = c.stats(include_tree=False)
            if (s.used_slots == 0 and s.running == 0) or time.monotonic() > deadline:
                break
            time.sleep(0.1)
    result.used_slots_after = s.used_slots
    result.running_after = s.running
    result.cache_hit_rate = s.cache_hit_rate
    result.engine_ttft_p50_s = s.ttft_p50_s
    result.engine_ttft_p99_s = s.ttft_p99_s
    return s


# ------------------------------------------------------------------ the server side
class ByteTokenizer:
    """Bytes as tokens (ids 3..258), 0 pad, 1 bos, 2 eos; a plain chat template."""

    eos_token_id = 2
    vocab_size = 259

    def __call__(self, text: str, add_special_tokens: bool = True) -> dict[str, list[int]]:
        return {"input_ids": [b + 3 for b in text.encode()]}

    def decode(self, ids: list[int], skip_special_tokens: bool = True) -> str:
        return bytes(i - 3 for i in ids if 3 <= i < 259).decode(errors="replace")

    def apply_chat_template(self, messages, tokenize=True, add_generation_prompt=True, **_):
        text = "".join(f"<|{m['role']}|>{m['content']}\n" for m in messages)
        if add_generation_prompt:
            text += "<|assistant|>"
        return self(text)["input_ids"]


def serve_tiny(
    port: int,
    port_file: str | None,
    kv_slots: int,
    max_running: int,
    policy: str = "lpm",
    engine_kind: str = "tiny",
) -> int:
    """Serve a tiny random-weight llama on CPU (what the load test talks to), or with
    engine_kind="fake" the tests' echo engine (no model: measures the server alone)."""
    from radtrio.config import EngineConfig
    from radtrio.engine import AsyncEngine
    from radtrio.models.random_model import random_model, shape_config
    from radtrio.server.cli_args import _raise_fd_limit
    from radtrio.server.server import ServerConfig, run_server

    _raise_fd_limit(8192)
    if engine_kind == "fake":
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
        from server_fake_engine import FakeEngine

        engine: Any = FakeEngine(context_len=4096, pool_slots=kv_slots)
    else:
        shape = shape_config("tiny-llama", vocab_size=512, max_position_embeddings=1024)
        loaded = random_model(shape, dtype="float32", device="cpu", tokenizer=ByteTokenizer())
        config = EngineConfig(
            device="cpu",
            kv_slots=kv_slots,
            max_running=max_running,
            cuda_graphs=False,
            schedule_policy=policy,
        )
        engine = AsyncEngine(config, loaded=loaded)

    def listening(server: Any) -> None:
        if port_file:
            with open(port_file + ".tmp", "w") as f:
                f.write(server.addresses[0])
            os.replace(port_file + ".tmp", port_file)
        print(f"load_test server: {engine.info.model} on {server.addresses[0]}", flush=True)

    cfg = ServerConfig(host="127.0.0.1", port=port, max_connections=8192, status_interval_s=None)
    trio.run(run_server, engine, cfg, listening)
    return 0


def spawn_server(
    kv_slots: int, max_running: int, policy: str, engine_kind: str
) -> tuple[subprocess.Popen, str]:
    port_file = os.path.join(tempfile.mkdtemp(), "addr")
    cmd = [
        sys.executable,
        os.path.abspath(__file__),
        "--serve",
        "--port-file",
        port_file,
        "--kv-slots",
        str(kv_slots),
        "--max-running",
        str(max_running),
        "--schedule-policy",
        policy,
        "--engine",
        engine_kind,
    ]
    proc = subprocess.Popen(cmd)
    deadline = time.monotonic() + 120
    while not os.path.exists(port_file):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("the load-test server did not start")
        time.sleep(0.1)
    with open(port_file) as f:
        return proc, f.read().strip()


def cpu_seconds(pid: int) -> float:
    try:
        import psutil

        t = psutil.Process(pid).cpu_times()
        return t.user + t.system
    except Exception:  # noqa: BLE001 - psutil missing or process gone
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> float:
    try:
        import psutil

        return psutil.Process(pid).memory_info().rss / 2**20
    except Exception:  # noqa: BLE001 - psutil missing or process gone
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    return 0.0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--clients", type=int, default=200)
    p.add_argument("--requests", type=int, default=4, help="streamed requests per client")
    p.add_argument("--max-new-tokens", type=int, default=16)
    p.add_argument("--abort-fraction", type=float, default=0.2)
    p.add_argument("--time-limit", type=float, default=300.0, help="seconds, at most")
    p.add_argument("--connect", help="a running server (loopback only); default: spawn one")
    p.add_argument("--auth-token")
    p.add_argument("--kv-slots", type=int, default=65536)
    p.add_argument("--max-running", type=int, default=64)
    p.add_argument("--schedule-policy", default="lpm", choices=("lpm", "fcfs", "dfs-weight"))
    p.add_argument(
        "--engine",
        default="tiny",
        choices=("tiny", "fake"),
        help="tiny: a tiny random-weight llama; fake: the tests' echo engine (server alone)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--port-file", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.clients < 1 or args.clients > 5000:
        p.error("--clients must be in [1, 5000]")
    if args.requests < 1 or args.requests > 100:
        p.error("--requests must be in [1, 100]")
    if args.serve:
        return serve_tiny(
            args.port,
            args.port_file,
            args.kv_slots,
            args.max_running,
            args.schedule_policy,
            args.engine,
        )

    proc = None
    if args.connect:
        kind, host, _ = parse_address(args.connect)
        if (
            kind == "tcp"
            and not ipaddress.ip_address("127.0.0.1" if host == "localhost" else host).is_loopback
        ):
            p.error(f"--connect {args.connect}: the load test only targets loopback")
        address = args.connect
    else:
        proc, address = spawn_server(
            args.kv_slots, args.max_running, args.schedule_policy, args.engine
        )
    try:
        from radtrio.server.cli_args import _raise_fd_limit

        _raise_fd_limit(args.clients + 256)
        cpu0 = cpu_seconds(proc.pid) if proc is not None else 0.0
        result = trio.run(
            lambda: run_load(
                address,
                clients=args.clients,
                requests=args.requests,
                max_new_tokens=args.max_new_tokens,
                abort_fraction=args.abort_fraction,
                time_limit_s=args.time_limit,
                seed=args.seed,
                auth_token=args.auth_token,
            )
        )
        stats = check_pool(address, result, args.auth_token)
        if proc is not None:
            result.server_rss_mib = rss_mib(proc.pid)
            result.server_cpu_s = cpu_seconds(proc.pid) - cpu0
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
    if args.json:
        print(json.dumps({**asdict(result), "leak_free": result.leak_free}, indent=2))
    else:
        r = result
        print(
            f"clients={r.clients} x {r.requests_per_client} streamed requests "
            f"(max_new_tokens={args.max_new_tokens}, abort fraction {args.abort_fraction})\n"
            f"completed={r.completed} aborted={r.aborted} failed={r.failed} "
            f"connect_failures={r.connect_failures} failures={r.failures}\n"
            f"wall={r.wall_s:.1f} s  latency p50={r.latency_p50_s * 1000:.0f} ms "
            f"p99={r.latency_p99_s * 1000:.0f} ms  ttft p50={r.ttft_p50_s * 1000:.0f} ms "
            f"p99={r.ttft_p99_s * 1000:.0f} ms (engine's ttft p50="
            f"{r.engine_ttft_p50_s * 1000:.0f} ms p99={r.engine_ttft_p99_s * 1000:.0f} ms)  "
            f"completion tokens/s={r.tokens_per_s:.0f}\n"
            f"server RSS={r.server_rss_mib:.0f} MiB  server CPU={r.server_cpu_s:.1f} s "
            f"({1e6 * r.server_cpu_s / max(1, r.chunks):.0f} us per streamed chunk, "
            f"{r.chunks} chunks)  cache hit rate={r.cache_hit_rate:.2f}\n"
            f"after: used_slots={r.used_slots_after} running={r.running_after} "
            f"evictable={stats.evictable_slots}  "
            f"{'no leaked slot' if r.leak_free else 'LEAK'}"
            + ("  (TIME LIMIT HIT)" if r.timed_out else "")
        )
    ok = result.leak_free and result.failed == 0 and result.connect_failures == 0
    return 0 if ok and not result.timed_out else 1


if __name__ == "__main__":
    sys.exit(main())
