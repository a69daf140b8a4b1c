"""When jump-forwards pay for themselves: a step's forced tokens against its extra cost.

A jump-forward appends k forced tokens in one extend step instead of k decode steps. On
the CPU an extend of a few tokens costs about what a decode step costs, so any k >= 1
wins. On CUDA a decode step replays a captured graph while a step with an extend in it runs
eagerly, launch by launch, and it does so for the whole batch: one request's jump makes
every running request's step the eager one. So with ``measured`` on the executor decides
per step, for all the jumps on offer together: they are taken when the decode steps they
save (their total gained tokens x the decode step time) outweigh what the eager step costs
over a decode step. Step times are medians of the last few steps of each kind (forward +
sample, which waits for the device), so one slow first extend (kernels compiled for a new
shape) cannot stop jumps for good.
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from dataclasses import dataclass, field

from radtrio.actors.scheduler import StepPlan

WINDOW = 16  # step times remembered per kind
EXPLORE_EXTENDS = 3  # extend steps always taken first, to measure them


def step_kind(plan: StepPlan) -> str | None:
    """``"decode"`` (every entry one new token), ``"extend"`` (a jump-forward extend among
    decodes), or None (a prompt chunk: neither tells the jump's cost)."""
    kind = "decode"
    for entry in plan.entries:
        if entry.prefill:
            return None
        if len(entry.new_ids) > 1:
            kind = "extend"
    return kind if plan.entries else None


def _median(times: deque[float]) -> float | None:
    return statistics.median(times) if times else None


@dataclass
class JumpForwardCost:
    fixed_min_tokens: int | None = None  # a set per-request threshold (EngineConfig)
    measured: bool = False  # decide from measured step times (CUDA graphs on)
    decode_times: deque[float] = field(default_factory=lambda: deque(maxlen=WINDOW))
    extend_times: deque[float] = field(default_factory=lambda: deque(maxlen=WINDOW))

    def observe(self, plan: StepPlan, step_s: float) -> None:
        kind = step_kind(plan)
        if kind is None or step_s <= 0:
            return
        (self.decode_times if kind == "decode" else self.extend_times).append(step_s)

    @property
    def decode_s(self) -> float | None:
        return _median(self.decode_times)

    @property
    def extend_s(self) -> float | None:
        return _median(self.extend_times)

    def min_tokens(self) -> int:
        """Tokens one request's jump must gain (appended minus rolled back) to be offered."""
        return self.fixed_min_tokens if self.fixed_min_tokens is not None else 1

    def needed_gain(self) -> float:
        """Tokens the jumps of one step must gain together to be taken (inf: none now)."""
        if self.fixed_min_tokens is not None or not self.measured:
            return 0
        decode, extend = self.decode_s, self.extend_s
        if decode is None:
            return math.inf  # no decode step timed yet: nothing to weigh a jump against
        if extend is None or len(self.extend_times) < EXPLORE_EXTENDS:
            return 0  # take the first few, to learn what an extend step costs
        return max(0.0, (extend - decode) / decode)

    def worth(self, gained: int) -> bool:
        """Whether jumps gaining ``gained`` tokens in one step pay for their extend step."""
        return gained > 0 and gained >= self.needed_gain()
