"""JSON Schema (draft 2020-12 and the older keywords real schemas use) -> grammar.

Each subschema becomes an AST (see :mod:`radtrio.fsm.regex_parser`) of its compact JSON
serialization (``json.dumps(v, separators=(",", ":"), ensure_ascii=False)``, object keys in
the schema's ``properties`` order, then other keys). Recursive ``$ref`` targets, JSON-any values
and large ``minLength/maxLength/minItems/maxItems`` become grammar rules (calls; counters for
the bounds) instead of being flattened.

Everything the compiler does not model exactly is refused with a :class:`SchemaError` naming
the keyword and its JSON pointer (``lenient=True`` ignores such keywords instead), so a
compiled schema never accepts an instance that the schema rejects.

This module holds the entry points and the core of :class:`SchemaCompiler`: references, the
dispatch of a subschema (``value``), typed schemas and arrays. Its other methods come from
mixins, one module per topic: :mod:`radtrio.fsm.schema_merge` (allOf),
:mod:`radtrio.fsm.schema_negation` (not, oneOf), :mod:`radtrio.fsm.schema_scalars` (numbers,
strings, enum/const) and :mod:`radtrio.fsm.schema_objects` (objects); the pieces they share are
in :mod:`radtrio.fsm.schema_common` and :mod:`radtrio.fsm.schema_walk`.
"""

from __future__ import annotations

import functools
import json
import re
from typing import Any
from urllib.parse import unquote

from radtrio.fsm import json_numbers as jn
from radtrio.fsm import schema_arrays as sarr
from radtrio.fsm import schema_dependencies as sdeps
from radtrio.fsm.automaton import DFA, AutomatonTooLarge, compile_ast, compile_kernels, time_limit
from radtrio.fsm.grammar import Grammar, GrammarBuilder, GrammarConflict
from radtrio.fsm.regex_parser import EMPTY, N_alt, N_cat, N_lit, N_rep, N_set, parse_regex
from radtrio.fsm.schema_common import (
    ALL_TYPES,
    COUNTER_THRESHOLD,
    NOTHING,
    SchemaError,
    _is_annotation,
    _unconstrained,
)

# the "X as X" imports are re-exports: other modules and the tests import them from here
from radtrio.fsm.schema_common import SUPPORTED as SUPPORTED
from radtrio.fsm.schema_common import _dec as _dec
from radtrio.fsm.schema_common import _dumps as _dumps
from radtrio.fsm.schema_common import _json_type as _json_type
from radtrio.fsm.schema_common import _value_key as _value_key
from radtrio.fsm.schema_merge import MergeRules
from radtrio.fsm.schema_negation import NegationRules
from radtrio.fsm.schema_not import COND, has_conditional, if_then_else
from radtrio.fsm.schema_objects import ObjectRules
from radtrio.fsm.schema_objects import _key_pattern_dfa as _key_pattern_dfa
from radtrio.fsm.schema_order import branch_orders
from radtrio.fsm.schema_refs import (
    absolute_refs,
    hide_ref_siblings,
    id_keyword,
    needs_base_uris,
    pointer_step,
    ref_ignores_siblings,
)
from radtrio.fsm.schema_scalars import ANY_CHAR, ScalarRules
from radtrio.fsm.schema_scalars import _format_dfa as _format_dfa
from radtrio.fsm.schema_scalars import any_string_dfa as any_string_dfa
from radtrio.fsm.schema_walk import _COMPOUND as _COMPOUND
from radtrio.fsm.schema_walk import _call_or_size
from radtrio.fsm.schema_walk import _has_call as _has_call
from radtrio.types import RequestError

WS_MAX = 20
EAGER_DFA_NODES = 400  # subschema ASTs at least this large are compiled on their own


# the keywords that send a subschema anywhere but SchemaCompiler._typed (see _value): in-place
# applicators, enum and const, conditionals and unsupported dynamic references
_APPLICATORS = frozenset(
    (
        "unevaluatedProperties",
        "unevaluatedItems",
        "const",
        "enum",
        "allOf",
        "anyOf",
        "oneOf",
        "not",
        "$ref",
        "$dynamicRef",
        "$recursiveRef",
        *COND,
        *sdeps.KEYWORDS,
    )
)


