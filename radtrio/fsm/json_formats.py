"""JSON Schema ``format`` values as regexes (ECMA dialect, matched against the whole string).

Each entry follows its RFC's grammar and is tested against the JSON-Schema-Test-Suite's
``optional/format`` cases. Where the exact language needs more than a small regex, the
regex rejects the doubtful part, so that a constrained generation does not produce an
invalid value: leap seconds only at UTC offsets, no Punycode ("xn--") hostname labels. One
limit is not enforced: a hostname's 253-character total (a DFA counting it has ~100k states).

Formats that JSON Schema does not define are annotations (draft 2020-12: unknown formats
do not constrain), so :func:`format_regex` gives ``None`` for them; the standard formats
radtrio cannot express are in :data:`UNSUPPORTED_FORMATS` and refused by the compiler.
"""

from __future__ import annotations

_DATE = (
    r"(?:\d{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12]\d|3[01])"
    r"|(?:0[469]|11)-(?:0[1-9]|[12]\d|30)"
    r"|02-(?:0[1-9]|1\d|2[0-8]))"
    r"|(?:\d\d(?:0[48]|[2468][048]|[13579][26])|(?:[02468][048]|[13579][26])00)-02-29)"
)
_OFFSET = r"(?:[Zz]|[+-](?:[01]\d|2[0-3]):[0-5]\d)"
# a leap second is 23:59:60 UTC; only the UTC forms are accepted (other offsets would need
# the local time to match the offset, which the regex does not track)
_TIME = (
    r"(?:(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d+)?"
    + _OFFSET
    + r"|23:59:60(?:\.\d+)?(?:[Zz]|[+-]00:00))"
)

_HEX = "[0-9A-Fa-f]"
_IPV4_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_IPV4 = rf"(?:{_IPV4_OCTET}\.){{3}}{_IPV4_OCTET}"
_H16 = f"{_HEX}{{1,4}}"
_LS32 = f"(?:{_H16}:{_H16}|{_IPV4})"
_IPV6 = (
    "(?:"
    + "|".join(
        [
            f"(?:{_H16}:){{6}}{_LS32}",
            f"::(?:{_H16}:){{5}}{_LS32}",
            f"(?:{_H16})?::(?:{_H16}:){{4}}{_LS32}",
            f"(?:(?:{_H16}:){{0,1}}{_H16})?::(?:{_H16}:){{3}}{_LS32}",
            f"(?:(?:{_H16}:){{0,2}}{_H16})?::(?:{_H16}:){{2}}{_LS32}",
            f"(?:(?:{_H16}:){{0,3}}{_H16})?::{_H16}:{_LS32}",
            f"(?:(?:{_H16}:){{0,4}}{_H16})?::{_LS32}",
            f"(?:(?:{_H16}:){{0,5}}{_H16})?::{_H16}",
            f"(?:(?:{_H16}:){{0,6}}{_H16})?::",
        ]
    )
    + ")"
)

# RFC 3986 (URI) and RFC 3987 (IRI: the same with non-ASCII "ucschar" in unreserved)
_UCSCHAR = (
    "\u00a0-\ud7ff\uf900-\ufdcf\ufdf0-\uffef"
    + "".join(f"{chr(p << 16)}-{chr((p << 16) | 0xFFFD)}" for p in range(1, 14))
    + "\U000e1000-\U000efffd"
)
_IPRIVATE = "\ue000-\uf8ff\U000f0000-\U000ffffd\U00100000-\U0010fffd"


def _uri_grammar(iri: bool) -> tuple[str, str]:
    """(absolute, reference) regexes of RFC 3986 URIs, or RFC 3987 IRIs when ``iri``."""
    extra = _UCSCHAR if iri else ""
    unreserved = f"A-Za-z0-9._~{extra}"  # and "-", kept last in each class
    sub_delims = "!$&'()*+,;="
    pct = f"%{_HEX}{{2}}"
    pchar = f"(?:[{unreserved}{sub_delims}:@-]|{pct})"
    pchar_nc = f"(?:[{unreserved}{sub_delims}@-]|{pct})"  # no ':' (first relative segment)
    query_extra = _IPRIVATE if iri else ""
    query = f"(?:{pchar}|[/?{query_extra}])*"
    fragment = f"(?:{pchar}|[/?])*"
    scheme = "[A-Za-z][A-Za-z0-9+.-]*"
    userinfo = f"(?:[{unreserved}{sub_delims}:-]|{pct})*"
    ip_literal = rf"\[(?:{_IPV6}|[vV]{_HEX}+\.[A-Za-z0-9._~{sub_delims}:-]+)\]"
    reg_name = f"(?:[{unreserved}{sub_delims}-]|{pct})*"
    authority = f"(?:{userinfo}@)?(?:{ip_literal}|{reg_name})(?::\\d*)?"
    abempty = f"(?:/{pchar}*)*"
    absolute = f"/(?:{pchar}+(?:/{pchar}*)*)?"
    rootless = f"{pchar}+(?:/{pchar}*)*"
    noscheme = f"{pchar_nc}+(?:/{pchar}*)*"
    tail = f"(?:\\?{query})?(?:#{fragment})?"
    hier = f"(?://{authority}{abempty}|{absolute}|{rootless})?"
    relative = f"(?://{authority}{abempty}|{absolute}|{noscheme})?"
    uri = f"{scheme}:{hier}{tail}"
    return uri, f"(?:{uri}|{relative}{tail})"


