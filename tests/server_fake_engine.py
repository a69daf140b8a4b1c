"""A small deterministic engine with the AsyncEngine API (ENGINE_API.md), for server tests.

Tokens are UTF-8 bytes (vocabulary 256 + a few specials). A request "generates" its prompt's
bytes back, cycled, up to max_new_tokens (so "abc" with 5 new tokens gives "abcab"), one token
per ``token_delay_s``. It validates like the engine, honours stream / n / abort, and keeps slot
accounting so tests can check that nothing leaks (stats().used_slots == 0 when idle).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import trio

from radtrio.types import (
    GenerateRequest,
    OutputChunk,
    OutputFinished,
    RequestError,
    ServerInfo,
    StatsSnapshot,
    TreeNodeSnapshot,
    Usage,
)

VOCAB = 260


class FakeEngine:
    def __init__(
        self,
        *,
        context_len: int = 512,
        pool_slots: int = 4096,
        token_delay_s: float = 0.0,
        max_running: int = 1024,
        admit_delay_s: float = 0.0,
    ) -> None:
        self.info = ServerInfo(
            model="fake-echo",
            dtype="float32",
            device="cpu",
            pool_slots=pool_slots,
            context_len=context_len,
            vocab_size=VOCAB,
            version="0.1.0",
            max_running=max_running,
            started_at=time.time(),
        )
        self.token_delay_s = token_delay_s
        # Admission takes this long; a caller cancelled meanwhile is counted as `orphaned`:
        # a real engine would have queued the request with nobody left to read or abort it.
        self.admit_delay_s = admit_delay_s
        self.orphaned = 0
        self.tokenizer = None
        self.running: dict[str, trio.CancelScope] = {}
        self.abort_flags: set[str] = set()
        self.used_slots = 0
        self.finished = 0
        self.aborted = 0
        self.seen_ids: list[str] = []
        self.flushes = 0
        self._shutting_down = False
        self._ids = 0
        self._t0 = time.monotonic()

    # ------------------------------------------------------------ lifecycle
    async def run(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        await trio.sleep_forever()

    async def shutdown(self, deadline_s: float = 10.0) -> None:
        self._shutting_down = True
        with trio.move_on_after(deadline_s):
            while self.running:
                await trio.sleep(0.01)
        for scope in list(self.running.values()):
            scope.cancel()

    # ------------------------------------------------------------ tokens
    def tokenize(self, text: str) -> list[int]:
        return list(text.encode())

    def detokenize(self, ids: list[int]) -> str:
        return bytes(i for i in ids if i < 256).decode(errors="replace")

    # ------------------------------------------------------------ requests
    def _prompt_ids(self, req: GenerateRequest) -> list[int]:
        if req.input_ids is not None:
            return list(req.input_ids)
        if req.messages is not None:
            return self.tokenize(req.messages[-1].content)
        return self.tokenize(req.text or "")

    def _validate(self, req: GenerateRequest) -> list[int]:
        if self._shutting_down:
            raise RequestError("the engine is shutting down", code="shutting_down")
        kinds = [k for k in ("text", "messages", "input_ids") if getattr(req, k) is not None]
        if len(kinds) != 1:
            raise RequestError(f"exactly one of text, messages, input_ids; got {kinds}")
        req.params.validate(context_len=self.info.context_len, vocab_size=VOCAB)
        if req.constraint is not None:
            req.constraint.validate()
        ids = self._prompt_ids(req)
        if not ids:
            raise RequestError("prompt is empty")
        total = len(ids) + req.params.max_new_tokens
        if total > self.info.context_len:
            raise RequestError(
                f"prompt has {len(ids)} tokens + max_new_tokens={req.params.max_new_tokens} "
                f"exceeds the context length {self.info.context_len}",
                code="too_long",
            )
        return ids

    @asynccontextmanager
    async def generate(
        self, req: GenerateRequest
    ) -> AsyncIterator[AsyncIterator[OutputChunk | OutputFinished]]:
        ids = self._validate(req)
        if self.admit_delay_s:
            try:
                await trio.sleep(self.admit_delay_s)
            except trio.Cancelled:
                self.orphaned += 1
                raise
        if not req.request_id:
            self._ids += 1
            req = GenerateRequest(**{**_fields(req), "request_id": f"fake-{self._ids}"})
        rid = req.request_id
        self.seen_ids.append(rid)
        scope = trio.CancelScope()
        self.running[rid] = scope
        slots = len(ids) * req.params.n
        self.used_slots += slots
        aborted = True
        try:
            with scope:
                yield self._events(req, ids)
                aborted = rid in self.abort_flags
        finally:
            self.used_slots -= slots
            del self.running[rid]
            self.abort_flags.discard(rid)
            if aborted:
                self.aborted += 1
            else:
                self.finished += 1

    async def _events(
        self, req: GenerateRequest, ids: list[int]
    ) -> AsyncIterator[OutputChunk | OutputFinished]:
        p = req.params
        t0 = time.monotonic()
        outs: list[list[int]] = [[] for _ in range(p.n)]
        reason = "length"
        for step in range(p.max_new_tokens):
            if req.request_id in self.abort_flags:
                reason = "abort"
                break
            if self.token_delay_s:
                await trio.sleep(self.token_delay_s)
            else:
                await trio.lowlevel.checkpoint()
            tok = ids[step % len(ids)]
            for index in range(p.n):
                outs[index].append(tok)
                if req.stream:
                    yield OutputChunk(
                        request_id=req.request_id,
                        index=index,
                        text=self.detokenize([tok]),
                        token_ids=[tok],
                    )
        for index in range(p.n):
            yield OutputFinished(
                request_id=req.request_id,
                index=index,
                finish_reason=reason,
                text=self.detokenize(outs[index]),
                token_ids=outs[index],
                usage=Usage(
                    prompt_tokens=len(ids),
                    completion_tokens=len(outs[index]),
                    decode_steps=p.max_new_tokens,
                    latency_s=time.monotonic() - t0,
                ),
            )

    async def abort(self, request_id: str) -> bool:
        """Like the engine: the request stops at its next step and ends with
        finish_reason "abort" (partial text, usage)."""
        if request_id not in self.running:
            return False
        self.abort_flags.add(request_id)
        return True

    def stats(self, include_tree: bool = True, max_tree_nodes: int = 200) -> StatsSnapshot:
        tree = (
            [TreeNodeSnapshot(0, -1, 0, "", 0, 0.0, 0)] if include_tree and max_tree_nodes else []
        )
        return StatsSnapshot(
            time_s=time.monotonic() - self._t0,
            running=len(self.running),
            pool_slots=self.info.pool_slots,
            used_slots=self.used_slots,
            free_slots=self.info.pool_slots - self.used_slots,
            finished_requests=self.finished,
            aborted_requests=self.aborted,
            tree_nodes=len(tree),
            tree=tree,
        )

    async def flush_cache(self) -> bool:
        if self.running:
            return False
        self.flushes += 1
        return True


def _fields(req: GenerateRequest) -> dict:
    return {f: getattr(req, f) for f in req.__struct_fields__}