_NON_POINTER_REF = re.compile(r'"\$ref"\s*:\s*"(?!#/|#")')


# a string "$ref" with a key after it (matched where a "$ref" starts)
_REF_THEN_KEY = re.compile(r'"\$ref"\s*:\s*"(?:[^"\\]|\\.)*"\s*,')


def lone_references(text: str) -> bool:
    """Whether the JSON text of a schema surely has no ``$ref`` with keywords beside it
    (see :func:`radtrio.fsm.schema_refs.hide_ref_siblings`), judged from the text alone: no
    ``"$ref"`` has a comma before it or a string value and a comma after it."""
    if "\\u" in text:
        return False
    at = text.find('"$ref"')
    while at >= 0:
        before = at - 1
        while before >= 0 and text[before] in " \t\r\n":
            before -= 1
        if (before >= 0 and text[before] == ",") or _REF_THEN_KEY.match(text, at):
            return False
        at = text.find('"$ref"', at + 6)
    return True


def plain_references(text: str) -> bool:
    """Whether the JSON text of a schema surely has no id, ``$anchor`` or ``$ref`` other
    than a ``#/`` pointer (or ``#``), judged from the text alone (an escaped key could spell
    them, so any backslash-u escape says no): then neither base URIs nor anchors need a walk
    over the document."""
    return (
        'id"' not in text
        and "$anchor" not in text
        and "\\u" not in text
        and not _NON_POINTER_REF.search(text)
    )


