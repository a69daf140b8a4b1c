"""Reference structure of a JSON Schema document, for :mod:`radtrio.fsm.json_schema`.

- :func:`cyclic_targets`: the ``$ref`` targets that can reach themselves through ``$ref``s (a
  recursive definition). The compiler merges such a target with sibling keywords as a rule of
  its own (see ``SchemaCompiler._merge_ref``) instead of unrolling it, which would not end.
- :func:`absolute_refs`: the document with every ``$ref`` rewritten to a JSON pointer from the
  root, resolved (RFC 3986) against the base URI that the enclosing ``$id`` (draft 6 and
  later) or ``id`` (draft 4) keywords establish, plain-name fragments and ``$anchor`` included.
- :func:`hide_ref_siblings`: drafts 3 to 7 ignore the keywords beside a ``$ref``; the document
  with those keywords hidden from everything but JSON pointers (:func:`pointer_step`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urldefrag, urljoin

# keywords whose values are data, not subschemas: never searched for $ref or $id
DATA_KEYWORDS = ("enum", "const", "examples", "default", "example")
# where a schema keeps definitions: compiled only when a $ref points into them
DEFINITION_KEYWORDS = ("definitions", "$defs")


def _refs_in(node: Any, ptr: str, out: list[tuple[str, str]]) -> None:
    """(``$ref`` value, pointer of the schema holding it) under ``node``, not descending into
    definitions (those are reached through their own references)."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            out.append((ref, ptr))
        for k, v in node.items():
            if k in DATA_KEYWORDS or k in DEFINITION_KEYWORDS:
                continue
            _refs_in(v, f"{ptr}/{_escape(k)}", out)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            _refs_in(v, f"{ptr}/{i}", out)


