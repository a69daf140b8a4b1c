"""The server over the real engine (a tiny random-weight llama on CPU), and a small load run
with scripts/load_test.py's load generator."""

from __future__ import annotations

import importlib.util
import socket
import sys
import threading
from pathlib import Path

import pytest
import trio
from server_harness import Raw, ServerThread

from radtrio.client import AsyncClient, Client, ServerError
from radtrio.server.protocol import Generate
from radtrio.types import GenerateRequest, SamplingParams

ROOT = Path(__file__).resolve().parent.parent


def load_script():
    spec = importlib.util.spec_from_file_location("load_test", ROOT / "scripts" / "load_test.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def load_test():
    return load_script()


@pytest.fixture(scope="module")
def live(load_test):
    from radtrio.config import EngineConfig
    from radtrio.engine import AsyncEngine
    from radtrio.models.random_model import random_model, shape_config

    shape = shape_config("tiny-llama", vocab_size=512, max_position_embeddings=512)
    loaded = random_model(shape, dtype="float32", device="cpu", tokenizer=load_test.ByteTokenizer())
    engine = AsyncEngine(
        EngineConfig(device="cpu", kv_slots=8192, max_running=16, cuda_graphs=False),
        loaded=loaded,
    )
    with ServerThread(engine) as st:
        yield st


def idle(live) -> bool:
    s = live.engine.stats(include_tree=False)
    return s.running == 0 and s.used_slots == 0 and s.queued == 0


def test_round_trip_on_the_real_engine(live):
    with Client(live.address, timeout=60) as c:
        assert c.info.model == live.engine.info.model and c.info.vocab_size == 512
        first = c.generate("The radix tree", max_new_tokens=8, temperature=0, ignore_eos=True)
        again = c.generate("The radix tree", max_new_tokens=8, temperature=0, ignore_eos=True)
        assert first.finish_reason == "length" and len(first.token_ids) == 8
        assert again.token_ids == first.token_ids  # greedy is deterministic
        assert again.usage.cached_tokens > 0  # the prompt came from the prefix cache
        chunks = list(c.stream("The radix tree", max_new_tokens=8, temperature=0, ignore_eos=True))
        assert [t for ch in chunks for t in ch.token_ids] == first.token_ids
        chat = c.generate("hi", system="be brief", max_new_tokens=4, temperature=0, ignore_eos=True)
        assert chat.usage.prompt_tokens > len("hi")
        assert c.detokenize(c.tokenize("héllo")) == "héllo"
        # logprobs, n samples and prompt logprobs survive the wire
        lp = list(c.stream("abc", max_new_tokens=3, logprobs=True, top_logprobs=2))
        assert [len(ch.logprobs) for ch in lp] == [1, 1, 1]
        for ch in lp:
            entry = ch.logprobs[0]
            assert entry.token_id == ch.token_ids[0] and entry.logprob <= 0.0
            assert len(entry.top) == 2 and all(isinstance(t, int) for t, _ in entry.top)
        multi = c.generate("abc", max_new_tokens=3, n=2, temperature=1.0, seed=1)
        assert [o.index for o in multi.outputs] == [0, 1]
        scored = c.generate("abc", max_new_tokens=1, return_prompt_logprobs=True)
        assert scored.outputs[0].prompt_logprobs and all(
            x <= 0.0 for x in scored.outputs[0].prompt_logprobs
        )
        snap = c.stats()
        assert snap.tree_nodes >= 1 and snap.finished_requests >= 4
        with pytest.raises(ServerError) as info:
            c.generate("x" * 600, max_new_tokens=4)
        assert info.value.code == "too_long"
    assert live.wait_until(lambda: idle(live), 10)


def test_disconnect_aborts_on_the_real_engine(live):
    raw = Raw(live.address)
    for i in range(4):
        raw.send(
            Generate(
                request=GenerateRequest(
                    request_id=f"d{i}",
                    text=f"long request {i}",
                    stream=True,
                    params=SamplingParams(max_new_tokens=400, ignore_eos=True),
                )
            )
        )
    raw.read(timeout=30)  # generation has started
    raw.sock.shutdown(socket.SHUT_RDWR)
    raw.close()
    assert live.wait_until(lambda: idle(live), 20)
    assert live.engine.stats(include_tree=False).aborted_requests >= 4


def test_concurrent_threads_and_async_clients(live):
    errors: list[BaseException] = []

    def worker(c: Client, i: int) -> None:
        try:
            with c.stream(f"thread {i}", max_new_tokens=6, ignore_eos=True) as s:
                for n, _ in enumerate(s):
                    if i % 4 == 0 and n == 1:
                        break
            if i % 4:
                assert len(s.completion.token_ids) == 6
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    with Client(live.address, timeout=60) as c:
        threads = [threading.Thread(target=worker, args=(c, i)) for i in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    assert not errors

    async def async_part() -> None:
        async with AsyncClient(live.address) as ac:
            outs = []

            async def one(i: int) -> None:
                outs.append(await ac.generate(f"async {i}", max_new_tokens=5, ignore_eos=True))

            async with trio.open_nursery() as n:
                for i in range(10):
                    n.start_soon(one, i)
            assert all(len(o.token_ids) == 5 for o in outs) and len(outs) == 10

    trio.run(async_part)
    assert live.wait_until(lambda: idle(live), 10)


def test_small_load_run(live, load_test):
    result = trio.run(
        lambda: load_test.run_load(
            live.address,
            clients=24,
            requests=3,
            max_new_tokens=8,
            abort_fraction=0.25,
            time_limit_s=90,
        )
    )
    load_test.check_pool(live.address, result, None)
    assert not result.timed_out
    assert result.failed == 0 and result.connect_failures == 0, result.failures
    assert result.completed + result.aborted == 24 * 3
    assert result.aborted > 0 and result.completed > 0
    assert result.leak_free, (result.used_slots_after, result.running_after)
