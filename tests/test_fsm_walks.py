"""Library-level end to end: random and greedy-like walks that choose only allowed tokens of
SmolLM2's real tokenizer always produce text that validates (jsonschema) or matches
(re.fullmatch), with and without jump-forward; jump-forward keeps a canonical tokenization."""

from __future__ import annotations

import functools
import json
import random
import re

import jsonschema
import numpy as np
import pytest
from test_fsm_support import smollm2_index, smollm2_tokenizer

from radtrio.fsm.compile import compile_constraint
from radtrio.fsm.jump_forward import apply_jump_forward, plan_jump_forward
from radtrio.types import Constraint

SCHEMAS = [
    {
        "type": "object",
        "properties": {
            "name": {"type": "string", "maxLength": 12},
            "age": {"type": "integer", "minimum": 0, "maximum": 130},
            "kind": {"enum": ["alpha", "beta", "gamma"]},
        },
        "required": ["name", "age", "kind"],
        "additionalProperties": False,
    },
    {
        "type": "array",
        "items": {"type": "number", "exclusiveMinimum": -1.5, "maximum": 2},
        "minItems": 1,
        "maxItems": 4,
    },
    {
        "type": "object",
        "properties": {
            "id": {"type": "string", "format": "uuid"},
            "when": {"type": "string", "format": "date"},
            "ok": {"type": "boolean"},
        },
        "required": ["id", "when"],
        "additionalProperties": False,
    },
    {"anyOf": [{"type": "string", "pattern": "^[A-Z]{2}[0-9]{2}$"}, {"type": "null"}]},
    {
        "$defs": {
            "n": {
                "type": "object",
                "properties": {
                    "v": {"type": "integer"},
                    "kids": {"type": "array", "items": {"$ref": "#/$defs/n"}, "maxItems": 2},
                },
                "required": ["v"],
                "additionalProperties": False,
            }
        },
        "$ref": "#/$defs/n",
    },
    {
        "type": "object",
        "properties": {
            "tags": {
                "type": "array",
                "items": {"type": "string", "minLength": 1, "maxLength": 3},
                "maxItems": 20,
            },
            "note": {"type": "string", "maxLength": 40},
        },
        "required": ["tags"],
        "additionalProperties": False,
    },
    {
        "type": "object",
        "properties": {"email": {"type": "string", "format": "email"}, "score": {"type": "number"}},
        "required": ["email", "score"],
        "additionalProperties": {"type": "integer"},
    },
    {
        "oneOf": [
            {
                "type": "object",
                "properties": {"kind": {"const": "a"}, "x": {"type": "integer"}},
                "required": ["kind", "x"],
                "additionalProperties": False,
            },
            {
                "type": "object",
                "properties": {"kind": {"const": "b"}, "y": {"type": "string", "maxLength": 5}},
                "required": ["kind", "y"],
                "additionalProperties": False,
            },
        ]
    },
]
REGEXES = [
    r"\d{3}-\d{4}",
    r"(yes|no|maybe)",
    r"[A-Z][a-z]+ [A-Z][a-z]+",
    r"#[0-9a-f]{6}",
    r"(\w+@\w+\.com)",
]


@functools.lru_cache(maxsize=1)
def _token_kinds() -> np.ndarray:
    """0: longer token, 1: one alphanumeric byte, 2: one other byte."""
    idx = smollm2_index()
    out = np.zeros(idx.vocab_size, dtype=np.int8)
    for i, b in enumerate(idx.token_bytes):
        if b is not None and len(b) == 1:
            out[i] = 1 if b.isalnum() else 2
    return out


