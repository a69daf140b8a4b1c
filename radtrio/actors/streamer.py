"""Streamer: incremental text per request, stop strings, finish reasons, output events."""

from __future__ import annotations

import logging
from typing import Any

import trio

from radtrio.actors.batcher import finish_event
from radtrio.actors.detokenizer import IncrementalDetokenizer
from radtrio.actors.executor import Outcome
from radtrio.actors.request import Req
from radtrio.metrics import Metrics
from radtrio.types import OutputChunk

log = logging.getLogger(__name__)


class Streamer:
    def __init__(self, tokenizer: Any, metrics: Metrics) -> None:
        self.tokenizer = tokenizer
        self.metrics = metrics
        self.detok: dict[int, IncrementalDetokenizer] = {}
        self.sent_tokens: dict[int, int] = {}

    def _detokenizer(self, req: Req) -> IncrementalDetokenizer:
        d = self.detok.get(id(req))
        if d is None:
            d = IncrementalDetokenizer(
                self.tokenizer, req.params.stop, req.params.skip_special_tokens
            )
            self.detok[id(req)] = d
        return d

    @staticmethod
    def _send(req: Req, event: object) -> None:
        try:
            req.out.send_nowait(event)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            req.aborted = True  # nobody is listening any more

    def handle(self, outcome: Outcome) -> None:
        for req in outcome.reqs:
            key = id(req)
            new = outcome.new_tokens.get(key)
            if new is None and not req.done:
                continue
            if req.aborted and req.finish_reason is None:
                continue  # the batcher reports aborts when it releases the request
            if not req.stream and not req.params.stop and not req.done:
                continue  # nobody reads text before the end and no stop string to watch
            d = self._detokenizer(req)
            visible = req.output_ids
            if req.finish_reason == "stop" and isinstance(req.matched_stop, int):
                visible = [t for t in visible if t != req.matched_stop]
            if key in outcome.rewritten:
                base = outcome.rewritten[key]
                d.reset_tokens(visible[:base])
                delta = d.add(visible[base:])
            else:
                fed = d.num_tokens  # a non-streamed request is fed only at its end
                delta = d.add(visible[fed:]) if len(visible) > fed else ""
            if d.stopped_at is not None and req.finish_reason is None:
                req.finish_reason, req.matched_stop = "stop", d.stopped_at
            if req.done:
                delta += d.flush()
            sent = self.sent_tokens.get(key, 0)
            if req.stream and (delta or len(req.output_ids) > sent):
                self._send(
                    req,
                    OutputChunk(
                        request_id=req.request_id,
                        index=req.index,
                        text=delta,
                        token_ids=list(req.output_ids[sent:]),
                        logprobs=outcome.logprobs.get(key, []),
                    ),
                )
            self.sent_tokens[key] = len(req.output_ids)
            if req.done:
                self._finish(req, d)

    def _finish(self, req: Req, d: IncrementalDetokenizer) -> None:
        reason = req.finish_reason or "abort"
        event = finish_event(req, reason)
        event.text = d.text
        event.token_ids = list(req.output_ids)
        event.matched_stop = req.matched_stop
        if req.prompt_logprobs_start is not None:
            event.prompt_logprobs = list(req.prompt_logprobs)
        if req.first_token_time is not None:
            event.usage.ttft_s = req.first_token_time - req.arrival
        self._send(req, event)
        if reason == "abort":
            self.metrics.aborted += 1
        else:
            self.metrics.finished += 1
        self.detok.pop(id(req), None)
        self.sent_tokens.pop(id(req), None)

    async def run(
        self,
        inbox: trio.MemoryReceiveChannel[Outcome],
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        async with inbox:
            task_status.started()
            async for outcome in inbox:
                try:
                    self.handle(outcome)
                finally:
                    outcome.step.done.set()
