"""Strict JSON Schema for generation: no properties the schema does not name.

JSON Schema allows any extra property unless ``additionalProperties`` says otherwise,
and a small model will happily invent keys until it runs out of tokens. Like SGLang
(xgrammar's strict mode) and outlines, radtrio generates only the named properties
when the schema leaves ``additionalProperties`` open; every output still validates
against the original schema. ``Constraint(json_strict=False)`` keeps the exact semantics.
"""

from __future__ import annotations

from typing import Any

OPEN_KEYS = ("additionalProperties", "patternProperties", "unevaluatedProperties")


def strict_schema(schema: Any) -> Any:
    """A copy of ``schema`` where every object with ``properties`` and no rule for other
    keys gets ``additionalProperties: false``."""
    if isinstance(schema, list):
        return [strict_schema(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {}
    for key, value in schema.items():
        if key in ("enum", "const", "examples", "default"):
            out[key] = value  # data, not schemas
        elif key == "properties" and isinstance(value, dict):
            out[key] = {name: strict_schema(sub) for name, sub in value.items()}
        else:
            out[key] = strict_schema(value)
    if isinstance(out.get("properties"), dict) and not any(k in out for k in OPEN_KEYS):
        out["additionalProperties"] = False
    return out
