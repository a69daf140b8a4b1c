"""Conditionals for the JSON Schema compiler.

``if_then_else(comp, schema, ptr)`` rewrites ``if/then/else`` as the anyOf of
``rest and if and then`` and ``rest and NOT if and else`` (disjoint branches).
"""

from __future__ import annotations

from typing import Any

COND = ("if", "then", "else")
COND_KEYS = frozenset(COND)


def has_conditional(schema: dict) -> bool:
    """Whether ``schema`` has if/then/else (dependentSchemas and schema-valued dependencies
    are :mod:`radtrio.fsm.schema_dependencies`'s)."""
    return not COND_KEYS.isdisjoint(schema)


def if_then_else(comp: Any, schema: dict, ptr: str) -> Any:
    """``schema`` without its conditional: ``if I then T else E`` becomes the anyOf of
    ``rest and I and T`` and ``rest and NOT I and E`` (then/else without if constrain
    nothing)."""
    base = {k: v for k, v in schema.items() if k not in COND}
    if "if" not in schema:
        return base
    part = {k: schema[k] for k in COND if k in schema}
    return _conditional(comp, base, part, ptr)


def _conditional(comp: Any, base: dict, part: dict, ptr: str) -> Any:
    cond = part["if"]
    yes = comp.merge(base, cond, f"{ptr}/if")
    if yes is not False:
        yes = comp.merge(yes, part.get("then", True), f"{ptr}/then")
    no = comp.apply_not(base, cond, f"{ptr}/if")
    if no is not False:
        no = comp.merge(no, part.get("else", True), f"{ptr}/else")
    branches = [b for b in (yes, no) if b is not False]
    if not branches:
        return False
    return branches[0] if len(branches) == 1 else {"anyOf": branches}
