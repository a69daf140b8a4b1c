"""The actors with a fake runner: batching, streaming, abort, backpressure, retraction,
starvation, shutdown. No model: the fake answers deterministically (engine_fakes)."""

from __future__ import annotations

import numpy as np
import pytest
import trio
from engine_fakes import CharTokenizer, FakeRunner, expected_text, make_engine

from radtrio.actors.request import Req
from radtrio.actors.scheduler import Scheduler, SchedulerConfig, record_computed
from radtrio.cache.allocator import SlotAllocator
from radtrio.cache.policy import RadixCache
from radtrio.types import GenerateRequest, OutputChunk, OutputFinished, RequestError, SamplingParams

TOK = CharTokenizer()


def req(text: str, max_new: int = 8, stream: bool = False, **params) -> GenerateRequest:
    return GenerateRequest(
        text=text,
        params=SamplingParams(max_new_tokens=max_new, temperature=0.0, **params),
        stream=stream,
    )


async def collect(engine, request):
    chunks, finals = [], []
    async with engine.generate(request) as events:
        async for ev in events:
            (finals if isinstance(ev, OutputFinished) else chunks).append(ev)
    return chunks, finals


def assert_clean(engine) -> None:
    engine.cache.check_integrity(idle=True)
    stats = engine.stats()
    assert stats.used_slots == 0
    assert stats.free_slots + stats.evictable_slots == stats.pool_slots


@pytest.mark.trio
async def test_batch_of_requests_gives_each_its_own_output(autojump_clock):
    runner = FakeRunner()
    engine = make_engine(runner)
    prompts = ["hello there", "hello there, friend", "something else", "x"]
    results = {}
    async with trio.open_nursery() as nursery:
        await nursery.start(engine.run)

        async def one(p: str) -> None:
            results[p] = await collect(engine, req(p, max_new=6))

        async with trio.open_nursery() as inner:
            for p in prompts:
                inner.start_soon(one, p)
        await engine.wait_idle()
        assert_clean(engine)
        nursery.cancel_scope.cancel()
    for p in prompts:
        (final,) = results[p][1]
        assert final.text == expected_text(TOK(p)["input_ids"], 6)
        assert final.finish_reason == "length"
        assert final.usage.completion_tokens == 6
    # Requests ran together: some step held more than one sequence.
    assert max(len(w.batch.seq_lens) for w in runner.steps) > 1
    # the event-loop thread gives up its idle worker threads before every step
    assert runner.loop_releases == len(runner.steps)


@pytest.mark.trio
async def test_streamed_chunks_add_up_to_the_final_text(autojump_clock):
    engine = make_engine()
    async with trio.open_nursery() as nursery:
        await nursery.start(engine.run)
        chunks, (final,) = await collect(engine, req("stream me", max_new=10, stream=True))
        nursery.cancel_scope.cancel()
    assert len(chunks) >= 2
    assert "".join(c.text for c in chunks) == final.text
    assert sum(len(c.token_ids) for c in chunks) == 10


@pytest.mark.trio
async def test_stop_string_across_chunks_is_trimmed(autojump_clock):
    engine = make_engine()
    prompt_ids = TOK("abc")["input_ids"]
    full = expected_text(prompt_ids, 12)
    stop = full[4:7]  # spans several single-token chunks
    async with trio.open_nursery() as nursery:
        await nursery.start(engine.run)
        chunks, (final,) = await collect(engine, req("abc", max_new=12, stream=True, stop=[stop]))
        nursery.cancel_scope.cancel()
    assert final.finish_reason == "stop"
    assert final.matched_stop == stop
    assert final.text == full[:4]
    assert "".join(c.text for c in chunks) == full[:4]


