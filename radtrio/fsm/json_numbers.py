"""Regexes (ECMA dialect text) for JSON integers and decimals within bounds.

Bounds are exact :class:`decimal.Decimal`; numbers with bounds are generated without exponent
(a conservative subset: every string matched is a number within the bounds)."""

from __future__ import annotations

from decimal import Decimal

INT = r"-?(?:0|[1-9]\d*)"
NUMBER = r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?"
MAG_ANY = r"(?:0|[1-9]\d*)(?:\.\d+)?"
FRAC_OPT = r"(?:\.\d+)?"


def _same_len(a: str, b: str) -> str:
    """Digit strings of the same length n, a <= x <= b (leading zeros allowed inside)."""
    if a == b:
        return a
    n = len(a) - 1
    if a[1:] == "0" * n and b[1:] == "9" * n:
        head = a[0] if a[0] == b[0] else f"[{a[0]}-{b[0]}]"
        return head + (rf"\d{{{n}}}" if n else "")
    if a[0] == b[0]:
        return a[0] + "(?:" + _same_len(a[1:], b[1:]) + ")"
    parts = [a[0] + "(?:" + _same_len(a[1:], "9" * n) + ")"]
    lo, hi = int(a[0]) + 1, int(b[0]) - 1
    if lo <= hi:
        parts.append((str(lo) if lo == hi else f"[{lo}-{hi}]") + (rf"\d{{{n}}}" if n else ""))
    parts.append(b[0] + "(?:" + _same_len("0" * n, b[1:]) + ")")
    return "(?:" + "|".join(parts) + ")"


def nonneg_int_range(lo: int, hi: int | None) -> str | None:
    """Canonical decimal integers (no leading zeros) in [lo, hi]; hi=None: unbounded."""
    if lo < 0:
        lo = 0
    if hi is not None and hi < lo:
        return None
    parts = []
    top = len(str(hi)) if hi is not None else len(str(lo))
    for length in range(len(str(lo)), top + 1):
        a = max(lo, 10 ** (length - 1) if length > 1 else 0)
        b = 10**length - 1 if hi is None else min(hi, 10**length - 1)
        if a <= b:
            parts.append(_same_len(str(a), str(b)))
    if hi is None:
        parts.append(rf"[1-9]\d{{{len(str(lo))},}}")
    return "(?:" + "|".join(parts) + ")"


def int_range(lo: int | None, hi: int | None) -> str | None:
    parts = []
    if hi is None or hi >= 0:
        p = nonneg_int_range(max(lo, 0) if lo is not None else 0, hi)
        if p:
            parts.append(p)
    if lo is None or lo < 0:
        mlo = -hi if hi is not None and hi < 0 else 1
        mhi = -lo if lo is not None else None
        p = nonneg_int_range(mlo, mhi)
        if p:
            parts.append("-" + p)
    return "(?:" + "|".join(parts) + ")" if parts else None


def _split(m: Decimal) -> tuple[int, str]:
    """Integer part and fraction digits (no trailing zeros) of a non-negative decimal."""
    text = format(m, "f")
    if "." in text:
        i, f = text.split(".")
        return int(i), f.rstrip("0")
    return int(text), ""


def _ge_digits(g: str, strict: bool) -> str | None:
    """Non-empty digit strings D with 0.D >= 0.g (> when strict); g non-empty."""
    parts = []
    if g[0] != "9":
        parts.append(f"[{int(g[0]) + 1}-9]\\d*")
    if len(g) > 1:
        rest = _ge_digits(g[1:], strict)
    else:
        rest = r"\d*[1-9]\d*" if strict else r"\d*"
    if rest is not None:
        parts.append(g[0] + "(?:" + rest + ")")
    return "(?:" + "|".join(parts) + ")" if parts else None


def _le_digits(g: str, strict: bool) -> str | None:
    """Non-empty digit strings D with 0.D <= 0.g (< when strict); g non-empty."""
    parts = []
    if g[0] != "0":
        parts.append(f"[0-{int(g[0]) - 1}]\\d*")
    if len(g) > 1:
        sub = _le_digits(g[1:], strict)
        rest = "(?:" + sub + ")?" if sub is not None else ""
    else:
        rest = None if strict else "0*"
    if rest is not None:
        parts.append(g[0] + rest)
    return "(?:" + "|".join(parts) + ")" if parts else None


def mag_ge(m: Decimal, strict: bool) -> str | None:
    """Non-negative decimals (no sign, no exponent) >= m (> when strict)."""
    mi, mf = _split(m)
    parts = [nonneg_int_range(mi + 1, None) + FRAC_OPT]
    if mf == "":
        frac = r"\.\d*[1-9]\d*" if strict else FRAC_OPT
    else:
        d = _ge_digits(mf, strict)
        frac = r"\." + d if d is not None else None
    if frac is not None:
        parts.append(str(mi) + frac)
    return "(?:" + "|".join(parts) + ")"


def mag_le(m: Decimal, strict: bool) -> str | None:
    """Non-negative decimals (no sign, no exponent) <= m (< when strict)."""
    mi, mf = _split(m)
    parts = []
    if mi >= 1:
        parts.append(nonneg_int_range(0, mi - 1) + FRAC_OPT)
    if mf == "":
        frac = None if strict else r"(?:\.0+)?"
    else:
        d = _le_digits(mf, strict)
        frac = r"(?:\." + d + ")?" if d is not None else ""
    if frac is not None:
        parts.append(str(mi) + frac)
    return "(?:" + "|".join(parts) + ")" if parts else None
