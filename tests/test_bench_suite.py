"""Smoke test of the benchmark suite (scripts/bench_all.py --tiny): every workload runs at toy
size on a tiny random model, its rows carry consistent numbers, and the report renders."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"
sys.path.insert(0, str(SCRIPTS))

import bench_all  # noqa: E402
from bench_suite import WORKLOADS  # noqa: E402


@pytest.fixture(scope="module")
def tiny_results(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    out = tmp_path_factory.mktemp("bench") / "tiny.json"
    args = argparse.Namespace(
        only=None, out=str(out), skip_hf=False, shape="llama-3.2-1b", tokenizer=None, budget_s=0,
        sizes=None,
    )  # fmt: skip
    bench_all.run_suite("tiny", args)
    return json.loads(out.read_text()), out


def rows_of(results: dict, workload: str) -> dict[str, dict]:
    return {r["system"]: r for r in results["workloads"][workload]["rows"]}


def test_every_workload_gives_rows_for_radtrio_and_its_baselines(tiny_results) -> None:
    results, _ = tiny_results
    assert list(results["workloads"]) == list(WORKLOADS)
    for name, res in results["workloads"].items():
        assert "error" not in res, (name, res.get("error"))
        systems = [r["system"] for r in res["rows"]]
        baseline = "jump-forward off" if name == "json_decode" else "cache off"
        assert any(baseline in s for s in systems), name
        assert any(s.startswith("HF") for s in systems), name
        for r in res["rows"]:
            assert r["wall_s"] > 0 and r["output_tokens"] > 0, (name, r)
            if "hit_rate" not in r:
                continue
            if "cache off" in r["system"]:
                assert r["hit_rate"] == 0.0, (name, r["system"])
            else:
                assert r["hit_rate"] > 0.0, (name, r["system"])
            if name != "json_decode":  # its warm-up request shares the names' first tokens
                assert r["hit_rate"] <= r["ideal_hit_rate"] + 1e-9, (name, r["system"])


def test_workload_shapes_match_their_sizes(tiny_results) -> None:
    results, _ = tiny_results
    sizes = bench_all.SIZES["tiny"]
    sp = sizes["shared_prefix"]
    rows = rows_of(results, "shared_prefix")
    n = sp["groups"] * sp["per_group"]
    for r in rows.values():  # the fixed output length holds for radtrio and HF alike
        assert r["requests"] == n and r["output_tokens"] == n * sp["output"], r["system"]
    mt = sizes["multi_turn"]
    for r in rows_of(results, "multi_turn").values():
        assert r["requests"] == mt["sessions"] * mt["turns"], r["system"]
    tt = sizes["tree_of_thought"]
    steps = sum(tt["branches"] ** (k + 1) for k in range(tt["depth"])) * tt["questions"]
    hf = rows_of(results, "tree_of_thought")["HF transformers generate"]
    assert hf["output_tokens"] == steps * tt["step_tokens"]


def test_jump_forward_saves_decode_steps_and_outputs_match_the_regex(tiny_results) -> None:
    results, _ = tiny_results
    res = results["workloads"]["json_decode"]
    rows = rows_of(results, "json_decode")
    on, off = rows["radtrio, jump-forward on"], rows["radtrio, jump-forward off"]
    assert res["params"]["valid_outputs"] == res["params"]["n"]
    assert on["forced_tokens"] > 0 and off["forced_tokens"] == 0
    assert on["decode_steps"] < off["decode_steps"]


def test_report_renders_tables_and_charts(tiny_results, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    _, path = tiny_results
    doc = tmp_path / "doc.md"
    bench_all.report([str(path)], doc=str(doc), plots=str(tmp_path))
    text = doc.read_text()
    assert text.count("| system | wall s |") == len(WORKLOADS)
    assert "radtrio, radix cache, lpm" in text and "x |" in text  # ratios to the baselines
    for name in WORKLOADS:
        png = tmp_path / f"bench_{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
