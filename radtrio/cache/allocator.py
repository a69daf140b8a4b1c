"""Slot allocator over the KV pool: hands out and takes back token slots.

Slot 0 is never handed out (it takes the padding writes of a batch). Free slots sit on a
stack (a numpy array), so ``alloc(n)`` and ``free(indices)`` cost O(n) in the slots moved;
a bitmap of free slots makes every double free, out-of-range slot and freed slot 0 an error.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


class OutOfSlotsError(RuntimeError):
    """Not enough free KV slots for an allocation."""


class SlotError(RuntimeError):
    """A slot freed twice, slot 0, or a slot outside the pool: a bug in the caller."""


def as_slots(values: Sequence[int] | np.ndarray, name: str = "slots") -> np.ndarray:
    """``values`` as a 1-D int64 array (no copy when it already is one)."""
    arr = np.asarray(values, dtype=np.int64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    return arr


class SlotAllocator:
    """Free list of KV slots ``1 .. num_slots - 1``.

    ``alloc(n)`` returns slots the caller then owns until it hands them back with ``free``
    (or hands them to the radix tree, which frees them on eviction).
    """

    def __init__(self, num_slots: int) -> None:
        if num_slots < 2:
            raise ValueError(
                f"num_slots={num_slots}: must be >= 2 (slot 0 is reserved for padding)"
            )
        self.num_slots = int(num_slots)
        # Stack of free slots; the top is at index _top - 1. Fresh slots come out ascending.
        self._stack = np.arange(self.num_slots - 1, 0, -1, dtype=np.int64)
        self._top = self.num_slots - 1
        self._is_free = np.ones(self.num_slots, dtype=bool)
        self._is_free[0] = False
        self._stamp = np.zeros(self.num_slots, dtype=np.int64)  # scratch for duplicate checks

    @property
    def capacity(self) -> int:
        """Slots that can ever be handed out: ``num_slots - 1``."""
        return self.num_slots - 1

    @property
    def free_count(self) -> int:
        return self._top

    @property
    def used_count(self) -> int:
        return self.capacity - self._top

    def alloc(self, n: int) -> np.ndarray:
        """Take ``n`` free slots (a new int64 array). Raises OutOfSlotsError if fewer are free."""
        if n < 0:
            raise ValueError(f"alloc(n={n}): n must be >= 0")
        if n > self._top:
            raise OutOfSlotsError(
                f"cannot allocate {n} KV slots: {self._top} free of {self.capacity}"
            )
        out = self._stack[self._top - n : self._top][::-1].copy()
        self._top -= n
        self._is_free[out] = False
        return out

    def free(self, indices: Sequence[int] | np.ndarray) -> None:
        """Give slots back. Raises SlotError (and frees nothing) on slot 0, an out-of-range
        slot, a slot that is already free, or a slot listed twice."""
        idx = as_slots(indices, "indices")
        n = len(idx)
        if n == 0:
            return
        lo, hi = int(idx.min()), int(idx.max())
        if lo < 1 or hi >= self.num_slots:
            bad = lo if lo < 1 else hi
            raise SlotError(f"cannot free slot {bad}: valid slots are 1..{self.num_slots - 1}")
        already = self._is_free[idx]
        if already.any():
            raise SlotError(f"double free of KV slot {int(idx[int(already.argmax())])}")
        if n > 1:
            positions = np.arange(n, dtype=np.int64)
            self._stamp[idx] = positions
            dup = self._stamp[idx] != positions
            if dup.any():
                slot = int(idx[int(dup.argmax())])
                raise SlotError(f"double free of KV slot {slot} (listed twice)")
        self._is_free[idx] = True
        self._stack[self._top : self._top + n] = idx
        self._top += n

    def is_free(self, slot: int) -> bool:
        return bool(self._is_free[slot])

    def are_free(self, slots: np.ndarray) -> np.ndarray:
        """Boolean mask: which of ``slots`` are free."""
        return self._is_free[slots]

    def free_slots(self) -> np.ndarray:
        """A copy of the free slots (for checks and tests)."""
        return self._stack[: self._top].copy()

    def check_integrity(self) -> None:
        """Raise SlotError if the free stack and the free bitmap disagree."""
        free = self._stack[: self._top]
        if len(free) and (int(free.min()) < 1 or int(free.max()) >= self.num_slots):
            raise SlotError("free list holds a slot outside 1..num_slots-1")
        if len(np.unique(free)) != len(free):
            raise SlotError("free list holds a slot twice")
        if int(np.count_nonzero(self._is_free)) != self._top or not self._is_free[free].all():
            raise SlotError("free bitmap disagrees with the free list")
        if self._is_free[0]:
            raise SlotError("slot 0 is marked free")
