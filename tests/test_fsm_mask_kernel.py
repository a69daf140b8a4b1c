"""The token-mask fast paths (top-state walk, plain-character tokens) against the reference
kernel that runs the generic pushdown step at every trie node, on random walks."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
from test_fsm_support import smollm2_index

from radtrio.fsm import machine_kernels as mk
from radtrio.fsm.compile import compile_constraint
from radtrio.types import Constraint

SCHEMAS = [
    {"type": "object", "properties": {"name": {"type": "string"}, "n": {"type": "integer"}}},
    {"type": "string", "minLength": 3, "maxLength": 40},  # counted string
    {"type": "string", "pattern": "^[a-z]+ [0-9]*$"},
    {"type": "array", "items": {"type": "string", "maxLength": 20}, "maxItems": 30},
    {
        "$defs": {
            "n": {
                "type": "object",
                "properties": {
                    "kids": {"type": "array", "items": {"$ref": "#/$defs/n"}},
                    "label": {"type": "string"},
                },
            }
        },
        "$ref": "#/$defs/n",
    },
    True,
]


def reference_mask(idx, grammar, stk, depth) -> np.ndarray:
    out = np.zeros(idx.n_words, dtype=np.uint32)
    if depth > 0:
        mk.walk_trie(stk, depth, *idx.trie.arrays, out, *grammar.arrays)
    if grammar.can_end(stk, depth):
        out |= idx.eos_bits
    return out


@pytest.mark.parametrize("schema", SCHEMAS, ids=range(len(SCHEMAS)))
@pytest.mark.parametrize("flexible", [False, True])
def test_fast_masks_equal_reference(schema, flexible):
    idx = smollm2_index()
    cc = compile_constraint(
        Constraint(json_schema=json.dumps(schema), flexible_whitespace=flexible), idx
    )
    rng = random.Random(0)
    for _ in range(3):
        g = cc.new_guide()
        for _ in range(25):
            stk, depth = g._current()
            fast = idx.token_mask(cc.grammar, stk, depth)
            np.testing.assert_array_equal(fast, reference_mask(idx, cc.grammar, stk, depth))
            bits = np.unpackbits(fast.view(np.uint8), bitorder="little")[: idx.vocab_size]
            ids = [int(i) for i in np.nonzero(bits)[0] if i not in idx.eos_ids]
            if not ids:
                break
            g.advance(rng.choice(ids))