@pytest.mark.trio
async def test_abort_by_leaving_the_stream_frees_everything(autojump_clock):
    runner = FakeRunner()
    engine = make_engine(runner)
    async with trio.open_nursery() as nursery:
        await nursery.start(engine.run)
        other = {}

        async def bystander() -> None:
            other["r"] = await collect(engine, req("bystander", max_new=40))

        nursery.start_soon(bystander)
        seen = 0
        async with engine.generate(req("abort me", max_new=1000, stream=True)) as events:
            async for ev in events:
                assert isinstance(ev, OutputChunk)
                seen += 1
                if seen == 3:
                    break
        await engine.wait_idle()
        assert_clean(engine)
        assert engine.metrics.aborted == 1
        nursery.cancel_scope.cancel()
    (final,) = other["r"][1]
    assert final.text == expected_text(TOK("bystander")["input_ids"], 40)
    # The aborted request stopped long before its 1000 tokens.
    assert sum(1 for w in runner.steps for _ in w.sampling) < 200


@pytest.mark.trio
async def test_abort_by_id_reports_abort(autojump_clock):
    engine = make_engine(FakeRunner(step_delay_s=0.001))
    async with trio.open_nursery() as nursery:
        await nursery.start(engine.run)
        request = req("by id", max_new=500, stream=True)
        request.request_id = "r-1"
        finals = []
        async with engine.generate(request) as events:
            async for ev in events:
                if isinstance(ev, OutputChunk):
                    assert await engine.abort("r-1")
                else:
                    finals.append(ev)
        assert finals[0].finish_reason == "abort"
        assert not await engine.abort("no-such-request")
        await engine.wait_idle()
        assert_clean(engine)
        nursery.cancel_scope.cancel()


@pytest.mark.trio
async def test_bad_input_is_rejected_with_the_field_named(autojump_clock):
    engine = make_engine()
    async with trio.open_nursery() as nursery:
        await nursery.start(engine.run)
        with pytest.raises(RequestError, match="top_p"):
            await collect(engine, GenerateRequest(text="x", params=SamplingParams(top_p=1.5)))
        with pytest.raises(RequestError, match="context length 2048") as err:
            await collect(engine, req("y" * 2000, max_new=100))
        assert err.value.code == "too_long"
        with pytest.raises(RequestError, match="exactly one of text, messages, input_ids"):
            await collect(engine, GenerateRequest(text="a", input_ids=[3]))
        with pytest.raises(RequestError, match="input_ids holds 9999"):
            await collect(engine, GenerateRequest(input_ids=[9999]))
        # The engine still serves after all of that.
        _, (final,) = await collect(engine, req("still fine", max_new=3))
        assert final.finish_reason == "length"
        nursery.cancel_scope.cancel()


@pytest.mark.trio
async def test_backpressure_rejects_beyond_the_queue_limit(autojump_clock):
    runner = FakeRunner()
    runner.gate.clear()  # hold the first step so requests pile up
    engine = make_engine(runner, max_queued=3, max_running=2)
    accepted, rejected = [], []
    async with trio.open_nursery() as nursery:
        await nursery.start(engine.run)

        async def one(i: int) -> None:
            try:
                _, finals = await collect(engine, req(f"req {i}", max_new=2))
                accepted.append(finals[0])
            except RequestError as err:
                assert err.code == "overloaded"
                assert "limit 5" in str(err)
                rejected.append(i)

        async with trio.open_nursery() as inner:
            for i in range(8):
                inner.start_soon(one, i)
                await trio.sleep(0.01)
            await trio.sleep(0.1)
            runner.gate.set()
        nursery.cancel_scope.cancel()
    assert len(accepted) == 5
    assert len(rejected) == 3


