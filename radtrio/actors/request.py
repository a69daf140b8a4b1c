"""The engine's record of one sample of one request, as it moves through the actors."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import trio

from radtrio.types import Constraint, SamplingParams


class ReqState(enum.Enum):
    COMPILING = "compiling"  # waiting for its constraint to compile
    QUEUED = "queued"  # waiting for a prefill slot
    PREFILL = "prefill"  # part of its prompt is prefilled (chunked prefill)
    RUNNING = "running"  # decoding
    FINISHED = "finished"


@dataclass(eq=False)
class Req:
    request_id: str
    index: int  # sample index (0..n-1)
    prompt_ids: list[int]
    params: SamplingParams
    arrival: float  # trio.current_time() at ingress
    out: trio.MemorySendChannel[Any]  # events to the caller
    constraint: Constraint | None = None
    namespace: str | None = None
    prompt_logprobs_start: int | None = None  # score prompt tokens from this position on
    stream: bool = False
    leader: Req | None = None  # for n > 1: the sample that prefills the shared prompt first

    state: ReqState = ReqState.QUEUED
    output_ids: list[int] = field(default_factory=list)
    # KV bookkeeping: slots[:len] hold the KV of (prompt_ids + output_ids)[:len]; the first
    # cached_len came from the radix tree and are protected by locking last_node.
    slots: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    last_node: Any = None
    cached_len: int = 0  # tokens owned by the tree (locked through last_node)
    matched_len: int = 0  # cache hit at admission (for usage / metrics)
    kv_len: int = 0  # tokens whose KV is computed and stored
    pending_ids: list[int] = field(default_factory=list)  # forced tokens to extend (jump-forward)

    guide: Any = None  # FSM guide when constrained
    finish_reason: str | None = None
    matched_stop: str | int | None = None
    aborted: bool = False
    error: str | None = None

    # Metrics
    first_token_time: float | None = None
    last_token_time: float | None = None
    decode_steps: int = 0
    forced_tokens: int = 0
    prompt_logprobs: list[float] = field(default_factory=list)
    admitted_rounds: int = 0
    retractions: int = 0
    seed: int = 0

    @property
    def all_ids(self) -> list[int]:
        return self.prompt_ids + self.output_ids

    @property
    def total_len(self) -> int:
        return len(self.prompt_ids) + len(self.output_ids)

    @property
    def done(self) -> bool:
        return self.finish_reason is not None or self.aborted

    @property
    def key(self) -> str:
        return f"{self.request_id}#{self.index}"
