"""The expressions a program appends to its state: text, gen, select, roles, sequences.

``s += "text"``, ``s += gen("x", ...)``, ``s += select("y", choices=[...])``,
``s += user("hi")`` and ``s += assistant(gen("a"))``; ``+`` joins expressions into a sequence.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from radtrio.types import Constraint, SamplingParams

ROLES = ("system", "user", "assistant")


class Expr:
    """Something a program can append: ``s += expr``. ``a + b`` makes a sequence."""

    def __add__(self, other: object) -> Seq:
        return Seq([self, as_expr(other)])

    def __radd__(self, other: object) -> Seq:
        return Seq([as_expr(other), self])


@dataclass
class Text(Expr):
    value: str


@dataclass
class Seq(Expr):
    items: list[Expr]


# Sampling fields a gen (or a run) may set; gen's max_tokens is SamplingParams.max_new_tokens.
SAMPLING_FIELDS = (
    "max_new_tokens",
    "min_new_tokens",
    "temperature",
    "top_p",
    "top_k",
    "min_p",
    "repetition_penalty",
    "frequency_penalty",
    "presence_penalty",
    "stop",
    "stop_token_ids",
    "ignore_eos",
    "seed",
)


@dataclass
class Gen(Expr):
    """Generate into variable ``name`` from the transcript so far."""

    name: str | None
    sampling: dict[str, Any] = field(default_factory=dict)
    constraint: Constraint | None = None

    def params(self, defaults: dict[str, Any]) -> SamplingParams:
        merged = {**defaults, **self.sampling}
        stop = merged.get("stop")
        if isinstance(stop, str):
            merged["stop"] = [stop]
        return SamplingParams(**merged)

    def describe(self) -> str:
        return f"gen({self.name!r})"


@dataclass
class Select(Expr):
    """Pick one of ``choices`` by the model's length-normalized log-probability."""

    name: str | None
    choices: list[str]

    def describe(self) -> str:
        return f"select({self.name!r})"


@dataclass
class Role(Expr):
    """A chat turn: the role's template prefix, the content, the role's suffix."""

    role: str
    content: Expr


@dataclass
class RoleBegin(Expr):
    role: str


@dataclass
class RoleEnd(Expr):
    role: str


def as_expr(value: object) -> Expr:
    if isinstance(value, Expr):
        return value
    if isinstance(value, str):
        return Text(value)
    if isinstance(value, (list, tuple)):
        return Seq([as_expr(v) for v in value])
    raise TypeError(
        f"cannot append a {type(value).__name__} to a program state: use a str, "
        "rt.gen(...), rt.select(...), a role (rt.user(...)) or a list of these"
    )


def _schema_text(schema: Any) -> str:
    if isinstance(schema, str):
        try:
            json.loads(schema)
        except ValueError as exc:
            raise ValueError(f"gen json_schema is not valid JSON text: {exc}") from None
        return schema
    if isinstance(schema, dict):
        return json.dumps(schema)
    to_schema = getattr(schema, "model_json_schema", None)  # a pydantic model class
    if callable(to_schema):
        return json.dumps(to_schema())
    raise TypeError(
        f"gen json_schema must be a dict, JSON text or a pydantic model class, "
        f"not {type(schema).__name__}"
    )


def _check_name(name: object, what: str) -> None:
    if name is not None and (not isinstance(name, str) or not name):
        raise TypeError(f"{what} name must be a non-empty str or None, not {name!r}")


def gen(
    name: str | None = None,
    max_tokens: int | None = None,
    stop: str | list[str] | None = None,
    temperature: float | None = None,
    *,
    regex: str | None = None,
    json_schema: Any = None,
    choices: list[str] | None = None,
    top_p: float | None = None,
    top_k: int | None = None,
    min_p: float | None = None,
    frequency_penalty: float | None = None,
    presence_penalty: float | None = None,
    repetition_penalty: float | None = None,
    min_tokens: int | None = None,
    ignore_eos: bool | None = None,
    seed: int | None = None,
    stop_token_ids: list[int] | None = None,
    max_new_tokens: int | None = None,
) -> Gen:
    """Generate text into variable ``name``. Unset sampling fields come from ``run(...)``'s
    keywords, then the engine's defaults. At most one of regex / json_schema / choices
    constrains the output (compiled by the engine's FSM)."""
    _check_name(name, "gen")
    if max_tokens is not None and max_new_tokens is not None and max_tokens != max_new_tokens:
        raise TypeError(f"gen({name!r}): max_tokens={max_tokens} and max_new_tokens differ")
    given = {
        "max_new_tokens": max_tokens if max_tokens is not None else max_new_tokens,
        "min_new_tokens": min_tokens,
        "stop": [stop] if isinstance(stop, str) else (list(stop) if stop is not None else None),
        "temperature": temperature,
        "top_p": top_p,
        "top_k": top_k,
        "min_p": min_p,
        "frequency_penalty": frequency_penalty,
        "presence_penalty": presence_penalty,
        "repetition_penalty": repetition_penalty,
        "ignore_eos": ignore_eos,
        "seed": seed,
        "stop_token_ids": list(stop_token_ids) if stop_token_ids is not None else None,
    }
    sampling = {k: v for k, v in given.items() if v is not None}
    if "max_new_tokens" in sampling and (
        not isinstance(sampling["max_new_tokens"], int) or sampling["max_new_tokens"] < 1
    ):
        raise ValueError(f"gen({name!r}): max_tokens={sampling['max_new_tokens']!r} must be >= 1")
    constrained = [
        k
        for k, v in (("regex", regex), ("json_schema", json_schema), ("choices", choices))
        if v is not None
    ]
    if len(constrained) > 1:
        raise TypeError(f"gen({name!r}): give at most one of regex, json_schema, choices")
    constraint = None
    if regex is not None:
        constraint = Constraint(regex=regex)
    elif json_schema is not None:
        constraint = Constraint(json_schema=_schema_text(json_schema))
    elif choices is not None:
        if not choices or not all(isinstance(c, str) and c for c in choices):
            raise ValueError(f"gen({name!r}): choices must be a non-empty list of non-empty str")
        constraint = Constraint(choices=list(choices))
    return Gen(name, sampling, constraint)


def select(name: str | None = None, choices: list[str] | None = None) -> Select:
    """Append the choice the model finds most likely (mean log-probability of its tokens)."""
    _check_name(name, "select")
    if not choices or not all(isinstance(c, str) and c for c in choices):
        raise ValueError(f"select({name!r}): choices must be a non-empty list of non-empty str")
    return Select(name, list(choices))


def _role(role: str, content: object) -> Expr:
    if content is None:
        raise TypeError(f"rt.{role}() needs content; use `with s.{role}():` for a block")
    return Role(role, as_expr(content))


def system(content: object) -> Expr:
    """A system turn rendered with the model's chat template."""
    return _role("system", content)


def user(content: object) -> Expr:
    """A user turn rendered with the model's chat template."""
    return _role("user", content)


def assistant(content: object) -> Expr:
    """An assistant turn, e.g. ``assistant(gen("answer", max_tokens=64))``."""
    return _role("assistant", content)