def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def cyclic_targets(root: Any, resolve: Callable[[str, str], tuple[Any, str]]) -> set[str]:
    """Pointers of the ``$ref`` targets from which a chain of ``$ref``s leads back to the same
    target (an over-approximation: every ``$ref`` under a target counts, whether or not an
    instance can reach it). ``resolve(ref, ptr)`` gives ``(node, pointer)`` or raises."""
    edges: dict[str, set[str]] = {}
    nodes: dict[str, Any] = {}
    todo: list[tuple[str, Any]] = [("#", root)]
    while todo:
        ptr, node = todo.pop()
        if ptr in edges:
            continue
        found: list[tuple[str, str]] = []
        _refs_in(node, ptr, found)
        out = edges[ptr] = set()
        for ref, at in found:
            try:
                target, tptr = resolve(ref, at)
            except Exception:  # unresolvable: the compiler refuses it where it is compiled
                continue
            out.add(tptr)
            if tptr not in edges:
                nodes[tptr] = target
                todo.append((tptr, target))
    # a target is cyclic when it reaches itself: strongly connected components (Tarjan)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on: set[str] = set()
    stack: list[str] = []
    cyclic: set[str] = set()
    counter = 0
    for start in edges:
        if start in index:
            continue
        work = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on.add(start)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in edges:
                    continue
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(edges[w]))))
                elif w in on:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                u = work[-1][0]
                low[u] = min(low[u], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1 or v in edges[v]:
                    cyclic.update(comp)
    return cyclic


def id_keyword(root: Any) -> str:
    """``id`` for draft 3/4 documents (by ``$schema``), else ``$id``."""
    meta = root.get("$schema") if isinstance(root, dict) else None
    if isinstance(meta, str) and ("draft-03" in meta or "draft-04" in meta):
        return "id"
    return "$id"


def ref_ignores_siblings(root: Any) -> bool:
    """Drafts 3 to 7: a schema with ``$ref`` ignores its other keywords, ``$id`` included."""
    meta = root.get("$schema") if isinstance(root, dict) else None
    return isinstance(meta, str) and any(f"draft-0{n}" in meta for n in range(3, 8))


class RefOnly(dict):
    """A draft 3-7 schema with ``$ref`` as its keywords count: ``$ref`` (and ``$schema``,
    which says the draft). The keywords beside them are ignored where the schema applies,
    yet a JSON pointer can still lead through them (``{"$ref": "#/definitions/a",
    "definitions": {...}}``): they are kept in ``hidden`` (see :func:`pointer_step`)."""

    __slots__ = ("hidden",)

    def __init__(self, shown: dict, hidden: dict) -> None:
        super().__init__(shown)
        self.hidden = hidden


def hide_ref_siblings(node: Any) -> Any:
    """The document with every schema that has a ``$ref`` and other keywords made a
    :class:`RefOnly`, for drafts 3 to 7 (see :func:`ref_ignores_siblings`). Parts without
    such a schema are shared with ``node``, not copied."""
    if isinstance(node, list):
        out: Any = None
        for i, v in enumerate(node):
            if isinstance(v, (dict, list)):
                h = hide_ref_siblings(v)
                if h is not v:
                    out = list(node) if out is None else out
                    out[i] = h
        return node if out is None else out
    if not isinstance(node, dict) or isinstance(node, RefOnly):
        return node
    out = None
    for k, v in node.items():
        if k not in DATA_KEYWORDS and isinstance(v, (dict, list)):
            h = hide_ref_siblings(v)
            if h is not v:
                out = dict(node) if out is None else out
                out[k] = h
    out = node if out is None else out
    if isinstance(out.get("$ref"), str) and any(k not in _REF_SHOWN for k in out):
        shown = {k: out[k] for k in _REF_SHOWN if k in out}
        return RefOnly(shown, {k: v for k, v in out.items() if k not in shown})
    return out


_REF_SHOWN = ("$ref", "$schema")


def pointer_step(node: Any, part: str) -> tuple[bool, Any]:
    """One step of a JSON pointer (``part`` unescaped): (found, the value there). The hidden
    keywords of a :class:`RefOnly` are found too."""
    if isinstance(node, dict):
        if part in node:
            return True, node[part]
        if isinstance(node, RefOnly) and part in node.hidden:
            return True, node.hidden[part]
    elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
        return True, node[int(part)]
    return False, None


def needs_base_uris(root: Any) -> bool:
    """Whether some ``$ref`` may depend on a base URI: a schema below the root has an id, a
    schema has ``$anchor`` or a plain-name id, or a ``$ref`` is not a plain ``#/`` pointer."""
    key = id_keyword(root)
    todo = [(root, True)]
    while todo:
        node, top = todo.pop()
        if isinstance(node, dict):
            v = node.get(key)
            if isinstance(v, str) and (not top or "#" in v.rstrip("#")):
                return True
            if isinstance(node.get("$anchor"), str):
                return True
            ref = node.get("$ref")
            if isinstance(ref, str) and ref != "#" and not ref.startswith("#/"):
                return True
            todo.extend((v, False) for k, v in node.items() if k not in DATA_KEYWORDS)
        elif isinstance(node, list):
            todo.extend((v, False) for v in node)
    return False


def absolute_refs(root: Any) -> Any:
    """A copy of the document whose ``$ref``s are JSON pointers from its root ("#/..."),
    resolved per RFC 3986 against the base URI of where they stand, and without id or
    ``$anchor`` keywords (they have done their work). A reference that leaves the document
    or names an unknown anchor keeps its text (the compiler refuses it)."""
    key = id_keyword(root)
    ref_only = ref_ignores_siblings(root)
    resources: dict[str, str] = {}
    anchors: dict[tuple[str, str], str] = {}

    def base_of(node: dict, base: str, ptr: str) -> str:
        v = node.get(key)
        if not isinstance(v, str) or (ref_only and "$ref" in node):
            return base
        uri, frag = _split(urljoin(base, v))
        if frag and not frag.startswith("/"):
            anchors.setdefault((uri, frag), ptr)  # draft 4-7 plain-name id "#name"
        if not v.startswith("#"):  # a plain name does not start a resource of its own
            resources.setdefault(uri, ptr)
        return uri

    def index(node: Any, base: str, ptr: str) -> None:
        if isinstance(node, dict):
            base = base_of(node, base, ptr)
            anchor = node.get("$anchor")
            if isinstance(anchor, str):
                anchors.setdefault((base, anchor), ptr)
            for k, v in node.items():
                if k not in DATA_KEYWORDS:
                    index(v, base, f"{ptr}/{_escape(k)}")
        elif isinstance(node, list):
            for i, v in enumerate(node):
                index(v, base, f"{ptr}/{i}")

    def rewrite(node: Any, base: str, ptr: str) -> Any:
        if isinstance(node, list):
            return [rewrite(v, base, f"{ptr}/{i}") for i, v in enumerate(node)]
        if not isinstance(node, dict):
            return node
        base = base_of(node, base, ptr)
        out = {}
        for k, v in node.items():
            if k in DATA_KEYWORDS:
                out[k] = v
            elif k in (key, "$anchor") and isinstance(v, str):
                continue
            elif k == "$ref" and isinstance(v, str):
                out[k] = _pointer(v, base, resources, anchors)
            else:
                out[k] = rewrite(v, base, f"{ptr}/{_escape(k)}")
        return out

    root_base = ""
    resources[root_base] = "#"
    index(root, root_base, "#")
    return rewrite(root, root_base, "#")


def _split(uri: str) -> tuple[str, str]:
    u, frag = urldefrag(uri)
    return u, frag


def _pointer(
    ref: str, base: str, resources: dict[str, str], anchors: dict[tuple[str, str], str]
) -> str:
    uri, frag = _split(urljoin(base, ref))
    start = resources.get(uri)
    if start is None:
        return ref
    if not frag:
        return start
    if frag.startswith("/"):
        return ("#" if start == "#" else start) + frag
    hit = anchors.get((uri, frag))
    return hit if hit is not None else ref
