"""Key order of anyOf/oneOf branches, for :mod:`radtrio.fsm.json_schema`.

The emitted order of an object's keys (the contract in :mod:`radtrio.fsm.conformance`) is
the ``properties`` of the schema and of *all* its allOf/anyOf/oneOf/$ref parts, then the
``required`` names. A branch of anyOf compiled on its own would list only its own keys in
its own order; :func:`branch_orders` gives, per branch, the order it must use instead when
the two differ (keys another branch lists first come first), else None.
"""

from __future__ import annotations

from typing import Any


def branch_orders(root: Any, schema: Any, branches: list[Any]) -> list[list[str] | None]:
    from radtrio.fsm.conformance import _Orderer  # conformance imports json_schema

    orderer = _Orderer(root)
    try:
        union = orderer.names([schema])
    except RecursionError:
        return [None] * len(branches)
    pos = {k: i for i, k in enumerate(union)}
    out: list[list[str] | None] = []
    for b in branches:
        try:
            own = orderer.names([b])
        except RecursionError:
            own = []
        placed = [k for k in own if k in pos]
        out.append(union if placed != sorted(placed, key=pos.__getitem__) else None)
    return out


def object_order(root: Any, schema: Any) -> list[str] | None:
    """The key order ``conformance.emit`` gives an object under ``schema`` (its properties and
    those of its allOf/anyOf/oneOf/$ref parts, then required names); None if it cannot tell.
    Schemas the compiler synthesizes (the presence variants of dependentSchemas) carry it as
    ``_order`` so that each variant lists its keys the way the original schema would."""
    from radtrio.fsm.conformance import _Orderer

    try:
        return _Orderer(root).names([schema]) or None
    except RecursionError:
        return None
