"""What the host CPU offers for low-precision matrix products (read from /proc/cpuinfo)."""

from __future__ import annotations

from pathlib import Path

BF16_MATMUL_FLAGS = ("amx_bf16", "avx512_bf16")


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> set[str]:
    """The flags of the first processor listed; empty where the file does not exist."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags") and ":" in line:
            return set(line.split(":", 1)[1].split())
    return set()


def bf16_matmul_flags(flags: set[str] | None = None) -> list[str]:
    """The bf16 matrix instructions this CPU has (AMX-BF16, AVX512-BF16); empty when none:
    then torch computes bfloat16 products by converting to float32 and runs them several
    times slower than float32 ones."""
    have = cpu_flags() if flags is None else flags
    return [f for f in BF16_MATMUL_FLAGS if f in have]
