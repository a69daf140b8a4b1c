"""Regex text -> AST over Unicode code points.

The AST is made of small tuples (see the ``N*`` constructors) so the JSON Schema compiler can
build the same trees directly:

- ``("set", ranges)``: one code point from sorted, disjoint, inclusive ranges
- ``("bytes", ranges)``: one raw byte from ranges (internal use, never from regex text)
- ``("cat", [nodes])``, ``("alt", [nodes])``
- ``("rep", node, min, max)`` with ``max=None`` for unbounded
- ``("call", rule_id)``: a call of another grammar rule (JSON Schema compiler only)

Two dialects: ``python`` (what :func:`re.fullmatch` does on ``str``: Unicode ``\\d \\w \\s``)
and ``ecma`` (JSON Schema ``pattern``: ASCII ``\\d \\w``, search semantics handled by the caller).
"""

from __future__ import annotations

import functools
import sys
import unicodedata

from radtrio.types import RequestError

MAX_CP = 0x10FFFF
SURROGATES = (0xD800, 0xDFFF)
MAX_REPEAT = 1000

EMPTY = ("cat", [])


class RegexError(RequestError):
    """A regex the compiler does not accept, with the position of the problem."""


def N_set(ranges):
    return ("set", normalize(ranges))


class LitChars(list):
    """The children of an ASCII :func:`N_lit` cat: its one-code-point sets, as a list that
    also holds the text's bytes (``data``), so that the NFA builder and the AST walks take
    the whole literal in one step instead of a child at a time. It cannot be changed in
    place (``data`` would go stale); slices and sums are plain lists."""

    __slots__ = ("data",)

    def _frozen(self, *args, **kwargs):
        raise TypeError("the children of a literal cannot be changed in place")

    append = extend = insert = remove = pop = clear = sort = reverse = _frozen
    __setitem__ = __delitem__ = __iadd__ = __imul__ = _frozen

    def __reduce__(self):  # pickling a list subclass would append to it
        return (_ascii_lit_chars, (self.data.decode(),))


def N_lit(text: str):
    """``text`` as a cat of one-code-point sets. An ASCII text's children are a
    :class:`LitChars`, and the node of a short one is shared between calls (it cannot be
    changed); another text's cat is a fresh list."""
    if not text.isascii():
        return ("cat", [("set", [(cp, cp)]) for cp in map(ord, text)])
    if len(text) > _LIT_CACHED_LEN:
        return _ascii_lit(text)
    return _ascii_lit_cached(text)


def _ascii_lit_chars(text: str) -> LitChars:
    chars = LitChars(("set", [(cp, cp)]) for cp in map(ord, text))
    chars.data = text.encode()
    return chars


def _ascii_lit(text: str):
    return ("cat", _ascii_lit_chars(text))


_LIT_CACHED_LEN = 64  # longer literals (enum strings) are rarely asked for twice


# the nodes of short ASCII texts (keys and punctuation recur)
_ascii_lit_cached = functools.lru_cache(maxsize=4096)(_ascii_lit)


def N_cat(*nodes):
    return ("cat", list(nodes))


def N_alt(*nodes):
    return ("alt", list(nodes))


def N_rep(node, lo: int, hi: int | None):
    return ("rep", node, lo, hi)


def normalize(ranges) -> list[tuple[int, int]]:
    """Sort and merge inclusive ranges; drop surrogates (UTF-8 cannot encode them)."""
    out: list[tuple[int, int]] = []
    for lo, hi in sorted(ranges):
        if lo > hi:
            continue
        if out and lo <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    cut: list[tuple[int, int]] = []
    for lo, hi in out:
        if hi < SURROGATES[0] or lo > SURROGATES[1]:
            cut.append((lo, hi))
            continue
        if lo < SURROGATES[0]:
            cut.append((lo, SURROGATES[0] - 1))
        if hi > SURROGATES[1]:
            cut.append((SURROGATES[1] + 1, hi))
    return cut


def negate(ranges) -> list[tuple[int, int]]:
    out = []
    prev = 0
    for lo, hi in normalize(ranges):
        if lo > prev:
            out.append((prev, lo - 1))
        prev = hi + 1
    if prev <= MAX_CP:
        out.append((prev, MAX_CP))
    return normalize(out)


def _runs(flags) -> list[tuple[int, int]]:
    out = []
    start = None
    for cp, f in enumerate(flags):
        if f and start is None:
            start = cp
        elif not f and start is not None:
            out.append((start, cp - 1))
            start = None
    if start is not None:
        out.append((start, len(flags) - 1))
    return out


@functools.lru_cache(maxsize=1)
def _unicode_classes() -> dict[str, list[tuple[int, int]]]:
    """Python's str-pattern \\d, \\w, \\s as code point ranges (computed once, ~1 s)."""
    digit, word, space = [], [], []
    for cp in range(sys.maxunicode + 1):
        c = chr(cp)
        digit.append(unicodedata.category(c) == "Nd")
        word.append(c.isalnum() or c == "_")
        space.append(c.isspace())
    return {"d": _runs(digit), "w": _runs(word), "s": _runs(space)}


