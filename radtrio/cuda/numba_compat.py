"""Import numba.cuda safely: numba-cuda 0.30 still looks up ``numpy.row_stack``, which
numpy 2.5 removed; alias it before the first numba import."""

from __future__ import annotations

import numpy as np

if not hasattr(np, "row_stack"):
    np.row_stack = np.vstack  # type: ignore[attr-defined]

from numba import cuda  # noqa: E402

__all__ = ["cuda"]
