"""Test doubles for the dashboard: a scripted StatsSource and sample server data.

Imported by tests/test_tui_*.py (pytest puts tests/ on sys.path: no __init__.py there).
"""

from __future__ import annotations

import queue
import threading

from radtrio.types import RequestInfo, ServerInfo, StatsSnapshot, TreeNodeSnapshot

INFO = ServerInfo(
    model="SmolLM2-135M-Instruct",
    dtype="float32",
    device="cpu",
    pool_slots=8192,
    context_len=2048,
    vocab_size=49152,
    version="0.1.0",
    schedule_policy="lpm",
    radix_cache=True,
    max_running=32,
    started_at=1_700_000_000.0,
)

END = object()  # pushed into FakeSource: the server ends the stream cleanly


def sample_tree() -> list[TreeNodeSnapshot]:
    T = TreeNodeSnapshot
    return [
        T(0, -1, 0, "", 0, 0.0, 0),
        T(1, 0, 64, "<|im_start|>system\nYou are", 2, 40.0, 12),
        T(2, 1, 30, " a helpful assistant", 2, 40.0, 9),
        T(3, 2, 12, "What is the capital", 1, 40.0, 1),
        T(4, 2, 18, "Write a haiku about", 0, 31.0, 3),
        T(5, 1, 90, " a pirate. Answer in", 0, 12.0, 2),
        T(6, 0, 7, "Translate to French:", 0, 5.0, 0),
    ]


def snapshot(i: int = 0, **overrides) -> StatsSnapshot:
    """A deterministic snapshot number ``i`` (one per 0.5 s of server time)."""
    base = dict(
        time_s=42.0 + 0.5 * i,
        running=2,
        queued=1,
        pool_slots=8192,
        used_slots=1200,
        evictable_slots=3000,
        free_slots=3992,
        prefill_tokens_per_s=1500.0 + 100.0 * (i % 7),
        decode_tokens_per_s=220.0 + 10.0 * (i % 5),
        total_prompt_tokens=50_000 + 100 * i,
        total_cached_tokens=30_000 + 80 * i,
        total_generated_tokens=9_000 + 50 * i,
        cache_hit_rate=0.6,
        recent_cache_hit_rate=0.25 + 0.05 * (i % 10),
        ttft_p50_s=0.045,
        ttft_p99_s=0.310,
        itl_p50_s=0.012,
        itl_p99_s=0.041,
        finished_requests=118 + i,
        aborted_requests=3,
        retractions=1,
        evicted_tokens=12_345,
        forward_steps=4000 + 10 * i,
        tree_nodes=6,
        tree_cached_tokens=221,
        tree=sample_tree(),
        requests=[
            RequestInfo("req-alpha", "running", 106, 94, 17, 1.25),
            RequestInfo("req-beta", "running", 120, 94, 64, 3.5),
            RequestInfo("req-gamma", "queued", 300, 0, 0, 0.2),
        ],
    )
    base.update(overrides)
    return StatsSnapshot(**base)


class FakeSource:
    """A StatsSource driven by the test: push snapshots, exceptions or END; queue connect
    failures; count flushes. Thread-safe where the real one must be."""

    address = "fake:30000"

    def __init__(self, info: ServerInfo = INFO, connect_errors=(), flush_answer=True) -> None:
        self.info = info
        self.frames: queue.Queue = queue.Queue()
        self.connect_errors = list(connect_errors)
        self.flush_answer = flush_answer
        self.connects = 0
        self.closes = 0
        self.connect_gate: threading.Event | None = None  # connect() waits for it when set
        self.flush_calls = 0
        self.intervals: list[float] = []
        self._generation = 0
        self._lock = threading.Lock()

    def push(self, *items) -> None:
        for item in items:
            self.frames.put(item)

    def connect(self) -> ServerInfo:
        if self.connect_gate is not None:
            self.connect_gate.wait()
        with self._lock:
            self.connects += 1
            if self.connect_errors:
                raise self.connect_errors.pop(0)
        return self.info

    def snapshots(self, interval_s: float):
        self.intervals.append(interval_s)
        generation = self._generation
        while generation == self._generation:
            try:
                item = self.frames.get(timeout=0.02)
            except queue.Empty:
                continue
            if item is END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def flush_cache(self) -> bool:
        with self._lock:
            self.flush_calls += 1
        if isinstance(self.flush_answer, BaseException):
            raise self.flush_answer
        return self.flush_answer

    def close(self) -> None:
        with self._lock:
            self.closes += 1
            self._generation += 1
