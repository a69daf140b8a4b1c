"""Incremental detokenization with stop strings matched across chunk boundaries.

Text is released only when it is final: never half a UTF-8 character (a trailing
U+FFFD waits for the next token) and never the start of what may become a stop
string (the longest suffix that is a prefix of some stop string is held back).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class IncrementalDetokenizer:
    def __init__(self, tokenizer: Any, stop: Sequence[str] = (), skip_special_tokens: bool = True):
        self.tokenizer = tokenizer
        self.stop = [s for s in stop if s]
        self.skip_special_tokens = skip_special_tokens
        self.text = ""  # decoded output text so far (final, before stop trimming)
        self.sent = 0  # characters of self.text already released
        self.stopped_at: str | None = None
        self._token_ids: list[int] = []
        self._prefix_offset = 0  # tokens before this are decoded into self.text for good
        self._read_offset = 0

    @property
    def num_tokens(self) -> int:
        return len(self._token_ids)

    def _decode(self, ids: Sequence[int]) -> str:
        return self.tokenizer.decode(list(ids), skip_special_tokens=self.skip_special_tokens)

    def reset_tokens(self, token_ids: Sequence[int]) -> None:
        """The output tokens were rewritten (jump-forward rolled some back): re-decode all.

        Released text stays released; rewritten tokens decode to an extension of it.
        """
        self._token_ids = list(token_ids)
        full = self._decode(self._token_ids).rstrip("\ufffd")
        # May be shorter than what was released: the new tokens cover that text again,
        # and only what goes beyond ``sent`` is released.
        self.text = full
        self._prefix_offset = max(0, len(self._token_ids) - 1)
        self._read_offset = len(self._token_ids)

    def add(self, token_ids: Sequence[int]) -> str:
        """Feed new tokens; return the text that is now safe to release."""
        if self.stopped_at is not None:
            return ""
        self._token_ids.extend(token_ids)
        prefix_text = self._decode(self._token_ids[self._prefix_offset : self._read_offset])
        new_text = self._decode(self._token_ids[self._prefix_offset :])
        if len(new_text) > len(prefix_text) and not new_text.endswith("\ufffd"):
            self.text += new_text[len(prefix_text) :]
            self._prefix_offset = self._read_offset
            self._read_offset = len(self._token_ids)
        return self._release()

    def _release(self) -> str:
        if self.stop:
            # A stop string may start inside text already released minus one char.
            search_from = max(0, self.sent - max(len(s) for s in self.stop) + 1)
            best: tuple[int, str] | None = None
            for s in self.stop:
                pos = self.text.find(s, search_from)
                if pos != -1 and (best is None or pos < best[0]):
                    best = (pos, s)
            if best is not None:
                self.stopped_at = best[1]
                self.text = self.text[: best[0]]
                out = self.text[self.sent :]
                self.sent = len(self.text)
                return out
            hold = 0
            for s in self.stop:
                for k in range(min(len(s) - 1, len(self.text)), 0, -1):
                    if self.text.endswith(s[:k]):
                        hold = max(hold, k)
                        break
            limit = len(self.text) - hold
        else:
            limit = len(self.text)
        if limit <= self.sent:
            return ""
        out = self.text[self.sent : limit]
        self.sent = limit
        return out

    def flush(self) -> str:
        """At finish: release what was held back (a partial stop string that never completed)."""
        if self.stopped_at is not None:
            return ""
        tail = self._decode(self._token_ids[self._prefix_offset :])
        prefix_text = self._decode(self._token_ids[self._prefix_offset : self._read_offset])
        if len(tail) > len(prefix_text):
            self.text += tail[len(prefix_text) :]
            self._prefix_offset = self._read_offset = len(self._token_ids)
        out = self.text[self.sent :]
        self.sent = len(self.text)
        return out