@pytest.mark.trio
async def test_retraction_under_a_tiny_pool_keeps_outputs_exact(autojump_clock):
    # 8 requests of ~12 prompt tokens growing to 40 tokens: 320 slots needed, 120 given.
    engine = make_engine(num_slots=121, max_running=8, chunked_prefill_size=64)
    prompts = [f"prompt nr {i:02d}" for i in range(8)]
    results = {}
    async with trio.open_nursery() as nursery:
        await nursery.start(engine.run)

        async def one(p: str) -> None:
            results[p] = await collect(engine, req(p, max_new=28))

        async with trio.open_nursery() as inner:
            for p in prompts:
                inner.start_soon(one, p)
        await engine.wait_idle()
        assert_clean(engine)
        assert engine.scheduler.retractions > 0
        nursery.cancel_scope.cancel()
    for p in prompts:
        (final,) = results[p][1]
        assert final.text == expected_text(TOK(p)["input_ids"], 28)


@pytest.mark.trio
async def test_chunked_prefill_respects_the_budget(autojump_clock):
    runner = FakeRunner()
    engine = make_engine(runner, chunked_prefill_size=16)
    async with trio.open_nursery() as nursery:
        await nursery.start(engine.run)
        _, (final,) = await collect(engine, req("z" * 100, max_new=4))
        nursery.cancel_scope.cancel()
    assert runner.max_tokens_in_step <= 16
    assert final.text == expected_text(TOK("z" * 100)["input_ids"], 4)


@pytest.mark.trio
async def test_shared_prefix_is_computed_once(autojump_clock):
    runner = FakeRunner()
    engine = make_engine(runner)
    system = "You are a terse assistant. " * 4
    async with trio.open_nursery() as nursery:
        await nursery.start(engine.run)
        async with trio.open_nursery() as inner:
            for i in range(6):
                inner.start_soon(collect, engine, req(system + f"question {i}", max_new=3))
        await engine.wait_idle()
        stats = engine.stats()
        nursery.cancel_scope.cancel()
    prefix_len = len(TOK(system)["input_ids"])
    computed = sum(
        n
        for w in runner.steps
        for n, s in zip(w.batch.extend_lens, w.batch.seq_lens, strict=True)
        if s > 1 and n > 1
    )
    # The 108-token prefix is computed once, not six times.
    assert computed < prefix_len * 2 + 6 * 20
    assert stats.total_cached_tokens >= 5 * (prefix_len - 1)
    assert stats.cache_hit_rate > 0.6


@pytest.mark.trio
async def test_n_samples_share_the_prompt(autojump_clock):
    engine = make_engine()
    async with trio.open_nursery() as nursery:
        await nursery.start(engine.run)
        request = GenerateRequest(
            text="p" * 64, params=SamplingParams(max_new_tokens=4, temperature=0.7, n=3, seed=5)
        )
        _, finals = await collect(engine, request)
        nursery.cancel_scope.cancel()
    assert sorted(f.index for f in finals) == [0, 1, 2]
    assert sum(f.usage.cached_tokens for f in finals) >= 2 * 63


