"""The frontend language on the real engine (SmolLM2, CPU): each construct gives what the
equivalent hand-written requests give, forks reuse the shared prefix, select picks the
clearly right choice with the model's own log-probabilities, and the remote backend over a
live server agrees with the in-process one."""

from __future__ import annotations

import json

import pytest
import torch
from models_fixtures import Runner, smollm2, smollm2_path  # noqa: F401  (fixtures)

import radtrio.lang as rt
from radtrio.config import EngineConfig
from radtrio.engine import AsyncEngine, make_request
from radtrio.types import GenerateRequest, RequestError, SamplingParams

SYSTEM = (
    "You are a careful assistant for a small bookshop. Answer in one short sentence, be "
    "friendly, never invent prices, and suggest a classic novel when asked for advice."
)


def greedy(n: int) -> SamplingParams:
    return SamplingParams(max_new_tokens=n, temperature=0.0)


@pytest.fixture(scope="module")
def backend(smollm2):  # noqa: F811
    engine = AsyncEngine(EngineConfig(kv_slots=8192, max_running=16, device="cpu"), loaded=smollm2)
    with rt.EngineBackend(engine) as b:
        yield b


@rt.function
def two_turns(s, question, follow_up):
    s += rt.system(SYSTEM)
    s += rt.user(question)
    s += rt.assistant(rt.gen("first", max_tokens=10))
    s += rt.user(follow_up)
    s += rt.assistant(rt.gen("second", max_tokens=8))


def test_multi_turn_chat_equals_hand_written_message_requests(backend):
    st = two_turns.run(
        question="Do you sell maps?", follow_up="And postcards?", backend=backend, temperature=0
    )
    turns = [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": "Do you sell maps?"},
    ]
    first = backend.generate(make_request(turns, greedy(10)))
    assert st["first"] == first.text
    turns += [
        {"role": "assistant", "content": first.text},
        {"role": "user", "content": "And postcards?"},
    ]
    second = backend.generate(make_request(turns, greedy(8)))
    assert st["second"] == second.text
    turns.append({"role": "assistant", "content": second.text})
    assert st.messages() == turns
    tok = backend.get_tokenizer()
    assert st.text() == tok.apply_chat_template(turns, tokenize=False)
    # The second turn reused the first turn's KV from the radix cache.
    usage = st.get_meta_info("second").usage
    first_len = st.get_meta_info("first").usage.prompt_tokens
    assert usage.cached_tokens >= first_len


def test_raw_text_gen_with_stop_equals_a_text_request(backend):
    @rt.function
    def fact(s, thing):
        s += f"Q: What colour is {thing}?\nA:"
        s += rt.gen("answer", max_tokens=12, stop="\n", temperature=0)

    st = fact.run(thing="grass", backend=backend)
    ref = backend.generate(
        GenerateRequest(
            text="Q: What colour is grass?\nA:",
            params=SamplingParams(max_new_tokens=12, temperature=0.0, stop=["\n"]),
        )
    )
    assert st["answer"] == ref.text
    assert st.text() == "Q: What colour is grass?\nA:" + ref.text


@torch.no_grad()
def reference_choice_scores(loaded, prompt: str, choices: list[str]) -> list[float]:
    """Mean log-probability of each choice's tokens, from one direct forward pass each."""
    tok = loaded.tokenizer
    runner = Runner(loaded.model, num_slots=1024)
    p_ids = tok(prompt)["input_ids"]
    scores = []
    for c in choices:
        ids = tok(prompt + c)["input_ids"]
        start = next(i for i, (a, b) in enumerate(zip(p_ids + [-1], ids, strict=False)) if a != b)
        logits = runner.step([(ids, list(range(1, len(ids) + 1)), len(ids))], True)
        logp = torch.log_softmax(logits.float(), -1)
        scores.append(sum(float(logp[p - 1, ids[p]]) for p in range(start, len(ids))))
        scores[-1] /= len(ids) - start
    return scores


def test_select_picks_the_clear_answer_with_the_models_scores(backend, smollm2):  # noqa: F811
    @rt.function
    def capital(s):
        s += rt.user("What is the capital of France? Answer with one word.")
        s += rt.assistant(rt.select("city", choices=["Banana", "Paris", "Rain"]))

    st = capital.run(backend=backend)
    assert st["city"] == "Paris"
    assert st.messages()[-1] == {"role": "assistant", "content": "Paris"}
    meta = st.get_meta_info("city")
    tok = backend.get_tokenizer()
    prompt = tok.apply_chat_template(
        [{"role": "user", "content": "What is the capital of France? Answer with one word."}],
        tokenize=False,
        add_generation_prompt=True,
    )
    ref = reference_choice_scores(smollm2, prompt, ["Banana", "Paris", "Rain"])
    assert meta.scores == pytest.approx(ref, abs=2e-3)
    assert max(range(3), key=lambda i: ref[i]) == 1


