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
member), which can only lose instances, never add one. :func:`object_members` compiles the
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
from radtrio.fsm.json_keys import MAX_KEY_REGIONS, all_of, key_regions, sides_of
from radtrio.fsm.literal_sets import without_literals
from radtrio.fsm.schema_common import NOTHING, SchemaError, _dumps
from radtrio.fsm.schema_scalars import any_string_dfa

SOME = "_some_keys"
MAX_SOME_KEYS = 4  # requirements on one object: one member AST per subset, 2**n "met" states


class Keys:
    """A set of quoted object keys (a call-free DFA), compared by identity."""

    __slots__ = ("dfa",)

    def __init__(self, dfa: DFA) -> None:
        self.dfa = dfa


def names_of(s: dict) -> list[str]:
    """The keys an object schema names: its properties, then its required names."""
    props = s.get("properties") or {}
    out = list(props) if isinstance(props, dict) else []
    for r in s.get("required") or []:
        if isinstance(r, str) and r not in out:
            out.append(r)
    return out


def _quoted(names: list[str]) -> list[bytes]:
    return [_dumps(n).encode("utf-8") for n in names]


def requirements(schema: dict) -> int:
    """How many "some member" requirements an object schema carries."""
    return len(schema.get(SOME) or [])


def add_requirement(sub: dict, pairs: list[tuple[DFA, Any, Any]], ptr: str) -> dict:
    """``sub`` with one more requirement: a member with a key in one pair's DFA (disjoint
    ones) whose value matches that pair's schema ``meet``. Each pair also carries ``miss``,
    the values that do not meet it (its complement)."""
    if requirements(sub) >= MAX_SOME_KEYS:
        raise SchemaError(
            "not", ptr, f"asks for more than {MAX_SOME_KEYS} kinds of unnamed members at once"
        )
    out = dict(sub)
    out[SOME] = [*(sub.get(SOME) or []), [(Keys(d), meet, miss) for d, meet, miss in pairs]]
    return out


def not_value(comp: Any, schema: Any, ptr: str) -> Any:
    """The values (of any type) that ``schema`` rejects; where one schema cannot be written
    for all types at once, the anyOf of each instance type's part."""
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
    False where no value can fail. Keys are split by ``g``'s patterns and ``rest``'s own (so
    that a region where ``rest`` already decides the answer needs no value: True, or is
    left out)."""
    from radtrio.fsm.schema_not import implies

    props = g.get("properties") or {}
    patterns = g.get("patternProperties") or {}
    extra = g.get("additionalProperties", True)
    names = list(props) + [n for n in names_of(rest) if n not in props]
    keys = without_literals(any_string_dfa(), _quoted(names))
    theirs = comp._key_patterns(patterns, ptr)
    mine = [(comp._key_patterns(pats, ptr), more) for pats, more in sides_of(rest)]
    dfas = [d for d, _ in theirs] + [d for kps, _ in mine for d, _ in kps]
    regions = key_regions(keys, dfas, MAX_KEY_REGIONS)
    if regions is None:
        raise SchemaError(
            "patternProperties", ptr, f"splits keys into more than {MAX_KEY_REGIONS} regions"
        )
    failing: dict[frozenset, Any] = {}  # NOT what g asks, per set of g's matching patterns
    pairs: list[tuple[DFA, Any, Any]] = []
    for region, inside in regions:
        hit = frozenset(i for i in inside if i < len(theirs))
        if hit:
            asked = all_of([theirs[i][1] for i in sorted(hit)])
            where = f"{ptr}/patternProperties"
        else:
            asked, where = extra, f"{ptr}/additionalProperties"
        if asked is True or asked == {}:
            continue
        parts: list[Any] = []
        at = len(theirs)
        for kps, more in mine:
            parts += [x for j, (_, x) in enumerate(kps) if at + j in inside] or [more]
            at += len(kps)
        own = all_of(parts)
        if own is False or implies(comp, own, asked):
            continue  # no member with such a key, or none that fails
        if hit not in failing:
            failing[hit] = not_value(comp, asked, where)
            comp.keep_alive.append(failing[hit])
        bad = failing[hit]
        if bad is False:
            continue
        if implies(comp, own, bad):
            pairs.append((region, True, False))  # every value ``rest`` allows there fails
        else:
            pairs.append((region, bad, asked))
    if not pairs:
        return False
    return add_requirement(sub, pairs, ptr)


def not_property_names(comp: Any, rest: dict, sub: dict, pn: Any, ptr: str) -> Any:
    """NOT propertyNames ``pn`` for the objects of ``sub`` (``rest`` limited to objects): a
    named key that ``pn`` rejects is present, or a member with an unnamed key it rejects."""
    from radtrio.fsm.schema_not import _any, _require

    if not isinstance(pn, (bool, dict)):
        raise SchemaError("propertyNames", ptr, f"must be a schema, got {pn!r}")
    strings = comp.sub_compiler()
    strings.complete = True  # a difference: every key the schema allows must be in its DFA
    allowed = comp._key_strings(strings, pn, f"{ptr}/propertyNames")
    failing = product(any_string_dfa(), allowed, "diff")
    names = names_of(rest)
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
        branches.append(add_requirement(sub, [(unnamed, True, False)], ptr))
    return _any(branches, ptr)


def object_members(
    comp: Any, names: list, sides: list, schema: dict, ptr: str, key_filter: DFA | None
) -> tuple[Any, Any]:
    """(``extra``, ``some``) of an object's props node: the members whose key is not named
    that meet no requirement (None: none may occur), and the props node's seventh field
    (None: no requirement; the compiler's NOTHING: a requirement no member can meet). One
    requirement gives one member AST; several give ``("somes", n, [(mask, ast), ...])``, one
    AST per set of requirements (mask bits) a member meets. Members are split exactly: for a
    requirement outside the mask a member's key and value must miss it (each pair's ``miss``),
    so the languages of the masks are disjoint, and where they part before a value calls a
    rule, the grammar stays unambiguous (an any-value member beside a requirement on the key
    alone, or on the value's type)."""
    reqs: list[tuple[tuple[list, Any], tuple[list, Any]]] = []  # (side that meets, that misses)
    for r in schema.get(SOME) or []:
        meet = ([(k.dfa, v) for k, v, _ in r], False)
        miss = ([(k.dfa, x) for k, _, x in r], True)
        reqs.append((meet, miss))
    if not reqs:  # the usual case
        return comp._extra_members(names, sides, ptr, key_filter), None
    n = len(reqs)
    if n > MAX_SOME_KEYS:
        comp.unsupported(
            "not", ptr, f"asks for more than {MAX_SOME_KEYS} kinds of unnamed members at once"
        )
        return comp._extra_members(names, sides, ptr, key_filter), None

    def members(mask: int) -> Any:
        more = list(sides)
        for i, (meet, miss) in enumerate(reqs):
            more.append(meet if mask >> i & 1 else miss)
        return comp._extra_members(names, more, ptr, key_filter, inline=True)

    extra = members(0)
    asts = {}
    for mask in range(1, 1 << n):
        ast = members(mask)
        if ast is not None:
            asts[mask] = ast
    if any(all(not mask >> i & 1 for mask in asts) for i in range(n)):
        return extra, NOTHING
    if n == 1:
        return extra, asts[1]
    return extra, ("somes", n, sorted(asts.items(), key=lambda x: x[0]))