_URI, _URI_REFERENCE = _uri_grammar(iri=False)
_IRI, _IRI_REFERENCE = _uri_grammar(iri=True)

# RFC 1123 labels of at most 63 characters, with no "--" in the 3rd and 4th places (RFC 5891:
# reserved for A-labels, whose Punycode the regex cannot check, so none are generated)
_L = "[A-Za-z0-9]"
_D = "[A-Za-z0-9-]"
_LABEL = (
    f"(?:{_L}|{_L}{_L}|{_L}{_D}{_L}|{_L}{_D}(?:{_L}{_L}|-{_L})"  # 1-4 characters
    f"|{_L}{_D}(?:{_L}{_L}|{_L}-|-{_L}){_D}{{0,58}}{_L})"  # 5-63
)
_HOSTNAME = rf"{_LABEL}(?:\.{_LABEL}){{0,8}}"

_ATEXT = "A-Za-z0-9!#$%&'*+/=?^_`{|}~"  # and "-", kept last in each class


def _email(idn: bool) -> str:
    extra = "\u0080-\U0010ffff" if idn else ""
    atom = f"[{_ATEXT}{extra}-]+"
    quoted = f'"(?:[\\x20\\x21\\x23-\\x5b\\x5d-\\x7e{extra}]|\\\\[\\x20-\\x7e])*"'
    local = f"(?:{atom}(?:\\.{atom})*|{quoted})"
    label = f"[A-Za-z0-9{extra}](?:[A-Za-z0-9{extra}-]{{0,61}}[A-Za-z0-9{extra}])?"
    domain = f"(?:(?:{label}\\.)+[A-Za-z{extra}]{{2,}}|\\[{_IPV4}\\]|\\[IPv6:{_IPV6}\\])"
    return f"{local}@{domain}"


# RFC 3339 appendix A
_DURATION = (
    r"P(?:(?:\d+D|\d+M(?:\d+D)?|\d+Y(?:\d+M(?:\d+D)?)?)"
    r"(?:T(?:\d+H(?:\d+M(?:\d+S)?)?|\d+M(?:\d+S)?|\d+S))?"
    r"|T(?:\d+H(?:\d+M(?:\d+S)?)?|\d+M(?:\d+S)?|\d+S)|\d+W)"
)

_JSON_POINTER = "(?:/(?:[^~/]|~[01])*)*"
# draft-bhutton-relative-json-pointer-00: a non-negative integer, an optional index
# manipulation, then "#" or a JSON pointer
_RELATIVE_JSON_POINTER = rf"(?:0|[1-9]\d*)(?:[+-](?:0|[1-9]\d*))?(?:#|{_JSON_POINTER})"

# RFC 6570 level 4
_VARCHAR = f"(?:[A-Za-z0-9_]|%{_HEX}{{2}})"
_VARSPEC = f"{_VARCHAR}(?:\\.?{_VARCHAR})*(?::[1-9]\\d{{0,3}}|\\*)?"
_TEMPLATE_LITERAL = (
    "[\\x21\\x23\\x24\\x26\\x27\\x28-\\x3b\\x3d\\x3f-\\x5b\\x5d\\x5f\\x61-\\x7a\\x7e"
    + _UCSCHAR
    + _IPRIVATE
    + "]"
)
_URI_TEMPLATE = (
    f"(?:{_TEMPLATE_LITERAL}|%{_HEX}{{2}}|\\{{[+#./;?&=,!@|]?{_VARSPEC}(?:,{_VARSPEC})*\\}})*"
)

FORMATS: dict[str, str] = {
    "date": _DATE,
    "time": _TIME,
    "date-time": f"{_DATE}[Tt]{_TIME}",
    "duration": _DURATION,
    "email": _email(idn=False),
    "idn-email": _email(idn=True),
    "hostname": _HOSTNAME,
    "ipv4": _IPV4,
    "ipv6": _IPV6,
    "uri": _URI,
    "uri-reference": _URI_REFERENCE,
    "iri": _IRI,
    "iri-reference": _IRI_REFERENCE,
    "uri-template": _URI_TEMPLATE,
    "uuid": f"{_HEX}{{8}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{12}}",
    "json-pointer": _JSON_POINTER,
    "relative-json-pointer": _RELATIVE_JSON_POINTER,
}

# formats JSON Schema defines that no regular language captures here: "regex" (nested
# groups) and "idn-hostname" (IDNA 2008 tables)
UNSUPPORTED_FORMATS = frozenset({"regex", "idn-hostname"})


def format_regex(name: str) -> str | None:
    """The regex of a known format; None for a format JSON Schema does not define (an
    annotation). Raises KeyError for a standard format radtrio cannot express."""
    if name in UNSUPPORTED_FORMATS:
        raise KeyError(name)
    return FORMATS.get(name)
