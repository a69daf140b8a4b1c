"""The runtime state of one constrained sample: mask, advance, rollback, copy."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from radtrio.fsm.grammar import MAX_STACK

if TYPE_CHECKING:
    from radtrio.fsm.compile import CompiledConstraint

MAX_FORCED_BYTES = 1024
MAX_FORCED_CACHE = 1 << 16  # configurations remembered per grammar before the cache restarts


class TokenNotAllowed(ValueError):
    pass


class Guide:
    """Walks a compiled constraint token by token.

    ``history`` holds one configuration per advanced token (the first is the start), so
    ``rollback(k)`` is a slice; configurations are short int32 arrays (the stack of frames).
    """

    def __init__(self, compiled: CompiledConstraint) -> None:
        self.compiled = compiled
        self.grammar = compiled.grammar
        self.index = compiled.index
        stk, depth = self.grammar.initial()
        # (frames, depth, eos taken, [mask once computed]) per position
        self.history: list[tuple[np.ndarray, int, bool, list]] = [
            (stk[:depth].copy(), depth, False, [None])
        ]

    # -- state --------------------------------------------------------------------------------
    def _current(self) -> tuple[np.ndarray, int]:
        frames, depth, _, _ = self.history[-1]
        stk = np.zeros((MAX_STACK, 4), dtype=np.int32)
        stk[:depth] = frames
        return stk, depth

    @property
    def eos_taken(self) -> bool:
        return self.history[-1][2]

    @property
    def num_tokens(self) -> int:
        return len(self.history) - 1

    def allowed_mask(self) -> np.ndarray:
        """Packed bitmask, ``ceil(vocab/32)`` uint32 words; bit t of word t//32 = token t allowed.

        The array is shared with the cache: do not modify it."""
        frames, depth, eos, box = self.history[-1]
        if eos:
            return self.index.eos_bits
        m = box[0]
        if m is None:
            m = box[0] = self.compiled.mask_for_frames(frames, depth)
        return m

    def is_allowed(self, token_id: int) -> bool:
        m = self.allowed_mask()
        return 0 <= token_id < self.index.vocab_size and bool(
            (m[token_id >> 5] >> (token_id & 31)) & 1
        )

    def advance(self, token_id: int) -> None:
        """Take ``token_id``; raises :class:`TokenNotAllowed` if the constraint forbids it."""
        if self.eos_taken:
            raise TokenNotAllowed(f"token {token_id} after EOS")
        stk, depth = self._current()
        if token_id in self.index.eos_ids:
            if not self.grammar.can_end(stk, depth):
                raise TokenNotAllowed(f"EOS {token_id} before the constraint is complete")
            self.history.append((stk[:depth].copy(), depth, True, [None]))
            return
        data = (
            self.index.token_bytes[token_id]
            if 0 <= token_id < len(self.index.token_bytes)
            else None
        )
        if data is None:
            raise TokenNotAllowed(f"token {token_id} has no text (special or out of range)")
        nd = self.grammar.step_bytes(stk, depth, data)
        if nd < 0:
            raise TokenNotAllowed(f"token {token_id} ({data!r}) is not allowed here")
        self.history.append((stk[:nd].copy(), nd, False, [None]))

    def advance_bytes(self, data: bytes) -> bool:
        """Consume raw bytes as one step (used to test strings); False if not allowed."""
        stk, depth = self._current()
        nd = self.grammar.step_bytes(stk, depth, data)
        if nd < 0:
            return False
        self.history.append((stk[:nd].copy(), nd, False, [None]))
        return True

    def can_end(self) -> bool:
        if self.eos_taken:
            return True
        stk, depth = self._current()
        return self.grammar.can_end(stk, depth)

    def is_finished(self) -> bool:
        """EOS taken, or the constraint is complete and nothing more may follow."""
        if self.eos_taken:
            return True
        stk, depth = self._current()
        if not self.grammar.can_end(stk, depth):
            return False
        return not self.grammar.allowed_bytes(stk, depth).any()

    def copy(self) -> Guide:
        g = Guide.__new__(Guide)
        g.compiled = self.compiled
        g.grammar = self.grammar
        g.index = self.index
        g.history = list(self.history)
        return g

    def rollback(self, k: int) -> None:
        """Undo the last ``k`` advanced tokens."""
        if k < 0 or k > len(self.history) - 1:
            raise ValueError(f"rollback({k}) with {len(self.history) - 1} tokens advanced")
        if k:
            del self.history[-k:]

    def forced_bytes(self) -> bytes:
        """The bytes the constraint forces from here (only one byte possible at each step and
        the constraint cannot end before them); empty when there is a choice."""
        frames, _, eos, _ = self.history[-1]
        if eos:
            return b""
        cache = self.grammar.forced_cache
        key = frames.tobytes()  # frames hold exactly `depth` rows
        hit = cache.get(key)
        if hit is not None:
            return hit
        forced = self._walk_forced()
        if len(cache) >= MAX_FORCED_CACHE:
            cache.clear()
        cache[key] = forced
        return forced

    def _walk_forced(self) -> bytes:
        stk, depth = self._current()
        out = bytearray()
        while len(out) < MAX_FORCED_BYTES:
            if self.grammar.can_end(stk, depth):
                break
            allowed = self.grammar.allowed_bytes(stk, depth)
            if int(allowed.sum()) != 1:
                break
            b = int(np.argmax(allowed))
            depth = self.grammar.step_bytes(stk, depth, bytes([b]))
            out.append(b)
        return bytes(out)
