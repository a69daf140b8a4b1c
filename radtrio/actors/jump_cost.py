"""When a jump-forward pays for itself: the fewest forced tokens worth one extend step.

A jump-forward appends k forced tokens in one extend step instead of k decode steps. On
the CPU an extend of a few tokens costs about what a decode step costs, so any k >= 1
wins. On CUDA the decode step replays a captured graph while a step with an extend runs
eagerly, launch by launch (tens of times slower for a small model), so short forced runs
are cheaper decoded one token per step. With ``measured`` on, the executor learns the two
step times as they happen (exponential averages of the model's forward time) and asks for
``ceil((extend - decode) / decode)`` forced tokens before it jumps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from radtrio.actors.scheduler import StepPlan


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


@dataclass
class JumpForwardCost:
    fixed_min_tokens: int | None = None  # a set threshold (EngineConfig.jump_forward_min_tokens)
    measured: bool = False  # learn the threshold from step times (CUDA graphs on)
    smoothing: float = 0.2  # weight of the newest step in the averages
    decode_s: float | None = None
    extend_s: float | None = None

    def observe(self, plan: StepPlan, forward_s: float) -> None:
        kind = step_kind(plan)
        if kind is None or forward_s <= 0:
            return
        old = self.decode_s if kind == "decode" else self.extend_s
        new = forward_s if old is None else old + self.smoothing * (forward_s - old)
        if kind == "decode":
            self.decode_s = new
        else:
            self.extend_s = new

    def min_tokens(self) -> int:
        """Forced tokens a jump must gain (appended minus rolled back) to be taken."""
        if self.fixed_min_tokens is not None:
            return self.fixed_min_tokens
        if not self.measured or self.decode_s is None or self.extend_s is None:
            return 1
        return max(1, math.ceil((self.extend_s - self.decode_s) / self.decode_s))
