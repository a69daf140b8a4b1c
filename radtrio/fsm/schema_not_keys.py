"""Negations that ask for "some member" whose key an object schema does not name.

* ``NOT {patternProperties: {P: S, ...}, additionalProperties: A}`` (beside keys that are not
  all named): an object with a member whose value fails what the negated schema asks of its
  key. Keys the negated schema or ``rest`` name are the caller's (one anyOf branch each, see
  ``schema_not._not_props``); the other keys are split into the regions that match the same
  patterns (:func:`radtrio.fsm.json_keys.key_regions`): in a region matching patterns M a
  member fails when its value is in ``NOT allOf(S for M)``, in the region matching none when
  it is in ``NOT A``.
* ``NOT {propertyNames: N}``: an object with a key that fails N (the keys N allows are a
  string language, compiled complete, so the difference from all keys is exact).

Both become a *requirement* on the object, kept in the internal keyword ``_some_keys``: a list
of requirements, each a list of (:class:`Keys`, value schema) pairs with disjoint key sets.
The object must have, for every requirement, a member that is not a named property whose key
is in one pair's keys and whose value matches that pair's schema (and what the object's own
patternProperties/additionalProperties ask of that key, as for any other member). A property
that an allOf merge names after the negation leaves the requirement (its key is then no extra
member), which can only lose instances, never add one. :func:`some_members` compiles the
requirements into the seventh field of the object's ``props`` node: one member AST per set of
requirements a member meets at once (the automaton keeps one "met" bit per requirement, see
``NFA._extra_members``).

Duplicate keys: the automaton cannot keep extra keys apart, so extras count once toward
minProperties and each toward maxProperties (both only lose instances); a requirement is met
by a member as written.
"""

from __future__ import annotations

from typing import Any

from radtrio.fsm.automaton import DFA, is_empty, product
from radtrio.fsm.json_keys import MAX_KEY_REGIONS, all_of, key_regions
from radtrio.fsm.literal_sets import without_literals

SOME = "_some_keys"
MAX_SOME_KEYS = 4  # requirements on one object: one member AST per subset, 2**n "met" states


class Keys:
    """A set of quoted object keys (a call-free DFA), compared by identity."""

    __slots__ = ("dfa",)

    def __init__(self, dfa: DFA) -> None:
        self.dfa = dfa


def _names(s: dict) -> list[str]:
    props = s.get("properties") or {}
    out = list(props) if isinstance(props, dict) else []
    for r in s.get("required") or []:
        if isinstance(r, str) and r not in out:
            out.append(r)
    return out


def _quoted(names: list[str]) -> list[bytes]:
    from radtrio.fsm.json_schema import _dumps

    return [_dumps(n).encode("utf-8") for n in names]


def requirements(schema: dict) -> int:
    """How many "some member" requirements an object schema carries."""
    return len(schema.get(SOME) or []) + ("_some_extra" in schema)


def add_requirement(sub: dict, pairs: list[tuple[DFA, Any]], ptr: str) -> dict:
    """``sub`` with one more requirement: a member with a key in one pair's DFA (disjoint
    ones) whose value matches that pair's schema."""
    from radtrio.fsm.json_schema import SchemaError

    if requirements(sub) >= MAX_SOME_KEYS:
        raise SchemaError(
            "not", ptr, f"asks for more than {MAX_SOME_KEYS} kinds of unnamed members at once"
        )
    out = dict(sub)
    out[SOME] = [*(sub.get(SOME) or []), [(Keys(d), v) for d, v in pairs]]
    return out


def not_value(comp: Any, schema: Any, ptr: str) -> Any:
    """The values (of any type) that ``schema`` rejects; where one schema cannot be written
    for all types at once, the anyOf of each instance type's part."""
    from radtrio.fsm.json_schema import SchemaError
    from radtrio.fsm.schema_not import TYPE_DOMAINS, _any, _restrict

    try:
        return comp.apply_not({}, schema, ptr)
    except SchemaError:
        parts = []
        for domain in TYPE_DOMAINS:
            typed = _restrict(comp, {}, domain)
            if typed is not False:
                parts.append(comp.apply_not(typed, schema, ptr))
        return _any(parts, ptr)


