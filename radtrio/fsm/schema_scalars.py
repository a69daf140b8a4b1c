"""Scalar subschemas for the JSON Schema compiler: numbers (bounds, multipleOf), strings
(lengths, patterns, formats), enum/const values and values a negation excludes, as the
:class:`ScalarRules` methods of :class:`radtrio.fsm.json_schema.SchemaCompiler`. Also the
JSON escaping of regex ASTs over string characters and the process-wide DFAs these build on
(number syntax, any string, formats, canonical scalars).
"""

from __future__ import annotations

import functools
import math
from decimal import Decimal
from typing import Any

from radtrio.fsm import json_numbers as jn
from radtrio.fsm.automaton import DFA, compile_ast, product
from radtrio.fsm.json_formats import format_regex
from radtrio.fsm.regex_parser import (
    N_alt,
    N_cat,
    N_lit,
    N_rep,
    RegexError,
    negate,
    normalize,
    parse_pattern_search,
    parse_regex,
)
from radtrio.fsm.schema_common import COUNTER_THRESHOLD, NOTHING, SchemaError, _dec, _dumps, _rigid
from radtrio.fsm.schema_walk import _has_call

NONINT = r"-?(?:0|[1-9]\d*)\.\d*[1-9]\d*"  # numbers with a non-zero fraction, no exponent
MAX_MULTIPLE = 10_000  # multipleOf: a DFA over remainders, one state per remainder


_JSON_ESCAPES = {
    0x22: '\\"',
    0x5C: "\\\\",
    0x0A: "\\n",
    0x0D: "\\r",
    0x09: "\\t",
    0x08: "\\b",
    0x0C: "\\f",
}


def json_chars(ranges) -> Any:
    """AST of one string character from ``ranges`` as json.dumps(ensure_ascii=False) writes it
    (a small minimized DFA, cached per character set)."""
    return ("dfa", _json_chars_dfa(tuple(normalize(ranges))))


@functools.lru_cache(maxsize=4096)
def _json_chars_dfa(ranges: tuple) -> Any:
    return compile_ast(_json_chars_ast(ranges))


@functools.lru_cache(maxsize=64)
def _format_dfa(regex: str) -> DFA:
    """The JSON-escaped string body of a ``format`` regex (built once per process)."""
    return compile_ast(json_escape_ast(parse_regex(regex, "ecma")))


@functools.lru_cache(maxsize=8)
def _number_syntax_dfa(regex: str) -> DFA:
    """An unbounded JSON number or integer syntax (built once per process)."""
    return compile_ast(parse_regex(regex, "ecma"))


def _json_chars_ast(ranges) -> Any:
    special = [(0, 0x1F), (0x22, 0x22), (0x5C, 0x5C)]
    plain = normalize(
        [
            (max(lo, a), min(hi, b))
            for lo, hi in ranges
            for a, b in _gaps(special)
            if max(lo, a) <= min(hi, b)
        ]
    )
    alts = [("set", plain)] if plain else []
    for lo, hi in ranges:
        for cp in range(lo, min(hi, 0x5C) + 1):
            if cp < 0x20 or cp in (0x22, 0x5C):
                alts.append(N_lit(_JSON_ESCAPES.get(cp, f"\\u{cp:04x}")))
    return alts[0] if len(alts) == 1 else ("alt", alts)


def _gaps(special) -> list[tuple[int, int]]:
    return negate(special)


def json_escape_ast(node) -> Any:
    """Map a regex AST over decoded characters to one over their JSON-escaped form."""
    kind = node[0]
    if kind == "set":
        return json_chars(node[1])
    if kind in ("cat", "alt"):
        return (kind, [json_escape_ast(c) for c in node[1]])
    if kind == "rep":
        return ("rep", json_escape_ast(node[1]), node[2], node[3])
    return node


ANY_CHAR = json_chars([(0, 0x10FFFF)])


