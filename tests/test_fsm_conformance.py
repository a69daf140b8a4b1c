"""Conformance against the JSON-Schema-Test-Suite (draft 2020-12) and the MaskBench dev set,
sampled with a fixed seed (the full runs are in scripts/bench_fsm.py). The hard requirement:
no invalid instance is ever accepted by a schema radtrio compiles; refusals name a keyword."""

from __future__ import annotations

from pathlib import Path

import pytest

from radtrio.fsm.conformance import compile_or_refuse, emit, load_maskbench, run_test_suite

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
