"""Ingress: validate and tokenize requests, then hand their samples to the prefix matcher."""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from typing import Any

import trio

from radtrio.actors.request import Req, ReqState
from radtrio.types import GenerateRequest, RequestError

log = logging.getLogger(__name__)


@dataclass
class Submission:
    request: GenerateRequest
    out: trio.MemorySendChannel[Any]  # the request's event stream (shared by its samples)
    reply: trio.MemorySendChannel[RequestError | list[Req]]


class Tokenizing:
    """Turns a request's text / messages / ids into prompt token ids, with clear errors."""

    def __init__(self, tokenizer: Any, context_len: int, vocab_size: int) -> None:
        self.tokenizer = tokenizer
        self.context_len = context_len
        self.vocab_size = vocab_size

    def prompt_ids(self, request: GenerateRequest) -> list[int]:
        given = [
            name
            for name, value in (
                ("text", request.text),
                ("messages", request.messages),
                ("input_ids", request.input_ids),
            )
            if value is not None
        ]
        if len(given) != 1:
            raise RequestError(
                "a request must set exactly one of text, messages, input_ids; "
                f"got {given or 'none'}"
            )
        if request.input_ids is not None:
            ids = list(request.input_ids)
            for t in ids:
                if not 0 <= t < self.vocab_size:
                    raise RequestError(
                        f"input_ids holds {t}: token ids must be in [0, {self.vocab_size})"
                    )
        elif request.messages is not None:
            if not request.messages:
                raise RequestError("messages is empty: give at least one {role, content}")
            for i, m in enumerate(request.messages):
                if m.role not in ("system", "user", "assistant", "tool"):
                    raise RequestError(
                        f"messages[{i}].role={m.role!r}: must be system, user, assistant or tool"
                    )
            chat = [{"role": m.role, "content": m.content} for m in request.messages]
            continue_last = request.messages[-1].role == "assistant"
            try:
                ids = self.tokenizer.apply_chat_template(
                    chat,
                    tokenize=True,
                    add_generation_prompt=not continue_last,
                    continue_final_message=continue_last,
                )
            except Exception as err:  # a template that refuses these messages
                raise RequestError(
                    f"messages could not be rendered with the chat template: {err}"
                ) from err
            if hasattr(ids, "input_ids"):
                ids = ids["input_ids"]
            ids = list(ids)
        else:
            ids = list(self.tokenizer(request.text, add_special_tokens=True)["input_ids"])
        if not ids:
            raise RequestError("the prompt is empty: it must hold at least one token")
        return ids


class Ingress:
    def __init__(self, tokenizing: Tokenizing, rng_seed: int = 0) -> None:
        self.tokenizing = tokenizing
        self.rng = random.Random(rng_seed)
        self.accepting = True

    def make_reqs(self, sub: Submission) -> list[Req]:
        request = sub.request
        if not self.accepting:
            raise RequestError("the server is shutting down", code="shutting_down")
        params = request.params
        params.validate(self.tokenizing.context_len, self.tokenizing.vocab_size)
        if request.constraint is not None:
            request.constraint.validate()
        ids = self.tokenizing.prompt_ids(request)
        limit = self.tokenizing.context_len
        if len(ids) + params.max_new_tokens > limit:
            raise RequestError(
                f"prompt of {len(ids)} tokens + max_new_tokens={params.max_new_tokens} "
                f"= {len(ids) + params.max_new_tokens} exceeds the context length {limit}",
                code="too_long",
            )
        start = None
        if request.return_prompt_logprobs:
            start = request.prompt_logprobs_start
            if not 1 <= start < len(ids):
                raise RequestError(
                    f"prompt_logprobs_start={start} is invalid: must be in [1, {len(ids) - 1}] "
                    f"for a prompt of {len(ids)} tokens"
                )
        now = trio.current_time()
        reqs: list[Req] = []
        for index in range(params.n):
            seed = (params.seed + index) if params.seed is not None else self.rng.getrandbits(63)
            req = Req(
                request_id=request.request_id,
                index=index,
                prompt_ids=list(ids),
                params=params,
                arrival=now,
                out=sub.out,
                constraint=request.constraint,
                namespace=request.namespace,
                prompt_logprobs_start=start,
                stream=request.stream,
                seed=seed,
            )
            if request.constraint is not None:
                req.state = ReqState.COMPILING
            reqs.append(req)
        for req in reqs[1:]:
            req.leader = reqs[0]
        return reqs

    async def run(
        self,
        submissions: trio.MemoryReceiveChannel[Submission],
        to_matcher: trio.MemorySendChannel[Req],
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        async with submissions, to_matcher:
            task_status.started()
            async for sub in submissions:
                try:
                    reqs = self.make_reqs(sub)
                except RequestError as err:
                    sub.reply.send_nowait(err)
                    continue
                try:
                    sub.reply.send_nowait(reqs)
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    continue  # the caller left (cancelled) before admission
                for req in reqs:
                    await to_matcher.send(req)
