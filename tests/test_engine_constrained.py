"""Constrained generation end to end on SmolLM2: every output parses, validates and matches."""

from __future__ import annotations

import json
import re

import jsonschema
import pytest
import trio
from models_fixtures import smollm2, smollm2_path  # noqa: F401  (fixtures)

from radtrio.config import EngineConfig
from radtrio.engine import AsyncEngine, make_request
from radtrio.types import Constraint, OutputFinished, RequestError, SamplingParams

pytest.importorskip("radtrio.fsm.compile")

SCHEMAS = [
    {
        "type": "object",
        "properties": {"name": {"type": "string", "maxLength": 16}},
        "required": ["name"],
    },
    {
        "type": "object",
        "properties": {
            "name": {"type": "string", "minLength": 1, "maxLength": 20},
            "age": {"type": "integer", "minimum": 0, "maximum": 120},
            "email": {"type": "string", "format": "email", "maxLength": 32},
        },
        "required": ["name", "age", "email"],
        "additionalProperties": False,
    },
    {
        "type": "array",
        "items": {"type": "integer", "minimum": -5, "maximum": 5},
        "minItems": 2,
        "maxItems": 4,
    },
    {"enum": ["red", "green", "blue"]},
    {
        "type": "object",
        "properties": {
            "city": {"type": "string", "maxLength": 12},
            "temperature": {"type": "number", "minimum": -50, "maximum": 60},
            "sunny": {"type": "boolean"},
        },
        "required": ["city", "temperature", "sunny"],
        "additionalProperties": False,
    },
    {
        "$defs": {
            "point": {
                "type": "object",
                "properties": {"x": {"type": "integer"}, "y": {"type": "integer"}},
                "required": ["x", "y"],
                "additionalProperties": False,
            }
        },
        "type": "array",
        "items": {"$ref": "#/$defs/point"},
        "maxItems": 2,
    },
    {"anyOf": [{"type": "integer", "minimum": 0, "maximum": 9}, {"type": "null"}]},
    {
        "type": "object",
        "properties": {"id": {"type": "string", "format": "uuid"}},
        "required": ["id"],
        "additionalProperties": False,
    },
]
REGEXES = [
    r"[0-9]{3}-[0-9]{4}",
    r"(yes|no|maybe)",
    r"[A-Z][a-z]{2,8} [A-Z][a-z]{2,8}",
    r"\d{4}-\d{2}-\d{2}",
    r"(0|[1-9][0-9]*)\.[0-9]{2}",
    r"[a-z]{1,10}@[a-z]{1,10}\.(com|org)",
]


async def run_all(engine: AsyncEngine, requests) -> list[OutputFinished]:
    results: list = [None] * len(requests)

    async def one(i: int, request) -> None:
        async with engine.generate(request) as events:
            async for ev in events:
                results[i] = ev

    async with trio.open_nursery() as nursery:
        await nursery.start(engine.run)
        async with trio.open_nursery() as inner:
            for i, r in enumerate(requests):
                inner.start_soon(one, i, r)
        await engine.wait_idle()
        nursery.cancel_scope.cancel()
    return results


def params(seed: int) -> SamplingParams:
    return SamplingParams(max_new_tokens=96, temperature=0.8, seed=seed)


@pytest.fixture(scope="module")
def engine(smollm2):  # noqa: F811
    return AsyncEngine(EngineConfig(kv_slots=16384, max_running=16), loaded=smollm2)


def test_schemas_and_regexes_are_always_satisfied(engine):
    requests = []
    for i, schema in enumerate(SCHEMAS):
        c = Constraint(json_schema=json.dumps(schema))
        requests.append(make_request("Reply with an example as JSON.", params(i), c, chat=True))
    for i, pattern in enumerate(REGEXES):
        requests.append(
            make_request("Give one example.", params(100 + i), Constraint(regex=pattern), chat=True)
        )
    results = trio.run(run_all, engine, requests)
    for i, schema in enumerate(SCHEMAS):
        out = results[i]
        assert out.finish_reason == "stop", (schema, out.text)
        jsonschema.validate(json.loads(out.text), schema)
    for j, pattern in enumerate(REGEXES):
        out = results[len(SCHEMAS) + j]
        assert out.finish_reason == "stop", (pattern, out.text)
        assert re.fullmatch(pattern, out.text), (pattern, out.text)
    engine.cache.check_integrity(idle=True)


def test_jump_forward_on_and_off_both_satisfy_the_schema(engine):
    schema = SCHEMAS[4]
    c = Constraint(json_schema=json.dumps(schema))
    on = make_request(
        "Weather report as JSON.", SamplingParams(max_new_tokens=96, temperature=0.0), c, chat=True
    )
    off = make_request(
        "Weather report as JSON.",
        SamplingParams(max_new_tokens=96, temperature=0.0, jump_forward=False),
        c,
        chat=True,
    )
    with_jf, without_jf = trio.run(run_all, engine, [on, off])
    for out in (with_jf, without_jf):
        jsonschema.validate(json.loads(out.text), schema)
    assert without_jf.usage.forced_tokens == 0
    if engine.executor.jump_planner is not None:
        assert with_jf.usage.forced_tokens > 0
        assert with_jf.usage.decode_steps < without_jf.usage.decode_steps


def test_a_jump_forward_threshold_beyond_any_forced_run_decodes_everything(engine):
    schema = SCHEMAS[4]
    c = Constraint(json_schema=json.dumps(schema))
    req = make_request(
        "Weather report as JSON.", SamplingParams(max_new_tokens=96, temperature=0.0), c, chat=True
    )
    cost = engine.executor.jump_cost
    saved = cost.fixed_min_tokens
    cost.fixed_min_tokens = 10_000
    try:
        (out,) = trio.run(run_all, engine, [req])
    finally:
        cost.fixed_min_tokens = saved
    jsonschema.validate(json.loads(out.text), schema)
    assert out.usage.forced_tokens == 0
    assert out.usage.decode_steps == out.usage.completion_tokens


def test_choices_and_bad_constraints(engine):
    good = make_request("Is water wet?", params(7), Constraint(choices=["yes", "no"]), chat=True)
    bad_regex = make_request("x", params(1), Constraint(regex="[unclosed"), chat=True)
    bad_schema = make_request(
        "x",
        params(1),
        Constraint(
            json_schema='{"type": "array", "items": {"type": "string"}, "uniqueItems": true}'
        ),
    )

    async def go():
        results = {}
        async with trio.open_nursery() as nursery:
            await nursery.start(engine.run)
            for name, request in (("good", good), ("regex", bad_regex), ("schema", bad_schema)):
                try:
                    async with engine.generate(request) as events:
                        async for ev in events:
                            results[name] = ev
                except RequestError as err:
                    results[name] = err
            nursery.cancel_scope.cancel()
        return results

    results = trio.run(go)
    assert results["good"].text in ("yes", "no")
    assert isinstance(results["regex"], RequestError)
    assert isinstance(results["schema"], RequestError)
    assert "uniqueItems" in str(results["schema"]) and "#" in str(results["schema"])
