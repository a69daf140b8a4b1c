"""Program state: the transcript, the variables, and a worker that runs the appended
expressions in order.

``s += expr`` queues ``expr`` and returns at once; the state's worker thread renders text and
roles and sends generation / scoring requests, one expression after the other. Reading
``s["x"]`` (or ``s.text()``) waits for the worker. Forks get their own workers, so branches
run concurrently and the engine batches their requests.

A failure in the worker (say the engine refuses a request) is kept and raised in the
program's thread at its next use of the state, and by ``run``.
"""

from __future__ import annotations

import collections
import os
import queue
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from radtrio.lang.backend import Backend
from radtrio.lang.ir import (
    ROLES,
    Expr,
    Gen,
    Role,
    RoleBegin,
    RoleEnd,
    Select,
    Seq,
    Text,
    as_expr,
)
from radtrio.types import GenerateRequest, OutputFinished

_END = object()  # closes a text stream
_HERE = os.path.dirname(os.path.abspath(__file__))


def _caller() -> str:
    """file:line (function) of the program code that appended an expression."""
    frame = sys._getframe(2)
    while frame is not None and (
        os.path.dirname(frame.f_code.co_filename) == _HERE
        or frame.f_code.co_filename.endswith("contextlib.py")
    ):
        frame = frame.f_back
    if frame is None:
        return "?"
    return f"{frame.f_code.co_filename}:{frame.f_lineno} ({frame.f_code.co_name})"


@dataclass
class SelectResult:
    """What ``select`` saw: the choices and their mean token log-probabilities."""

    choices: list[str]
    scores: list[float]
    chosen: str