ASCII_CLASSES = {
    "d": [(0x30, 0x39)],
    "w": [(0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A)],
    # ECMA-262 WhiteSpace + LineTerminator
    "s": normalize(
        [
            (9, 13),
            (0x20, 0x20),
            (0xA0, 0xA0),
            (0x1680, 0x1680),
            (0x2000, 0x200A),
            (0x2028, 0x2029),
            (0x202F, 0x202F),
            (0x205F, 0x205F),
            (0x3000, 0x3000),
            (0xFEFF, 0xFEFF),
        ]
    ),
}


def class_ranges(letter: str, dialect: str) -> list[tuple[int, int]]:
    base = letter.lower()
    table = _unicode_classes() if dialect == "python" else ASCII_CLASSES
    ranges = table[base]
    return negate(ranges) if letter.isupper() else list(ranges)


SIMPLE_ESCAPES = {"n": 10, "t": 9, "r": 13, "f": 12, "v": 11, "a": 7, "0": 0}


class _Parser:
    def __init__(self, text: str, dialect: str) -> None:
        self.s = text
        self.i = 0
        self.dialect = dialect
        self.groups = 0

    def error(self, msg: str) -> RegexError:
        return RegexError(f"regex {self.s!r}: {msg} at position {self.i}")

    def peek(self) -> str | None:
        return self.s[self.i] if self.i < len(self.s) else None

    def take(self) -> str:
        if self.i >= len(self.s):
            raise self.error("unexpected end of pattern")
        c = self.s[self.i]
        self.i += 1
        return c

    def parse(self):
        node = self.alternation(top=True)
        if self.i != len(self.s):
            raise self.error(f"unbalanced {self.s[self.i]!r}")
        return node

    def alternation(self, top: bool):
        branches = [self.sequence(top)]
        while self.peek() == "|":
            self.i += 1
            branches.append(self.sequence(top))
        return branches[0] if len(branches) == 1 else ("alt", branches)

    def sequence(self, top: bool):
        items = []
        while True:
            c = self.peek()
            if c is None or c == "|" or c == ")":
                break
            if c == "^" or (c == "\\" and self.s[self.i : self.i + 2] == "\\A"):
                # Only meaningful at the start of the whole pattern (fullmatch semantics).
                if items or not top or not self._at_branch_start():
                    raise self.error("anchor '^' is only supported at the start of the pattern")
                self.i += 1 if c == "^" else 2
                continue
            if c == "$" or (c == "\\" and self.s[self.i : self.i + 2] in ("\\Z", "\\z")):
                self.i += 1 if c == "$" else 2
                nxt = self.peek()
                if not top or (nxt is not None and nxt != "|"):
                    raise self.error("anchor '$' is only supported at the end of the pattern")
                continue
            atom = self.atom()
            items.append(self.quantified(atom))
        return items[0] if len(items) == 1 else ("cat", items)

    def _at_branch_start(self) -> bool:
        return self.i == 0 or self.s[self.i - 1] == "|"

    def quantified(self, atom):
        while True:
            c = self.peek()
            if c == "*":
                self.i += 1
                atom = ("rep", atom, 0, None)
            elif c == "+":
                self.i += 1
                atom = ("rep", atom, 1, None)
            elif c == "?":
                self.i += 1
                atom = ("rep", atom, 0, 1)
            elif c == "{" and self._brace_quantifier(peek=True) is not None:
                lo, hi = self._brace_quantifier()
                atom = ("rep", atom, lo, hi)
            else:
                return atom
            # lazy and possessive forms are treated as greedy: same language
            if self.peek() in ("?", "+"):
                self.i += 1
            if self.peek() in ("*", "+", "?") or (
                self.peek() == "{" and self._brace_quantifier(peek=True)
            ):
                raise self.error("multiple repeat")

    def _brace_quantifier(self, peek: bool = False):
        j = self.s.find("}", self.i)
        if j < 0:
            return None
        body = self.s[self.i + 1 : j]
        parts = body.split(",")
        if (
            len(parts) > 2
            or not all(p.isdigit() or p == "" for p in parts)
            or body == ""
            or body == ","
        ):
            return None
        if not parts[0] and len(parts) == 1:
            return None
        lo = int(parts[0]) if parts[0] else 0
        hi = lo if len(parts) == 1 else (int(parts[1]) if parts[1] else None)
        if peek:
            return (lo, hi)
        if hi is not None and hi < lo:
            raise self.error("min repeat greater than max repeat")
        if lo > MAX_REPEAT or (hi is not None and hi > MAX_REPEAT):
            raise self.error(f"repetition bound above {MAX_REPEAT}")
        self.i = j + 1
        return (lo, hi)

    def atom(self):
        c = self.take()
        if c == "(":
            return self.group()
        if c == "[":
            return ("set", normalize(self.char_class()))
        if c == ".":
            if self.dialect == "python":
                return ("set", negate([(10, 10)]))
            return ("set", negate([(10, 10), (13, 13), (0x2028, 0x2029)]))
        if c == "\\":
            return self.escape(in_class=False)
        if c in "*+?":
            raise self.error("nothing to repeat")
        return ("set", [(ord(c), ord(c))])

    def group(self):
        if self.peek() == "?":
            self.i += 1
            c = self.take()
            if c == ":":
                pass
            elif c == "P" and self.peek() == "<":
                j = self.s.find(">", self.i)
                if j < 0:
                    raise self.error("unterminated group name")
                self.i = j + 1
            elif c == "<" and self.peek() not in ("=", "!"):
                j = self.s.find(">", self.i)
                if j < 0:
                    raise self.error("unterminated group name")
                self.i = j + 1
            else:
                raise self.error(
                    f"unsupported group construct '(?{c}' (lookaround, flags, backreference)"
                )
        self.groups += 1
        node = self.alternation(top=False)
        if self.peek() != ")":
            raise self.error("missing ')'")
        self.i += 1
        return node

    def escape(self, in_class: bool):
        c = self.take()
        if c in "dDwWsS":
            return ("set", class_ranges(c, self.dialect))
        if c in SIMPLE_ESCAPES and not (
            c == "0" and self.peek() is not None and self.peek().isdigit()
        ):
            if c == "a" and self.dialect == "ecma":
                raise self.error("unsupported escape \\a")
            return ("set", [(SIMPLE_ESCAPES[c], SIMPLE_ESCAPES[c])])
        if c == "x":
            return self._hex(2)
        if c == "u" and self.s[self.i : self.i + 1] == "{" and self.dialect == "ecma":
            j = self.s.find("}", self.i)
            cp = int(self.s[self.i + 1 : j], 16)
            self.i = j + 1
            return ("set", [(cp, cp)])
        if c == "u":
            return self._hex(4)
        if c == "U" and self.dialect == "python":
            return self._hex(8)
        if c == "b" and in_class:
            return ("set", [(8, 8)])
        if c.isalnum():
            raise self.error(
                f"unsupported escape \\{c} (word boundaries, backreferences, \\p classes)"
            )
        return ("set", [(ord(c), ord(c))])

    def _hex(self, n: int):
        digits = self.s[self.i : self.i + n]
        if len(digits) != n or any(d not in "0123456789abcdefABCDEF" for d in digits):
            raise self.error("bad hex escape")
        self.i += n
        cp = int(digits, 16)
        if cp > MAX_CP:
            raise self.error("code point out of range")
        return ("set", [(cp, cp)])

    def char_class(self) -> list[tuple[int, int]]:
        neg = False
        if self.peek() == "^":
            neg = True
            self.i += 1
        ranges: list[tuple[int, int]] = []
        first = True
        while True:
            c = self.peek()
            if c is None:
                raise self.error("unterminated character set")
            if c == "]" and not (first and self.dialect == "python"):
                self.i += 1
                break
            if c == "[" and self.s[self.i : self.i + 2] == "[:":
                raise self.error("POSIX classes are not supported")
            first = False
            lo_set = self._class_atom()
            if (
                self.peek() == "-"
                and self.i + 1 < len(self.s)
                and self.s[self.i + 1] != "]"
                and lo_set is not None
                and len(lo_set) == 1
                and lo_set[0][0] == lo_set[0][1]
            ):
                self.i += 1
                hi_set = self._class_atom()
                if hi_set is None or len(hi_set) != 1 or hi_set[0][0] != hi_set[0][1]:
                    raise self.error("bad character range")
                lo, hi = lo_set[0][0], hi_set[0][0]
                if hi < lo:
                    raise self.error("bad character range")
                ranges.append((lo, hi))
            else:
                ranges.extend(lo_set)
        return negate(ranges) if neg else normalize(ranges)

    def _class_atom(self):
        c = self.take()
        if c == "\\":
            node = self.escape(in_class=True)
            return node[1]
        return [(ord(c), ord(c))]


def parse_regex(text: str, dialect: str = "python"):
    """Parse ``text`` (matched as a whole: ``re.fullmatch``) into an AST."""
    if dialect not in ("python", "ecma"):
        raise ValueError(dialect)
    return _Parser(text, dialect).parse()


def parse_pattern_search(text: str):
    """JSON Schema ``pattern``: ECMA dialect, *search* semantics (unanchored unless ``^``/``$``)."""
    p = _Parser(text, "ecma")
    any_char = ("rep", ("set", negate([])), 0, None)
    branches = []
    # split the top-level alternation ourselves so each branch keeps its own anchors
    while True:
        start = p.i
        anchored_start = p.peek() == "^"
        seq = p.sequence(top=True)
        end_text = p.s[start : p.i]
        anchored_end = end_text.endswith("$") and not end_text.endswith("\\$")
        parts = [seq]
        if not anchored_start:
            parts.insert(0, any_char)
        if not anchored_end:
            parts.append(any_char)
        branches.append(("cat", parts))
        if p.peek() == "|":
            p.i += 1
            continue
        break
    if p.i != len(p.s):
        raise p.error(f"unbalanced {p.s[p.i]!r}")
    return branches[0] if len(branches) == 1 else ("alt", branches)
