"""``@function`` programs: run one (``run``), many in parallel (``run_batch``), or streamed."""

from __future__ import annotations

import functools
import inspect
import sys
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from radtrio.lang.backend import Backend, as_backend, get_default_backend
from radtrio.lang.ir import SAMPLING_FIELDS
from radtrio.lang.state import ProgramState


def _sampling_defaults(
    max_new_tokens: int | None, sampling: dict[str, Any], where: str
) -> dict[str, Any]:
    unknown = set(sampling) - set(SAMPLING_FIELDS)
    if unknown:
        raise TypeError(f"{where}: unknown sampling keyword(s): {', '.join(sorted(unknown))}")
    out = {k: v for k, v in sampling.items() if v is not None}
    if max_new_tokens is not None:
        out["max_new_tokens"] = max_new_tokens
    if isinstance(out.get("stop"), str):
        out["stop"] = [out["stop"]]
    return out


class Program:
    """A function ``f(s, **args)`` made runnable against a backend."""

    def __init__(self, func: Callable[..., Any]) -> None:
        self.func = func
        self.name = getattr(func, "__name__", "program")
        self.signature = inspect.signature(func)
        params = list(self.signature.parameters.values())
        if not params or params[0].kind not in (
            inspect.Parameter.POSITIONAL_ONLY,
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
        ):
            raise TypeError(
                f"@function {self.name}: the first parameter must be the program state `s`"
            )
        functools.update_wrapper(self, func)

    def __call__(self, s: ProgramState, *args: Any, **kwargs: Any) -> Any:
        """Call inside another program: ``sub(s, ...)`` appends to the caller's state."""
        return self.func(s, *args, **kwargs)

    def _bind(self, args: tuple, kwargs: dict) -> inspect.BoundArguments:
        try:
            return self.signature.bind(None, *args, **kwargs)
        except TypeError as exc:
            raise TypeError(f"{self.name}: {exc}") from None

    def _state(
        self, backend: Backend | None, defaults: dict[str, Any], stream: bool
    ) -> ProgramState:
        b = as_backend(backend) if backend is not None else get_default_backend()
        return ProgramState(b, defaults, stream=stream, name=self.name)

    def _execute(self, state: ProgramState, bound: inspect.BoundArguments) -> None:
        args = list(bound.args)
        args[0] = state
        error: BaseException | None = None
        try:
            state.ret_value = self.func(*args, **bound.kwargs)
            state.join()
        except BaseException as exc:
            error = exc
        state._finish(error)
        if error is not None:
            raise error

    def run(
        self,
        *args: Any,
        backend: Any = None,
        stream: bool = False,
        max_new_tokens: int | None = None,
        **kwargs: Any,
    ) -> ProgramState:
        """Run the program and return its state (``state["x"]``, ``state.text()``,
        ``state.messages()``, ``state.ret_value``). Program arguments go by position or
        keyword; sampling keywords (temperature, stop, max_new_tokens, ...) set the defaults
        of its gens. ``stream=True`` returns at once: iterate the state for text as it is
        generated."""
        sampling = {k: kwargs.pop(k) for k in list(kwargs) if k in SAMPLING_FIELDS}
        defaults = _sampling_defaults(max_new_tokens, sampling, f"{self.name}.run")
        bound = self._bind(args, kwargs)
        state = self._state(backend, defaults, stream)
        if not stream:
            self._execute(state, bound)
            return state

        def body() -> None:
            try:
                self._execute(state, bound)
            except BaseException:  # noqa: BLE001 - kept in state.error, raised by the reader
                pass

        threading.Thread(target=body, name=f"radtrio-lang-run-{self.name}", daemon=True).start()
        return state

    def run_batch(
        self,
        batch: Iterable[dict[str, Any]],
        *,
        backend: Any = None,
        progress_bar: bool = False,
        max_workers: int | None = None,
        raise_errors: bool = True,
        max_new_tokens: int | None = None,
        **sampling: Any,
    ) -> list[ProgramState]:
        """Run the program once per argument dict, in parallel threads (so the engine batches
        their requests); states in input order. A failing program raises its error after the
        others finish (``raise_errors=False``: the error is kept in ``state.error``)."""
        defaults = _sampling_defaults(max_new_tokens, sampling, f"{self.name}.run_batch")
        items = list(batch)
        bounds = []
        for i, kw in enumerate(items):
            if not isinstance(kw, dict):
                raise TypeError(f"{self.name}.run_batch: item {i} is {type(kw).__name__}, not dict")
            bounds.append(self._bind((), kw))
        b = as_backend(backend) if backend is not None else get_default_backend()
        states = [ProgramState(b, defaults, name=f"{self.name}[{i}]") for i in range(len(items))]
        if not items:
            return []
        workers = max_workers if max_workers is not None else min(64, len(items))
        if workers < 1:
            raise ValueError(f"{self.name}.run_batch: max_workers={workers} must be >= 1")

        def one(i: int) -> None:
            try:
                self._execute(states[i], bounds[i])
            except BaseException:  # noqa: BLE001 - kept in state.error
                pass

        bar = _progress(len(items), self.name) if progress_bar else None
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(one, i) for i in range(len(items))]
            for f in futures:
                f.result()
                if bar is not None:
                    bar.update(1)
        if bar is not None:
            bar.close()
        if raise_errors:
            for s in states:
                if s.error is not None:
                    raise s.error
        return states


def _progress(total: int, name: str) -> Any:
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover - tqdm is a dependency
        return None
    return tqdm(total=total, desc=name, file=sys.stderr)


def function(func: Callable[..., Any]) -> Program:
    """Decorator: ``@rt.function def prog(s, question): s += ...``."""
    return Program(func)