def not_unnamed(comp: Any, rest: dict, sub: dict, g: dict, ptr: str) -> Any:
    """The part of NOT ``g`` (properties/patternProperties/additionalProperties) met by a
    member whose key neither ``rest`` nor ``g`` names: ``sub`` with one more requirement, or
    False where no value can fail."""
    from radtrio.fsm.json_schema import SchemaError, key_any_dfa

    props = g.get("properties") or {}
    patterns = g.get("patternProperties") or {}
    extra = g.get("additionalProperties", True)
    names = list(props) + [n for n in _names(rest) if n not in props]
    keys = without_literals(key_any_dfa(), _quoted(names))
    kps = comp._key_patterns(patterns, ptr)
    regions = key_regions(keys, [d for d, _ in kps], MAX_KEY_REGIONS)
    if regions is None:
        raise SchemaError(
            "patternProperties", ptr, f"splits keys into more than {MAX_KEY_REGIONS} regions"
        )
    pairs: list[tuple[DFA, Any]] = []
    for region, inside in regions:
        if inside:
            asked = all_of([s for i, (_, s) in enumerate(kps) if i in inside])
            where = f"{ptr}/patternProperties"
        else:
            asked, where = extra, f"{ptr}/additionalProperties"
        if asked is True or asked == {}:
            continue
        bad = not_value(comp, asked, where)
        if bad is not False:
            comp.keep_alive.append(bad)
            pairs.append((region, bad))
    if not pairs:
        return False
    return add_requirement(sub, pairs, ptr)


def not_property_names(comp: Any, rest: dict, sub: dict, pn: Any, ptr: str) -> Any:
    """NOT propertyNames ``pn`` for the objects of ``sub`` (``rest`` limited to objects): a
    named key that ``pn`` rejects is present, or a member with an unnamed key it rejects."""
    from radtrio.fsm.json_schema import SchemaCompiler, SchemaError, key_any_dfa
    from radtrio.fsm.schema_not import _any, _require

    if not isinstance(pn, (bool, dict)):
        raise SchemaError("propertyNames", ptr, f"must be a schema, got {pn!r}")
    strings = SchemaCompiler(comp.root, False, comp.lenient, use_counters=False)
    strings.complete = True  # a difference: every key the schema allows must be in its DFA
    allowed = comp._key_strings(strings, pn, f"{ptr}/propertyNames")
    failing = product(key_any_dfa(), allowed, "diff")
    names = _names(rest)
    required = set(rest.get("required") or [])
    branches: list[Any] = []
    for n, q in zip(names, _quoted(names), strict=True):
        if not failing.matches(q) or comp._member_schema(rest, n, ptr) is False:
            continue
        if n in required:
            return sub  # every object of ``rest`` has this key
        branches.append(_require(sub, n))
    unnamed = without_literals(failing, _quoted(names))
    if not is_empty(unnamed):
        branches.append(add_requirement(sub, [(unnamed, True)], ptr))
    return _any(branches, ptr)


def some_members(
    comp: Any, names: list, sides: list, schema: dict, ptr: str, key_filter: DFA | None
) -> Any:
    """The ``some`` field of an object's props node (None: no requirement; the compiler's
    NOTHING: a requirement no member can meet). One requirement gives one member AST; several
    give ``("somes", n, [(mask, ast), ...])``, an ast per set of requirements (mask bits) a
    member meets at once: the member matches the object's sides and every pair it meets."""
    from radtrio.fsm.json_schema import NOTHING

    reqs: list[tuple[list, Any]] = []
    if "_some_extra" in schema:  # a side of its own: every unnamed key, one value schema
        reqs.append(([], schema["_some_extra"]))
    for r in schema.get(SOME) or []:
        reqs.append(([(k.dfa, v) for k, v in r], False))
    if not reqs:
        return None
    n = len(reqs)
    asts: dict[int, Any] = {}
    for mask in range(1, 1 << n):
        bits = [i for i in range(n) if mask >> i & 1]
        if any(mask & ~(1 << i) and mask & ~(1 << i) not in asts for i in bits):
            continue  # a smaller set is met by no member already
        ast = comp._extra_members(names, [*sides, *(reqs[i] for i in bits)], ptr, key_filter)
        if ast is not None:
            asts[mask] = ast
    if any(1 << i not in asts for i in range(n)):
        return NOTHING
    if n == 1:
        return asts[1]
    return ("somes", n, sorted(asts.items(), key=lambda x: x[0]))