class ProgramState:
    """The ``s`` of a program: ``s += ...``, ``s["name"]``, ``s.fork(n)``, roles, text."""

    def __init__(
        self,
        backend: Backend,
        defaults: dict[str, Any] | None = None,
        *,
        stream: bool = False,
        name: str = "program",
        parent: ProgramState | None = None,
    ) -> None:
        self.backend = backend
        self.defaults = dict(defaults or {})
        self.name = name
        self.parent = parent
        self.ret_value: Any = None
        self.error: BaseException | None = None
        self._text: list[str] = []
        self._len = 0
        self._vars: dict[str, Any] = {}
        self._meta: dict[str, Any] = {}
        self._messages: list[dict[str, str]] = []
        self._role: tuple[str, int, str] | None = None  # (role, content start, suffix)
        self._forks: list[ProgramState] = []
        self._cond = threading.Condition()
        self._queue: collections.deque[tuple[Expr, str]] = collections.deque()
        self._running = False
        self._cancelled = False
        self._stream: queue.SimpleQueue[Any] | None = queue.SimpleQueue() if stream else None
        self._finished = threading.Event()  # set by run when the whole program is over

    # ------------------------------------------------------------ appending
    def __iadd__(self, value: object) -> ProgramState:
        self.append(value)
        return self

    def append(self, value: object) -> None:
        expr = as_expr(value)
        origin = _caller()
        with self._cond:
            self._raise_error()
            if self._cancelled:
                raise RuntimeError(f"{self.name}: this program state is closed")
            self._queue.append((expr, origin))
            if not self._running:
                self._running = True
                threading.Thread(
                    target=self._work, name=f"radtrio-lang-{self.name}", daemon=True
                ).start()

    def _work(self) -> None:
        while True:
            with self._cond:
                if not self._queue or self._cancelled or self.error is not None:
                    self._queue.clear()
                    self._running = False
                    self._cond.notify_all()
                    return
                expr, origin = self._queue.popleft()
            try:
                self._execute(expr)
            except BaseException as exc:  # noqa: BLE001 - raised in the program's thread
                if isinstance(exc, Exception):
                    exc.add_note(f"in program state {self.name!r}: appended at {origin}")
                with self._cond:
                    self.error = exc
                    self._queue.clear()
                    self._running = False
                    self._cond.notify_all()
                return

    # ------------------------------------------------------------ executing
    def _execute(self, expr: Expr) -> None:
        if isinstance(expr, Text):
            self._emit(expr.value)
        elif isinstance(expr, Seq):
            for item in expr.items:
                self._execute(item)
        elif isinstance(expr, Role):
            self._begin_role(expr.role)
            self._execute(expr.content)
            self._end_role(expr.role)
        elif isinstance(expr, RoleBegin):
            self._begin_role(expr.role)
        elif isinstance(expr, RoleEnd):
            self._end_role(expr.role)
        elif isinstance(expr, Gen):
            self._gen(expr)
        elif isinstance(expr, Select):
            self._select(expr)
        else:
            raise TypeError(f"cannot run {type(expr).__name__} in a program")

    def _emit(self, text: str, var: str | None = None) -> None:
        if not text:
            return
        with self._cond:
            self._text.append(text)
            self._len += len(text)
        if self._stream is not None:
            self._stream.put((var, text))

    def _current_text(self) -> str:
        with self._cond:
            if len(self._text) > 1:
                self._text = ["".join(self._text)]
            return self._text[0] if self._text else ""

    def _begin_role(self, role: str) -> None:
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}: must be one of {', '.join(ROLES)}")
        if self._role is not None:
            raise ValueError(f"{role} turn started inside an open {self._role[0]} turn")
        prefix, suffix = self.backend.chat_template.role_parts(self._messages, role)
        self._emit(prefix)
        self._role = (role, self._len, suffix)

    def _end_role(self, role: str) -> None:
        if self._role is None or self._role[0] != role:
            open_role = self._role[0] if self._role else "no"
            raise ValueError(f"end of a {role} turn, but {open_role} turn is open")
        _, start, suffix = self._role
        content = self._current_text()[start:]
        self._role = None
        with self._cond:
            self._messages.append({"role": role, "content": content})
        self._emit(suffix)

    def _set_var(self, name: str | None, value: Any, meta: Any) -> None:
        if name is None:
            return
        with self._cond:
            self._vars[name] = value
            self._meta[name] = meta
            self._cond.notify_all()

    def _gen(self, expr: Gen) -> None:
        request = GenerateRequest(
            text=self._current_text(),
            params=expr.params(self.defaults),
            constraint=expr.constraint,
        )
        if self._stream is None:
            out = self.backend.generate(request)
            self._emit(out.text, expr.name)
        else:
            out = None
            streamed: list[str] = []
            for item in self.backend.stream(request):
                if isinstance(item, OutputFinished):
                    out = item
                else:
                    streamed.append(item)
                    self._emit(item, expr.name)
            if out is None:
                raise RuntimeError(f"{expr.describe()}: the stream ended without a result")
            sent = "".join(streamed)
            if out.text != sent and out.text.startswith(sent):
                self._emit(out.text[len(sent) :], expr.name)
        if out.finish_reason in ("error", "abort"):
            why = out.error or "the request was aborted (engine shutting down?)"
            raise RuntimeError(f"{expr.describe()} failed in the engine: {why}")
        self._set_var(expr.name, out.text, out)

    def _select(self, expr: Select) -> None:
        scores = self.backend.score(self._current_text(), expr.choices)
        best = max(range(len(scores)), key=lambda i: scores[i])
        chosen = expr.choices[best]
        self._emit(chosen, expr.name)
        self._set_var(expr.name, chosen, SelectResult(list(expr.choices), scores, chosen))

    # ------------------------------------------------------------ waiting / reading
    def _raise_error(self) -> None:
        if self.error is not None:
            raise self.error

    def sync(self) -> None:
        """Wait until everything appended so far has run (raises the worker's error)."""
        with self._cond:
            while self._running:
                self._cond.wait()
            self._raise_error()

    def join(self) -> None:
        """Wait for this state and all of its forks."""
        self.sync()
        for f in list(self._forks):
            f.join()

    def __getitem__(self, name: str) -> Any:
        with self._cond:
            while name not in self._vars and self._running:
                self._cond.wait()
            if name in self._vars:
                return self._vars[name]
            self._raise_error()
            known = ", ".join(repr(k) for k in self._vars) or "none"
            raise KeyError(f"{self.name}: no variable {name!r} (variables set: {known})")

    def get_var(self, name: str, default: Any = None) -> Any:
        try:
            return self[name]
        except KeyError:
            return default

    def __contains__(self, name: str) -> bool:
        self.sync()
        return name in self._vars

    def variables(self) -> dict[str, Any]:
        self.sync()
        return dict(self._vars)

    def get_meta_info(self, name: str) -> Any:
        """The OutputFinished of a gen (usage, finish reason) or the SelectResult of a select."""
        self[name]
        return self._meta[name]

    def text(self) -> str:
        """The whole transcript so far."""
        self.sync()
        return self._current_text()

    def messages(self) -> list[dict[str, str]]:
        """The completed chat turns, as ``{"role", "content"}`` dicts."""
        self.sync()
        return [dict(m) for m in self._messages]

    def __str__(self) -> str:
        return self.text()

    def __repr__(self) -> str:
        return f"<ProgramState {self.name} vars={list(self._vars)} chars={self._len}>"

    # ------------------------------------------------------------ roles as blocks
    @contextmanager
    def _role_block(self, role: str) -> Iterator[None]:
        self.append(RoleBegin(role))
        yield
        self.append(RoleEnd(role))

    def system(self) -> Any:
        """``with s.system(): s += ...``"""
        return self._role_block("system")

    def user(self) -> Any:
        """``with s.user(): s += ...``"""
        return self._role_block("user")

    def assistant(self) -> Any:
        """``with s.assistant(): s += gen(...)``"""
        return self._role_block("assistant")

    # ------------------------------------------------------------ forks
    def fork(self, n: int) -> ForkGroup:
        """``n`` copies that continue independently from the transcript so far. The shared
        prefix is computed into the radix cache once before the branches start."""
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"fork(n={n!r}): n must be an int >= 1")
        self.sync()
        text = self._current_text()
        if n > 1 and text:
            self.backend.prefill(text)
        children = []
        for i in range(n):
            child = ProgramState(
                self.backend, self.defaults, name=f"{self.name}.fork{len(self._forks)}", parent=self
            )
            child._text = [text] if text else []
            child._len = len(text)
            child._vars = dict(self._vars)
            child._meta = dict(self._meta)
            child._messages = [dict(m) for m in self._messages]
            child._role = self._role
            children.append(child)
            self._forks.append(child)
            del i
        return ForkGroup(children)

    # ------------------------------------------------------------ streaming
    def text_iter(self, var_name: str | None = None) -> Iterator[str]:
        """Text as it is appended (only ``var_name``'s generated text if given), until the
        program ends. Needs ``run(..., stream=True)``."""
        for var, text in self.stream_events():
            if var_name is None or var == var_name:
                yield text

    def stream_events(self) -> Iterator[tuple[str | None, str]]:
        """``(variable, text)`` pieces as they are appended (variable None for text that is
        not generated), until the program ends; then raises the program's error if any.
        Needs ``run(..., stream=True)``."""
        if self._stream is None:
            raise RuntimeError("streaming needs the program to run with stream=True")
        while True:
            item = self._stream.get()
            if item is _END:
                self._stream.put(_END)  # later iterators end at once too
                break
            yield item
        self.wait()

    def __iter__(self) -> Iterator[str]:
        return self.text_iter()

    def wait(self) -> ProgramState:
        """For a streamed run: wait until the program has finished (raises its error)."""
        self._finished.wait()
        self._raise_error()
        return self

    # ------------------------------------------------------------ lifetime (used by run)
    def _finish(self, error: BaseException | None = None) -> None:
        if error is not None and self.error is None:
            self.error = error
        self._close_tree()
        if self._stream is not None:
            self._stream.put(_END)
        self._finished.set()

    def _close_tree(self) -> None:
        with self._cond:
            self._cancelled = True
            self._queue.clear()
        for f in self._forks:
            f._close_tree()


class ForkGroup:
    """The branches of ``s.fork(n)``: index them, ``forks += expr`` appends to each,
    ``forks.join()`` waits for all."""

    def __init__(self, states: list[ProgramState]) -> None:
        self.states = states

    def __getitem__(self, i: int) -> ProgramState:
        return self.states[i]

    def __len__(self) -> int:
        return len(self.states)

    def __iter__(self) -> Iterator[ProgramState]:
        return iter(self.states)

    def __iadd__(self, value: object) -> ForkGroup:
        for s in self.states:
            s.append(value)
        return self

    def join(self) -> None:
        for s in self.states:
            s.join()

    def var(self, name: str) -> list[Any]:
        """Variable ``name`` of every branch (waits)."""
        return [s[name] for s in self.states]
