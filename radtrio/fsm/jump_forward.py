"""Jump-forward decoding: append the text a constraint forces without one decode step per token.

The forced bytes are tokenized together with the last few output tokens, so the appended
tokens are the tokenizer's own (canonical) split of the text, not a split that only exists
because generation paused at a boundary: ``rollback`` says how many of the last output tokens
to take back and ``token_ids`` what to append instead. The last forced token is left to the
model when a longer vocabulary token could continue it (e.g. ``"`` may become ``"John``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from radtrio.fsm.guide import Guide, TokenNotAllowed

LOOKBACK_TOKENS = 3


@dataclass
class JumpForward:
    rollback: int  # how many of the last output tokens to take back
    token_ids: list[int]  # the tokens to append instead (a short prefill)
    forced_bytes: bytes  # the text the constraint forced

    @property
    def num_forced(self) -> int:
        """Tokens gained without a decode step each."""
        return len(self.token_ids) - self.rollback


def _complete_utf8_prefix(data: bytes) -> bytes:
    """The longest prefix of ``data`` that does not end inside a UTF-8 character."""
    for cut in range(len(data), max(len(data) - 4, -1), -1):
        try:
            data[:cut].decode("utf-8")
            return data[:cut]
        except UnicodeDecodeError:
            continue
    return b""


def _longer_allowed(before: Guide, token_id: int) -> bool:
    """Whether the constraint allows, where ``token_id`` would go, a longer token that starts
    with its bytes (then the model may want that one: leave the choice to it)."""
    idx = before.index
    longer = idx.longer_token_ids(idx.token_bytes[token_id])
    if len(longer) == 0:
        return False
    mask = before.allowed_mask()
    return bool(((mask[longer >> 5] >> (longer & 31).astype(np.uint32)) & 1).any())


def plan_jump_forward(
    guide: Guide, tokenizer: Any, output_token_ids: list[int]
) -> JumpForward | None:
    """Plan a jump forward from the guide's current state; None when nothing useful is forced.

    ``output_token_ids`` are the tokens generated so far (the guide advanced through them)."""
    forced = guide.forced_bytes()
    if not forced:
        return None
    idx = guide.index
    n_out = min(len(output_token_ids), guide.num_tokens)
    forced = _complete_utf8_prefix(forced)
    if not forced:
        return None
    for k in range(min(LOOKBACK_TOKENS, n_out), -1, -1):
        tail = output_token_ids[len(output_token_ids) - k :] if k else []
        pieces = [idx.token_bytes[t] for t in tail]
        if any(p is None for p in pieces):
            continue
        prefix = b"".join(pieces)
        try:
            text = (prefix + forced).decode("utf-8")
            prefix.decode("utf-8")
        except UnicodeDecodeError:
            continue
        new_ids = list(tokenizer.encode(text, add_special_tokens=False))
        if b"".join(idx.token_bytes[t] or b"\x00" for t in new_ids) != prefix + forced:
            continue  # the tokenizer normalised the text: do not trust its split
        keep = 0
        while keep < k and keep < len(new_ids) and new_ids[keep] == tail[keep]:
            keep += 1
        appended = new_ids[keep:]
        rollback = k - keep
        g = guide.copy()
        try:
            g.rollback(rollback)
            for t in appended[:-1]:
                g.advance(t)
        except (TokenNotAllowed, ValueError):
            return None
        # leave the last token to the model when a longer token could span the boundary
        while appended and _longer_allowed(g, appended[-1]):
            appended.pop()
            if appended:
                g.rollback(1)
        if len(appended) <= rollback:
            return None
        try:
            g.advance(appended[-1])
        except TokenNotAllowed:
            return None
        return JumpForward(rollback, appended, forced)
    return None


def apply_jump_forward(guide: Guide, jf: JumpForward) -> None:
    """Roll the guide back and advance it through the appended tokens."""
    guide.rollback(jf.rollback)
    for t in jf.token_ids:
        guide.advance(t)
