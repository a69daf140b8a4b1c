"""Guide over SmolLM2's real tokenizer: masks, advance, EOS, copy, rollback, forced bytes,
and the torch mask application."""

from __future__ import annotations

import random
import re

import numpy as np
import pytest
import torch
from test_fsm_support import smollm2_index, smollm2_tokenizer

from radtrio.fsm.compile import compile_constraint
from radtrio.fsm.guide import TokenNotAllowed
from radtrio.fsm.mask import apply_token_bitmask, fill_row, unpack_bitmask
from radtrio.fsm.tokenizer_index import TokenizerIndex, token_bytes_from_strings
from radtrio.types import Constraint, RequestError


def allowed_ids(mask: np.ndarray, vocab: int) -> np.ndarray:
    bits = np.unpackbits(mask.view(np.uint8), bitorder="little")[:vocab]
    return np.nonzero(bits)[0]


def random_walk(cc, rng: random.Random, max_tokens: int = 60, prefer_end: float = 0.3):
    """Sample only allowed tokens until EOS or max_tokens; returns (token ids, ended)."""
    g = cc.new_guide()
    idx = cc.index
    out = []
    for _ in range(max_tokens):
        ids = allowed_ids(g.allowed_mask(), idx.vocab_size)
        assert len(ids) > 0, "dead end: no token allowed"
        eos = [i for i in ids if i in idx.eos_ids]
        if eos and rng.random() < prefer_end:
            g.advance(int(eos[0]))
            return out, True
        non_eos = [int(i) for i in ids if i not in idx.eos_ids]
        if not non_eos:
            g.advance(int(eos[0]))
            return out, True
        t = rng.choice(non_eos)
        g.advance(t)
        out.append(t)
    return out, False


def test_token_bytes_maps():
    # byte-level: Ġ = space, Ċ = newline; SentencePiece: ▁ = space, <0x0A> = a raw byte
    assert token_bytes_from_strings(["Ġa", "Ċ", "b"], set(), set()) == [b" a", b"\n", b"b"]
    assert token_bytes_from_strings(["▁a", "<0x0A>", "<s>"], {2}, set()) == [b" a", b"\n", None]


def test_index_of_smollm2():
    idx = smollm2_index()
    tok = smollm2_tokenizer()
    assert idx.vocab_size == 49152
    assert tok.eos_token_id in idx.eos_ids
    for special in tok.all_special_ids:
        assert idx.token_bytes[special] is None
    # every ordinary token's bytes decode back to what the tokenizer decodes
    for tid in (200, 1000, 34101, 5440):
        assert idx.token_bytes[tid].decode("utf-8", "replace") == tok.decode([tid])
    assert TokenizerIndex.from_hf(tok) is idx  # cached per tokenizer


@pytest.mark.parametrize(
    "pattern",
    [r"[a-z.]+\.[a-z]+ (yes|no)", r"\d{3}-\d{2,4}", r"(ab|cd)*e?x", r"é+[^a]ü?", r"[😀-🙏]{2}"],
)
def test_random_walks_match_regex(pattern):
    cc = compile_constraint(Constraint(regex=pattern), smollm2_index())
    rng = random.Random(0)
    tok = smollm2_tokenizer()
    for _ in range(8):
        ids, ended = random_walk(cc, rng)
        text = b"".join(cc.index.token_bytes[i] for i in ids)
        if ended:
            assert re.fullmatch(pattern, text.decode("utf-8")), text
            assert tok.decode(ids) == text.decode("utf-8")


def test_advance_rejects_and_eos_rules():
    idx = smollm2_index()
    cc = compile_constraint(Constraint(choices=["yes", "no"]), idx)
    g = cc.new_guide()
    eos = idx.eos_ids[0]
    assert not g.is_allowed(eos) and not g.can_end()
    with pytest.raises(TokenNotAllowed):
        g.advance(eos)
    tok = smollm2_tokenizer()
    with pytest.raises(TokenNotAllowed):
        g.advance(tok.encode("maybe")[0])
    for t in tok.encode("yes"):
        g.advance(t)
    assert g.can_end() and g.is_finished() and g.is_allowed(eos)
    g.advance(eos)
    assert g.is_finished()
    with pytest.raises(TokenNotAllowed):
        g.advance(tok.encode("yes")[0])