class ScalarRules:
    def _string_dfa(self, s: Any):
        if not isinstance(s, dict):
            return None
        sub = self.sub_compiler()
        ast = sub._string(dict(s, type="string"), "#")
        if _has_call(ast):
            return None
        return compile_ast(ast)

    def _exclude(self, ast, values: list, ptr: str):
        if _has_call(ast):
            self.unsupported("not", ptr, "excluding values from a recursive or counted schema")
            return ast
        # _const writes one key order and the usual number forms; the schema's language
        # may hold the same value in other forms, which the difference would keep
        loose = [v for v in values if isinstance(v, (dict, list)) and not _rigid(v)]
        if loose:
            self.unsupported(
                "not", ptr, "excluding an object or array with numbers or several keys"
            )
            values = [v for v in values if not any(v is x for x in loose)]
        d = compile_ast(ast)
        if any(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            d = product(d, _loose_numbers_dfa(), "diff")  # numbers in the forms _const writes
        if not values:
            return ("dfa", d)
        lits = N_alt(*[self._const(v, ptr) for v in values])
        return ("dfa", product(d, compile_ast(lits), "diff"))

    def _const(self, v: Any, ptr: str):
        ws = self.ws
        if isinstance(v, dict):
            sep = N_cat(ws, N_lit(","), ws)
            items = []
            for i, (k, x) in enumerate(v.items()):
                kv = N_cat(N_lit(_dumps(k)), ws, N_lit(":"), ws, self._const(x, ptr))
                items.append(kv if i == 0 else N_cat(sep, kv))
            return N_cat(N_lit("{"), ws, *items, ws, N_lit("}"))
        if isinstance(v, list):
            sep = N_cat(ws, N_lit(","), ws)
            items = [
                self._const(x, ptr) if i == 0 else N_cat(sep, self._const(x, ptr))
                for i, x in enumerate(v)
            ]
            return N_cat(N_lit("["), ws, *items, ws, N_lit("]"))
        if isinstance(v, float) and not math.isfinite(v):
            raise SchemaError("enum", ptr, "holds a non-finite number")
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            d = Decimal(repr(v)) if isinstance(v, float) else Decimal(v)
            if d == d.to_integral_value():
                i = int(d)
                if self.plain_integers and not self.complete:
                    return N_lit(str(i))
                return N_alt(N_lit(str(i)), N_lit(f"{i}.0"))
            text, plain = _dumps(v), format(d, "f")  # 1e-05 is also written 0.00001
            return N_lit(text) if text == plain else N_alt(N_lit(text), N_lit(plain))
        return N_lit(_dumps(v))

    def _candidates(self, schema: Any, ptr: str, seen: set[str]) -> list | None:
        """The values a schema is limited to by its own ``enum``/``const`` or by one of its
        allOf parts or $ref targets (their own, recursively); None when it has none."""
        if not isinstance(schema, dict):
            return None
        if "const" in schema:
            return [schema["const"]]
        if "enum" in schema:
            if not isinstance(schema["enum"], list):
                raise SchemaError("enum", ptr, "must be an array")
            return schema["enum"]
        subs = schema.get("allOf")
        for i, sub in enumerate(subs if isinstance(subs, list) else []):
            found = self._candidates(sub, f"{ptr}/allOf/{i}", seen)
            if found is not None:
                return found
        ref = schema.get("$ref")
        if isinstance(ref, str):
            target, tptr = self.resolve(ref, ptr)
            if tptr not in seen:
                seen.add(tptr)
                return self._candidates(target, tptr, seen)
        return None

    def _enum(self, schema: dict, ptr: str):
        """A schema limited to finitely many values (see :meth:`_candidates`): exactly the
        candidates that :mod:`radtrio.fsm.json_validate` finds valid under the whole schema,
        each written as :meth:`_const` writes it."""
        from radtrio.fsm.json_validate import Validator

        seen: dict[str, Any] = {}
        for v in self._candidates(schema, ptr, set()) or []:
            try:
                seen.setdefault(_dumps(v), v)
            except ValueError as e:
                raise SchemaError("enum", ptr, "holds a non-finite number") from e
        check = Validator(self.resolve, self.lenient, formats=not self.complete)
        values = [v for v in seen.values() if check.valid(v, schema, ptr)]
        if not values:
            return NOTHING
        return N_alt(*[self._const(v, ptr) for v in values])

    def _number(self, schema: dict, ptr: str, integer: bool):
        lo = hi = None
        lo_x = hi_x = False
        if "minimum" in schema:
            lo = _dec(schema["minimum"], "minimum", ptr)
        if "maximum" in schema:
            hi = _dec(schema["maximum"], "maximum", ptr)
        em, eM = schema.get("exclusiveMinimum"), schema.get("exclusiveMaximum")
        if isinstance(em, bool):
            lo_x = em and lo is not None
        elif em is not None:
            d = _dec(em, "exclusiveMinimum", ptr)
            if lo is None or d >= lo:
                lo, lo_x = d, True
        if isinstance(eM, bool):
            hi_x = eM and hi is not None
        elif eM is not None:
            d = _dec(eM, "exclusiveMaximum", ptr)
            if hi is None or d <= hi:
                hi, hi_x = d, True
        mult = schema.get("multipleOf")
        if mult is not None:
            m = _dec(mult, "multipleOf", ptr)
            if m <= 0:
                raise SchemaError("multipleOf", ptr, "must be > 0")
            if m == 1 or (integer and m == m.to_integral_value() and m == 1):
                integer = True
            elif m == m.to_integral_value() and int(m) <= MAX_MULTIPLE:
                integer = True
            else:
                self.unsupported("multipleOf", ptr, f"{mult!r} (only integer multiples)")
                mult = None
        nonint = bool(schema.get("_nonint"))  # not {type: integer}
        if nonint and integer:
            return NOTHING  # integer multiples only, every one of them excluded
        if nonint and lo is None and hi is None:
            return ("dfa", _number_syntax_dfa(NONINT))
        if integer:
            ilo = ihi = None
            if lo is not None:
                ilo = (
                    int(lo.to_integral_value(rounding="ROUND_FLOOR")) + 1
                    if lo_x and lo == lo.to_integral_value()
                    else int(lo.to_integral_value(rounding="ROUND_CEILING"))
                )
            if hi is not None:
                ihi = (
                    int(hi.to_integral_value(rounding="ROUND_CEILING")) - 1
                    if hi_x and hi == hi.to_integral_value()
                    else int(hi.to_integral_value(rounding="ROUND_FLOOR"))
                )
            text = jn.int_range(ilo, ihi) if (ilo is not None or ihi is not None) else jn.INT
            if text is None:
                return NOTHING
            ast = ("dfa", _number_syntax_dfa(text)) if text == jn.INT else parse_regex(text, "ecma")
            if mult is not None and Decimal(mult) != 1:
                ast = ("dfa", product(compile_ast(ast), _multiple_dfa(int(Decimal(mult))), "and"))
            return ast
        if lo is None and hi is None:
            return ("dfa", _number_syntax_dfa(jn.NUMBER))
        parts = []
        # non-negative numbers
        if hi is None or hi > 0 or (hi == 0 and not hi_x):
            ge = jn.mag_ge(lo, lo_x) if lo is not None and lo >= 0 else jn.MAG_ANY
            le = jn.mag_le(hi, hi_x) if hi is not None else jn.MAG_ANY
            if ge is not None and le is not None:
                parts.append(
                    (
                        "dfa",
                        product(
                            compile_ast(parse_regex(ge, "ecma")),
                            compile_ast(parse_regex(le, "ecma")),
                            "and",
                        ),
                    )
                )
        # negative numbers: "-" then a magnitude y > 0
        if lo is None or lo < 0:
            a = jn.mag_le(-lo, lo_x) if lo is not None else jn.MAG_ANY
            b = jn.mag_ge(-hi, hi_x) if hi is not None and hi < 0 else jn.mag_ge(Decimal(0), True)
            if a is not None and b is not None:
                d = product(
                    compile_ast(parse_regex(a, "ecma")), compile_ast(parse_regex(b, "ecma")), "and"
                )
                parts.append(N_cat(N_lit("-"), ("dfa", d)))
        if not parts:
            return NOTHING
        if nonint:  # the bounded forms have no exponent: the fraction decides
            return ("dfa", product(compile_ast(N_alt(*parts)), _number_syntax_dfa(NONINT), "and"))
        return N_alt(*parts)

    def _string(self, schema: dict, ptr: str):
        lo = schema.get("minLength", 0)
        hi = schema.get("maxLength")
        for k, v in (("minLength", lo), ("maxLength", hi)):
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 0):
                if not (isinstance(v, float) and v.is_integer() and v >= 0):
                    raise SchemaError(k, ptr, f"must be a non-negative integer, got {v!r}")
        lo = int(lo)
        hi = int(hi) if hi is not None else None
        if hi is not None and hi < lo:
            return NOTHING
        pats = list(schema.get("_patterns", []))
        if "pattern" in schema:
            pats.append(schema["pattern"])
        contents = []
        for p in pats:
            if not isinstance(p, str):
                raise SchemaError("pattern", ptr, "must be a string")
            try:
                contents.append(json_escape_ast(parse_pattern_search(p)))
            except RegexError as e:
                self.unsupported("pattern", ptr, f"{p!r}: {e}")
        fmt = schema.get("format")
        if fmt is not None and not isinstance(fmt, str):
            raise SchemaError("format", ptr, f"must be a string, got {fmt!r}")
        if fmt is not None:
            try:
                regex = format_regex(fmt)
            except KeyError:
                self.unsupported("format", ptr, f"{fmt!r} is not supported")
            else:
                if regex is not None and self.complete:
                    self.unsupported("format", ptr, "inside not (its regex leaves out values)")
                if regex is not None:  # None: not a JSON Schema format, an annotation only
                    contents.append(("dfa", _format_dfa(regex)))
        if not contents:
            if self.use_counters and (lo > COUNTER_THRESHOLD or (hi or 0) > COUNTER_THRESHOLD):
                return ("call", self._string_rule(lo, hi))
            if lo == 0 and hi is None:
                return ("dfa", any_string_dfa())  # the most common member value, built once
            return N_cat(N_lit('"'), N_rep(ANY_CHAR, lo, hi), N_lit('"'))
        d = compile_ast(contents[0])
        for c in contents[1:]:
            d = product(d, compile_ast(c), "and")
        if lo > 0 or hi is not None:
            d = product(d, compile_ast(N_rep(ANY_CHAR, lo, hi)), "and")
        return N_cat(N_lit('"'), ("dfa", d), N_lit('"'))

    def _string_rule(self, lo: int, hi: int | None) -> int:
        key = (lo, hi)
        rid = self.string_rules.get(key)
        if rid is None:
            if self.char_rule is None:
                self.char_rule = self.b.add_dfa(ANY_CHAR)
            rid = self.b.add_repeat(
                N_lit('"'), self.char_rule, None, N_lit('"'), N_lit('"'), lo, hi
            )
            self.string_rules[key] = rid
        return rid


