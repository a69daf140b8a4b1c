"""Short, fixed-width renderings of counts, rates, durations and shares for the dashboard."""

from __future__ import annotations


def count(n: float) -> str:
    """1234 -> '1,234'; 1_234_567 -> '1.23M' (counts stay exact below ten million)."""
    n = float(n)
    if abs(n) < 10_000_000:
        return f"{round(n):,}"
    if abs(n) < 1e9:
        return f"{n / 1e6:.2f}M"
    return f"{n / 1e9:.2f}G"


def rate(per_s: float) -> str:
    """Tokens per second with three significant figures: 0.5 -> '0.50', 12345 -> '12.3k'."""
    v = float(per_s)
    if v < 10:
        return f"{v:.2f}"
    if v < 1000:
        return f"{v:.0f}"
    if v < 1e6:
        return f"{v / 1e3:.1f}k"
    return f"{v / 1e6:.1f}M"


def duration(seconds: float) -> str:
    """A duration in the unit read fastest: '850 µs', '12.3 ms', '4.2 s', '3m05s', '2h04m'."""
    s = max(0.0, float(seconds))
    if s < 1e-3:
        return f"{s * 1e6:.0f} µs"
    if s < 1.0:
        return f"{s * 1e3:.1f} ms" if s < 0.1 else f"{s * 1e3:.0f} ms"
    if s < 60:
        return f"{s:.1f} s"
    if s < 3600:
        m, r = divmod(int(s), 60)
        return f"{m}m{r:02d}s"
    if s < 86400:
        h, r = divmod(int(s), 3600)
        return f"{h}h{r // 60:02d}m"
    d, r = divmod(int(s), 86400)
    return f"{d}d{r // 3600:02d}h"


def age(seconds: float) -> str:
    """A coarse age for tree nodes: '0s', '42s', '3m', '2h', '5d'."""
    s = max(0, int(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m"
    if s < 86400:
        return f"{s // 3600}h"
    return f"{s // 86400}d"


def percent(part: float, whole: float) -> str:
    """Share of whole as '12.3%'; '0.0%' when whole is zero."""
    if whole <= 0:
        return "0.0%"
    return f"{100.0 * part / whole:.1f}%"
