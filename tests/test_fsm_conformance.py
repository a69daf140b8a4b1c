"""Conformance against the JSON-Schema-Test-Suite (draft 2020-12) and the MaskBench dev set,
sampled with a fixed seed (the full runs are in scripts/bench_fsm.py). The hard requirement:
no invalid instance is ever accepted by a schema radtrio compiles; refusals name a keyword."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from radtrio.fsm.conformance import (
    compile_or_refuse,
    emit,
    load_maskbench,
    random_text,
    run_test_suite,
    walk_error,
    walk_validator,
)

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
SUITE = SHARED / "json-schema-test-suite" / "tests" / "draft2020-12"
MASKBENCH = SHARED / "maskbench" / "dev.jsonl.gz"


@pytest.mark.skipif(not SUITE.is_dir(), reason="JSON-Schema-Test-Suite not present in ../shared")
def test_json_schema_test_suite_sample():
    counts = run_test_suite(SUITE, sample=160, seed=0)
    summary = counts.as_dict()
    print(summary)
    assert counts.invalid_accepted == 0, counts.invalid_accepted_cases
    assert counts.compiled >= 60
    assert counts.valid_accepted >= 10 * max(counts.valid_rejected, 1)
    # every refusal names a keyword (never a crash type)
    assert all(k[0].isalpha() or k[0] in "$(" for k in counts.refused), counts.refused
    assert "KeyError" not in counts.refused and "TypeError" not in counts.refused


@pytest.mark.skipif(not MASKBENCH.is_file(), reason="MaskBench dev set not present in ../shared")
def test_maskbench_sample():
    rows = load_maskbench(MASKBENCH, per_split=2, seed=0)
    compiled = passed = 0
    bad = []
    for r in rows:
        g, refused = compile_or_refuse(r["schema"])
        if g is None:
            assert refused
            continue
        compiled += 1
        ok = True
        for t in r["tests"]:
            accepted = g.matches(emit(t["data"], r["schema"]).encode("utf-8"))
            if not t["valid"] and accepted:
                bad.append(r["id"])
            ok &= accepted == t["valid"]
        passed += ok
    print(f"maskbench sample: {len(rows)} schemas, {compiled} compiled, {passed} passed")
    assert not bad, f"invalid instances accepted: {bad}"
    assert compiled >= 0.6 * len(rows)
    assert passed >= 0.9 * compiled


def _invalid_walks(schema, walks: int, seed: int) -> list[tuple[str, str]]:
    """Random walks through the compact and flexible grammars of ``schema`` that jsonschema
    (``walk_validator``: its format checker) rejects: (text, first error)."""
    validator = walk_validator(schema)
    rng = random.Random(seed)
    bad = []
    for flexible in (False, True):
        g, _ = compile_or_refuse(schema, flexible)
        if g is None:
            continue
        for _ in range(walks):
            text = random_text(g, rng)
            if text is None:
                continue
            err = walk_error(validator, text)
            if err is not None:
                bad.append((text.decode("utf-8")[:200], err[:120]))
    return bad


@pytest.mark.skipif(not MASKBENCH.is_file(), reason="MaskBench dev set not present in ../shared")
def test_maskbench_random_walks_validate():
    """Whatever a compiled grammar lets a model write is valid: random walks through the
    grammars of a MaskBench sample all validate under jsonschema."""
    bad = {}
    for i, r in enumerate(load_maskbench(MASKBENCH, per_split=2, seed=1)):
        found = _invalid_walks(r["schema"], walks=4, seed=i)
        if found:
            bad[r["id"]] = found[0]
    assert not bad, bad


@pytest.mark.skipif(not SUITE.is_dir(), reason="JSON-Schema-Test-Suite not present in ../shared")
def test_json_schema_test_suite_random_walks_validate():
    cases = []
    for path in sorted(SUITE.glob("*.json")):
        cases += [(path.stem, c) for c in json.loads(path.read_text())]
    bad = {}
    for i, (stem, case) in enumerate(random.Random(0).sample(cases, 120)):
        found = _invalid_walks(case["schema"], walks=3, seed=i)
        if found:
            bad[f"{stem}: {case['description']}"] = found[0]
    assert not bad, bad


def test_emit_orders_keys_inside_pattern_and_additional_values():
    schema = {
        "type": "object",
        "properties": {"n": {"type": "object", "properties": {"b": {}, "a": {}}}},
        "patternProperties": {"^x": {"type": "object", "properties": {"z": {}, "y": {}}}},
        "additionalProperties": {"type": "object", "properties": {"q": {}, "p": {}}},
    }
    value = {"other": {"p": 1, "q": 2}, "x1": {"y": 1, "z": 2}, "n": {"a": 1, "b": 2}}
    text = emit(value, schema)
    assert text == '{"n":{"b":2,"a":1},"other":{"q":2,"p":1},"x1":{"z":2,"y":1}}'
    g, why = compile_or_refuse(schema)
    assert why is None and g.matches(text.encode())
