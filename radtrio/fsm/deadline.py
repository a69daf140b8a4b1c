"""The compile deadline: :func:`time_limit` sets it for a block, :func:`_check_deadline` raises
:class:`AutomatonTooLarge` once it has passed (the error of a construction past a size bound
too)."""

from __future__ import annotations

import contextlib
import contextvars
import time

from radtrio.types import RequestError


class AutomatonTooLarge(RequestError):
    pass


_DEADLINE: contextvars.ContextVar[float] = contextvars.ContextVar("fsm_deadline", default=0.0)


@contextlib.contextmanager
def time_limit(seconds: float | None):
    """Make automaton constructions inside the block raise AutomatonTooLarge after ``seconds``."""
    token = _DEADLINE.set(time.perf_counter() + seconds if seconds else 0.0)
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def _check_deadline() -> None:
    d = _DEADLINE.get()
    if d and time.perf_counter() > d:
        raise AutomatonTooLarge("constraint too large: compile time limit reached")
