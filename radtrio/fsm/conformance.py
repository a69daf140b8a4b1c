"""Conformance measurements shared by the tests and ``scripts/bench_fsm.py``.

An instance is serialized the way radtrio emits JSON: compact separators (or ``", "`` and
``": "`` with flexible whitespace), ``ensure_ascii=False``, object keys in the order the schema
lists them (``properties`` of the schema and of its ``allOf/anyOf/oneOf/$ref`` parts, then
``required`` names), then the instance's other keys.
"""

from __future__ import annotations

import decimal
import gzip
import json
import math
import random
import re
from collections import Counter
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from radtrio.fsm.grammar import Grammar
from radtrio.fsm.json_schema import SchemaError, compile_json_schema
from radtrio.fsm.schema_refs import hide_ref_siblings, pointer_step, ref_ignores_siblings
from radtrio.types import RequestError

_BRANCH_KEYS = ("allOf", "anyOf", "oneOf")


class _Orderer:
    def __init__(self, root: Any) -> None:
        self.root = root

    def _deref(self, s: Any, depth: int = 0) -> Any:
        while isinstance(s, dict) and isinstance(s.get("$ref"), str) and depth < 20:
            ref = s["$ref"]
            if not ref.startswith("#"):
                return s
            node = self.root
            for part in ref[1:].split("/")[1:] if ref != "#" else []:
                found, node = pointer_step(node, part.replace("~1", "/").replace("~0", "~"))
                if not found:
                    return s
            depth += 1
            rest = {k: v for k, v in s.items() if k not in ("$ref", "$schema")}
            if not rest:
                s = node
            else:
                return {"allOf": [rest, node]}
        return s

    def _expand(self, schemas: list, depth: int = 0) -> list[dict]:
        out = []
        for s in schemas:
            s = self._deref(s)
            if not isinstance(s, dict) or depth > 8:
                continue
            out.append(s)
            for k in _BRANCH_KEYS:
                if isinstance(s.get(k), list):
                    out.extend(self._expand(s[k], depth + 1))
            if isinstance(s.get("$ref"), str):
                pass
        return out

    def names(self, schemas: list) -> list[str]:
        seen: dict[str, None] = {}
        flat = self._expand(schemas)
        for s in flat:
            props = s.get("properties")
            if isinstance(props, dict):
                for k in props:
                    seen.setdefault(k, None)
        for s in flat:
            req = s.get("required")
            if isinstance(req, list):
                for k in req:
                    if isinstance(k, str):
                        seen.setdefault(k, None)
        return list(seen)

    def child(self, schemas: list, key: str) -> list:
        """The schemas that apply to the value of member ``key``: its property, every
        patternProperties schema whose pattern the key matches, else additionalProperties."""
        out = []
        for s in self._expand(schemas):
            props = s.get("properties")
            named = isinstance(props, dict) and key in props
            if named:
                out.append(props[key])
            matched = _matching_patterns(s.get("patternProperties"), key)
            out.extend(matched)
            if not named and not matched and "additionalProperties" in s:
                out.append(s["additionalProperties"])
        return out

    def item(self, schemas: list, i: int) -> list:
        out = []
        for s in self._expand(schemas):
            pre = s.get("prefixItems")
            items = s.get("items")
            if isinstance(items, list):
                pre, items = items, s.get("additionalItems")
            if isinstance(pre, list) and i < len(pre):
                out.append(pre[i])
            elif items is not None:
                out.append(items)
        return out

    def arrange(self, value: Any, schemas: list) -> Any:
        if isinstance(value, dict):
            order = self.names(schemas)
            pos = {k: i for i, k in enumerate(order)}
            keys = sorted(value, key=lambda k: (pos.get(k, len(pos)), 0))
            listed = [k for k in keys if k in pos]
            others = [k for k in value if k not in pos]
            return {k: self.arrange(value[k], self.child(schemas, k)) for k in listed + others}
        if isinstance(value, list):
            return [self.arrange(v, self.item(schemas, i)) for i, v in enumerate(value)]
        return value


def _matching_patterns(patterns: Any, key: str) -> list:
    """The schemas of ``patterns`` (a patternProperties object) whose regex finds ``key``; a
    pattern Python cannot parse is left out (it only decides the order keys are emitted in)."""
    if not isinstance(patterns, dict):
        return []
    out = []
    for pattern, sub in patterns.items():
        try:
            if re.search(pattern, key):
                out.append(sub)
        except re.error:
            continue
    return out


def emit(value: Any, schema: Any, flexible: bool = False) -> str:
    """The text radtrio would emit for ``value`` under ``schema``."""
    if ref_ignores_siblings(schema):
        schema = hide_ref_siblings(schema)
    arranged = _Orderer(schema).arrange(value, [schema])
    seps = (", ", ": ") if flexible else (",", ":")
    return json.dumps(arranged, separators=seps, ensure_ascii=False)


@dataclass
class SuiteCounts:
    cases: int = 0
    compiled: int = 0
    refused: Counter = field(default_factory=Counter)
    valid_accepted: int = 0
    valid_rejected: int = 0
    invalid_rejected: int = 0
    invalid_accepted: int = 0
    invalid_accepted_cases: list = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "cases": self.cases,
            "compiled": self.compiled,
            "refused": sum(self.refused.values()),
            "refused_by_keyword": dict(self.refused.most_common()),
            "valid_accepted": self.valid_accepted,
            "valid_rejected": self.valid_rejected,
            "invalid_rejected": self.invalid_rejected,
            "invalid_accepted": self.invalid_accepted,
        }


def _refusal_keyword(e: Exception) -> str:
    if isinstance(e, SchemaError):
        return e.keyword
    return "pattern" if "regex" in str(e) else type(e).__name__