def test_copy_and_rollback_are_independent():
    idx = smollm2_index()
    tok = smollm2_tokenizer()
    cc = compile_constraint(Constraint(regex=r"(cat|dog)s? and (cat|dog)s?"), idx)
    g = cc.new_guide()
    ids = tok.encode("cats and dog")
    for t in ids[:2]:
        g.advance(t)
    h = g.copy()
    for t in ids[2:]:
        g.advance(t)
    assert g.can_end() and not h.can_end()
    assert h.num_tokens == 2
    g.rollback(len(ids) - 2)
    assert np.array_equal(g.allowed_mask(), h.allowed_mask())
    with pytest.raises(ValueError):
        g.rollback(99)


def test_forced_bytes():
    idx = smollm2_index()
    cc = compile_constraint(Constraint(regex=r"hello (world|there)!"), idx)
    g = cc.new_guide()
    assert g.forced_bytes() == b"hello "
    assert g.advance_bytes(b"hello t")
    assert g.forced_bytes() == b"here!"
    assert g.advance_bytes(b"here!")
    assert g.forced_bytes() == b"" and g.is_finished()


def test_compile_cache_and_bad_input():
    idx = smollm2_index()
    a = compile_constraint(Constraint(regex=r"ab+"), idx)
    assert compile_constraint(Constraint(regex=r"ab+"), idx) is a
    with pytest.raises(RequestError):
        compile_constraint(Constraint(regex=r"(ab"), idx)
    with pytest.raises(RequestError):
        compile_constraint(Constraint(regex="a", choices=["b"]), idx)


def test_mask_wider_vocab_never_allows_extra_ids():
    tok = smollm2_tokenizer()
    idx = TokenizerIndex.from_hf(tok, vocab_size=49152 + 100)
    cc = compile_constraint(Constraint(regex=r"[a-z ]+"), idx)
    m = cc.new_guide().allowed_mask()
    assert m.shape[0] == (49152 + 100 + 31) // 32
    assert allowed_ids(m, idx.vocab_size).max() < 49152


def test_apply_token_bitmask_matches_reference():
    gen = torch.Generator().manual_seed(0)
    B, V = 5, 1000
    W = (V + 31) // 32
    logits = torch.randn(B, V, generator=gen)
    allowed = torch.rand(B, V, generator=gen) < 0.3
    bitmask = torch.zeros(B, W, dtype=torch.int32)
    for b in range(B):
        words = np.zeros(W, dtype=np.uint32)
        for t in np.nonzero(allowed[b].numpy())[0]:
            words[t >> 5] |= np.uint32(1 << (t & 31))
        fill_row(bitmask, b, words)
    assert torch.equal(unpack_bitmask(bitmask, V), allowed)
    ref = torch.where(allowed, logits, torch.tensor(float("-inf")))
    out = logits.clone()
    apply_token_bitmask(out, bitmask)
    assert torch.equal(out, ref)
    # only some rows constrained
    out2 = logits.clone()
    apply_token_bitmask(out2, bitmask[[1, 3]], rows=[1, 3])
    assert torch.equal(out2[[1, 3]], ref[[1, 3]])
    assert torch.equal(out2[[0, 2, 4]], logits[[0, 2, 4]])
    # logits wider than the mask: the extra ids are disallowed
    wide = torch.randn(B, W * 32 + 7, generator=gen)
    apply_token_bitmask(wide, bitmask)
    assert torch.isinf(wide[:, W * 32 :]).all()


def test_json_lenient_ignores_what_strict_mode_refuses():
    schema = '{"type": "array", "items": {"type": "integer"}, "uniqueItems": true}'
    idx = smollm2_index()
    with pytest.raises(RequestError, match="uniqueItems"):
        compile_constraint(Constraint(json_schema=schema), idx)
    cc = compile_constraint(Constraint(json_schema=schema, json_lenient=True), idx)
    assert cc.matches(b"[1,2]") and cc.matches(b"[1,1]") and not cc.matches(b'["a"]')
