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

from radtrio.fsm import machine_kernels as mk

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
        items = sorted((b, i) for i, b in enumerate(self.token_bytes) if b)
        node_byte: list[int] = []
        node_depth: list[int] = []
        tok_of_node: list[list[int]] = []
        path: list[int] = []  # node index per depth of the current path
        prev = b""
        for data, tid in items:
            if data == prev and node_byte:
                tok_of_node[path[len(data) - 1]].append(tid)
                continue
            lcp = 0
            m = min(len(prev), len(data))
            while lcp < m and prev[lcp] == data[lcp]:
                lcp += 1
            del path[lcp:]
            for d in range(lcp, len(data)):
                node_byte.append(data[d])
                node_depth.append(d + 1)
                tok_of_node.append([])
                path.append(len(node_byte) - 1)
            tok_of_node[path[len(data) - 1]].append(tid)
            prev = data
        n = len(node_byte)
        skip = np.empty(n, dtype=np.int32)
        stack: list[int] = []
        for i in range(n):
            while stack and node_depth[stack[-1]] >= node_depth[i]:
                skip[stack.pop()] = i
            stack.append(i)
        for j in stack:
            skip[j] = n
        self.node_byte = np.array(node_byte, dtype=np.uint8)
        self.node_depth = np.array(node_depth, dtype=np.int32)
        self.node_skip = skip
        self.tok_ptr = np.zeros(n + 1, dtype=np.int32)
        self.tok_ptr[1:] = np.cumsum([len(t) for t in tok_of_node])
        self.tok_ids = np.array([t for ts in tok_of_node for t in ts], dtype=np.int32)
        self.max_token_len = int(self.node_depth.max()) if n else 1
        self._node_of: dict[bytes, int] | None = None

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
        when the configuration may end."""
        out = np.zeros(self.n_words, dtype=np.uint32)
        if depth > 0:
            if grammar.pure_dfa and depth == 1:
                mk.walk_trie_dfa(
                    int(stk[0, 1]),
                    self.node_byte,
                    self.node_depth,
                    self.node_skip,
                    self.tok_ptr,
                    self.tok_ids,
                    out,
                    grammar.T,
                )
            else:
                mk.walk_trie(
                    stk,
                    depth,
                    self.node_byte,
                    self.node_depth,
                    self.node_skip,
                    self.tok_ptr,
                    self.tok_ids,
                    out,
                    *grammar.arrays,
                )
        if grammar.can_end(stk, depth):
            out |= self.eos_bits
        return out
