"""``dependentSchemas`` and draft-7 ``dependencies`` with schema values, as anyOf variants.

"If key ``t`` is present, the object also satisfies ``S_t``" splits every instance into two
disjoint cases per trigger: ``t`` absent (the schema with ``properties: {t: false}``, which
also holds for every non-object) or ``t`` present (an object with ``required: [t]`` that also
satisfies ``S_t``). One variant per choice over the triggers, each merged by the compiler's
allOf machinery (exact or refused by name there); their union is exactly the schema, and no
variant accepts an instance that the schema rejects. A trigger that ``required`` names (on an
object-only schema) has only its present case; a ``false`` dependency only its absent one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

MAX_DEPENDENCY_VARIANTS = 32  # free triggers: 2**n variants, each compiled on its own

KEYWORDS = ("dependentSchemas", "dependencies")


def _schema_valued(key: str, deps: Any) -> bool:
    """Whether this keyword goes the variants way: dependentSchemas always, dependencies when
    some value is a schema (key lists alone stay on the dependentRequired path)."""
    if not isinstance(deps, dict) or not deps:
        return False
    return key == "dependentSchemas" or any(not isinstance(v, list) for v in deps.values())


def has_schema_dependencies(schema: dict) -> bool:
    return any(_schema_valued(k, schema.get(k)) for k in KEYWORDS)


def split(schema: dict) -> tuple[dict, dict[str, list[Any]], str]:
    """(the schema without its schema-valued dependencies, trigger -> schemas, keyword)."""
    rest = dict(schema)
    triggers: dict[str, list[Any]] = {}
    keyword = ""
    for key in KEYWORDS:
        deps = schema.get(key)
        if not _schema_valued(key, deps):
            continue
        keyword = keyword or key
        del rest[key]
        for trigger, sub in deps.items():
            # a key list is the schema "these keys are required"
            triggers.setdefault(trigger, []).append(
                {"required": sub} if isinstance(sub, list) else sub
            )
    return rest, triggers, keyword


def variants(
    rest: dict,
    triggers: dict[str, list[Any]],
    object_only: bool,
    merge: Callable[[Any, Any, str], Any],
    ptr: str,
) -> list[Any] | None:
    """The variant schemas (None: more than MAX_DEPENDENCY_VARIANTS of them)."""
    required = set(rest.get("required", [])) if object_only else set()
    choices: list[list[Any]] = []
    for trigger, subs in triggers.items():
        if all(s is True or s == {} for s in subs):
            continue  # no constraint
        present = {"type": "object", "required": [trigger], "allOf": subs}
        absent = {"properties": {trigger: False}}
        options = [] if trigger in required else [absent]
        if not any(s is False for s in subs):
            options.append(present)
        choices.append(options)
    count = 1
    for options in choices:
        count *= len(options)
    if count > MAX_DEPENDENCY_VARIANTS:
        return None
    out: list[Any] = [rest]
    for options in choices:
        out = [m for v in out for c in options if (m := merge(v, c, ptr)) is not False]
    return out


def merge_maps(a: dict, b: dict) -> dict:
    """Two dependency maps that must both hold: per trigger, both schemas (a key list is the
    schema that requires those keys)."""
    out = dict(a)
    for trigger, sub in b.items():
        if trigger not in out:
            out[trigger] = sub
            continue
        mine = out[trigger]
        if isinstance(mine, list) and isinstance(sub, list):
            out[trigger] = list(dict.fromkeys(mine + sub))
        else:
            parts = [{"required": x} if isinstance(x, list) else x for x in (mine, sub)]
            out[trigger] = {"allOf": parts}
    return out
