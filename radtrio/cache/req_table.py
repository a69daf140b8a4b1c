"""Request-to-token table: per running request, logical position -> KV slot."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from radtrio.cache.allocator import as_slots


class ReqToTokenTable:
    """``table[row, pos]`` is the KV slot of token ``pos`` of the request holding ``row``.

    An int64 array ``[max_reqs, max_context]``; the engine takes a row per running request
    with ``alloc_row`` and gives it back with ``free_row``. Unwritten entries are 0 (the
    padding slot).
    """

    def __init__(self, max_reqs: int, max_context: int) -> None:
        if max_reqs < 1:
            raise ValueError(f"max_reqs={max_reqs}: must be >= 1")
        if max_context < 1:
            raise ValueError(f"max_context={max_context}: must be >= 1")
        self.max_reqs = int(max_reqs)
        self.max_context = int(max_context)
        self.table = np.zeros((self.max_reqs, self.max_context), dtype=np.int64)
        self._free_rows = list(range(self.max_reqs - 1, -1, -1))
        self._in_use = np.zeros(self.max_reqs, dtype=bool)

    @property
    def free_count(self) -> int:
        return len(self._free_rows)

    def alloc_row(self) -> int:
        if not self._free_rows:
            raise RuntimeError(f"no free request row: all {self.max_reqs} rows are in use")
        row = self._free_rows.pop()
        self._in_use[row] = True
        return row

    def free_row(self, row: int) -> None:
        self._check_row(row)
        self._in_use[row] = False
        self.table[row] = 0
        self._free_rows.append(row)

    def write(self, row: int, start: int, slots: Sequence[int] | np.ndarray) -> None:
        """Set positions ``start .. start + len(slots) - 1`` of ``row``."""
        self._check_row(row)
        arr = as_slots(slots)
        end = start + len(arr)
        if start < 0 or end > self.max_context:
            raise ValueError(
                f"positions {start}..{end - 1} are outside the context of {self.max_context} tokens"
            )
        self.table[row, start:end] = arr

    def read(self, row: int, end: int, start: int = 0) -> np.ndarray:
        """Slots of positions ``start .. end - 1`` (a view into the table)."""
        self._check_row(row)
        if not 0 <= start <= end <= self.max_context:
            raise ValueError(f"bad range {start}..{end} for a context of {self.max_context} tokens")
        return self.table[row, start:end]

    def _check_row(self, row: int) -> None:
        if not 0 <= row < self.max_reqs:
            raise ValueError(f"row={row}: must be in [0, {self.max_reqs})")
        if not self._in_use[row]:
            raise RuntimeError(f"request row {row} is not allocated")
