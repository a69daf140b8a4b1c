"""Batcher: drives the scheduler, one forward step at a time, and reports releases."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import trio

from radtrio.actors.request import Req
from radtrio.actors.scheduler import Scheduler, StepPlan
from radtrio.metrics import Metrics
from radtrio.types import OutputFinished, Usage

log = logging.getLogger(__name__)


@dataclass
class Step:
    """A plan on its way to the executor, and the signal that its outputs were streamed."""

    plan: StepPlan
    done: trio.Event = field(default_factory=trio.Event)


def finish_event(req: Req, reason: str, text: str = "") -> OutputFinished:
    """The final event of one sample; an aborted one still carries its partial output."""
    return OutputFinished(
        request_id=req.request_id,
        index=req.index,
        finish_reason=reason,
        text=text,
        token_ids=list(req.output_ids),
        usage=Usage(
            prompt_tokens=len(req.prompt_ids),
            cached_tokens=req.matched_len,
            completion_tokens=len(req.output_ids),
            forced_tokens=req.forced_tokens,
            decode_steps=req.decode_steps,
            latency_s=trio.current_time() - req.arrival,
        ),
        error=req.error,
    )


class Batcher:
    def __init__(
        self,
        scheduler: Scheduler,
        metrics: Metrics,
        decode: Callable[[list[int]], str] | None = None,
    ) -> None:
        self.decode = decode  # for the partial text of aborted requests
        self.scheduler = scheduler
        self.metrics = metrics
        self.wakeup = trio.Event()
        self.idle_event = trio.Event()
        self.integrity_errors = 0

    def nudge(self) -> None:
        """Wake the loop (an abort, a new request, a flush)."""
        self.wakeup.set()

    def _take_new(self, inbox: trio.MemoryReceiveChannel[Req]) -> bool:
        took = False
        while True:
            try:
                req = inbox.receive_nowait()
            except (trio.WouldBlock, trio.EndOfChannel):
                return took
            self.scheduler.add(req)
            took = True

    def _notify_released(self) -> None:
        for req in self.scheduler.finished:
            if req.aborted and req.finish_reason is None:
                req.finish_reason = "abort"
                self.metrics.aborted += 1
                try:
                    text = self.decode(req.output_ids) if self.decode and req.output_ids else ""
                    req.out.send_nowait(finish_event(req, "abort", text))
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    pass
        self.scheduler.finished = []

    async def run(
        self,
        inbox: trio.MemoryReceiveChannel[Req],
        to_executor: trio.MemorySendChannel[Step],
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        async with inbox, to_executor:
            task_status.started()
            closed = False
            while True:
                self._take_new(inbox)
                plan = self.scheduler.schedule()
                self._notify_released()
                if plan is None:
                    if self.scheduler.idle:
                        self._check_idle()
                        self.idle_event.set()
                    if closed and self.scheduler.idle:
                        return
                    # Nothing runnable: wait for a new request or a nudge.
                    self.wakeup = trio.Event()
                    async with trio.open_nursery() as waiters:

                        async def wait_inbox() -> None:
                            nonlocal closed
                            try:
                                req = await inbox.receive()
                                self.scheduler.add(req)
                            except trio.EndOfChannel:
                                closed = True
                            waiters.cancel_scope.cancel()

                        async def wait_nudge() -> None:
                            await self.wakeup.wait()
                            waiters.cancel_scope.cancel()

                        if not closed:
                            waiters.start_soon(wait_inbox)
                        waiters.start_soon(wait_nudge)
                    continue
                self.idle_event = trio.Event()
                for entry in plan.entries:
                    if entry.req.admitted_rounds == 0 and entry.req.kv_len == entry.req.cached_len:
                        self.metrics.record_admission(
                            len(entry.req.prompt_ids), entry.req.matched_len
                        )
                    entry.req.admitted_rounds += 1
                step = Step(plan)
                await to_executor.send(step)
                await step.done.wait()
                self.scheduler.share_prefills(plan)

    def _check_idle(self) -> None:
        try:
            self.scheduler.check_idle()
        except Exception:
            self.integrity_errors += 1
            log.exception("cache integrity check failed at idle")