class SchemaCompiler(MergeRules, NegationRules, ScalarRules, ObjectRules):
    def __init__(
        self,
        root: Any,
        flexible: bool,
        lenient: bool,
        use_counters: bool = True,
        plain_refs: bool = False,
        lone_refs: bool = False,
    ) -> None:
        """``plain_refs``: the caller knows the document has no ids, anchors or references
        other than ``#/`` pointers (see :func:`plain_references`), so it is not walked for
        them. ``lone_refs``: it knows no ``$ref`` has keywords beside it (see
        :func:`lone_references`), so a draft 3-7 document is not walked to hide them."""
        if not plain_refs and needs_base_uris(root):
            # $id/id below the root, $anchor: refs become "#/..." pointers
            root = absolute_refs(root)
        if not lone_refs and ref_ignores_siblings(root):
            root = hide_ref_siblings(root)
        self.root = root
        self.flexible = flexible
        self.lenient = lenient
        self.use_counters = use_counters
        self.scalars_only = False  # objects and arrays left out (sides of a scalar difference)
        self.complete = False  # refuse what is compiled to a subset of its values (a "not" side)
        # drafts 3 and 4 call 2.0 a number, not an integer: a constant 2 is written "2" only
        self.plain_integers = id_keyword(root) == "id"
        self.order_branches = True  # anyOf/oneOf branches list keys in the order of all of them
        # a schema without constraints ({}) calls the any-value rule instead of compiling its
        # first level inline; off after an ambiguous grammar (see _compile)
        self.any_calls = False
        self.not_depth = 0
        self.b = GrammarBuilder()
        self.ws = N_rep(N_set([(9, 10), (13, 13), (32, 32)]), 0, WS_MAX) if flexible else EMPTY
        self.any_rule: int | None = None
        self.ref_rules: dict[str, int] = {}
        self.ref_stack: list[str] = []
        self.recursive: set[str] = set()
        self.string_rules: dict[tuple[int, int | None], int] = {}
        self.member_rules: dict[int, int] = {}  # id(member value AST) -> its rule
        self.char_rule: int | None = None
        self.memo: dict[int, tuple[Any, Any]] = {}
        # id(AST node) -> (node, _call_or_size with cap EAGER_DFA_NODES)
        self.walk_memo: dict[int, tuple[Any, int]] = {}
        self.keep_alive: list[Any] = []  # schemas made here (memo keys are their ids)
        self.ids: dict[str, str] = {}
        self.dup_anchors: set[str] = set()
        if not plain_refs:
            self._index_ids(root, "#")
        self.nested_ids = any(p != "#" for k, p in self.ids.items() if not k.startswith("#"))
        self._cyclic: set[str] | None = None
        # merges of a recursive $ref with another schema, named like $ref targets:
        # name -> [left, right, pointer, merged schema once expanded]
        self.merged_refs: dict[str, list[Any]] = {}
        self.merged_ref_names: dict[str, str] = {}

    def sub_compiler(self, lenient: bool | None = None) -> SchemaCompiler:
        """A compiler of parts of the same document (compact, without counters), for the
        languages a part is intersected or compared with. It takes this compiler's prepared
        document and index of ids instead of walking the document again (a schema with a
        few hundred such parts walked it a few hundred times)."""
        sub = SchemaCompiler(
            self.root,
            False,
            self.lenient if lenient is None else lenient,
            use_counters=False,
            plain_refs=True,
            lone_refs=True,
        )
        sub.ids = self.ids
        sub.dup_anchors = self.dup_anchors
        sub.nested_ids = self.nested_ids
        return sub

    # -- helpers ------------------------------------------------------------------------------
    def unsupported(self, keyword: str, ptr: str, why: str = "is not supported") -> None:
        if not self.lenient:
            raise SchemaError(keyword, ptr, why)

    def _index_ids(self, node: Any, ptr: str) -> None:
        if isinstance(node, dict):
            for key in (id_keyword(self.root),):
                v = node.get(key)
                if isinstance(v, str) and not v.startswith("#"):
                    self.ids.setdefault(v.rstrip("#"), ptr)
            anchor = node.get("$anchor")
            if isinstance(anchor, str):
                if "#" + anchor in self.ids:
                    self.dup_anchors.add("#" + anchor)
                self.ids.setdefault("#" + anchor, ptr)
            for k, v in node.items():
                if k in ("enum", "const", "examples", "default"):
                    continue
                self._index_ids(v, f"{ptr}/{k.replace('~', '~0').replace('/', '~1')}")
        elif isinstance(node, list):
            for i, v in enumerate(node):
                self._index_ids(v, f"{ptr}/{i}")

    def resolve(self, ref: str, ptr: str) -> tuple[Any, str]:
        if ref in self.merged_refs:
            return self._expand_merged_ref(ref), ref
        target = ref
        if self.nested_ids:
            raise SchemaError("$id", ptr, "nested schema resources ($id below the root) with $ref")
        if ref in self.dup_anchors:
            raise SchemaError("$anchor", ptr, f"{ref!r} is defined more than once")
        if not ref.startswith("#"):
            base, _, frag = ref.partition("#")
            if base in self.ids:
                start = self.ids[base]
                target = start + (frag if frag.startswith("/") else "")
                if frag and not frag.startswith("/"):
                    target = self.ids.get("#" + frag, "")
            else:
                # a $ref to the document's own $id, or a remote one
                rid = self.root.get("$id", "") if isinstance(self.root, dict) else ""
                if rid and base and rid.rstrip("#").endswith(base):
                    target = "#" + frag
                else:
                    raise SchemaError("$ref", ptr, f"points outside the schema ({ref!r})")
        elif ref != "#" and not ref.startswith("#/"):
            if ref in self.ids:
                target = self.ids[ref]
            else:
                raise SchemaError("$ref", ptr, f"unknown anchor {ref!r}")
        if not target:
            raise SchemaError("$ref", ptr, f"cannot resolve {ref!r}")
        node = self.root
        for part in target[1:].split("/")[1:] if target != "#" else []:
            found, node = pointer_step(node, unquote(part).replace("~1", "/").replace("~0", "~"))
            if not found:
                raise SchemaError("$ref", ptr, f"cannot resolve {ref!r}")
        return node, target

    def any_ast(self):
        if self.scalars_only:
            return ("dfa", _scalar_any_dfa())
        if self.any_rule is None:
            rid = self.any_rule = self.b.reserve()
            d = _any_body_dfa(self.flexible)  # compiled once per process, calls labelled 0
            calls = [{rid: cd[0]} if cd else {} for cd in d.calls]
            self.b.set_compiled(rid, DFA(d.trans, d.accept, calls))
        return ("call", self.any_rule)

    # -- entry ----------------------------------------------------------------------------------
    def compile(self) -> Grammar:
        ast = self.value(self.root, "#")
        root = self.b.add_dfa(ast)
        return self.b.finish(root)

    # -- schema -> AST --------------------------------------------------------------------------
    def value(self, schema: Any, ptr: str):
        """AST of a subschema, cached. A call-free AST is compiled to a DFA when it is used a
        second time (or is large), so one parent determinization covers small children."""
        if isinstance(schema, dict):
            hit = self.memo.get(id(schema))
            if hit is not None:
                ast = hit[1]
                if ast[0] != "dfa" and _call_or_size(ast, EAGER_DFA_NODES, self.walk_memo) >= 0:
                    ast = ("dfa", compile_ast(ast))
                    self.memo[id(schema)] = (schema, ast)
                return ast
        ast = self._value(schema, ptr)
        if isinstance(schema, dict):
            if _call_or_size(ast, EAGER_DFA_NODES, self.walk_memo) >= EAGER_DFA_NODES:
                ast = ("dfa", compile_ast(ast))
            self.memo[id(schema)] = (schema, ast)
        return ast

    def _value(self, schema: Any, ptr: str):
        if schema is True:
            return self.any_ast()
        if schema is False:
            return NOTHING
        if not isinstance(schema, dict):
            raise SchemaError("(schema)", ptr, f"must be an object or a boolean, got {schema!r}")
        if self.any_calls and _unconstrained(schema):
            return self.any_ast()
        if _APPLICATORS.isdisjoint(schema):  # most subschemas: none of the checks below apply
            return self._typed(schema, ptr)
        for k in ("unevaluatedProperties", "unevaluatedItems"):
            if k in schema and any(
                a in schema
                for a in (
                    "allOf",
                    "anyOf",
                    "oneOf",
                    "$ref",
                    "if",
                    "not",
                    "dependentSchemas",
                    "$dynamicRef",
                )
            ):
                self.unsupported(k, ptr, "beside in-place applicators")
        if self._candidates(schema, ptr, set()) is not None:
            return self._enum(schema, ptr)
        if "$ref" in schema:
            return self._ref(schema, ptr)
        if has_conditional(schema):
            return self.value(if_then_else(self, schema, ptr), ptr)
        for k in (
            "$dynamicRef",
            "$recursiveRef",
            "unevaluatedItems",
        ):
            if k in schema:
                self.unsupported(k, ptr)
        if "allOf" in schema:
            merged = dict(schema)
            subs = merged.pop("allOf")
            if not isinstance(subs, list):
                raise SchemaError("allOf", ptr, "must be an array")
            acc: Any = merged
            for i, s in enumerate(subs):
                acc = self.merge(acc, s, f"{ptr}/allOf/{i}")
            return self.value(acc, ptr)
        if sdeps.has_schema_dependencies(schema):
            return self.value(self._dependent_schemas(schema, ptr), ptr)
        if "anyOf" in schema or "oneOf" in schema:
            key = "anyOf" if "anyOf" in schema else "oneOf"
            rest = {k: v for k, v in schema.items() if k != key}
            branches_src = schema[key]
            if not isinstance(branches_src, list) or not branches_src:
                raise SchemaError(key, ptr, "must be a non-empty array")
            siblings = {k: v for k, v in rest.items() if not _is_annotation(k)}
            branches = []
            for i, br in enumerate(branches_src):
                bp = f"{ptr}/{key}/{i}"
                branches.append((self.merge(siblings, br, bp) if siblings else br, bp))
            if key == "oneOf":
                branches = self._exactly_one(branches, branches_src, ptr)
            orders = branch_orders(self.root, schema, [b for b, _ in branches])
            for i, order in enumerate(orders if self.order_branches else []):
                b, bp = branches[i]
                if order is not None and not (isinstance(b, dict) and "_order" in b):
                    # keys in the order all branches give them (conformance.emit)
                    branches[i] = (self.merge({"_order": order}, b, bp), bp)
            return N_alt(*[self.value(b, bp) for b, bp in branches])
        if "not" in schema:
            rest = {k: v for k, v in schema.items() if k != "not"}
            return self.value(self.apply_not(rest, schema["not"], f"{ptr}/not"), ptr)
        return self._typed(schema, ptr)

    def _ref(self, schema: dict, ptr: str):
        ref = schema["$ref"]
        if not isinstance(ref, str):
            raise SchemaError("$ref", ptr, "must be a string")
        siblings = {k: v for k, v in schema.items() if k != "$ref" and not _is_annotation(k)}
        target, tptr = self.resolve(ref, ptr)
        if siblings:
            if tptr in self.ref_stack or tptr in self.cyclic:
                return self.value(self._merge_ref(siblings, {"$ref": ref}, ptr), ptr)
            self.ref_stack.append(tptr)
            try:
                return self.value(self.merge(siblings, target, tptr), ptr)
            finally:
                self.ref_stack.pop()
        if tptr in self.ref_stack:
            self.recursive.add(tptr)
            rid = self.ref_rules.get(tptr)
            if rid is None:
                rid = self.b.reserve()
                self.ref_rules[tptr] = rid
            return ("call", rid)
        if len(self.ref_stack) > 200:
            raise SchemaError("$ref", ptr, "nests too deeply")
        self.ref_stack.append(tptr)
        try:
            ast = self.value(target, tptr)
        finally:
            self.ref_stack.pop()
        if tptr in self.recursive and tptr not in self.ref_stack:
            rid = self.ref_rules[tptr]
            if self.b.rules[rid] is None:
                self.b.set_dfa(rid, ast)
            return ("call", rid)
        return ast

    def _deref(self, s: Any, ptr: str, keep_recursive: bool = False, look: bool = False) -> Any:
        """``s`` with its top-level ``$ref`` replaced by the target. ``keep_recursive``: a
        reference to a recursive target is returned as it is (merge() makes a rule of it);
        ``look``: only inspected, never compiled, so a recursive target is unrolled once."""
        hops = 0
        while isinstance(s, dict) and "$ref" in s:
            target, tptr = self.resolve(s["$ref"], ptr)
            rest = {k: v for k, v in s.items() if k != "$ref"}
            if keep_recursive and (tptr in self.ref_stack or tptr in self.cyclic):
                return s
            if tptr in self.ref_stack and not look:
                self.unsupported("allOf", ptr, "merges a recursive $ref")
                return rest
            hops += 1
            if hops > 50:
                raise SchemaError("$ref", ptr, "reference cycle")
            if not rest:
                s = target
            else:
                self.ref_stack.append(tptr)
                try:
                    s = self.merge(rest, target, tptr)
                finally:
                    self.ref_stack.pop()
        return s

    # -- typed schemas --------------------------------------------------------------------------
    def _typed(self, schema: dict, ptr: str):
        if schema.get("_within"):
            return self._within(schema, ptr)
        if "enum" in schema or "const" in schema:
            return self._enum(schema, ptr)
        t = schema.get("type")
        if t is None:
            types = list(ALL_TYPES)
        elif isinstance(t, str):
            types = [t]
        elif isinstance(t, list) and t:
            types = list(t)
        else:
            raise SchemaError("type", ptr, f"must be a type name or a non-empty array, got {t!r}")
        for x in types:
            if x not in ALL_TYPES and x != "integer":
                raise SchemaError("type", ptr, f"unknown type {x!r}")
        if schema.get("nullable") is True and "null" not in types:
            types.append("null")
        if "number" in types and "integer" in types:
            types.remove("integer")
        if self.scalars_only:
            types = [x for x in types if x not in ("object", "array")]
            if not types:
                return NOTHING
        alts = []
        for x in types:
            if x == "null":
                alts.append(N_lit("null"))
            elif x == "boolean":
                alts.append(N_alt(N_lit("true"), N_lit("false")))
            elif x in ("integer", "number"):
                alts.append(self._number(schema, ptr, x == "integer"))
            elif x == "string":
                alts.append(self._string(schema, ptr))
            elif x == "array":
                alts.append(self._array(schema, ptr))
            else:
                alts.append(self._object(schema, ptr))
        ast = alts[0] if len(alts) == 1 else N_alt(*alts)
        if schema.get("_exclude"):
            ast = self._exclude(ast, schema["_exclude"], ptr)
        return ast

    def _array(self, schema: dict, ptr: str):
        if "_some_item" in schema and (
            any(k in schema for k in sarr.CONTAINS_KEYS)
            or sarr.array_shape(schema)[1] in (True, {})
        ):  # one more contains term (beside items: true, the graph keeps the choice of the
            # matching item deterministic)
            schema = sarr.some_item_as_contains(schema)
        if "_some_item" in schema and schema.get("uniqueItems") is True:
            self.unsupported("not", ptr, "of items beside uniqueItems")
        if schema.get("uniqueItems") is True and not (
            schema.get("maxItems") is not None and schema["maxItems"] <= 1
        ):
            ast = sarr.unique_array(self, schema, ptr)
            if ast is not None:
                return ast
        if any(k in schema for k in sarr.CONTAINS_KEYS):
            ast = sarr.contains_array(self, schema, ptr)
            if ast is not None:
                return ast
        prefix, rest, lo, hi = sarr.array_shape(schema)
        if hi is not None and hi < lo:
            return NOTHING
        ws = self.ws
        sep = N_cat(ws, N_lit(","), ws)
        if "_some_item" in schema:  # from a negation: at least one item of this schema
            if prefix or lo > 1 or hi is not None or rest is False:
                self.unsupported("not", ptr, "of items beside prefixItems/minItems/maxItems")
            else:
                every = self.value(rest, f"{ptr}/items")
                wanted = self.merge(schema["_some_item"], rest, ptr)  # items may be narrowed
                self.keep_alive.append(wanted)
                one = self.value(wanted, f"{ptr}/items")
                return N_cat(
                    N_lit("["),
                    ws,
                    N_rep(N_cat(every, sep), 0, None),
                    one,
                    N_rep(N_cat(sep, every), 0, None),
                    ws,
                    N_lit("]"),
                )
        if (
            self.use_counters
            and not prefix
            and (lo > COUNTER_THRESHOLD or (hi or 0) > COUNTER_THRESHOLD)
        ):
            item_rule = self.b.add_dfa(self.value(rest, f"{ptr}/items"))
            rid = self.b.add_repeat(
                N_cat(N_lit("["), ws), item_rule, sep, N_cat(ws, N_lit("]")), N_lit("]"), lo, hi
            )
            return ("call", rid)
        n_explicit = max(len(prefix), lo)
        if hi is not None:
            n_explicit = min(n_explicit, hi)
        elem_cache: dict[int, Any] = {}

        def elem(i: int):
            if i < len(prefix):
                return self.value(prefix[i], f"{ptr}/prefixItems/{i}")
            if -1 not in elem_cache:
                elem_cache[-1] = self.value(rest, f"{ptr}/items")
            return elem_cache[-1]

        # items after the explicit positions
        extra_max = None if hi is None else hi - n_explicit
        if rest is False or extra_max == 0:
            tail = EMPTY
        else:
            it = elem(n_explicit)
            if n_explicit == 0:
                tail = N_rep(
                    N_cat(
                        it, N_rep(N_cat(sep, it), 0, None if extra_max is None else extra_max - 1)
                    ),
                    0,
                    1,
                )
            else:
                tail = N_rep(N_cat(sep, it), 0, extra_max)
        acc = tail
        for i in range(n_explicit - 1, -1, -1):
            part = N_cat(sep if i > 0 else EMPTY, elem(i), acc)
            acc = part if i < lo else N_rep(part, 0, 1)
        return N_cat(N_lit("["), ws, acc, ws, N_lit("]"))


