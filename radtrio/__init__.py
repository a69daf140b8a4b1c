"""radtrio: a fast LLM serving engine with RadixAttention, structured generation and Trio actors."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from radtrio.engine import AsyncEngine, Engine
    from radtrio.types import Constraint, SamplingParams

_LAZY = {
    "Engine": ("radtrio.engine", "Engine"),
    "AsyncEngine": ("radtrio.engine", "AsyncEngine"),
    "SamplingParams": ("radtrio.types", "SamplingParams"),
    "Constraint": ("radtrio.types", "Constraint"),
}


def __getattr__(name: str) -> Any:
    """Import heavy parts (torch, transformers) only when they are used."""
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'radtrio' has no attribute {name!r}")
