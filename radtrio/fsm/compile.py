"""Constraint -> compiled machine bound to a tokenizer index (cached by tokenizer, kind, text)."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict

import numpy as np

from radtrio.fsm.automaton import compile_kernels, time_limit
from radtrio.fsm.grammar import MAX_STACK, Grammar, GrammarBuilder
from radtrio.fsm.guide import Guide
from radtrio.fsm.regex_parser import N_alt, N_lit, RegexError, parse_regex
from radtrio.fsm.tokenizer_index import TokenizerIndex
from radtrio.types import Constraint, RequestError

MAX_CACHED_CONSTRAINTS = 256
MAX_CACHED_MASKS = 100_000
REGEX_TIME_LIMIT_S = 10.0


class CompiledConstraint:
    """A grammar plus a per-state mask cache shared by every request using it."""

    def __init__(
        self, grammar: Grammar, index: TokenizerIndex, kind: str, text: str, compile_s: float
    ) -> None:
        self.grammar = grammar
        self.index = index
        self.kind = kind
        self.text = text
        self.compile_s = compile_s
        self._masks: dict[bytes, np.ndarray] = {}
        self._lock = threading.Lock()
        self.mask_hits = 0
        self.mask_misses = 0

    def new_guide(self) -> Guide:
        return Guide(self)

    def mask_for_frames(self, frames: np.ndarray, depth: int) -> np.ndarray:
        """:meth:`mask_for` of a configuration stored as its ``depth`` frames only."""
        key = self.grammar.key(frames, depth, self.index.max_token_len)
        m = self._masks.get(key)
        if m is not None:
            self.mask_hits += 1
            return m
        stk = np.zeros((MAX_STACK, 4), dtype=np.int32)
        stk[:depth] = frames
        return self._computed_mask(key, stk, depth)

    def mask_for(self, stk: np.ndarray, depth: int) -> np.ndarray:
        key = self.grammar.key(stk, depth, self.index.max_token_len)
        m = self._masks.get(key)
        if m is not None:
            self.mask_hits += 1
            return m
        return self._computed_mask(key, stk, depth)

    def _computed_mask(self, key: bytes, stk: np.ndarray, depth: int) -> np.ndarray:
        """A cache miss: the mask of the configuration, computed and kept under ``key``."""
        self.mask_misses += 1
        m = self.index.token_mask(self.grammar, stk, depth)
        m.setflags(write=False)
        with self._lock:
            if len(self._masks) >= MAX_CACHED_MASKS:
                self._masks.clear()
            self._masks[key] = m
        return m

    def matches(self, data: bytes) -> bool:
        """Whether the whole byte string satisfies the constraint (token-independent)."""
        return self.grammar.matches(data)


def build_grammar(constraint: Constraint, lenient: bool = False) -> tuple[Grammar, str, str]:
    """The machine of a constraint, independent of any tokenizer: (grammar, kind, text)."""
    if constraint.regex is not None:
        g = _compile_regex(constraint.regex)
        if not g.acc.any():
            raise RequestError(f"constraint.regex {constraint.regex!r} matches no string")
        return g, "regex", constraint.regex
    if constraint.choices is not None:
        b = GrammarBuilder()
        root = b.add_dfa(N_alt(*[N_lit(c) for c in constraint.choices]))
        return b.finish(root), "choices", "\x00".join(constraint.choices)
    if constraint.json_schema is not None or constraint.json:
        from radtrio.fsm.json_schema import compile_json_any, compile_json_schema
    if constraint.json_schema is not None:
        g = compile_json_schema(constraint.json_schema, constraint.flexible_whitespace, lenient)
        return g, "json_schema", constraint.json_schema
    if constraint.json:
        return compile_json_any(constraint.flexible_whitespace), "json", ""
    raise RequestError("constraint must set exactly one of regex, json_schema, choices, json")


def _compile_regex(pattern: str) -> Grammar:
    """A user regex's machine; every failure is a RequestError naming the pattern."""
    compile_kernels()  # JIT time is not the regex's
    try:
        with time_limit(REGEX_TIME_LIMIT_S):
            ast = parse_regex(pattern, "python")
            b = GrammarBuilder()
            return b.finish(b.add_dfa(ast))
    except RegexError:
        raise
    except RecursionError as e:
        raise RegexError(f"regex {pattern!r}: nests too deeply to compile") from e
    except RequestError as e:
        raise RegexError(f"regex {pattern!r}: {e}") from e
    except (ValueError, IndexError, KeyError, OverflowError) as e:
        raise RegexError(f"regex {pattern!r}: cannot be compiled ({e})") from e


def compile_constraint(
    constraint: Constraint, index: TokenizerIndex, lenient: bool = False
) -> CompiledConstraint:
    """Compile (or fetch from the index's cache) a constraint. Raises RequestError with the
    keyword and JSON pointer for unsupported schema features, or the position of a bad regex."""
    constraint.validate()
    kind = (
        "regex"
        if constraint.regex is not None
        else "choices"
        if constraint.choices is not None
        else "json_schema"
        if constraint.json_schema is not None
        else "json"
    )
    text = (
        constraint.regex
        if constraint.regex is not None
        else "\x00".join(constraint.choices)
        if constraint.choices is not None
        else constraint.json_schema or ""
    )
    lenient = lenient or constraint.json_lenient
    key = (kind, text, constraint.flexible_whitespace, lenient)
    cache: OrderedDict = index.compiled_cache  # type: ignore[assignment]
    hit = cache.get(key)
    if hit is not None:
        cache.move_to_end(key)
        return hit
    t0 = time.perf_counter()
    grammar, kind, text = build_grammar(constraint, lenient)
    cc = CompiledConstraint(grammar, index, kind, text, time.perf_counter() - t0)
    cache[key] = cc
    while len(cache) > MAX_CACHED_CONSTRAINTS:
        cache.popitem(last=False)
    return cc