@pytest.mark.trio
async def test_graceful_shutdown_finishes_short_and_aborts_long_work():
    engine = make_engine(FakeRunner(step_delay_s=0.002))
    async with trio.open_nursery() as nursery:
        await nursery.start(engine.run)
        results = {}

        async def one(name: str, max_new: int) -> None:
            results[name] = await collect(engine, req(name, max_new=max_new))

        nursery.start_soon(one, "short", 3)
        nursery.start_soon(one, "long", 100000 // 100)
        await trio.sleep(0.05)
        await engine.shutdown(deadline_s=0.3)
        with pytest.raises(RequestError) as err:
            await collect(engine, req("late", max_new=2))
        assert err.value.code in ("shutting_down",)
    assert results["short"][1][0].finish_reason == "length"
    assert results["long"][1][0].finish_reason == "abort"


def _sched_req(tokens: list[int], arrival: float) -> Req:
    send, _recv = trio.open_memory_channel(100)
    return Req("r", 0, tokens, SamplingParams(max_new_tokens=1), arrival, send)


def _run_until_admitted(policy: str, starvation_s: float) -> int | None:
    """A cold request among a stream of requests hitting a cached prefix, one admission
    per step; returns the step at which the cold one was admitted (None = never)."""
    clock = [0.0]
    cache = RadixCache(SlotAllocator(10_000), clock=lambda: clock[0])
    hot = list(range(100, 400))
    cache.insert(hot, cache.alloc(len(hot)))
    sched = Scheduler(
        cache,
        SchedulerConfig(max_running=1, chunk_size=4096, policy=policy, starvation_s=starvation_s),
        clock=lambda: clock[0],
    )
    cold = _sched_req(list(range(1000, 1050)), arrival=0.0)
    sched.add(cold)
    for step in range(60):
        sched.add(_sched_req(hot + [7, step], arrival=clock[0]))
        plan = sched.schedule()
        assert plan is not None
        record_computed(plan)
        for e in plan.entries:
            if e.req is cold:
                return step
            e.req.output_ids.append(5)
            e.req.finish_reason = "length"
        clock[0] += 1.0
    return None


def test_lpm_aging_bounds_starvation():
    assert _run_until_admitted("lpm", starvation_s=float("inf")) is None  # pure lpm starves it
    step = _run_until_admitted("lpm", starvation_s=10.0)
    assert step is not None and step <= 11
    assert _run_until_admitted("fcfs", starvation_s=float("inf")) == 0


def test_dfs_weight_runs_the_heaviest_subtree_first():
    cache = RadixCache(SlotAllocator(10_000))
    a, b = list(range(10, 60)), list(range(200, 250))
    cache.insert(a, cache.alloc(len(a)))
    cache.insert(b, cache.alloc(len(b)))
    sched = Scheduler(cache, SchedulerConfig(policy="dfs-weight"), clock=lambda: 0.0)
    reqs = [_sched_req(b + [1, 2], 0.0)] + [_sched_req(a + [i, 3], 1.0 + i) for i in range(3)]
    for r in reqs:
        sched.add(r)
    order = sched._order_waiting()
    assert order[:3] == reqs[1:]  # the three under prefix `a` first, though `b` came first
    assert order[3] is reqs[0]
    assert np.all([r.state.value == "queued" for r in order])


async def _random_workload(seed: int) -> None:
    import random

    rng = random.Random(seed)
    engine = make_engine(
        FakeRunner(),
        num_slots=rng.choice([200, 400, 2000]),
        max_running=rng.choice([2, 4, 16]),
        chunked_prefill_size=rng.choice([16, 64, 512]),
        schedule_policy=rng.choice(["lpm", "fcfs", "dfs-weight"]),
    )
    prefixes = ["".join(rng.choice("abcdef") for _ in range(rng.randint(5, 60))) for _ in range(4)]
    async with trio.open_nursery() as nursery:
        await nursery.start(engine.run)

        async def one(i: int) -> None:
            text = rng.choice(prefixes) + str(i) * rng.randint(1, 5)
            params = SamplingParams(
                max_new_tokens=rng.randint(1, 30),
                temperature=rng.choice([0.0, 0.8]),
                n=rng.choice([1, 1, 2]),
                seed=i,
            )
            stop_after = rng.choice([None, None, 1, 3, 10])
            await trio.sleep(rng.random() * 0.05)
            with trio.move_on_after(rng.choice([100, 100, 0.01])):
                async with engine.generate(
                    GenerateRequest(text=text, params=params, stream=True)
                ) as ev:
                    seen = 0
                    async for _ in ev:
                        seen += 1
                        if stop_after and seen >= stop_after:
                            break

        async with trio.open_nursery() as inner:
            for i in range(60):
                inner.start_soon(one, i)
        await engine.wait_idle()
        await trio.sleep(0.2)
        assert_clean(engine)
        assert engine.batcher.integrity_errors == 0
        nursery.cancel_scope.cancel()


@pytest.mark.parametrize("seed", range(6))
def test_random_workloads_with_aborts_leak_nothing(seed):
    """Mixed prefixes, n > 1, aborts (by leaving, by timeout), tiny pools, every policy."""
    trio.run(_random_workload, seed)
