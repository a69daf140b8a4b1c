"""Structured-generation benchmark: radtrio's FSM against llguidance, xgrammar, outlines-core.

On the MaskBench dev set (``../shared/data/maskbench/dev.jsonl.gz``, N schemas per split,
seed 0) with SmolLM2's tokenizer, for each engine:

- compile time per schema (p50/p90), share of schemas compiled;
- a schema *passes* when every valid instance is accepted and every invalid one rejected;
  each valid instance is walked token by token (its canonical tokens, compact separators and
  the default ``", "``/``": "`` ones), computing the token mask before every token (time per
  mask p50/p99/mean) and requiring EOS allowed at the end; invalid instances must fail;
- radtrio also reports the share of tokens jump-forward forces on the compact walks.

outlines-core ("outlines") compiles one regex with its default whitespace and runs each row
in a forked child stopped after 10 s (it cannot be interrupted otherwise).

Usage: python scripts/bench_fsm.py [--per-split 25]
       [--engines radtrio,llguidance,xgrammar,outlines]
       [--suite] [--walks N] [--interleave radtrio,llguidance [--repeats 2]]
       [--interleave-masks radtrio,xgrammar,llguidance] [--json out.json]

``--interleave`` adds a compile-only pass in which the named engines take turns on each
schema (the speed of a shared machine drifts between the engine passes, minutes apart, by
a third); ``--interleave-masks`` does the same for the engines' whole row passes (compile
and walks), so that their token-mask times meet the same drift.
The comparison engines are optional (``pip install llguidance xgrammar outlines-core``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"


def pct(xs, q):
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def instances(row, emit):
    """(compact text, default-separators text, valid) per test."""
    out = []
    for t in row["tests"]:
        try:
            out.append(
                (emit(t["data"], row["schema"]), emit(t["data"], row["schema"], True), t["valid"])
            )
        except (TypeError, ValueError):
            continue
    return out


# -- radtrio ------------------------------------------------------------------------------------
def _new_result(**extra) -> dict:
    return {
        "compile_s": [],
        "mask_s": [],
        "passed": 0,
        "compiled": 0,
        "refused": {},
        "accepts_invalid": 0,
        "rejects_valid": 0,
        **extra,
    }


def run_pass(name, rows, tok, emit) -> dict:
    """One engine over every row."""
    res = _new_result(forced=0, walked=0) if name == "radtrio" else _new_result()
    row_pass = ENGINE_ROWS[name](tok, emit)
    for row in rows:
        row_pass(row, res)
    return res


def radtrio_rows(tok, emit, jump_forward_stats=True):
    """A function that compiles one row's schema (compact and flexible), walks its
    instances and adds the figures to a result dict (see :func:`_new_result`); with
    ``jump_forward_stats`` also the tokens jump-forward forces on the compact walks."""
    from radtrio.fsm.compile import compile_constraint
    from radtrio.fsm.jump_forward import apply_jump_forward, plan_jump_forward
    from radtrio.fsm.tokenizer_index import TokenizerIndex
    from radtrio.types import Constraint, RequestError

    idx = TokenizerIndex.from_hf(tok)

    def row_pass(row, res):
        text = json.dumps(row["schema"])
        idx.compiled_cache.clear()
        t0 = time.perf_counter()
        try:
            cc = compile_constraint(Constraint(json_schema=text, flexible_whitespace=False), idx)
        except RequestError as e:
            kw = getattr(e, "keyword", "other")
            res["refused"][kw] = res["refused"].get(kw, 0) + 1
            return
        res["compile_s"].append(time.perf_counter() - t0)
        try:
            ccf = compile_constraint(Constraint(json_schema=text, flexible_whitespace=True), idx)
        except RequestError:
            ccf = None
        res["compiled"] += 1
        ok = True
        for compact, spaced, valid in instances(row, emit):
            for c, s in ((cc, compact), (ccf, spaced)):
                if c is None:
                    ok = ok and not valid
                    continue
                if not valid:
                    if c.matches(s.encode()):
                        ok = False
                        res["accepts_invalid"] += 1
                    continue
                ids = tok.encode(s, add_special_tokens=False)
                g = c.new_guide()
                good = True
                for t in ids:
                    t0 = time.perf_counter()
                    m = g.allowed_mask()
                    res["mask_s"].append(time.perf_counter() - t0)
                    if not (m[t >> 5] >> (t & 31)) & 1:
                        good = False
                        break
                    g.advance(t)
                if good:
                    t0 = time.perf_counter()
                    m = g.allowed_mask()
                    res["mask_s"].append(time.perf_counter() - t0)
                    good = any((m[e >> 5] >> (e & 31)) & 1 for e in idx.eos_ids)
                if not good:
                    ok = False
                    res["rejects_valid"] += 1
                elif jump_forward_stats and c is cc:
                    res["forced"] += _forced_tokens(
                        c, tok, ids, plan_jump_forward, apply_jump_forward
                    )
                    res["walked"] += len(ids)
        res["passed"] += ok

    return row_pass


def _forced_tokens(cc, tok, canonical, plan, apply):
    g = cc.new_guide()
    out: list[int] = []
    forced = 0
    while len(out) < len(canonical):
        jf = plan(g, tok, out)
        if jf is not None:
            apply(g, jf)
            if jf.rollback:
                del out[-jf.rollback :]
            out.extend(jf.token_ids)
            forced += jf.num_forced
            if out != canonical[: len(out)]:
                return forced  # diverged from this instance (another valid continuation)
            continue
        g.advance(canonical[len(out)])
        out.append(canonical[len(out)])
    return forced


# -- the comparison engines' walks ----------------------------------------------------------
def walk_accepts(ids, fill, allowed, advance, eos, valid, res) -> bool:
    """One instance's canonical tokens through an engine: ``fill()`` computes the mask
    (timed into ``res["mask_s"]`` for valid instances), ``allowed(t)`` reads a token's bit
    from it, ``advance(t)`` takes the token; at the end EOS must be allowed. Counts a wrong
    answer in ``res`` and returns whether the engine answered as ``valid`` says."""
    good = True
    for t in ids:
        t0 = time.perf_counter()
        fill()
        if valid:
            res["mask_s"].append(time.perf_counter() - t0)
        if not allowed(t):
            good = False
            break
        advance(t)
    if good:
        fill()
        good = allowed(eos)
    if good != valid:
        res["accepts_invalid" if good else "rejects_valid"] += 1
    return good == valid


# -- llguidance -------------------------------------------------------------------------------
def llguidance_rows(tok, emit):
    """Like :func:`radtrio_rows`, for llguidance."""
    import llguidance
    import llguidance.hf
    import llguidance.torch as lt

    lltok = llguidance.hf.from_tokenizer(tok)
    vocab = len(tok)
    eos = tok.eos_token_id
    bitmask = lt.allocate_token_bitmask(1, vocab)

    def allowed(t: int) -> bool:
        return bool((int(bitmask[0, t >> 5]) >> (t & 31)) & 1)

    def row_pass(row, res):
        text = json.dumps(row["schema"])
        t0 = time.perf_counter()
        ok_c = True
        matchers = {}
        for flex in (False, True):
            grm = llguidance.LLMatcher.grammar_from_json_schema(
                text, defaults={"whitespace_flexible": flex}
            )
            m = llguidance.LLMatcher(lltok, grm)
            if m.is_error():
                ok_c = False
                break
            matchers[flex] = (grm, m)
            if not flex:
                res["compile_s"].append(time.perf_counter() - t0)
        if not ok_c:
            res["refused"]["error"] = res["refused"].get("error", 0) + 1
            return
        res["compiled"] += 1
        ok = True
        for compact, spaced, valid in instances(row, emit):
            for flex, s in ((False, compact), (True, spaced)):
                m = llguidance.LLMatcher(lltok, matchers[flex][0])
                ok &= walk_accepts(
                    tok.encode(s, add_special_tokens=False),
                    lambda m=m: lt.fill_next_token_bitmask(m, bitmask, 0),
                    allowed,
                    m.consume_token,
                    eos,
                    valid,
                    res,
                )
        res["passed"] += ok

    return row_pass


# -- xgrammar ---------------------------------------------------------------------------------
def xgrammar_rows(tok, emit):
    """Like :func:`radtrio_rows`, for xgrammar (one grammar with any whitespace)."""
    import xgrammar as xgr

    vocab = len(tok)
    info = xgr.TokenizerInfo.from_huggingface(tok, vocab_size=vocab)
    compiler = xgr.GrammarCompiler(info, cache_enabled=False)
    eos = tok.eos_token_id
    bitmask = xgr.allocate_token_bitmask(1, vocab)

    def allowed(t: int) -> bool:
        return bool((int(bitmask[0, t >> 5]) >> (t & 31)) & 1)

    def row_pass(row, res):
        text = json.dumps(row["schema"])
        t0 = time.perf_counter()
        try:
            cg = compiler.compile_json_schema(text, any_whitespace=True, strict_mode=False)
        except Exception as e:  # noqa: BLE001 - any refusal counts
            key = type(e).__name__
            res["refused"][key] = res["refused"].get(key, 0) + 1
            return
        res["compile_s"].append(time.perf_counter() - t0)
        res["compiled"] += 1
        ok = True
        for compact, spaced, valid in instances(row, emit):
            for s in (compact, spaced):
                m = xgr.GrammarMatcher(cg)
                ok &= walk_accepts(
                    tok.encode(s, add_special_tokens=False),
                    lambda m=m: m.fill_next_token_bitmask(bitmask),
                    allowed,
                    m.accept_token,
                    eos,
                    valid,
                    res,
                )
        res["passed"] += ok

    return row_pass


# -- outlines-core ----------------------------------------------------------------------------
OUTLINES_ROW_LIMIT_S = 10.0  # outlines-core cannot be interrupted: a row runs in a child


def outlines_rows(tok, emit):
    """Like :func:`radtrio_rows`, for outlines-core: the schema's regex (its default
    whitespace, ``[ ]?``, which both walks need) and the token index over it are the compile;
    the mask is ``Guide.write_mask_into``. Each row runs in a forked child that the parent
    stops after :data:`OUTLINES_ROW_LIMIT_S` (the index of a large regex can take minutes and
    holds the interpreter meanwhile); a stopped row counts as refused ("timeout")."""
    import multiprocessing

    import numpy as np
    import outlines_core
    from outlines_core.json_schema import build_regex_from_schema

    from radtrio.fsm.tokenizer_index import TokenizerIndex

    eos = tok.eos_token_id
    by_bytes: dict[bytes, list[int]] = {}
    for i, b in enumerate(TokenizerIndex.from_hf(tok).token_bytes):
        if b is not None and i != eos:
            by_bytes.setdefault(b, []).append(i)
    vocab = outlines_core.Vocabulary(eos, by_bytes)
    words = np.zeros((len(tok) + 31) // 32, dtype=np.int32)
    ctx = multiprocessing.get_context("fork")

    def allowed(t: int) -> bool:
        return bool((int(words[t >> 5]) >> (t & 31)) & 1)

    def one_row(row, send) -> None:
        res = _new_result()
        text = json.dumps(row["schema"])
        t0 = time.perf_counter()
        try:
            index = outlines_core.Index(build_regex_from_schema(text), vocab)
        except Exception as e:  # noqa: BLE001 - any refusal counts
            res["refused"][type(e).__name__] = 1
            send.send(res)
            return
        res["compile_s"].append(time.perf_counter() - t0)
        res["compiled"] = 1
        ok = True
        for compact, spaced, valid in instances(row, emit):
            for s in (compact, spaced):
                guide = outlines_core.Guide(index)
                ok &= walk_accepts(
                    tok.encode(s, add_special_tokens=False),
                    lambda g=guide: g.write_mask_into(words.ctypes.data, words.size, 4),
                    allowed,
                    lambda t, g=guide: g.advance(t, False),
                    eos,
                    valid,
                    res,
                )
        res["passed"] = int(ok)
        send.send(res)

    def row_pass(row, res):
        recv, send = ctx.Pipe(duplex=False)
        child = ctx.Process(target=one_row, args=(row, send))
        child.start()
        send.close()
        got = recv.recv() if recv.poll(OUTLINES_ROW_LIMIT_S) else None
        if got is None:
            child.kill()
            res["refused"]["timeout"] = res["refused"].get("timeout", 0) + 1
        child.join()
        recv.close()
        if got is None:
            return
        for key, value in got.items():
            if key == "refused":
                for why, n in value.items():
                    res["refused"][why] = res["refused"].get(why, 0) + n
            else:
                res[key] += value

    return row_pass


ENGINE_ROWS = {
    "radtrio": radtrio_rows,
    "llguidance": llguidance_rows,
    "xgrammar": xgrammar_rows,
    "outlines": outlines_rows,
}


# -- token masks, engines interleaved ---------------------------------------------------------
def run_interleaved_masks(rows, tok, emit, names) -> dict:
    """Each engine's row pass (compile, walks) with the engines taking turns on each schema,
    the order rotating from schema to schema; radtrio without the jump-forward count, which
    is not part of a mask. Time per mask (p50/p99/mean) per engine over the schemas it
    compiles (:func:`summarize`), and the mean over the schemas every engine compiles."""
    passes = {
        name: radtrio_rows(tok, emit, False) if name == "radtrio" else ENGINE_ROWS[name](tok, emit)
        for name in names
    }
    res = {name: _new_result() for name in names}
    spans: dict[str, dict[int, tuple[int, int]]] = {name: {} for name in names}
    order = list(passes)
    for i, row in enumerate(rows):
        k = i % len(order)
        for name in order[k:] + order[:k]:
            r = res[name]
            compiled, first = r["compiled"], len(r["mask_s"])
            passes[name](row, r)
            if r["compiled"] > compiled:
                spans[name][i] = (first, len(r["mask_s"]))
    common = set(range(len(rows)))
    for s in spans.values():
        common &= set(s)
    out: dict = {"schemas_all_compile": len(common)}
    for name, r in res.items():
        m = r["mask_s"]
        c = [t for i in sorted(common) for t in m[slice(*spans[name][i])]]
        out[name] = {
            **summarize(name, r, len(rows)),
            "common_masks": len(c),
            "common_mask_mean_us": 1e6 * (statistics.fmean(c) if c else float("nan")),
        }
    return out


# -- compile time, engines interleaved ------------------------------------------------------
def _compilers(names, tok):
    """name -> function(schema text) that compiles the compact grammar the way the engine's
    pass above does and says whether it compiled."""
    out = {}
    for name in names:
        if name == "radtrio":
            from radtrio.fsm.compile import compile_constraint
            from radtrio.fsm.tokenizer_index import TokenizerIndex
            from radtrio.types import Constraint, RequestError

            idx = TokenizerIndex.from_hf(tok)

            def radtrio_compile(text, idx=idx):
                idx.compiled_cache.clear()
                try:
                    compile_constraint(Constraint(json_schema=text, flexible_whitespace=False), idx)
                except RequestError:
                    return False
                return True

            out[name] = radtrio_compile
        elif name == "llguidance":
            import llguidance
            import llguidance.hf

            lltok = llguidance.hf.from_tokenizer(tok)

            def llguidance_compile(text, lltok=lltok):
                grm = llguidance.LLMatcher.grammar_from_json_schema(
                    text, defaults={"whitespace_flexible": False}
                )
                return not llguidance.LLMatcher(lltok, grm).is_error()

            out[name] = llguidance_compile
        elif name == "xgrammar":
            import xgrammar as xgr

            info = xgr.TokenizerInfo.from_huggingface(tok, vocab_size=len(tok))
            compiler = xgr.GrammarCompiler(info, cache_enabled=False)

            def xgrammar_compile(text, compiler=compiler):
                try:
                    compiler.compile_json_schema(text, any_whitespace=True, strict_mode=False)
                except Exception:  # noqa: BLE001 - any refusal counts
                    return False
                return True

            out[name] = xgrammar_compile
        else:
            raise SystemExit(f"--interleave: unknown engine {name!r}")
    return out


def run_interleaved(rows, tok, names, repeats: int) -> dict:
    """Compile time with the engines taking turns on each schema (the order rotates from
    schema to schema), ``repeats`` rounds, the fastest time per engine and schema. The engine
    passes above run minutes apart, and the speed of these shared machines drifts by a third
    over minutes; here every engine meets the same drift. p50/p90 per engine over the schemas
    it compiles, and over the schemas every engine compiles."""
    compilers = _compilers(names, tok)
    best: dict[str, dict[int, float]] = {name: {} for name in compilers}
    order = list(compilers)
    for _ in range(repeats):
        for i, row in enumerate(rows):
            text = json.dumps(row["schema"])
            k = i % len(order)
            for name in order[k:] + order[:k]:
                t0 = time.perf_counter()
                ok = compilers[name](text)
                dt = time.perf_counter() - t0
                if ok:
                    best[name][i] = min(best[name].get(i, dt), dt)
    common = set(range(len(rows)))
    for times in best.values():
        common &= set(times)
    out: dict = {"repeats": repeats, "schemas_all_compile": len(common)}
    for name, times in best.items():
        v = list(times.values())
        c = [times[i] for i in common]
        out[name] = {
            "compiled": len(v),
            "compile_p50_ms": 1e3 * pct(v, 0.5),
            "compile_p90_ms": 1e3 * pct(v, 0.9),
            "common_p50_ms": 1e3 * pct(c, 0.5),
        }
    return out


# -- random walks (soundness audit) -----------------------------------------------------------
def run_walks(rows, walks: int) -> dict:
    """``walks`` random byte walks through each schema's compact and flexible grammar
    (:func:`radtrio.fsm.conformance.random_text`); every finished walk must parse and validate
    under :func:`radtrio.fsm.conformance.walk_validator`."""
    import random

    from radtrio.fsm.conformance import compile_or_refuse, random_text, walk_error, walk_validator

    out = {"walks": 0, "finished": 0, "invalid": 0, "invalid_rows": []}
    for i, row in enumerate(rows):
        schema = row["schema"]
        validator = walk_validator(schema)
        rng = random.Random(i)
        for flexible in (False, True):
            g, _ = compile_or_refuse(schema, flexible)
            if g is None:
                continue
            for _ in range(walks):
                out["walks"] += 1
                text = random_text(g, rng)
                if text is None:
                    continue
                out["finished"] += 1
                if walk_error(validator, text) is not None:
                    out["invalid"] += 1
                    out["invalid_rows"].append(i)
    return out


def summarize(name, res, n):
    c = res["compile_s"]
    m = res["mask_s"]
    out = {
        "engine": name,
        "schemas": n,
        "compiled": res["compiled"],
        "passed": res["passed"],
        "refused": sum(res["refused"].values()),
        "accepts_invalid_instances": res["accepts_invalid"],
        "rejects_valid_instances": res["rejects_valid"],
        "compile_p50_ms": 1e3 * pct(c, 0.5),
        "compile_p90_ms": 1e3 * pct(c, 0.9),
        "mask_p50_us": 1e6 * pct(m, 0.5),
        "mask_p99_us": 1e6 * pct(m, 0.99),
        "mask_mean_us": 1e6 * (statistics.fmean(m) if m else float("nan")),
        "masks": len(m),
    }
    if "forced" in res and res.get("walked"):
        out["forced_share"] = res["forced"] / res["walked"]
    if res["refused"]:
        out["refused_by"] = dict(sorted(res["refused"].items(), key=lambda kv: -kv[1])[:12])
    return out


def _machine_record() -> dict:
    """When and where: UTC time, CPUs, load average, comparison engine versions."""
    from importlib.metadata import PackageNotFoundError, version

    versions = {}
    for pkg in ("llguidance", "xgrammar", "outlines-core"):
        try:
            versions[pkg] = version(pkg)
        except PackageNotFoundError:
            versions[pkg] = None
    return {
        "utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
        "cpus": os.cpu_count(),
        "load_before": os.getloadavg(),
        "versions": versions,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--per-split", type=int, default=25)
    ap.add_argument("--engines", default="radtrio,llguidance,xgrammar,outlines")
    ap.add_argument("--suite", action="store_true", help="also run the JSON-Schema-Test-Suite")
    ap.add_argument("--json", default=None)
    ap.add_argument(
        "--walks", type=int, default=0, help="random walks per radtrio grammar, validated"
    )
    ap.add_argument(
        "--interleave",
        default="",
        help="engines whose compile times are also measured taking turns on each schema",
    )
    ap.add_argument("--repeats", type=int, default=2, help="rounds of the interleaved pass")
    ap.add_argument(
        "--interleave-masks",
        default="",
        help="engines whose token masks are also measured taking turns on each schema",
    )
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    from radtrio.fsm.conformance import emit, load_maskbench, run_test_suite
    from radtrio.models.fetch import default_model_path
    from radtrio.models.tokenizer import load_gguf_tokenizer

    tok = load_gguf_tokenizer(default_model_path(progress=False), "smollm")
    rows = load_maskbench(SHARED / "maskbench" / "dev.jsonl.gz", per_split=args.per_split)
    results = [_machine_record()]
    print(json.dumps(results[0]), flush=True)
    if args.suite:
        t0 = time.perf_counter()
        counts = run_test_suite(SHARED / "json-schema-test-suite" / "tests" / "draft2020-12")
        d = counts.as_dict()
        d["seconds"] = time.perf_counter() - t0
        print("JSON-Schema-Test-Suite draft2020-12:", json.dumps(d), flush=True)
        results.append({"suite": d})
    if args.walks:
        t0 = time.perf_counter()
        w = run_walks(rows, args.walks)
        w["seconds"] = time.perf_counter() - t0
        print("radtrio random walks:", json.dumps(w), flush=True)
        results.append({"walks": w})
    for name in args.engines.split(","):
        try:
            t0 = time.perf_counter()
            res = run_pass(name, rows, tok, emit)
        except ImportError as e:
            print(f"{name}: not installed ({e})", flush=True)
            continue
        s = summarize(name, res, len(rows))
        s["seconds"] = time.perf_counter() - t0
        s["load_after"] = os.getloadavg()
        print(json.dumps(s), flush=True)
        results.append(s)
    interleaved = (
        (
            args.interleave,
            "compile",
            "interleaved",
            lambda names: run_interleaved(rows, tok, names, args.repeats),
        ),
        (
            args.interleave_masks,
            "token masks",
            "interleaved_masks",
            lambda names: run_interleaved_masks(rows, tok, emit, names),
        ),
    )
    for engines, label, key, run in interleaved:
        if not engines:
            continue
        t0 = time.perf_counter()
        try:
            out = run(engines.split(","))
        except ImportError as e:
            print(f"{label}, engines interleaved: an engine is not installed ({e})", flush=True)
            continue
        out["seconds"] = time.perf_counter() - t0
        print(f"{label}, engines interleaved:", json.dumps(out), flush=True)
        results.append({key: out})
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
