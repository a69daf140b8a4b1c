"""Where programs send their requests: an in-process engine or a remote ``radtrio serve``.

Both backends are used from many threads at once (one per program state). The in-process
backend owns an :class:`~radtrio.engine.AsyncEngine` running under its own ``trio.run`` in a
background thread and submits work with ``trio.from_thread``; the remote one shares one
thread-safe :class:`~radtrio.server.client.Client`.
"""

from __future__ import annotations

import math
import queue
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import trio

from radtrio.lang.chat import ChatTemplate, ChatTemplateError
from radtrio.types import GenerateRequest, OutputFinished, SamplingParams, StatsSnapshot

StreamEvent = str | OutputFinished

# Engines whose GenerateRequest can start prompt scoring past the cached prefix.
_HAS_LOGPROB_START = "prompt_logprobs_start" in GenerateRequest.__struct_fields__


def common_prefix_len(a: Sequence[int], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


class Backend:
    """What programs need from an engine. Subclasses implement the request plumbing."""

    _template: ChatTemplate | None = None

    # -- requests (subclasses)
    def generate(self, request: GenerateRequest) -> OutputFinished:
        raise NotImplementedError

    def generate_many(self, requests: list[GenerateRequest]) -> list[OutputFinished]:
        """Send all requests at once (so the engine batches them); results in order."""
        raise NotImplementedError

    def stream(self, request: GenerateRequest) -> Iterator[StreamEvent]:
        """Text deltas (str) as they are produced, then the OutputFinished."""
        raise NotImplementedError

    def stats(self) -> StatsSnapshot:
        raise NotImplementedError

    def tokenize(self, text: str) -> list[int]:
        """Token ids of ``text`` as the engine tokenizes a text prompt."""
        raise NotImplementedError

    def get_tokenizer(self) -> Any:
        raise NotImplementedError

    def close(self) -> None:
        pass

    # -- shared logic
    @property
    def chat_template(self) -> ChatTemplate:
        if self._template is None:
            self._template = ChatTemplate(self.get_tokenizer())
        return self._template

    def prefill(self, text: str) -> OutputFinished:
        """Compute ``text``'s KV into the radix cache (one new token; the output is dropped)."""
        return self.generate(
            GenerateRequest(text=text, params=SamplingParams(max_new_tokens=1, temperature=0.0))
        )

    def score(self, prompt: str, choices: list[str]) -> list[float]:
        """Mean log-probability of each choice's tokens after ``prompt`` (one request per
        choice, all sent at once; no sampling)."""
        prompt_ids = self.tokenize(prompt)
        requests: list[GenerateRequest] = []
        counts: list[int] = []
        for choice in choices:
            ids = self.tokenize(prompt + choice)
            # The choice's tokens: where the joint tokenization leaves the prompt's. Position 0
            # has no log-probability, so an empty prompt scores from the second token on.
            start = max(common_prefix_len(prompt_ids, ids), 1)
            if start >= len(ids):
                raise ValueError(
                    f"select choice {choice!r} adds no token to score after the prompt "
                    f"(prompt {len(prompt_ids)} tokens): give the program text before select"
                )
            counts.append(len(ids) - start)
            request = GenerateRequest(
                input_ids=ids,
                params=SamplingParams(max_new_tokens=1, temperature=0.0),
                return_prompt_logprobs=True,
            )
            if _HAS_LOGPROB_START:  # score only the choice; the prompt may come from the cache
                request.prompt_logprobs_start = start  # type: ignore[attr-defined]
            requests.append(request)
        outs = self.generate_many(requests)
        scores = []
        for choice, k, out in zip(choices, counts, outs, strict=True):
            lps = out.prompt_logprobs
            if lps is None or len(lps) < k:
                raise RuntimeError(
                    f"the engine returned {0 if lps is None else len(lps)} prompt log-probs "
                    f"for select choice {choice!r}, needed {k}"
                )
            scores.append(math.fsum(lps[len(lps) - k :]) / k)
        return scores

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ====================================================================== in-process
class EngineBackend(Backend):
    """An engine in this process, on its own Trio thread.

    ``EngineBackend()`` loads the default model; ``EngineBackend(model=..., device=...,
    **EngineConfig fields)``; or wrap an existing ``AsyncEngine`` / ``Engine`` (not running)."""

    def __init__(
        self,
        engine: Any = None,
        *,
        model: str | None = None,
        device: str = "auto",
        loaded: Any = None,
        **config: Any,
    ) -> None:
        from radtrio.config import EngineConfig
        from radtrio.engine import AsyncEngine, Engine

        if isinstance(engine, Engine):
            engine = engine.async_engine
        if engine is None:
            engine = AsyncEngine(EngineConfig(model=model, device=device, **config), loaded=loaded)
        elif not isinstance(engine, AsyncEngine):
            raise TypeError(f"EngineBackend wraps an AsyncEngine or Engine, not {type(engine)}")
        self.engine = engine
        self._token: trio.lowlevel.TrioToken | None = None
        self._nursery: trio.Nursery | None = None
        self._closing: trio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._closed = False
        self._thread = threading.Thread(target=self._main, name="radtrio-lang-engine", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            raise RuntimeError(f"the engine failed to start: {self._error}") from self._error

    def _main(self) -> None:
        async def main() -> None:
            self._token = trio.lowlevel.current_trio_token()
            self._closing = trio.Event()
            async with trio.open_nursery() as nursery:
                await nursery.start(self.engine.run)
                self._nursery = nursery
                self._ready.set()
                await self._closing.wait()
                await self.engine.shutdown(deadline_s=5.0)
                nursery.cancel_scope.cancel()

        try:
            trio.run(main)
        except BaseException as exc:  # noqa: BLE001 - reported to the constructor / callers
            self._error = exc
        finally:
            self._closed = True
            self._ready.set()

    def _check(self) -> trio.lowlevel.TrioToken:
        if self._error is not None:
            raise RuntimeError(f"the engine of this EngineBackend stopped: {self._error!r}")
        if self._closed or self._token is None:
            raise RuntimeError("this EngineBackend is closed")
        return self._token

    async def _one(self, request: GenerateRequest) -> OutputFinished:
        outs = []
        async with self.engine.generate(request) as events:
            async for ev in events:
                if isinstance(ev, OutputFinished):
                    outs.append(ev)
        outs.sort(key=lambda o: o.index)
        return outs[0]

    async def _many(self, requests: list[GenerateRequest]) -> list[OutputFinished]:
        results: list[Any] = [None] * len(requests)

        async def one(i: int) -> None:
            results[i] = await self._one(requests[i])

        async with trio.open_nursery() as nursery:
            for i in range(len(requests)):
                nursery.start_soon(one, i)
        return results

    def generate(self, request: GenerateRequest) -> OutputFinished:
        return trio.from_thread.run(self._one, request, trio_token=self._check())

    def generate_many(self, requests: list[GenerateRequest]) -> list[OutputFinished]:
        try:
            return trio.from_thread.run(self._many, requests, trio_token=self._check())
        except BaseExceptionGroup as group:  # one request's error is the caller's error
            raise group.exceptions[0] from None

    def stream(self, request: GenerateRequest) -> Iterator[StreamEvent]:
        token = self._check()
        request.stream = True
        q: queue.SimpleQueue[Any] = queue.SimpleQueue()
        scope = trio.CancelScope()
        done = object()

        async def pump() -> None:
            try:
                with scope:
                    async with self.engine.generate(request) as events:
                        async for ev in events:
                            if isinstance(ev, OutputFinished):
                                q.put(ev)
                            elif ev.index == 0 and ev.text:
                                q.put(ev.text)
            except BaseException as exc:  # noqa: BLE001 - handed to the consuming thread
                q.put(exc)
                if not isinstance(exc, Exception):
                    raise
            finally:
                q.put(done)

        assert self._nursery is not None
        trio.from_thread.run_sync(self._nursery.start_soon, pump, trio_token=token)
        finished = False
        try:
            while True:
                item = q.get()
                if item is done:
                    break
                if isinstance(item, BaseException):
                    raise item
                if isinstance(item, OutputFinished):
                    finished = True
                yield item
        finally:
            if not finished and not self._closed:
                trio.from_thread.run_sync(scope.cancel, trio_token=token)

    def stats(self) -> StatsSnapshot:
        return trio.from_thread.run_sync(self.engine.stats, False, trio_token=self._check())

    def tokenize(self, text: str) -> list[int]:
        return list(self.engine.tokenizer(text, add_special_tokens=True)["input_ids"])

    def get_tokenizer(self) -> Any:
        return self.engine.tokenizer

    def flush_cache(self) -> bool:
        return trio.from_thread.run(self.engine.flush_cache, trio_token=self._check())

    def close(self) -> None:
        if self._closed or self._token is None or self._closing is None:
            return
        try:
            trio.from_thread.run_sync(self._closing.set, trio_token=self._token)
        except trio.RunFinishedError:
            pass
        self._thread.join(timeout=15)


# ====================================================================== remote
class RemoteBackend(Backend):
    """A ``radtrio serve`` server over one shared, thread-safe blocking Client.

    Chat roles need the model's chat template: pass ``tokenizer=`` (a transformers tokenizer),
    or leave it out when the server runs the default model (its tokenizer is loaded here)."""

    def __init__(
        self,
        address: str,
        *,
        auth_token: str | None = None,
        tokenizer: Any = None,
        timeout: float | None = None,
    ) -> None:
        from radtrio.server.client import Client

        self.client = Client(address, auth_token=auth_token, timeout=timeout)
        self.address = address
        self._tokenizer = tokenizer
        self._lock = threading.Lock()

    def _stream_of(self, request: GenerateRequest) -> Any:
        from radtrio.server.client import Stream

        return Stream(self.client, request)

    def generate(self, request: GenerateRequest) -> OutputFinished:
        request.stream = False
        with self._stream_of(request) as s:
            for _ in s:
                pass
            return sorted(s.finished, key=lambda f: f.index)[0]

    def generate_many(self, requests: list[GenerateRequest]) -> list[OutputFinished]:
        streams = []
        try:
            for r in requests:  # all in flight before the first answer is awaited
                r.stream = False
                streams.append(self._stream_of(r))
            outs = []
            for s in streams:
                for _ in s:
                    pass
                outs.append(sorted(s.finished, key=lambda f: f.index)[0])
            return outs
        finally:
            for s in streams:
                s.close()

    def stream(self, request: GenerateRequest) -> Iterator[StreamEvent]:
        request.stream = True
        with self._stream_of(request) as s:
            for chunk in s:
                if chunk.index == 0 and chunk.text:
                    yield chunk.text
            yield sorted(s.finished, key=lambda f: f.index)[0]

    def stats(self) -> StatsSnapshot:
        return self.client.stats(include_tree=False)

    def tokenize(self, text: str) -> list[int]:
        return self.client.tokenize(text)

    def get_tokenizer(self) -> Any:
        with self._lock:
            if self._tokenizer is None:
                self._tokenizer = self._default_tokenizer()
            return self._tokenizer

    def _default_tokenizer(self) -> Any:
        from radtrio.models.fetch import DEFAULT_MODEL_NAME, default_model_path

        model = self.client.info.model
        if model != DEFAULT_MODEL_NAME:
            raise ChatTemplateError(
                f"the server at {self.address} runs {model!r}: pass tokenizer= (a transformers "
                "tokenizer with its chat template) to rt.connect(...) to use chat roles"
            )
        from radtrio.models.gguf_loader import GGUFFile
        from radtrio.models.tokenizer import load_gguf_tokenizer

        path = default_model_path(progress=False)
        return load_gguf_tokenizer(path, GGUFFile(path).meta.get("tokenizer.ggml.pre"))

    def flush_cache(self) -> bool:
        return self.client.flush_cache()

    def close(self) -> None:
        self.client.close()


def connect(
    address: str = "127.0.0.1:30000",
    *,
    auth_token: str | None = None,
    tokenizer: Any = None,
    timeout: float | None = None,
) -> RemoteBackend:
    """A backend for the radtrio server at ``address`` (``HOST:PORT`` or a unix socket)."""
    return RemoteBackend(address, auth_token=auth_token, tokenizer=tokenizer, timeout=timeout)


def as_backend(value: Any) -> Backend:
    if isinstance(value, Backend):
        return value
    from radtrio.engine import AsyncEngine, Engine

    if isinstance(value, (AsyncEngine, Engine)):
        return EngineBackend(value)
    raise TypeError(
        f"a backend must be an rt backend (rt.connect(...), rt.EngineBackend(...)), an Engine "
        f"or an AsyncEngine, not {type(value).__name__}"
    )


class _DefaultBackend:
    """Holder of the backend that ``run`` uses when none is passed."""

    backend: Backend | None = None


def set_default_backend(backend: Any) -> Backend:
    """Use ``backend`` for programs run without ``backend=``; returns it (wrapped if needed)."""
    _DefaultBackend.backend = as_backend(backend)
    return _DefaultBackend.backend


def get_default_backend() -> Backend:
    if _DefaultBackend.backend is None:
        raise RuntimeError(
            "no backend: call rt.set_default_backend(rt.EngineBackend()) or "
            "rt.set_default_backend(rt.connect('127.0.0.1:30000')), or pass backend= to run()"
        )
    return _DefaultBackend.backend


__all__ = [
    "Backend",
    "ChatTemplateError",
    "EngineBackend",
    "RemoteBackend",
    "as_backend",
    "connect",
    "get_default_backend",
    "set_default_backend",
]
