"""The engine: the actors under one supervising nursery, and the offline API.

Requests flow one way: ingress -> prefix matcher -> batcher -> executor -> streamer,
with the evictor beside the batcher. ``AsyncEngine`` runs inside a Trio program;
``Engine`` is the blocking wrapper for scripts.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import msgspec
import trio

import radtrio
from radtrio.actors.batcher import Batcher, Step
from radtrio.actors.evictor import Evictor
from radtrio.actors.executor import Executor, Outcome, StepRunner
from radtrio.actors.ingress import Ingress, Submission, Tokenizing
from radtrio.actors.jump_cost import JumpForwardCost
from radtrio.actors.matcher import Matcher
from radtrio.actors.request import Req, ReqState
from radtrio.actors.scheduler import Scheduler, SchedulerConfig
from radtrio.actors.streamer import Streamer
from radtrio.cache.allocator import SlotAllocator
from radtrio.cache.policy import make_prefix_cache
from radtrio.cache.radix_tree import tree_snapshots
from radtrio.config import EngineConfig
from radtrio.metrics import Metrics
from radtrio.types import (
    ChatMessage,
    Constraint,
    GenerateRequest,
    OutputChunk,
    OutputFinished,
    RequestError,
    RequestInfo,
    SamplingParams,
    ServerInfo,
    StatsSnapshot,
)

log = logging.getLogger(__name__)

Event = OutputChunk | OutputFinished


@dataclass
class EngineParts:
    """What the actors need besides the config: a real model runner, or a fake in tests."""

    runner: StepRunner
    tokenizer: Any
    num_slots: int
    context_len: int
    vocab_size: int
    eos_ids: set[int]
    model_name: str
    dtype: str
    device: str


def default_chunk_size(device: str) -> int:
    return 8192 if device.startswith("cuda") else 512


class EventStream:
    """The events of one request; raises RequestError if the request failed."""

    def __init__(self, recv: trio.MemoryReceiveChannel[Any], samples: int) -> None:
        self._recv = recv
        self._left = samples

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> Event:
        if self._left == 0:
            raise StopAsyncIteration
        item = await self._recv.receive()
        if isinstance(item, RequestError):
            self._left = 0
            raise item
        if isinstance(item, OutputFinished):
            self._left -= 1
        return item


class AsyncEngine:
    """Runs inside a Trio program: ``await nursery.start(engine.run)``."""

    def __init__(
        self,
        config: EngineConfig | None = None,
        loaded: Any = None,
        parts: EngineParts | None = None,
    ):
        self.config = config = config or EngineConfig()
        config.validate()
        if parts is None:
            parts = self._load(config, loaded)
        self.parts = parts
        self.tokenizer = parts.tokenizer
        self.started_at = time.time()
        self._t0 = time.monotonic()
        self.allocator = SlotAllocator(parts.num_slots)
        self.cache = make_prefix_cache(
            self.allocator, radix=config.radix_cache, page_size=config.page_size
        )
        self.metrics = Metrics()
        chunk = config.chunked_prefill_size or default_chunk_size(parts.device)
        self.scheduler = Scheduler(
            self.cache,
            SchedulerConfig(
                max_running=config.max_running,
                chunk_size=config.max_prefill_tokens or chunk,
                policy=config.schedule_policy,
                context_len=parts.context_len,
                radix=config.radix_cache,
            ),
            clock=trio.current_time,
        )
        self.ingress = Ingress(
            Tokenizing(parts.tokenizer, parts.context_len, parts.vocab_size), rng_seed=config.seed
        )
        self.fsm_lock = threading.Lock()
        self.matcher = Matcher(self.cache, self._make_compiler())
        self.batcher = Batcher(
            self.scheduler,
            self.metrics,
            decode=lambda ids: parts.tokenizer.decode(ids, skip_special_tokens=True),
        )
        self.executor = Executor(
            parts.runner,
            self.metrics,
            parts.eos_ids,
            parts.context_len,
            jump_planner=self._make_jump_planner(),
            jump_forward=config.jump_forward,
            fsm_lock=self.fsm_lock,
            jump_cost=JumpForwardCost(
                fixed_min_tokens=config.jump_forward_min_tokens,
                measured=getattr(parts.runner, "graphs", None) is not None,
            ),
        )
        self.streamer = Streamer(parts.tokenizer, self.metrics)
        self.evictor = Evictor(self.cache, config.evict_watermark)
        self.info = ServerInfo(
            model=parts.model_name,
            dtype=parts.dtype,
            device=parts.device,
            pool_slots=parts.num_slots,
            context_len=parts.context_len,
            vocab_size=parts.vocab_size,
            version=radtrio.__version__,
            schedule_policy=config.schedule_policy,
            radix_cache=config.radix_cache,
            max_running=config.max_running,
            started_at=self.started_at,
        )
        self._submit: trio.MemorySendChannel[Submission] | None = None
        self._active: dict[str, list[Req]] = {}
        self._nursery: trio.Nursery | None = None

    # ------------------------------------------------------------- assembly
    @staticmethod
    def _load(config: EngineConfig, loaded: Any) -> EngineParts:
        from radtrio.models.loader import load_model
        from radtrio.runner import ModelRunner, resolve_device

        device = resolve_device(config.device)
        if loaded is None:
            loaded = load_model(config.model, dtype=config.dtype, device=str(device))
        runner = ModelRunner(loaded.model, config, device)
        mcfg = loaded.config
        context_len = min(config.context_len or mcfg.max_positions, mcfg.max_positions)
        eos = set(mcfg.eos_token_ids)
        tok_eos = getattr(loaded.tokenizer, "eos_token_id", None)
        if tok_eos is not None:
            eos.add(int(tok_eos))
        return EngineParts(
            runner=runner,
            tokenizer=loaded.tokenizer,
            num_slots=runner.num_slots,
            context_len=context_len,
            vocab_size=mcfg.vocab_size,
            eos_ids=eos,
            model_name=loaded.name,
            dtype=str(runner.dtype).removeprefix("torch."),
            device=str(device),
        )

    def _make_compiler(self):
        try:
            from radtrio.fsm.compile import compile_constraint
            from radtrio.fsm.strict import strict_schema
            from radtrio.fsm.tokenizer_index import TokenizerIndex
        except ImportError:
            return None
        holder: dict[str, Any] = {}

        def strict_constraint(constraint: Constraint) -> Constraint:
            try:
                schema = json.loads(constraint.json_schema or "")
            except ValueError as err:
                raise RequestError(f"constraint.json_schema is not valid JSON: {err}") from err
            return msgspec.structs.replace(
                constraint, json_schema=json.dumps(strict_schema(schema))
            )

        def compile_one(constraint: Constraint) -> Any:
            with self.fsm_lock:
                return compile_locked(constraint)

        def compile_locked(constraint: Constraint) -> Any:
            index = holder.get("index")
            if index is None:
                index = holder["index"] = TokenizerIndex.from_hf(
                    self.tokenizer,
                    vocab_size=self.parts.vocab_size,
                    eos_ids=sorted(self.parts.eos_ids),
                )
            if constraint.json_schema is not None and constraint.json_strict:
                constraint = strict_constraint(constraint)
            return compile_constraint(constraint, index)

        return compile_one

    def _make_jump_planner(self):
        try:
            from radtrio.fsm.jump_forward import plan_jump_forward
        except ImportError:
            return None
        tokenizer = self.tokenizer

        def plan(guide: Any, output_ids: list[int]) -> Any:
            return plan_jump_forward(guide, tokenizer, output_ids)

        return plan

    # ----------------------------------------------------------------- run
    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Start the actors (downstream first, so each finds its consumer running)."""
        submit_send, submit_recv = trio.open_memory_channel[Submission](self.config.max_queued)
        match_send, match_recv = trio.open_memory_channel[Req](math.inf)
        batch_send, batch_recv = trio.open_memory_channel[Req](math.inf)
        plan_send, plan_recv = trio.open_memory_channel[Step](0)
        out_send, out_recv = trio.open_memory_channel[Outcome](0)
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                await nursery.start(self.streamer.run, out_recv)
                await nursery.start(self.executor.run, plan_recv, out_send)
                await nursery.start(self.batcher.run, batch_recv, plan_send)
                await nursery.start(self.matcher.run, match_recv, batch_send)
                await nursery.start(self.ingress.run, submit_recv, match_send)
                await nursery.start(self.evictor.run)
                nursery.start_soon(self._log_status)
                self._submit = submit_send
                self.ingress.accepting = True
                task_status.started()
        finally:
            self.ingress.accepting = False
            self._submit = None
            submit_send.close()

    async def _log_status(self, every_s: float = 10.0) -> None:
        while True:
            await trio.sleep(every_s)
            if self.scheduler.idle:
                continue
            s = self.stats(include_tree=False)
            log.info(
                "running %d queued %d | prefill %.0f tok/s decode %.0f tok/s | hit %.0f%% | "
                "kv used %d cached %d free %d",
                s.running,
                s.queued,
                s.prefill_tokens_per_s,
                s.decode_tokens_per_s,
                100 * s.cache_hit_rate,
                s.used_slots,
                s.evictable_slots,
                s.free_slots,
            )

    def _require_running(self) -> trio.MemorySendChannel[Submission]:
        if self._submit is None:
            raise RuntimeError("the engine is not running: `await nursery.start(engine.run)` first")
        return self._submit

    # ------------------------------------------------------------ requests
    @asynccontextmanager
    async def generate(self, request: GenerateRequest) -> AsyncIterator[EventStream]:
        submit = self._require_running()
        if not self.ingress.accepting:
            raise RequestError("the engine is shutting down", code="shutting_down")
        if not request.request_id:
            request.request_id = uuid.uuid4().hex
        rid = request.request_id
        if rid in self._active:
            raise RequestError(f"request_id {rid!r} is already in flight", code="bad_request")
        in_flight = len(self._active)
        if in_flight >= self.config.max_queued + self.config.max_running:
            raise RequestError(
                f"overloaded: {in_flight} requests in flight, limit "
                f"{self.config.max_queued + self.config.max_running} "
                f"(max_queued={self.config.max_queued} + max_running={self.config.max_running})",
                code="overloaded",
            )
        send, recv = trio.open_memory_channel[Any](math.inf)
        reply_send, reply_recv = trio.open_memory_channel[Any](1)
        try:
            submit.send_nowait(Submission(request, send, reply_send))
        except trio.WouldBlock:
            raise RequestError(
                f"overloaded: {self.config.max_queued} requests are waiting to be admitted",
                code="overloaded",
            ) from None
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            raise RequestError("the engine is shutting down", code="shutting_down") from None
        try:
            result = await reply_recv.receive()
        except BaseException:
            # Cancelled before the ingress answered: abort what it admitted, and make it
            # drop the submission if it has not got to it yet.
            try:
                late = reply_recv.receive_nowait()
            except (trio.WouldBlock, trio.EndOfChannel):
                late = None
            reply_recv.close()
            if isinstance(late, list):
                for r in late:
                    r.aborted = True
                self.batcher.nudge()
            raise
        if isinstance(result, RequestError):
            raise result
        reqs: list[Req] = result
        self._active[rid] = reqs
        try:
            yield EventStream(recv, len(reqs))
        finally:
            self._active.pop(rid, None)
            if any(not r.done for r in reqs):
                for r in reqs:
                    r.aborted = True
                self.batcher.nudge()
            recv.close()

    async def abort(self, request_id: str) -> bool:
        reqs = self._active.get(request_id)
        if not reqs:
            return False
        for r in reqs:
            r.aborted = True
        self.batcher.nudge()
        return True

    async def flush_cache(self) -> bool:
        """Drop every cached prefix; False (nothing dropped) while requests are in flight."""
        if self.scheduler.running or self.scheduler.waiting or self._active:
            return False
        try:
            self.cache.reset()
        except RuntimeError:
            log.exception("flush refused by the cache")
            return False
        return True

    def tokenize(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def detokenize(self, ids: list[int]) -> str:
        for t in ids:
            if not 0 <= t < self.parts.vocab_size:
                raise RequestError(f"token id {t} is out of range [0, {self.parts.vocab_size})")
        return self.tokenizer.decode(ids)

    async def wait_idle(self) -> None:
        while not (self.scheduler.idle and not self._active):
            await trio.sleep(0.01)

    async def shutdown(self, deadline_s: float = 10.0) -> None:
        self.ingress.accepting = False
        with trio.move_on_after(deadline_s):
            await self.wait_idle()
        for reqs in list(self._active.values()):
            for r in reqs:
                r.aborted = True
        self.batcher.nudge()
        with trio.move_on_after(2.0):
            await self.wait_idle()
        if self._nursery is not None:
            self._nursery.cancel_scope.cancel()

    # --------------------------------------------------------------- stats
    def stats(self, include_tree: bool = True, max_tree_nodes: int = 200) -> StatsSnapshot:
        now = trio.current_time() if self._in_trio() else 0.0
        cs = self.cache.stats()
        prefill_rate, decode_rate = self.metrics.rates(now)
        m = self.metrics
        snap = StatsSnapshot(
            time_s=time.monotonic() - self._t0,
            running=len(self.scheduler.running),
            queued=len(self.scheduler.waiting) + len(self.matcher.compiling),
            pool_slots=self.allocator.capacity,
            used_slots=self.allocator.capacity - self.allocator.free_count - cs.evictable_tokens,
            evictable_slots=cs.evictable_tokens,
            free_slots=self.allocator.free_count,
            prefill_tokens_per_s=prefill_rate,
            decode_tokens_per_s=decode_rate,
            total_prompt_tokens=m.prompt_tokens,
            total_cached_tokens=m.cached_tokens,
            total_generated_tokens=m.generated_tokens,
            cache_hit_rate=m.hit_rate,
            recent_cache_hit_rate=m.recent_hit_rate,
            ttft_p50_s=m.ttft.percentile(50),
            ttft_p99_s=m.ttft.percentile(99),
            itl_p50_s=m.itl.percentile(50),
            itl_p99_s=m.itl.percentile(99),
            finished_requests=m.finished,
            aborted_requests=m.aborted,
            retractions=self.scheduler.retractions,
            evicted_tokens=cs.evicted_tokens,
            forward_steps=m.forward_steps,
            tree_nodes=cs.nodes,
            tree_cached_tokens=cs.total_tokens,
        )
        if include_tree:
            nodes = self.cache.snapshot(max_nodes=max_tree_nodes)
            snap.tree = tree_snapshots(nodes, self._label, time_origin=self._t0)
        snap.requests = self._request_infos(now)
        return snap

    def _label(self, ids: list[int]) -> str:
        text = self.tokenizer.decode(ids)
        return text.replace("\n", "\\n")[:40]

    def _request_infos(self, now: float, limit: int = 200) -> list[RequestInfo]:
        infos = []
        for req in list(self.scheduler.running)[:limit]:
            state = "running" if req.state is ReqState.RUNNING else "prefill"
            infos.append(self._info(req, state, now))
        for req in list(self.scheduler.waiting)[: max(0, limit - len(infos))]:
            infos.append(self._info(req, "queued", now))
        for req in list(self.matcher.compiling.values())[: max(0, limit - len(infos))]:
            infos.append(self._info(req, "compiling", now))
        return infos

    @staticmethod
    def _info(req: Req, state: str, now: float) -> RequestInfo:
        rid = req.request_id if req.index == 0 else f"{req.request_id}#{req.index}"
        return RequestInfo(
            rid, state, len(req.prompt_ids), req.matched_len, len(req.output_ids), now - req.arrival
        )

    @staticmethod
    def _in_trio() -> bool:
        try:
            trio.lowlevel.current_task()
        except RuntimeError:
            return False
        return True


PromptLike = str | Sequence[dict] | Sequence[ChatMessage] | Sequence[int]


def make_request(
    prompt: PromptLike,
    params: SamplingParams | dict | None = None,
    constraint: Constraint | None = None,
    stream: bool = False,
    chat: bool | None = None,
) -> GenerateRequest:
    """A GenerateRequest from a string (raw text; chat=True sends it as a user message),
    a list of chat messages (dicts or ChatMessage), or a list of token ids."""
    if params is None:
        params = SamplingParams()
    elif isinstance(params, dict):
        params = SamplingParams(**params)
    request = GenerateRequest(params=params, constraint=constraint, stream=stream)
    if isinstance(prompt, str):
        if chat:
            request.messages = [ChatMessage(role="user", content=prompt)]
        else:
            request.text = prompt
    elif prompt and all(isinstance(t, int) for t in prompt):
        request.input_ids = list(prompt)  # type: ignore[arg-type]
    else:
        request.messages = [
            m if isinstance(m, ChatMessage) else ChatMessage(role=m["role"], content=m["content"])
            for m in prompt  # type: ignore[union-attr]
        ]
    return request


class Engine:
    """Blocking offline API: ``Engine().generate(prompts, params)``.

    The model loads once; each call runs the actors under ``trio.run`` for the batch
    and keeps the radix cache between calls.
    """

    def __init__(self, model: str | None = None, device: str = "auto", **config: Any) -> None:
        self.async_engine = AsyncEngine(EngineConfig(model=model, device=device, **config))

    @property
    def tokenizer(self) -> Any:
        return self.async_engine.tokenizer

    def generate(
        self,
        prompts: PromptLike | Sequence[PromptLike],
        params: SamplingParams | dict | None = None,
        constraint: Constraint | None = None,
        chat: bool | None = None,
    ) -> OutputFinished | list[OutputFinished]:
        single = isinstance(prompts, str) or (
            bool(prompts) and isinstance(prompts[0], (int, dict, ChatMessage))  # type: ignore[index]
        )
        batch = [prompts] if single else list(prompts)  # type: ignore[list-item]
        requests = [make_request(p, params, constraint, chat=chat) for p in batch]
        results = trio.run(self._run_all, requests)
        if single:
            return results[0] if len(results) == 1 else results
        return results

    async def _run_all(self, requests: list[GenerateRequest]) -> Any:
        engine = self.async_engine
        results: list[Any] = [None] * len(requests)

        async def one(i: int, request: GenerateRequest) -> None:
            outs = []
            async with engine.generate(request) as events:
                async for ev in events:
                    if isinstance(ev, OutputFinished):
                        outs.append(ev)
            outs.sort(key=lambda o: o.index)
            results[i] = outs[0] if len(outs) == 1 else outs

        async with trio.open_nursery() as nursery:
            await nursery.start(engine.run)
            async with trio.open_nursery() as requests_nursery:
                for i, request in enumerate(requests):
                    requests_nursery.start_soon(one, i, request)
            nursery.cancel_scope.cancel()
        return results

    def stats(self) -> StatsSnapshot:
        return self.async_engine.stats()
