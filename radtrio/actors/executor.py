"""Executor: the only actor that runs the model. One coarse step per plan, off the event loop.

After the step it applies what was sampled to each request: append the token, advance
its constraint, decide length / EOS / stop-token / constraint finishes, and plan a
jump-forward where the constraint forces text. Text-level work (detokenizing, stop
strings) is the streamer's.
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import trio

from radtrio.actors.batcher import Step
from radtrio.actors.jump_cost import JumpForwardCost
from radtrio.actors.request import Req
from radtrio.actors.scheduler import StepPlan, record_computed
from radtrio.metrics import Metrics
from radtrio.runner import StepResult, StepWork
from radtrio.sampling.sampler import SamplingRow
from radtrio.types import TokenLogprob

log = logging.getLogger(__name__)


class StepRunner(Protocol):
    """Runs a StepWork on the device (the ModelRunner, or a fake in tests)."""

    def run(self, work: StepWork) -> StepResult: ...

    def release_loop_threads(self) -> None:
        """Called on the event-loop thread before each step: free what that thread holds
        that would slow the step's worker thread down (its idle OpenMP pool on CPU)."""


@dataclass
class Outcome:
    """What one step produced, for the streamer."""

    step: Step
    new_tokens: dict[int, list[int]] = field(default_factory=dict)  # id(req) -> appended ids
    # id(req) -> output tokens kept when a jump-forward rolled back the ones after them
    rewritten: dict[int, int] = field(default_factory=dict)
    logprobs: dict[int, list[TokenLogprob]] = field(default_factory=dict)
    reqs: list[Req] = field(default_factory=list)


# plan_jump_forward(guide, output_ids) -> object with .rollback and .token_ids, or None
JumpPlanner = Callable[[Any, list[int]], Any]


