"""Engine metrics: per-step throughput over a sliding window, latency histograms, counters."""

from __future__ import annotations

import bisect
from collections import deque
from dataclasses import dataclass, field


class LatencyWindow:
    """The most recent latency samples (seconds) with percentiles."""

    def __init__(self, size: int = 4096) -> None:
        self.samples: deque[float] = deque(maxlen=size)

    def add(self, value: float) -> None:
        self.samples.append(value)

    def percentile(self, q: float) -> float:
        if not self.samples:
            return 0.0
        ordered = sorted(self.samples)
        index = min(len(ordered) - 1, max(0, int(round(q / 100.0 * (len(ordered) - 1)))))
        return ordered[index]


class Histogram:
    """Cumulative counts in fixed latency buckets (for log lines and exporters)."""

    BOUNDS = (0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, float("inf"))

    def __init__(self) -> None:
        self.counts = [0] * len(self.BOUNDS)

    def add(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.BOUNDS, value)] += 1


@dataclass
class Metrics:
    window_s: float = 10.0
    steps: deque[tuple[float, int, int, int, int]] = field(default_factory=deque)
    ttft: LatencyWindow = field(default_factory=LatencyWindow)
    itl: LatencyWindow = field(default_factory=LatencyWindow)
    ttft_hist: Histogram = field(default_factory=Histogram)
    itl_hist: Histogram = field(default_factory=Histogram)
    prompt_tokens: int = 0
    cached_tokens: int = 0
    generated_tokens: int = 0
    finished: int = 0
    aborted: int = 0
    forward_steps: int = 0
    recent_hits: deque[tuple[int, int]] = field(default_factory=lambda: deque(maxlen=64))

    def record_step(self, now: float, prefill: int, decode: int) -> None:
        self.forward_steps += 1
        self.steps.append((now, prefill, decode, 0, 0))
        while self.steps and self.steps[0][0] < now - self.window_s:
            self.steps.popleft()

    def record_admission(self, prompt_tokens: int, cached_tokens: int) -> None:
        self.prompt_tokens += prompt_tokens
        self.cached_tokens += cached_tokens
        self.recent_hits.append((prompt_tokens, cached_tokens))

    def rates(self, now: float) -> tuple[float, float]:
        recent = [s for s in self.steps if s[0] >= now - self.window_s]
        if not recent:
            return 0.0, 0.0
        span = max(now - recent[0][0], 1e-3) if len(recent) > 1 else self.window_s
        span = min(span, self.window_s)
        prefill = sum(s[1] for s in recent)
        decode = sum(s[2] for s in recent)
        return prefill / span, decode / span

    @property
    def hit_rate(self) -> float:
        return self.cached_tokens / self.prompt_tokens if self.prompt_tokens else 0.0

    @property
    def recent_hit_rate(self) -> float:
        prompt = sum(p for p, _ in self.recent_hits)
        return sum(c for _, c in self.recent_hits) / prompt if prompt else 0.0
