"""Chat roles as text: the prefix and suffix the model's chat template puts around a turn.

The template is rendered with a sentinel content and split around it, given the turns so far
(templates may add a default system prompt before the first turn, as SmolLM2's does). The
transcript stays plain text, so each generation request is the whole rendered conversation
and the radix cache reuses the earlier turns.
"""

from __future__ import annotations

import os
from typing import Any

SENTINEL = "\u2063RADTRIO_TURN_CONTENT\u2063"


class ChatTemplateError(ValueError):
    """The tokenizer has no chat template, or the template refuses a turn."""


class ChatTemplate:
    def __init__(self, tokenizer: Any) -> None:
        if tokenizer is None or not getattr(tokenizer, "chat_template", None):
            raise ChatTemplateError(
                "chat roles need a tokenizer with a chat template; this backend has none"
            )
        self.tokenizer = tokenizer
        self._cache: dict[tuple, tuple[str, str]] = {}

    def render(self, messages: list[dict[str, str]], add_generation_prompt: bool = False) -> str:
        if not messages:
            return ""
        try:
            return self.tokenizer.apply_chat_template(
                messages, tokenize=False, add_generation_prompt=add_generation_prompt
            )
        except Exception as exc:  # jinja raises template-specific errors (e.g. no system role)
            raise ChatTemplateError(f"the chat template refused these turns: {exc}") from exc

    def role_parts(self, prior: list[dict[str, str]], role: str) -> tuple[str, str]:
        """(prefix, suffix) of a new ``role`` turn after the ``prior`` turns."""
        key = (role, tuple((m["role"], m["content"]) for m in prior[-2:]), len(prior) == 0)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        base = self.render(prior)
        full = self.render([*prior, {"role": role, "content": SENTINEL}])
        if full.count(SENTINEL) != 1:
            raise ChatTemplateError(
                f"the chat template renders a {role} turn's content {full.count(SENTINEL)} times"
            )
        common = base if full.startswith(base) else os.path.commonprefix([base, full])
        prefix, suffix = full[len(common) :].split(SENTINEL)
        if len(self._cache) < 256:
            self._cache[key] = (prefix, suffix)
        return prefix, suffix
