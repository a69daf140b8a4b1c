"""When the executor takes a jump-forward: the cost model behind the threshold."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from radtrio.actors.executor import Executor, Outcome
from radtrio.actors.jump_cost import EXPLORE_EXTENDS, WINDOW, JumpForwardCost, step_kind
from radtrio.actors.scheduler import StepPlan
from radtrio.metrics import Metrics


def plan(*entries: tuple[int, bool]) -> StepPlan:
    """A plan whose entries compute ``n`` new tokens each (``prefill`` marks prompt chunks)."""
    seqs = [SimpleNamespace(new_ids=[7] * n, prefill=prefill) for n, prefill in entries]
    return StepPlan(entries=seqs, batch=None, prefill_tokens=0, decode_tokens=0)


def test_step_kinds():
    assert step_kind(plan((1, False), (1, False))) == "decode"
    assert step_kind(plan((1, False), (6, False))) == "extend"
    assert step_kind(plan((1, False), (40, True))) is None  # a prompt chunk tells nothing
    assert step_kind(plan()) is None


def test_unmeasured_or_cpu_takes_any_gain():
    cost = JumpForwardCost()
    cost.observe(plan((1, False)), 0.001)
    cost.observe(plan((5, False)), 0.050)
    assert cost.worth(1) and not cost.worth(0)  # measured=False: the CPU default
    assert cost.min_tokens() == 1


def test_learning_waits_for_a_decode_step_then_explores_extends():
    cost = JumpForwardCost(measured=True)
    assert not cost.worth(1000)  # nothing to weigh a jump against yet
    cost.observe(plan((1, False), (40, True)), 0.5)  # a prompt chunk: neither kind
    assert not cost.worth(1000)
    cost.observe(plan((1, False)), 0.001)
    for _ in range(3):  # the first extend steps are taken to time them
        assert cost.worth(1)
        cost.observe(plan((1, False), (6, False)), 0.021)
    assert not cost.worth(19) and cost.worth(20)  # 20 decode steps' worth of extra time


def test_graph_decode_against_eager_extend_needs_a_batch_worth_of_tokens():
    cost = JumpForwardCost(measured=True)
    for _ in range(20):
        cost.observe(plan((1, False), (1, False)), 0.001)  # graph replay
    for _ in range(5):
        cost.observe(plan((1, False), (6, False)), 0.021)  # eager extend
    assert cost.needed_gain() == pytest.approx(20)
    assert not cost.worth(12) and cost.worth(12 + 8)  # jumps of one step count together
    for _ in range(WINDOW):  # extends get as cheap as decodes: any gain pays
        cost.observe(plan((1, False), (6, False)), 0.001)
    assert cost.worth(1)


def test_one_slow_extend_does_not_stop_jumps():
    cost = JumpForwardCost(measured=True)
    cost.observe(plan((1, False)), 0.010)
    cost.observe(plan((6, False)), 3.0)  # the first eager step compiled kernels
    for _ in range(4):
        cost.observe(plan((6, False)), 0.015)
    assert cost.needed_gain() == pytest.approx(0.5)  # the median ignores the outlier
    assert cost.worth(1)


@pytest.mark.parametrize("fixed", [1, 4, 50])
def test_a_fixed_threshold_wins(fixed):
    cost = JumpForwardCost(fixed_min_tokens=fixed, measured=True)
    cost.observe(plan((1, False)), 0.001)
    cost.observe(plan((6, False)), 1.0)
    assert cost.min_tokens() == fixed  # per request
    assert cost.worth(1)  # and no per-step rule on top


class FakeGuide:
    """Forces ``forced`` bytes; one token per byte; advance/rollback only count."""

    def __init__(self, forced: bytes) -> None:
        self.forced, self.advanced = forced, 0

    def forced_bytes(self) -> bytes:
        return self.forced[self.advanced :]

    def advance(self, token: int) -> None:
        self.advanced += 1

    def rollback(self, k: int) -> None:
        self.advanced -= k

    def is_finished(self) -> bool:
        return False


def fake_req(forced: bytes) -> SimpleNamespace:
    return SimpleNamespace(
        guide=FakeGuide(forced), params=SimpleNamespace(jump_forward=True, max_new_tokens=100),
        prompt_ids=[1, 2, 3], output_ids=[5], cached_len=0, kv_len=4, forced_tokens=0,
        total_len=4, finish_reason=None,
    )  # fmt: skip


def jump_planner(guide: FakeGuide, output_ids: list[int]) -> SimpleNamespace | None:
    n = len(guide.forced_bytes())
    return SimpleNamespace(rollback=0, token_ids=list(range(100, 100 + n))) if n else None


def executor_with(cost: JumpForwardCost) -> Executor:
    return Executor(None, Metrics(), {0}, 4096, jump_planner=jump_planner, jump_cost=cost)


def measured_cost(decode_s: float, extend_s: float) -> JumpForwardCost:
    cost = JumpForwardCost(measured=True)
    cost.observe(plan((1, False)), decode_s)
    for _ in range(EXPLORE_EXTENDS):
        cost.observe(plan((6, False)), extend_s)
    return cost


def test_the_jumps_of_one_step_are_weighed_together():
    cost = measured_cost(0.001, 0.016)  # an eager step costs 15 decode steps more
    one = [fake_req(b"0123456789")]
    ex = executor_with(cost)
    ex._jump_forward(one, Outcome(step=None))
    assert one[0].forced_tokens == 0 and one[0].output_ids == [5]  # 10 < 15: decode instead
    two = [fake_req(b"0123456789"), fake_req(b"abcdefgh")]
    out = Outcome(step=None)
    ex._jump_forward(two, out)  # 10 + 8 >= 15: both jump in the same extend step
    assert [r.forced_tokens for r in two] == [10, 8]
    assert two[1].output_ids == [5, *range(100, 108)] and out.new_tokens[id(two[1])]


def test_cpu_jumps_whatever_the_gain_and_a_fixed_threshold_is_per_request():
    reqs = [fake_req(b"ab"), fake_req(b"abcdef")]
    executor_with(JumpForwardCost())._jump_forward(reqs, Outcome(step=None))
    assert [r.forced_tokens for r in reqs] == [2, 6]
    reqs = [fake_req(b"ab"), fake_req(b"abcdef")]
    executor_with(JumpForwardCost(fixed_min_tokens=4))._jump_forward(reqs, Outcome(step=None))
    assert [r.forced_tokens for r in reqs] == [0, 6]


def test_no_jump_before_a_decode_step_was_timed():
    reqs = [fake_req(b"x" * 200)]
    executor_with(JumpForwardCost(measured=True))._jump_forward(reqs, Outcome(step=None))
    assert reqs[0].forced_tokens == 0