class Executor:
    def __init__(
        self,
        runner: StepRunner,
        metrics: Metrics,
        eos_ids: set[int],
        context_len: int,
        jump_planner: JumpPlanner | None = None,
        jump_forward: bool = True,
        fsm_lock: threading.Lock | None = None,
        jump_cost: JumpForwardCost | None = None,
    ) -> None:
        self.runner = runner
        # Guides share per-state caches with constraint compiles running in other threads.
        self.fsm_lock = fsm_lock or threading.Lock()
        self.metrics = metrics
        self.eos_ids = eos_ids
        self.context_len = context_len
        self.jump_planner = jump_planner
        self.jump_forward = jump_forward
        self.jump_cost = jump_cost or JumpForwardCost()
        self.limiter = trio.CapacityLimiter(1)
        self.last_step_s = 0.0

    def sampling_rows(self, plan: StepPlan) -> list[SamplingRow]:
        rows = []
        for i in plan.sampled:
            req = plan.entries[i].req
            p = req.params
            banned: list[int] = []
            if len(req.output_ids) < p.min_new_tokens:
                banned = sorted(self.eos_ids | set(p.stop_token_ids))
            mask = None
            if req.guide is not None:
                with self.fsm_lock:
                    mask = req.guide.allowed_mask()
            rows.append(
                SamplingRow(
                    params=p,
                    seed=req.seed,
                    step=len(req.output_ids),
                    prompt_ids=req.prompt_ids,
                    output_ids=req.output_ids,
                    banned_ids=banned,
                    bitmask=mask,
                )
            )
        return rows

    def apply(self, plan: StepPlan, result: StepResult, outcome: Outcome) -> None:
        guided = any(e.req.guide is not None for e in plan.entries)
        with self.fsm_lock if guided else contextlib.nullcontext():
            self._apply(plan, result, outcome)

    def _apply(self, plan: StepPlan, result: StepResult, outcome: Outcome) -> None:
        for i, seq in enumerate(plan.entries):
            if i in result.prompt_logprobs:
                seq.req.prompt_logprobs.extend(result.prompt_logprobs[i])
        if result.sampled is None:
            return
        now = trio.current_time()
        may_jump: list[Req] = []
        for k, i in enumerate(plan.sampled):
            req = plan.entries[i].req
            if req.done:
                continue
            token = result.sampled.token_ids[k]
            self._record_latency(req, now)
            req.output_ids.append(token)
            req.decode_steps += 1
            outcome.new_tokens.setdefault(id(req), []).append(token)
            if req.params.logprobs or req.params.top_logprobs:
                lp = result.sampled.logprobs[k] if result.sampled.logprobs else 0.0
                top = result.sampled.top_logprobs[k] if result.sampled.top_logprobs else []
                outcome.logprobs.setdefault(id(req), []).append(TokenLogprob(token, lp, top))
            if req.guide is not None:
                try:
                    req.guide.advance(token)
                except Exception as err:  # the mask allowed it, so this is a bug: fail the request
                    log.exception("constraint guide rejected sampled token %d", token)
                    req.error = f"internal error: constraint rejected token {token}: {err}"
                    req.finish_reason = "error"
                    continue
            self._check_finish(req, token)
            if not req.done and req.guide is not None:
                may_jump.append(req)
        if may_jump:
            self._jump_forward(may_jump, outcome)

    def _record_latency(self, req: Req, now: float) -> None:
        if req.first_token_time is None:
            req.first_token_time = now
            ttft = now - req.arrival
            self.metrics.ttft.add(ttft)
            self.metrics.ttft_hist.add(ttft)
        elif req.last_token_time is not None:
            itl = now - req.last_token_time
            self.metrics.itl.add(itl)
            self.metrics.itl_hist.add(itl)
        req.last_token_time = now
        self.metrics.generated_tokens += 1

    def _check_finish(self, req: Req, token: int) -> None:
        p = req.params
        n_out = len(req.output_ids)
        if token in self.eos_ids and not p.ignore_eos and n_out > p.min_new_tokens - 1:
            req.finish_reason, req.matched_stop = "stop", token
        elif token in p.stop_token_ids and n_out >= p.min_new_tokens:
            req.finish_reason, req.matched_stop = "stop", token
        elif req.guide is not None and req.guide.is_finished():
            req.finish_reason = "stop"
        elif n_out >= p.max_new_tokens or req.total_len >= self.context_len:
            req.finish_reason = "length"

    def _jump_forward(self, reqs: list[Req], outcome: Outcome) -> None:
        """Plan the jumps on offer after this step, then take them all or none (on CUDA one
        jump makes the whole next step an eager extend: see jump_cost)."""
        if not (self.jump_forward and self.jump_planner):
            return
        cost = self.jump_cost
        need = cost.needed_gain()
        if math.isinf(need):
            return
        offered = [r for r in reqs if r.params.jump_forward and r.guide.forced_bytes()]
        # a forced byte gives at most one token: an upper bound on the gain, before planning
        if sum(len(r.guide.forced_bytes()) for r in offered) < max(need, 1):
            return
        plans = []
        for req in offered:
            plan = self.jump_planner(req.guide, req.output_ids)
            if plan is None or not plan.token_ids:
                continue
            if len(plan.token_ids) - plan.rollback < cost.min_tokens():
                continue
            if plan.rollback > len(req.output_ids) or (
                req.total_len - plan.rollback - 1 < req.cached_len
            ):
                continue  # would rewrite tokens the tree owns: decode normally instead
            plans.append((req, plan))
        if cost.worth(sum(len(p.token_ids) - p.rollback for _, p in plans)):
            for req, plan in plans:
                self._take_jump(req, plan, outcome)

    def _take_jump(self, req: Req, plan: Any, outcome: Outcome) -> None:
        keep = req.total_len - plan.rollback
        if plan.rollback:
            del req.output_ids[len(req.output_ids) - plan.rollback :]
            req.guide.rollback(plan.rollback)
            if req.kv_len > keep:
                req.kv_len = keep
            outcome.rewritten[id(req)] = len(req.output_ids)
        for t in plan.token_ids:
            req.guide.advance(t)
        req.output_ids.extend(plan.token_ids)
        req.forced_tokens += len(plan.token_ids)
        outcome.new_tokens.setdefault(id(req), []).extend(plan.token_ids)
        room = req.params.max_new_tokens - len(req.output_ids)
        if room <= 0:
            del req.output_ids[req.params.max_new_tokens :]
            req.finish_reason = "length"
        elif req.guide.is_finished():
            req.finish_reason = "stop"

    def _step(self, plan: StepPlan) -> StepResult:
        """In the worker thread: masks (they may take a while to compute), then the step."""
        work = StepWork(plan.batch, plan.sampled, self.sampling_rows(plan), plan.score)
        return self.runner.run(work)

    async def run(
        self,
        inbox: trio.MemoryReceiveChannel[Step],
        to_streamer: trio.MemorySendChannel[Outcome],
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        async with inbox, to_streamer:
            task_status.started()
            async for step in inbox:
                plan = step.plan
                self.runner.release_loop_threads()
                t0 = trio.current_time()
                result = await trio.to_thread.run_sync(self._step, plan, limiter=self.limiter)
                self.last_step_s = trio.current_time() - t0
                self.jump_cost.observe(plan, result.forward_s + result.sample_s)
                record_computed(plan)
                self.metrics.record_step(
                    trio.current_time(), plan.prefill_tokens, plan.decode_tokens
                )
                outcome = Outcome(step, reqs=[e.req for e in plan.entries])
                self.apply(plan, result, outcome)
                await to_streamer.send(outcome)
