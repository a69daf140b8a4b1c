"""Token id -> bytes for a Hugging Face tokenizer, and the flattened token trie the mask
kernels walk.

Byte-level BPE vocabularies (GPT-2 byte map: ``Ġ`` = space, ``Ċ`` = newline, ...) and
SentencePiece ones (``▁`` = space, ``<0x0A>`` = a raw byte) are both read. Special tokens are
excluded (never allowed by a mask); EOS ids come from the tokenizer and are allowed only where
the constraint may end.
"""

from __future__ import annotations

import functools
import re
from collections import OrderedDict
from typing import Any

import numpy as np

from radtrio.fsm.plain_tokens import PlainTokens, plain_run_limit
from radtrio.fsm.token_trie import build_trie
from radtrio.fsm.trie_walk import walk_trie_hybrid

_SP_BYTE = re.compile(r"^<0x([0-9A-Fa-f]{2})>$")


@functools.lru_cache(maxsize=1)
def gpt2_unicode_to_byte() -> dict[str, int]:
    bs = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(bs, cs, strict=True)}


def _is_byte_level(tokens: list[str | None]) -> bool:
    g = sum(1 for t in tokens if t and ("Ġ" in t or "Ċ" in t))
    s = sum(1 for t in tokens if t and "▁" in t)
    return g >= s


def token_bytes_from_strings(
    tokens: list[str | None], special: set[int], added_literal: set[int]
) -> list[bytes | None]:
    byte_level = _is_byte_level(tokens)
    u2b = gpt2_unicode_to_byte()
    out: list[bytes | None] = []
    for i, t in enumerate(tokens):
        if t is None or i in special:
            out.append(None)
            continue
        if i in added_literal:
            out.append(t.encode("utf-8"))
            continue
        if byte_level:
            try:
                out.append(bytes(u2b[c] for c in t))
            except KeyError:
                out.append(t.encode("utf-8"))
        else:
            m = _SP_BYTE.match(t)
            if m:
                out.append(bytes([int(m.group(1), 16)]))
            else:
                out.append(t.replace("▁", " ").encode("utf-8"))
    return [b if b else None for b in out]


class TokenizerIndex:
    """Token bytes, EOS ids and token trie of one tokenizer, at a logits width ``vocab_size``."""

    def __init__(
        self,
        token_bytes: list[bytes | None],
        eos_ids: list[int],
        vocab_size: int,
        name: str = "",
        tokenizer: Any = None,
    ) -> None:
        if vocab_size < len(token_bytes):
            token_bytes = token_bytes[:vocab_size]
        self.token_bytes = token_bytes
        self.eos_ids = sorted({e for e in eos_ids if 0 <= e < vocab_size})
        self.vocab_size = vocab_size
        self.n_words = (vocab_size + 31) // 32
        self.name = name
        self.tokenizer = tokenizer
        self.compiled_cache: OrderedDict[tuple, Any] = OrderedDict()
        self._build_trie()
        self.eos_bits = np.zeros(self.n_words, dtype=np.uint32)
        for e in self.eos_ids:
            self.eos_bits[e >> 5] |= np.uint32(1 << (e & 31))

    @classmethod
    def from_hf(
        cls, tokenizer: Any, vocab_size: int | None = None, eos_ids: list[int] | None = None
    ) -> TokenizerIndex:
        """Index a transformers tokenizer (cached on the tokenizer, per width and EOS set)."""
        n_tok = len(tokenizer)
        width = max(vocab_size or 0, n_tok)
        cache = getattr(tokenizer, "_radtrio_fsm_index", None)
        if cache is None:
            cache = {}
            try:
                tokenizer._radtrio_fsm_index = cache
            except AttributeError:
                pass
        ckey = (width, tuple(eos_ids) if eos_ids is not None else None)
        if ckey in cache:
            return cache[ckey]
        tokens = tokenizer.convert_ids_to_tokens(list(range(n_tok)))
        special = set(getattr(tokenizer, "all_special_ids", []) or [])
        added_literal: set[int] = set()
        decoder = getattr(tokenizer, "added_tokens_decoder", {}) or {}
        for tid, tok in decoder.items():
            if getattr(tok, "special", False):
                special.add(int(tid))
            else:
                added_literal.add(int(tid))
        eos = list(eos_ids) if eos_ids is not None else []
        if eos_ids is None and tokenizer.eos_token_id is not None:
            eos.append(int(tokenizer.eos_token_id))
        tb = token_bytes_from_strings(tokens, special, added_literal)
        idx = cls(tb, eos, width, name=getattr(tokenizer, "name_or_path", ""), tokenizer=tokenizer)
        cache[ckey] = idx
        return idx

    def _build_trie(self) -> None:
        self.trie = build_trie([(b, i) for i, b in enumerate(self.token_bytes) if b])
        t = self.trie
        self.node_byte, self.node_depth, self.node_skip = t.node_byte, t.node_depth, t.node_skip
        self.tok_ptr, self.tok_ids = t.tok_ptr, t.tok_ids
        self.max_token_len = t.max_len
        self._node_of: dict[bytes, int] | None = None
        self._plain: PlainTokens | None = None

    @property
    def plain(self) -> PlainTokens:
        """Tokens of plain JSON-string characters, split off the trie (built on first use)."""
        if self._plain is None:
            self._plain = PlainTokens.build(self.token_bytes, self.n_words)
        return self._plain

    def longer_token_ids(self, data: bytes) -> np.ndarray:
        """Ids of the tokens whose bytes strictly extend ``data`` (a subtree of the trie)."""
        if self._node_of is None:
            ends = np.nonzero(self.tok_ptr[1:] > self.tok_ptr[:-1])[0]
            self._node_of = {
                self.token_bytes[int(self.tok_ids[self.tok_ptr[i]])]: int(i) for i in ends
            }
        i = self._node_of.get(data)
        if i is None:
            return np.zeros(0, dtype=np.int32)
        return self.tok_ids[self.tok_ptr[i + 1] : self.tok_ptr[self.node_skip[i]]]

    def token_mask(self, grammar, stk: np.ndarray, depth: int) -> np.ndarray:
        """Packed bitmask (uint32 words) of tokens allowed from this configuration, EOS included
        when the configuration may end.

        Where the configuration takes any run of up to ``n`` plain characters (inside a JSON
        string: a DFA state looping on them, or a counted string with ``n`` left), those tokens
        come from a precomputed mask and only the other tokens are walked."""
        if depth > 0:
            limit = plain_run_limit(grammar, stk, depth, self.max_token_len)
            if limit is None:
                out = np.zeros(self.n_words, dtype=np.uint32)
                trie = self.trie
            else:
                plain = self.plain
                out = plain.by_len[min(limit, plain.max_len)].copy()
                trie = plain.rest
            walk_trie_hybrid(stk, depth, *trie.arrays, trie.max_len, out, *grammar.arrays)
        else:
            out = np.zeros(self.n_words, dtype=np.uint32)
        if grammar.can_end(stk, depth):
            out |= self.eos_bits
        return out
