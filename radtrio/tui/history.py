"""The time series behind the throughput charts: the last few minutes of snapshots, binned.

Samples are keyed by the server's clock (``StatsSnapshot.time_s``), so the charts do not
depend on when the dashboard received a frame, and a restarted server (its clock going back)
starts a fresh history. No Textual here.
"""

from __future__ import annotations

from collections import deque

from radtrio.types import StatsSnapshot

FIELDS = (
    "prefill_tokens_per_s",
    "decode_tokens_per_s",
    "recent_cache_hit_rate",
    "ttft_p50_s",
    "ttft_p99_s",
    "itl_p50_s",
    "itl_p99_s",
    "running",
    "queued",
)


class History:
    def __init__(self, window_s: float = 300.0, max_samples: int = 20_000) -> None:
        if window_s <= 0:
            raise ValueError(f"history window_s={window_s!r} is invalid: must be > 0")
        self.window_s = float(window_s)
        self._samples: deque[tuple[float, dict[str, float]]] = deque(maxlen=max_samples)

    def __len__(self) -> int:
        return len(self._samples)

    @property
    def latest_time(self) -> float | None:
        return self._samples[-1][0] if self._samples else None

    def clear(self) -> None:
        self._samples.clear()

    def add(self, snap: StatsSnapshot) -> None:
        t = float(snap.time_s)
        if self._samples and t < self._samples[-1][0]:
            self._samples.clear()  # the server restarted: its clock began again
        if self._samples and t == self._samples[-1][0]:
            self._samples.pop()  # the same instant sent twice: keep the newer values
        self._samples.append((t, {f: float(getattr(snap, f)) for f in FIELDS}))
        horizon = t - self.window_s
        while self._samples and self._samples[0][0] < horizon:
            self._samples.popleft()

    def values(self, field: str) -> list[float]:
        return [values[field] for _, values in self._samples]

    def peak(self, field: str) -> float:
        return max(self.values(field), default=0.0)

    def binned(self, field: str, bins: int, now: float | None = None) -> list[float | None]:
        """The mean of ``field`` in each of ``bins`` equal slices of the window ending at
        ``now`` (default: the latest sample), oldest first; None where a slice has no sample."""
        if field not in FIELDS:
            raise KeyError(f"history has no field {field!r}; fields: {', '.join(FIELDS)}")
        if bins <= 0:
            return []
        if now is None:
            now = self.latest_time
        if now is None:
            return [None] * bins
        start = now - self.window_s
        width = self.window_s / bins
        sums = [0.0] * bins
        counts = [0] * bins
        for t, values in self._samples:
            if t < start or t > now:
                continue
            i = min(bins - 1, int((t - start) / width))
            sums[i] += values[field]
            counts[i] += 1
        return [s / c if c else None for s, c in zip(sums, counts, strict=True)]
