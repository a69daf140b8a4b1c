"""radtrio: a fast LLM serving engine with RadixAttention, structured generation and Trio actors."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from radtrio.engine import AsyncEngine as AsyncEngine
    from radtrio.engine import Engine as Engine
    from radtrio.types import Constraint as Constraint
    from radtrio.types import SamplingParams as SamplingParams

_LAZY = {
    "Engine": ("radtrio.engine", "Engine"),
    "AsyncEngine": ("radtrio.engine", "AsyncEngine"),
    "SamplingParams": ("radtrio.types", "SamplingParams"),
    "Constraint": ("radtrio.types", "Constraint"),
    "Backend": ("radtrio.lang", "Backend"),
    "ChatTemplateError": ("radtrio.lang", "ChatTemplateError"),
    "EngineBackend": ("radtrio.lang", "EngineBackend"),
    "ForkGroup": ("radtrio.lang", "ForkGroup"),
    "Program": ("radtrio.lang", "Program"),
    "ProgramState": ("radtrio.lang", "ProgramState"),
    "RemoteBackend": ("radtrio.lang", "RemoteBackend"),
    "SelectResult": ("radtrio.lang", "SelectResult"),
    "assistant": ("radtrio.lang", "assistant"),
    "connect": ("radtrio.lang", "connect"),
    "function": ("radtrio.lang", "function"),
    "gen": ("radtrio.lang", "gen"),
    "get_default_backend": ("radtrio.lang", "get_default_backend"),
    "select": ("radtrio.lang", "select"),
    "set_default_backend": ("radtrio.lang", "set_default_backend"),
    "system": ("radtrio.lang", "system"),
    "user": ("radtrio.lang", "user"),
}


__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    """Import heavy parts (torch, transformers) only when they are used."""
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'radtrio' has no attribute {name!r}")