def test_fork_branches_reuse_the_prefix_and_match_hand_written_requests(backend):
    @rt.function
    def brainstorm(s):
        s += rt.system(SYSTEM)
        s += rt.user("Suggest a book for a rainy day, in a few words.")
        s += rt.assistant("Here is one idea:")
        forks = s.fork(3)
        for i, f in enumerate(forks):
            f += f" Idea {i + 1}:"
            f += rt.gen("idea", max_tokens=6, temperature=0)
        forks.join()
        return forks

    before = backend.stats()
    st = brainstorm.run(backend=backend)
    after = backend.stats()
    forks = st.ret_value
    prefix = st.text()
    prefix_tokens = len(backend.tokenize(prefix))
    for i, f in enumerate(forks):
        ref = backend.generate(GenerateRequest(text=prefix + f" Idea {i + 1}:", params=greedy(6)))
        assert f["idea"] == ref.text
        # Each branch found the whole shared prefix in the cache (it was prefilled once).
        assert f.get_meta_info("idea").usage.cached_tokens >= prefix_tokens - 1
    # The prefill plus three branches: the branches' prompts were served mostly from cache.
    cached = after.total_cached_tokens - before.total_cached_tokens
    assert cached >= 3 * (prefix_tokens - 1)


def test_run_batch_equals_separate_runs_and_stream_equals_the_text(backend):
    questions = ["Are you open on Sundays?", "Who wrote Moby Dick?"]

    @rt.function
    def ask(s, q):
        s += rt.user(q)
        s += rt.assistant(rt.gen("a", max_tokens=6))

    states = ask.run_batch([{"q": q} for q in questions], backend=backend, temperature=0)
    for q, st in zip(questions, states, strict=True):
        ref = backend.generate(make_request([{"role": "user", "content": q}], greedy(6)))
        assert st["a"] == ref.text
    streamed = ask.run(q=questions[0], backend=backend, temperature=0, stream=True)
    pieces = list(streamed.text_iter("a"))
    assert "".join(pieces) == states[0]["a"]
    assert len(pieces) > 1


def test_engine_refusal_surfaces_to_the_caller(backend):
    @rt.function
    def too_long(s):
        s += "Hello" + rt.gen("x", max_tokens=10**7)

    with pytest.raises(RequestError, match="max_new_tokens"):
        too_long.run(backend=backend)


def test_constrained_gen_follows_regex_schema_and_choices(backend):
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string", "maxLength": 10}, "age": {"type": "integer"}},
        "required": ["name", "age"],
        "additionalProperties": False,
    }

    @rt.function
    def extract(s):
        s += rt.user("Alice is 31 years old. Give her name and age as JSON.")
        s += rt.assistant(rt.gen("person", max_tokens=30, json_schema=schema))
        s += rt.user("Pick a number from 1 to 99.")
        s += rt.assistant(rt.gen("num", max_tokens=4, regex="[1-9][0-9]?"))
        s += rt.user("Is the sky blue?")
        s += rt.assistant(rt.gen("yn", max_tokens=4, choices=["yes", "no"]))

    st = extract.run(backend=backend, temperature=0)
    person = json.loads(st["person"])
    assert set(person) == {"name", "age"} and isinstance(person["age"], int)
    assert 1 <= int(st["num"]) <= 99 and st["num"] == str(int(st["num"]))
    assert st["yn"] in ("yes", "no")


def test_remote_backend_over_a_live_server_agrees(backend, smollm2):  # noqa: F811
    from server_harness import ServerThread

    engine = AsyncEngine(EngineConfig(kv_slots=4096, device="cpu"), loaded=smollm2)
    with (
        ServerThread(engine) as server,
        rt.connect(server.address) as remote,  # the default model's template is loaded here
    ):

        @rt.function
        def prog(s):
            s += rt.user("What is the capital of France? Answer with one word.")
            s += rt.assistant(rt.select("city", choices=["Banana", "Paris"]))
            s += rt.user("Say something about it.")
            s += rt.assistant(rt.gen("more", max_tokens=6))
            forks = s.fork(2)
            forks += rt.user("Why?") + rt.assistant(rt.gen("why", max_tokens=4))
            return forks.var("why")

        here = prog.run(backend=backend, temperature=0)
        there = prog.run(backend=remote, temperature=0)
        assert there.text() == here.text()
        assert there.ret_value == here.ret_value
        assert there.get_meta_info("city").scores == pytest.approx(
            here.get_meta_info("city").scores, abs=1e-4
        )
        assert remote.stats().total_cached_tokens > 0
        assert remote.get_tokenizer().chat_template == smollm2.tokenizer.chat_template


def test_select_scores_reuse_the_cached_transcript(backend, smollm2):  # noqa: F811
    if "prompt_logprobs_start" not in GenerateRequest.__struct_fields__:
        pytest.skip("engine lacks GenerateRequest.prompt_logprobs_start: select scores all tokens")
    prompt = "Classify the sentiment of this review: 'I loved every minute of it.'\nSentiment:"
    backend.prefill(prompt)
    prompt_len = len(backend.tokenize(prompt))
    before = backend.stats().total_cached_tokens
    choices = [" positive", " negative"]
    scores = backend.score(prompt, choices)
    assert backend.stats().total_cached_tokens - before >= len(choices) * (prompt_len - 2)
    assert scores == pytest.approx(reference_choice_scores(smollm2, prompt, choices), abs=2e-3)
