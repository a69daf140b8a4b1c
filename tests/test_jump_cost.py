"""When the executor takes a jump-forward: the cost model behind the threshold."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from radtrio.actors.jump_cost import JumpForwardCost, step_kind
from radtrio.actors.scheduler import StepPlan


def plan(*entries: tuple[int, bool]) -> StepPlan:
    """A plan whose entries compute ``n`` new tokens each (``prefill`` marks prompt chunks)."""
    seqs = [SimpleNamespace(new_ids=[7] * n, prefill=prefill) for n, prefill in entries]
    return StepPlan(entries=seqs, batch=None, prefill_tokens=0, decode_tokens=0)


def test_step_kinds():
    assert step_kind(plan((1, False), (1, False))) == "decode"
    assert step_kind(plan((1, False), (6, False))) == "extend"
    assert step_kind(plan((1, False), (40, True))) is None  # a prompt chunk tells nothing
    assert step_kind(plan()) is None


def test_unmeasured_or_cpu_jumps_at_one_token():
    cost = JumpForwardCost()
    cost.observe(plan((1, False)), 0.001)
    cost.observe(plan((5, False)), 0.050)
    assert cost.min_tokens() == 1  # measured=False: the CPU default
    learning = JumpForwardCost(measured=True)
    assert learning.min_tokens() == 1  # nothing seen yet: the first jump shows its cost
    learning.observe(plan((1, False)), 0.001)
    assert learning.min_tokens() == 1  # no extend step seen yet


def test_graph_decode_against_eager_extend_raises_the_threshold():
    cost = JumpForwardCost(measured=True)
    for _ in range(20):
        cost.observe(plan((1, False), (1, False)), 0.001)  # graph replay
    cost.observe(plan((1, False), (6, False)), 0.021)  # eager extend
    assert cost.min_tokens() == 20  # 20 decode steps' worth of extra time
    for _ in range(50):  # extends get as cheap as decodes: jump at every forced token
        cost.observe(plan((1, False), (6, False)), 0.001)
    assert cost.min_tokens() == 1


@pytest.mark.parametrize("fixed", [1, 4, 50])
def test_a_fixed_threshold_wins(fixed):
    cost = JumpForwardCost(fixed_min_tokens=fixed, measured=True)
    cost.observe(plan((1, False)), 0.001)
    cost.observe(plan((6, False)), 1.0)
    assert cost.min_tokens() == fixed
