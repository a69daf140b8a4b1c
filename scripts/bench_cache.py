"""Radix cache throughput: match, insert and evict with 1k-token requests.

Requests are 1,024 tokens drawn from a prefix hierarchy (8 system prompts of 512 tokens,
8 few-shot blocks of 256 under each, 16 conversation openings of 128 under each, then a
unique tail); each request shares 0, 512, 768 or 896 tokens with earlier ones. The cache
holds about 100k tokens (a pool of ``--cached-tokens`` + 1 slots), so steady state evicts.

Phases (all on the host, pure Python + numpy):
1. ``cycle``: 10k requests, each match_prefix -> lock -> alloc (evicting LRU leaves when
   short) -> cache_finished (insert + free duplicates + unlock); per-op time of each call.
2. ``match``: 10k read-mostly matches of 1k-token requests against the full tree.
3. ``evict``: the full tree evicted 1,024 tokens at a time.
Baseline in the same run: NoRadixCache for the cycle (no reuse: every request allocates
and frees 1,024 slots).

    python scripts/bench_cache.py [--requests 10000] [--cached-tokens 100000]
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np

from radtrio.cache import NoRadixCache, RadixCache, SlotAllocator

REQ_LEN = 1024
LEVELS = (512, 256, 128)  # shared block sizes: system prompt, few-shot, conversation opening
FANOUT = (8, 8, 16)


class Hierarchy:
    """Prefix blocks of 512/256/128 tokens (fan-out 8/8/16) and a unique tail: each
    request shares 0, 512, 768 or 896 tokens with earlier ones."""

    def __init__(self, seed: int, vocab: int = 32000) -> None:
        self.rng = np.random.default_rng(seed)
        self.vocab = vocab
        self.blocks: dict[tuple[int, ...], np.ndarray] = {}

    def block(self, path: tuple[int, ...]) -> np.ndarray:
        if path not in self.blocks:
            size = LEVELS[len(path) - 1]
            self.blocks[path] = self.rng.integers(0, self.vocab, size, dtype=np.int64)
        return self.blocks[path]

    def request(self) -> np.ndarray:
        depth = int(self.rng.integers(0, len(LEVELS) + 1))  # shared levels: 0..3
        parts = []
        path: tuple[int, ...] = ()
        for level in range(depth):
            path = path + (int(self.rng.integers(0, FANOUT[level])),)
            parts.append(self.block(path))
        used = sum(len(p) for p in parts)
        parts.append(self.rng.integers(0, self.vocab, REQ_LEN - used, dtype=np.int64))
        return np.concatenate(parts)


class Branching:
    """Each request copies a random earlier request up to a random depth and diverges
    there: 99% of them in the last 16 tokens (a new last turn), 1% anywhere. 10k requests
    hold about 140k distinct tokens in a deep tree of about 10k leaves."""

    def __init__(self, seed: int, vocab: int = 32000) -> None:
        self.rng = np.random.default_rng(seed)
        self.vocab = vocab
        self.made: list[np.ndarray] = []

    def request(self) -> np.ndarray:
        rng = self.rng
        if not self.made:
            out = rng.integers(0, self.vocab, REQ_LEN, dtype=np.int64)
        else:
            base = self.made[int(rng.integers(0, len(self.made)))]
            new = (
                int(rng.integers(1, 17))
                if rng.random() < 0.99
                else int(rng.integers(17, REQ_LEN + 1))
            )
            tail = rng.integers(0, self.vocab, new, dtype=np.int64)
            out = np.concatenate([base[: REQ_LEN - new], tail])
        self.made.append(out)
        return out


WORKLOADS = {"branching": Branching, "hierarchy": Hierarchy}


class Timer:
    def __init__(self) -> None:
        self.ns = 0
        self.calls = 0

    def add(self, t0: int) -> None:
        self.ns += time.perf_counter_ns() - t0
        self.calls += 1

    def line(self, name: str, extra: str = "") -> str:
        us = self.ns / 1e3 / max(self.calls, 1)
        ops = self.calls / (self.ns / 1e9) if self.ns else float("inf")
        return f"| {name} | {self.calls} | {us:.1f} | {ops:,.0f} | {extra} |"


def cycle(cache, requests: list[np.ndarray]) -> tuple[dict[str, Timer], int]:
    timers = {k: Timer() for k in ("match", "alloc", "cache_finished", "request")}
    hit = 0
    for tokens in requests:
        t_req = time.perf_counter_ns()
        t0 = time.perf_counter_ns()
        m = cache.match_prefix(tokens[:-1])
        timers["match"].add(t0)
        cache.lock(m.node)
        t0 = time.perf_counter_ns()
        own = cache.alloc(len(tokens) - m.length)
        timers["alloc"].add(t0)
        slots = np.concatenate([m.slots, own])
        t0 = time.perf_counter_ns()
        cache.cache_finished(tokens, slots, m.node, m.length)
        timers["cache_finished"].add(t0)
        timers["request"].add(t_req)
        hit += m.length
    return timers, hit


def timed_evict(cache: RadixCache) -> Timer:
    timer = Timer()
    original = cache.evict

    def evict(n: int) -> int:
        t0 = time.perf_counter_ns()
        freed = original(n)
        timer.add(t0)
        return freed

    cache.evict = evict  # type: ignore[method-assign]
    return timer


def run_radix(args: argparse.Namespace, label: str) -> list[str]:
    wl = WORKLOADS[args.workload](args.seed)
    warm = [wl.request() for _ in range(args.warmup)]
    reqs = [wl.request() for _ in range(args.requests)]
    cache = RadixCache(SlotAllocator(args.cached_tokens + 1))
    cycle(cache, warm)
    evict_timer = timed_evict(cache)
    t0 = time.perf_counter()
    timers, hit = cycle(cache, reqs)
    wall = time.perf_counter() - t0
    cache.check_integrity(idle=True)
    st = cache.stats()
    out = [
        f"**{label}**: {args.requests} requests in {wall:.2f} s ({args.requests / wall:,.0f} "
        f"req/s); hit rate {hit / (args.requests * (REQ_LEN - 1)):.1%}; tree {st.total_tokens} "
        f"tokens in {st.nodes} nodes; {st.evicted_tokens} tokens evicted",
        "",
        "| op | calls | µs/op | ops/s | note |",
        "|---|---|---|---|---|",
        timers["match"].line("match_prefix (1k tokens)"),
        timers["alloc"].line("alloc (incl. eviction)"),
        timers["cache_finished"].line("cache_finished (insert)"),
        evict_timer.line(
            "evict (inside alloc)",
            f"{st.evicted_tokens / max(evict_timer.calls, 1):.0f} tokens/call",
        ),
        timers["request"].line("whole request cycle"),
        "",
    ]
    # Read-only matches against the full tree.
    probe = [wl.request() for _ in range(args.requests)]
    t = Timer()
    matched = 0
    for tokens in probe:
        t0 = time.perf_counter_ns()
        matched += cache.match_prefix(tokens).length
        t.add(t0)
    out.append("| op | calls | µs/op | ops/s | note |")
    out.append("|---|---|---|---|---|")
    out.append(t.line("match_prefix, tree full", f"{matched / len(probe):.0f} tokens matched/op"))
    t = Timer()
    t_peek = Timer()
    for tokens in probe[:2000]:
        t0 = time.perf_counter_ns()
        cache.peek_prefix_len(tokens)
        t_peek.add(t0)
    # Evict everything, 1,024 tokens per call.
    total = cache.evictable_size
    t = Timer()
    while cache.evictable_size:
        t0 = time.perf_counter_ns()
        cache.evict(REQ_LEN)
        t.add(t0)
    rate = total / (t.ns / 1e9) if t.ns else 0.0
    out.append(t_peek.line("peek_prefix_len", "no split, no LRU update"))
    out.append(t.line("evict(1024), tree full to empty", f"{rate / 1e6:.1f} M tokens/s"))
    cache.check_integrity(idle=True)
    return out


def run_none(args: argparse.Namespace) -> list[str]:
    wl = WORKLOADS[args.workload](args.seed)
    reqs = [wl.request() for _ in range(args.requests)]
    cache = NoRadixCache(SlotAllocator(args.cached_tokens + 1))
    t0 = time.perf_counter()
    timers, _ = cycle(cache, reqs)
    wall = time.perf_counter() - t0
    cache.check_integrity(idle=True)
    return [
        f"**Baseline, NoRadixCache**: {args.requests} requests in {wall:.2f} s; hit rate 0%",
        "",
        "| op | calls | µs/op | ops/s | note |",
        "|---|---|---|---|---|",
        timers["request"].line(
            "whole request cycle", "every request allocates and frees 1,024 slots"
        ),
        "",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--cached-tokens", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workload", choices=sorted(WORKLOADS), default="branching")
    parser.add_argument("--warmup", type=int, default=0, help="requests cached before timing")
    args = parser.parse_args()
    print(f"python {platform.python_version()}, numpy {np.__version__}, workload {args.workload}")
    lines = run_radix(args, "RadixCache")
    lines += run_none(args)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