def _multiple_dfa(k: int):
    """Decimal integers (optional '-') divisible by k: a DFA over remainders."""
    import numpy as np

    from radtrio.fsm.automaton import call_free, minimize

    # states: 0 start, 1 after '-', 2 + r remainder r
    n = 2 + k
    trans = np.full((n, 256), -1, dtype=np.int32)
    trans[0, ord("-")] = 1
    for s in (0, 1):
        for d in range(10):
            trans[s, 48 + d] = 2 + d % k
    for r in range(k):
        for d in range(10):
            trans[2 + r, 48 + d] = 2 + (r * 10 + d) % k
    acc = np.zeros(n, dtype=bool)
    acc[2] = True
    return minimize(call_free(trans, acc))


@functools.lru_cache(maxsize=1)
def _loose_numbers_dfa() -> DFA:
    """JSON numbers other than the forms _const writes for a value: canonical (see
    :func:`_canonical_scalars_dfa`) and integers as ``x.0``."""
    written = r"0|-?[1-9]\d*|-?(?:0|[1-9]\d*)\.\d*[1-9]|(?:0|-?[1-9]\d*)\.0"
    return product(_number_syntax_dfa(jn.NUMBER), _number_syntax_dfa(written), "diff")


@functools.lru_cache(maxsize=1)
def _canonical_scalars_dfa() -> DFA:
    """One serialization per scalar value: null, true, false, strings as json.dumps writes
    them (ensure_ascii=False), integers as digits (no "-0"), other numbers in plain decimal
    without exponent and trailing zeros (see json_validate.canonical_text)."""
    string = N_cat(N_lit('"'), N_rep(ANY_CHAR, 0, None), N_lit('"'))
    number = parse_regex(r"0|-?[1-9]\d*|-?(?:0|[1-9]\d*)\.\d*[1-9]", "ecma")
    return compile_ast(N_alt(N_lit("null"), N_lit("true"), N_lit("false"), number, string))


@functools.lru_cache(maxsize=1)
def any_string_dfa() -> DFA:
    """Any JSON string: an object key, or a string value without constraints."""
    return compile_ast(N_cat(N_lit('"'), N_rep(ANY_CHAR, 0, None), N_lit('"')))
