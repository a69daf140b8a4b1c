"""EngineBackend's thread plumbing on the engine with a fake model: requests from many
threads, streams that stop early abort their request, errors reach the calling thread,
and a closed backend says so."""

from __future__ import annotations

import time

import pytest
from engine_fakes import CharTokenizer, FakeRunner, expected_text, make_engine

import radtrio.lang as rt
from radtrio.lang.chat import ChatTemplateError
from radtrio.types import GenerateRequest, OutputFinished, RequestError, SamplingParams


def req(text: str, n: int) -> GenerateRequest:
    return GenerateRequest(
        text=text, params=SamplingParams(max_new_tokens=n, temperature=0.0, ignore_eos=True)
    )


def ids(text: str) -> list[int]:
    return CharTokenizer()(text)["input_ids"]


@pytest.fixture
def backend():
    with rt.EngineBackend(make_engine(FakeRunner(step_delay_s=0.002))) as b:
        yield b


def test_programs_from_many_threads_get_the_engines_answers(backend):
    @rt.function
    def prog(s, word):
        s += word
        s += rt.gen("x", max_tokens=5, ignore_eos=True)
        forks = s.fork(2)
        forks += "!" + rt.gen("y", max_tokens=3, ignore_eos=True)
        return forks.var("y")

    words = [f"w{i}" * (i + 1) for i in range(6)]
    states = prog.run_batch([{"word": w} for w in words], backend=backend, max_workers=6)
    for w, st in zip(words, states, strict=True):
        assert st["x"] == expected_text(ids(w), 5)
        branch = w + st["x"] + "!"
        assert st.ret_value == [expected_text(ids(branch), 3)] * 2
    stats = backend.stats()
    assert stats.finished_requests == 6 * 4  # gen, fork prefill, two branch gens
    assert stats.total_cached_tokens > 0


def test_stream_deltas_then_finished(backend):
    events = list(backend.stream(req("hello", 6)))
    assert isinstance(events[-1], OutputFinished)
    assert "".join(events[:-1]) == events[-1].text == expected_text(ids("hello"), 6)


def test_leaving_a_stream_early_aborts_the_request(backend):
    stream = backend.stream(req("abc", 500))
    first = next(stream)
    assert isinstance(first, str)
    stream.close()
    deadline = time.monotonic() + 5
    while backend.stats().aborted_requests < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    stats = backend.stats()
    assert stats.aborted_requests == 1 and stats.running == 0


def test_engine_errors_reach_the_calling_thread(backend):
    with pytest.raises(RequestError, match="max_new_tokens"):
        backend.generate(req("x", 10**6))
    with pytest.raises(RequestError, match="max_new_tokens"):
        list(backend.stream(req("x", 10**6)))
    with pytest.raises(RequestError, match="max_new_tokens"):
        backend.generate_many([req("x", 2), req("y", 10**6)])
    # The engine is still serving.
    assert backend.generate(req("ok", 2)).text == expected_text(ids("ok"), 2)


def test_roles_without_a_chat_template_are_a_clear_error(backend):
    @rt.function
    def prog(s):
        s += rt.user("hi")

    with pytest.raises(ChatTemplateError, match="chat template"):
        prog.run(backend=backend)


def test_closed_backend_says_so():
    b = rt.EngineBackend(make_engine())
    assert b.generate(req("a", 1)).text
    b.close()
    assert not b._thread.is_alive()  # the engine's Trio thread has ended
    with pytest.raises(RuntimeError, match="closed"):
        b.generate(req("a", 1))
