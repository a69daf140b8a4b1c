"""Incremental detokenization on the real SmolLM2 tokenizer: whole characters only,
stop strings found across chunk boundaries and trimmed."""

from __future__ import annotations

import pytest
from models_fixtures import smollm2, smollm2_path  # noqa: F401  (fixtures)

from radtrio.actors.detokenizer import IncrementalDetokenizer

TEXTS = [
    "Héllo wörld — ça va? 東京タワー 🗼🚀 naïve café",
    "Numbers 12345 and symbols <>{}[] \n\t end.",
    "Emoji family 👨‍👩‍👧‍👦 and flags 🇫🇷🇯🇵.",
]


@pytest.fixture(scope="module")
def tokenizer(smollm2):  # noqa: F811
    return smollm2.tokenizer


@pytest.mark.parametrize("text", TEXTS)
def test_token_by_token_release_is_exact_and_never_splits_a_character(tokenizer, text):
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    d = IncrementalDetokenizer(tokenizer)
    pieces = [d.add([t]) for t in ids] + [d.flush()]
    assert "".join(pieces) == tokenizer.decode(ids)
    assert all("\ufffd" not in p for p in pieces)


@pytest.mark.parametrize("stop", ["wörld", "ça", "🚀", "タワー"])
def test_stop_string_is_trimmed_wherever_the_chunks_split_it(tokenizer, stop):
    text = TEXTS[0]
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    d = IncrementalDetokenizer(tokenizer, stop=[stop])
    released = ""
    for t in ids:
        released += d.add([t])
        if d.stopped_at:
            break
    assert d.stopped_at == stop
    assert released == text[: text.index(stop)]


def test_a_partial_stop_string_is_released_at_the_end(tokenizer):
    ids = tokenizer("the end is near", add_special_tokens=False)["input_ids"]
    d = IncrementalDetokenizer(tokenizer, stop=["nearly"])
    out = "".join(d.add([t]) for t in ids)
    assert not out.endswith("near")  # held back: it may still become "nearly"
    assert out + d.flush() == "the end is near"


def test_rewritten_tokens_keep_released_text(tokenizer):
    text = '{"name": "Ann", "age": 3'
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    d = IncrementalDetokenizer(tokenizer)
    first = "".join(d.add([t]) for t in ids[:4])
    # Jump-forward: the tail is retokenized; what was released stays released.
    d.reset_tokens(ids[:3])
    rest = d.add(ids[3:]) + d.flush()
    assert first + rest == text