def walk(cc, rng, jump_forward: bool, max_steps: int = 200, end_bias: float = 0.6):
    idx = cc.index
    tok = smollm2_tokenizer()
    g = cc.new_guide()
    out: list[int] = []
    forced = 0
    for _ in range(max_steps):
        if jump_forward:
            jf = plan_jump_forward(g, tok, out)
            if jf is not None:
                apply_jump_forward(g, jf)
                if jf.rollback:
                    del out[-jf.rollback :]
                out.extend(jf.token_ids)
                forced += jf.num_forced
        bits = np.unpackbits(g.allowed_mask().view(np.uint8), bitorder="little")[: idx.vocab_size]
        ids = np.nonzero(bits)[0]
        assert len(ids) > 0, "dead end"
        is_eos = np.isin(ids, idx.eos_ids)
        rest = ids[~is_eos]
        if is_eos.any() and (len(rest) == 0 or rng.random() < end_bias):
            g.advance(int(ids[is_eos][0]))
            return out, True, forced
        # often pick among single-byte tokens (punctuation first), so walks also reach the end
        # of long structures (an '@' among thousands of word tokens)
        kind = _token_kinds()[rest]
        r = rng.random()
        pool = rest[kind == 2] if r < 0.35 else rest[kind >= 1] if r < 0.7 else rest
        if len(pool) == 0:
            pool = rest
        t = int(pool[rng.randrange(len(pool))])
        g.advance(t)
        out.append(t)
    return out, False, forced


@pytest.mark.parametrize("i", range(len(SCHEMAS)))
def test_walks_validate_against_schema(i):
    schema = SCHEMAS[i]
    cc = compile_constraint(Constraint(json_schema=json.dumps(schema)), smollm2_index())
    tok = smollm2_tokenizer()
    rng = random.Random(i)
    finished = 0
    for k in range(6):
        ids, ended, _ = walk(cc, rng, jump_forward=k % 2 == 1)
        if not ended:
            continue
        finished += 1
        text = tok.decode(ids)
        value = json.loads(text)
        jsonschema.validate(value, schema, format_checker=jsonschema.FormatChecker())
    assert finished >= 2


@pytest.mark.parametrize("pattern", REGEXES)
def test_walks_match_regex(pattern):
    cc = compile_constraint(Constraint(regex=pattern), smollm2_index())
    tok = smollm2_tokenizer()
    rng = random.Random(7)
    finished = 0
    for jf in (False, True):
        for _ in range(4):
            ids, ended, _ = walk(cc, rng, jf)
            if ended:
                finished += 1
                assert re.fullmatch(pattern, tok.decode(ids))
    assert finished >= 2


def test_jump_forward_keeps_the_canonical_tokenization():
    """A 'model' that always emits the canonical tokens of a valid instance: with jump-forward
    the output is still exactly the tokenizer's split of the text, and tokens were forced."""
    idx = smollm2_index()
    tok = smollm2_tokenizer()
    instances = [
        (SCHEMAS[0], {"name": "Ada Lovelace", "age": 36, "kind": "beta"}),
        (
            SCHEMAS[2],
            {"id": "123e4567-e89b-12d3-a456-426614174000", "when": "2024-02-29", "ok": True},
        ),
        (SCHEMAS[5], {"tags": ["a", "bc", "def"], "note": "short"}),
        (SCHEMAS[7], {"kind": "b", "y": "hey"}),
    ]
    total_forced = total = 0
    for schema, value in instances:
        cc = compile_constraint(Constraint(json_schema=json.dumps(schema)), idx)
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
        canonical = tok.encode(text, add_special_tokens=False)
        g = cc.new_guide()
        out: list[int] = []
        while len(out) < len(canonical):
            jf = plan_jump_forward(g, tok, out)
            if jf is not None:
                apply_jump_forward(g, jf)
                if jf.rollback:
                    del out[-jf.rollback :]
                out.extend(jf.token_ids)
                total_forced += jf.num_forced
                assert out == canonical[: len(out)]
                continue
            t = canonical[len(out)]
            g.advance(t)
            out.append(t)
        assert out == canonical and g.can_end()
        total += len(canonical)
    assert total_forced >= total // 5


def test_choices_walk():
    cc = compile_constraint(Constraint(choices=["red", "green", "blue sky"]), smollm2_index())
    tok = smollm2_tokenizer()
    rng = random.Random(1)
    seen = set()
    for _ in range(10):
        ids, ended, _ = walk(cc, rng, False)
        assert ended
        seen.add(tok.decode(ids))
    assert seen <= {"red", "green", "blue sky"} and len(seen) >= 2


def test_json_any_walk():
    cc = compile_constraint(Constraint(json=True), smollm2_index())
    tok = smollm2_tokenizer()
    rng = random.Random(5)
    n = 0
    for _ in range(8):
        ids, ended, _ = walk(cc, rng, False, end_bias=0.9)
        if ended:
            json.loads(tok.decode(ids))
            n += 1
    assert n >= 3