def _load(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise RequestError(f"constraint.json_schema is not valid JSON: {e}") from e


def compile_json_schema(
    text: str, flexible: bool = False, lenient: bool = False, time_limit_s: float | None = 10.0
) -> Grammar:
    schema = _load(text) if isinstance(text, str) else text
    plain = isinstance(text, str) and plain_references(text)
    lone = isinstance(text, str) and (not ref_ignores_siblings(schema) or lone_references(text))
    compile_kernels()  # JIT time is not the schema's
    with time_limit(time_limit_s):
        return _compile(schema, flexible, lenient, plain, lone)


def _compile(
    schema: Any, flexible: bool, lenient: bool, plain_refs: bool = False, lone_refs: bool = False
) -> Grammar:
    # on an ambiguous grammar: flatten counters, then let anyOf branches keep their own key
    # order (merged with the order of all branches, a branch can call a rule where another
    # reads bytes; its own order only rejects instances that list keys the other way round)
    # first of all, constraint-free subschemas ({}) call the any-value rule: where a sibling
    # alternative reads the same first bytes that call is ambiguous, and they compile inline
    attempts = (
        (True, True, True),
        (True, True, False),
        (False, True, False),
        (True, False, False),
        (False, False, False),
    )
    for n, (counters, ordered, any_calls) in enumerate(attempts):
        comp = SchemaCompiler(schema, flexible, lenient, counters, plain_refs, lone_refs)
        comp.order_branches = ordered
        comp.any_calls = any_calls
        try:
            return comp.compile()
        except GrammarConflict as e:
            if n == len(attempts) - 1:
                raise SchemaError(
                    "$ref",
                    "#",
                    f"makes an ambiguous grammar (a recursive reference where two "
                    f"alternatives start alike): {e}",
                ) from e
        except AutomatonTooLarge as e:
            raise SchemaError("(schema)", "#", f"is too large to compile: {e}") from e
        except RecursionError as e:
            raise SchemaError("(schema)", "#", "nests too deeply to compile") from e
    raise AssertionError("unreachable")


def compile_json_any(flexible: bool = False) -> Grammar:
    return SchemaCompiler(True, flexible, False).compile()


@functools.lru_cache(maxsize=2)
def _any_body_dfa(flexible: bool) -> DFA:
    """DFA of one JSON value whose nested values are calls of rule 0 (relabelled per use)."""
    ws = N_rep(N_set([(9, 10), (13, 13), (32, 32)]), 0, WS_MAX) if flexible else EMPTY
    return compile_ast(_any_body(("call", 0), ws))


@functools.lru_cache(maxsize=1)
def _scalar_any_dfa() -> DFA:
    """Any JSON scalar: null, a boolean, a number or a string."""
    string = N_cat(N_lit('"'), N_rep(ANY_CHAR, 0, None), N_lit('"'))
    return compile_ast(
        N_alt(N_lit("null"), N_lit("true"), N_lit("false"), parse_regex(jn.NUMBER, "ecma"), string)
    )


def _any_body(call, ws):
    sep = N_cat(ws, N_lit(","), ws)
    string = N_cat(N_lit('"'), N_rep(ANY_CHAR, 0, None), N_lit('"'))
    kv = N_cat(string, ws, N_lit(":"), ws, call)
    obj = N_cat(
        N_lit("{"), ws, N_rep(N_cat(kv, N_rep(N_cat(sep, kv), 0, None)), 0, 1), ws, N_lit("}")
    )
    arr = N_cat(
        N_lit("["),
        ws,
        N_rep(N_cat(call, N_rep(N_cat(sep, call), 0, None)), 0, 1),
        ws,
        N_lit("]"),
    )
    return N_alt(
        N_lit("null"),
        N_lit("true"),
        N_lit("false"),
        parse_regex(jn.NUMBER, "ecma"),
        string,
        obj,
        arr,
    )
