"""Progress bars (tqdm on stderr) for fetching, extracting and loading models."""

from __future__ import annotations

import sys
from typing import Any

from tqdm import tqdm


def progress_bar(total: int | None, desc: str, unit: str = "it", **kwargs: Any) -> tqdm:
    """A tqdm bar on stderr; usable as a context manager."""
    return tqdm(
        total=total, desc=desc, unit=unit, file=sys.stderr, leave=False, dynamic_ncols=True,
        **kwargs,
    )  # fmt: skip