def compile_or_refuse(schema: Any, flexible: bool = False) -> tuple[Grammar | None, str | None]:
    try:
        return compile_json_schema(json.dumps(schema), flexible), None
    except RequestError as e:
        return None, _refusal_keyword(e)


def run_test_suite(folder: Path, sample: int | None = None, seed: int = 0) -> SuiteCounts:
    """JSON-Schema-Test-Suite files (draft 2020-12 core, not ``optional/``)."""
    cases = []
    for path in sorted(folder.glob("*.json")):
        for case in json.loads(path.read_text()):
            cases.append((path.stem, case))
    if sample is not None and sample < len(cases):
        cases = random.Random(seed).sample(cases, sample)
    counts = SuiteCounts()
    for stem, case in cases:
        counts.cases += 1
        g, refused = compile_or_refuse(case["schema"])
        if g is None:
            counts.refused[refused] += 1
            continue
        counts.compiled += 1
        for t in case["tests"]:
            try:
                text = emit(t["data"], case["schema"])
            except (TypeError, ValueError):
                continue
            ok = g.matches(text.encode("utf-8"))
            if t["valid"]:
                counts.valid_accepted += ok
                counts.valid_rejected += not ok
            else:
                counts.invalid_rejected += not ok
                counts.invalid_accepted += ok
                if ok:
                    counts.invalid_accepted_cases.append(
                        (stem, case["description"], t["description"])
                    )
    return counts


_PRINTABLE = np.zeros(256)
_PRINTABLE[32:127] = 1.0
_CLOSING = np.zeros(256)
_CLOSING[list(b'"}],:')] = 30.0


def random_text(g: Grammar, rng: random.Random, max_len: int = 3000) -> bytes | None:
    """A random byte walk through ``g`` that stops at an accepting point (each with chance
    0.35); printable and closing bytes are favoured so walks end. None if it runs past
    ``max_len``. Everything it returns is, by construction, text ``g`` accepts: checking it
    against an independent validator tests that the grammar never admits invalid output."""
    stk, depth = g.initial()
    out = bytearray()
    while len(out) < max_len:
        if g.can_end(stk, depth) and rng.random() < 0.35:
            return bytes(out)
        allowed = g.allowed_bytes(stk, depth).astype(bool)
        if not allowed.any():
            return bytes(out) if g.can_end(stk, depth) else None
        weights = allowed * (0.05 + _PRINTABLE + _CLOSING * (rng.random() < 0.5))
        b = rng.choices(range(256), weights=weights.tolist())[0]
        depth = g.step_bytes(stk, depth, bytes([b]))
        if depth < 0:
            raise RuntimeError(f"byte {b} was offered by allowed_bytes but refused by step_bytes")
        out.append(b)
    return None


def walk_error(validator: Any, text: bytes) -> str | None:
    """jsonschema's first complaint about a walk's text (None if valid), with numbers read
    exactly: a random walk writes numbers of hundreds of digits, which as floats round (or
    become ``inf``) and then fail or pass multipleOf and the bounds by accident."""
    value = json.loads(text, parse_float=_exact_float)
    with decimal.localcontext() as ctx:
        ctx.prec = max(ctx.prec, 2 * len(text))
        err = next(iter(validator.iter_errors(value)), None)
    return None if err is None else err.message


def _exact_float(s: str) -> Any:
    """A JSON number with a fraction or exponent: a float where that is its exact decimal
    value, else a Decimal."""
    f = float(s)
    d = decimal.Decimal(s)
    return f if math.isfinite(f) and decimal.Decimal(repr(f)) == d else d


def _exact(x: Any) -> Fraction:
    return Fraction(repr(x)) if isinstance(x, float) else Fraction(x)


def walk_validator(schema: Any) -> Any:
    """A jsonschema validator (the package is a dev/bench dependency) for checking random
    walks: the schema's draft, with its format checker, and exact numbers (see
    :func:`walk_error`: Decimal instances, multipleOf in fractions of the written decimals).
    jsonschema's relative-json-pointer check predates the index manipulation (``0+1/a``) of
    the draft 2020-12 cites, which radtrio accepts, so that one format is left to radtrio's own
    tests."""
    import jsonschema

    def multiple_of(validator: Any, step: Any, instance: Any, schema: Any) -> Any:
        if (
            validator.is_type(instance, "number")
            and (_exact(instance) / _exact(step)).denominator != 1
        ):
            yield jsonschema.ValidationError(f"{instance!r} is not a multiple of {step}")

    base = jsonschema.validators.validator_for(schema)
    float_is_integer = base.TYPE_CHECKER.is_type(1.0, "integer")  # drafts 3/4 say no

    def is_integer(checker: Any, instance: Any) -> bool:
        if isinstance(instance, decimal.Decimal):
            return float_is_integer and instance == instance.to_integral_value()
        return base.TYPE_CHECKER.is_type(instance, "integer")

    cls = jsonschema.validators.extend(
        base,
        {"multipleOf": multiple_of},
        type_checker=base.TYPE_CHECKER.redefine("integer", is_integer),
    )
    checker = jsonschema.FormatChecker(formats=())
    checker.checkers = {
        f: c for f, c in base.FORMAT_CHECKER.checkers.items() if f != "relative-json-pointer"
    }
    return cls(schema, format_checker=checker)


def load_maskbench(path: Path, per_split: int | None = None, seed: int = 0) -> list[dict]:
    with gzip.open(path, "rt") as f:
        rows = [json.loads(line) for line in f]
    if per_split is None:
        return rows
    by: dict[str, list] = {}
    for r in rows:
        by.setdefault(r["split"], []).append(r)
    rng = random.Random(seed)
    out = []
    for split in sorted(by):
        rs = by[split]
        out.extend(rng.sample(rs, min(per_split, len(rs))))
    return out
