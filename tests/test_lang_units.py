"""The frontend language's machinery against a scripted backend (no model): ordering,
variables, roles, forks, streaming, run_batch, and errors that surface instead of hanging."""

from __future__ import annotations

import threading
import time
import traceback

import pytest

import radtrio.lang as rt
from radtrio.lang.backend import Backend, _DefaultBackend
from radtrio.lang.chat import ChatTemplate, ChatTemplateError
from radtrio.types import GenerateRequest, OutputFinished, RequestError, SamplingParams, Usage

CHATML = (
    "{% for m in messages %}{% if loop.first and m['role'] != 'system' %}"
    "<|im_start|>system\nDefault.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


class FakeTokenizer:
    chat_template = CHATML

    def apply_chat_template(self, messages, tokenize=False, add_generation_prompt=False):
        import jinja2

        env = jinja2.Environment()
        return env.from_string(self.chat_template).render(
            messages=messages, add_generation_prompt=add_generation_prompt
        )


class FakeBackend(Backend):
    """Answers gen with ``<n:LAST-WORD>`` (n = request count), scores choices by length,
    fails requests whose prompt contains FAIL; records every request."""

    def __init__(self, delay: float = 0.0) -> None:
        self.requests: list[GenerateRequest] = []
        self.prefills: list[str] = []
        self.delay = delay
        self.lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0

    def generate(self, request: GenerateRequest) -> OutputFinished:
        with self.lock:
            self.requests.append(request)
            n = len(self.requests)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            time.sleep(self.delay)
            if "FAIL" in (request.text or ""):
                raise RequestError("sampling_params.max_new_tokens=9999 is invalid")
            last = (request.text or "").split()[-1] if (request.text or "").split() else ""
            text = f"<{n}:{last}>"
            return OutputFinished(request_id=str(n), text=text, usage=Usage(prompt_tokens=1))
        finally:
            with self.lock:
                self.in_flight -= 1

    def generate_many(self, requests):
        return [self.generate(r) for r in requests]

    def stream(self, request):
        out = self.generate(request)
        yield from out.text
        yield out

    def prefill(self, text: str) -> OutputFinished:
        self.prefills.append(text)
        return OutputFinished(request_id="p")

    def score(self, prompt: str, choices: list[str]) -> list[float]:
        return [float(len(c)) for c in choices]

    def get_tokenizer(self):
        return FakeTokenizer()


@pytest.fixture
def fake() -> FakeBackend:
    return FakeBackend()


def test_text_gen_and_variables_in_order(fake):
    @rt.function
    def prog(s, topic):
        s += "Topic: " + topic + "\n"
        s += "A:" + rt.gen("a", max_tokens=5, stop="\n", temperature=0)
        s += " B:"
        s += rt.gen("b")
        return s["a"] + s["b"]

    st = prog.run(topic="cats", backend=fake, temperature=0.5, max_new_tokens=7)
    assert st["a"] == "<1:A:>"
    assert st["b"] == "<2:B:>"
    assert st.text() == "Topic: cats\nA:<1:A:> B:<2:B:>"
    assert st.ret_value == st["a"] + st["b"]
    first, second = fake.requests
    # gen's own settings win over run's defaults; unset ones come from run.
    assert first.params == SamplingParams(max_new_tokens=5, stop=["\n"], temperature=0.0)
    assert second.params == SamplingParams(max_new_tokens=7, temperature=0.5)
    assert second.text == "Topic: cats\nA:<1:A:> B:"
    assert st.get_meta_info("a").text == st["a"]


def test_roles_render_with_the_chat_template(fake):
    @rt.function
    def chat(s):
        s += rt.system("Be brief.")
        s += rt.user("Hi")
        s += rt.assistant(rt.gen("r1"))
        with s.user():
            s += "More"
        with s.assistant():
            s += rt.select("pick", choices=["no", "yes!"])

    st = chat.run(backend=fake)
    msgs = st.messages()
    assert msgs == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": st["r1"]},
        {"role": "user", "content": "More"},
        {"role": "assistant", "content": "yes!"},
    ]
    tok = FakeTokenizer()
    assert st.text() == tok.apply_chat_template(msgs)
    # The gen was asked with exactly the template's generation prompt.
    assert fake.requests[0].text == tok.apply_chat_template(msgs[:2], add_generation_prompt=True)
    assert st.get_meta_info("pick").scores == [2.0, 4.0]


def test_template_default_system_prompt_only_before_the_first_turn():
    t = ChatTemplate(FakeTokenizer())
    assert t.role_parts([], "user") == (
        "<|im_start|>system\nDefault.<|im_end|>\n<|im_start|>user\n",
        "<|im_end|>\n",
    )
    assert t.role_parts([], "system") == ("<|im_start|>system\n", "<|im_end|>\n")
    prior = [{"role": "user", "content": "x"}]
    assert t.role_parts(prior, "assistant") == ("<|im_start|>assistant\n", "<|im_end|>\n")


def test_no_chat_template_is_a_clear_error():
    class Plain:
        chat_template = None

    with pytest.raises(ChatTemplateError, match="chat template"):
        ChatTemplate(Plain())


def test_fork_copies_state_prefills_once_and_runs_branches_concurrently():
    backend = FakeBackend(delay=0.2)

    @rt.function
    def prog(s):
        s += "Shared prefix words"
        s += rt.gen("x", max_tokens=2)
        forks = s.fork(4)
        for i, f in enumerate(forks):
            f += f" branch{i}"
            f += rt.gen("y")
        forks.join()
        return forks.var("y")

    t0 = time.monotonic()
    st = prog.run(backend=backend)
    elapsed = time.monotonic() - t0
    assert backend.prefills == ["Shared prefix words<1:words>"]
    assert sorted(y.split(":")[1] for y in st.ret_value) == [f"branch{i}>" for i in range(4)]
    assert backend.max_in_flight == 4  # the four branches were in flight together
    assert elapsed < 0.2 * 4  # not one after the other
    # The parent's own transcript is unchanged by its branches.
    assert st.text() == "Shared prefix words<1:words>"


def test_fork_group_append_and_parent_variables():
    backend = FakeBackend()

    @rt.function
    def prog(s):
        s += "q" + rt.gen("a")
        forks = s.fork(2)
        forks += " more" + rt.gen("b")
        return [f["a"] for f in forks], forks.var("b")

    st = prog.run(backend=backend)
    a_vals, b_vals = st.ret_value
    assert a_vals == [st["a"], st["a"]]
    assert all(b.endswith(":more>") for b in b_vals)


def test_unknown_variable_raises_key_error_with_the_known_names(fake):
    @rt.function
    def prog(s):
        s += "x" + rt.gen("known")
        return s["unknown"]

    with pytest.raises(KeyError, match="'unknown'.*'known'"):
        prog.run(backend=fake)


def test_exception_in_the_program_surfaces_with_its_traceback(fake):
    @rt.function
    def broken_program(s):
        s += "x" + rt.gen("a")
        raise ZeroDivisionError("inside the program")

    with pytest.raises(ZeroDivisionError) as info:
        broken_program.run(backend=fake)
    frames = [f.name for f in traceback.extract_tb(info.value.__traceback__)]
    assert "broken_program" in frames


def test_engine_error_surfaces_at_the_next_read_not_a_hang(fake):
    @rt.function
    def reads_after_failure(s):
        s += "FAIL " + rt.gen("a")
        s += rt.gen("b")
        return s["b"]

    with pytest.raises(RequestError, match="max_new_tokens") as info:
        reads_after_failure.run(backend=fake)
    frames = [f.name for f in traceback.extract_tb(info.value.__traceback__)]
    assert "reads_after_failure" in frames  # raised where the program read the variable
    assert len(fake.requests) == 1  # the queued gen after the failure never ran


def test_engine_error_without_a_read_is_raised_by_run(fake):
    @rt.function
    def no_read(s):
        s += "FAIL " + rt.gen("a")

    with pytest.raises(RequestError) as info:
        no_read.run(backend=fake)
    # The error names where the program appended the failing gen.
    (note,) = info.value.__notes__
    assert "test_lang_units.py" in note and "(no_read)" in note


def test_run_batch_keeps_order_and_reports_errors(fake):
    @rt.function
    def prog(s, word):
        s += word + rt.gen("out")
        return word

    states = prog.run_batch([{"word": w} for w in ("alpha", "beta", "gamma")], backend=fake)
    assert [st.ret_value for st in states] == ["alpha", "beta", "gamma"]
    assert [st["out"].split(":")[1] for st in states] == ["alpha>", "beta>", "gamma>"]

    batch = [{"word": "ok"}, {"word": "FAIL"}]
    with pytest.raises(RequestError):
        prog.run_batch(batch, backend=fake)
    states = prog.run_batch(batch, backend=fake, raise_errors=False, progress_bar=True)
    assert states[0].error is None and isinstance(states[1].error, RequestError)
    with pytest.raises(RequestError):
        states[1]["out"]


def test_stream_yields_everything_appended(fake):
    @rt.function
    def prog(s):
        s += rt.user("hello")
        s += rt.assistant(rt.gen("a"))

    st = prog.run(backend=fake, stream=True)
    pieces = list(st)
    assert "".join(pieces) == st.text()
    assert len(pieces) > 5  # the gen came character by character
    st2 = prog.run(backend=fake, stream=True)
    assert "".join(st2.text_iter("a")) == st2["a"]
    st3 = prog.run(backend=fake, stream=True)
    events = list(st3.stream_events())
    assert "".join(t for v, t in events if v == "a") == st3["a"]
    assert "".join(t for _, t in events) == st3.text()


def test_stream_error_is_raised_by_the_iterator(fake):
    @rt.function
    def prog(s):
        s += "FAIL" + rt.gen("a")

    st = prog.run(backend=fake, stream=True)
    with pytest.raises(RequestError):
        list(st)


def test_bad_arguments_are_clear_errors(fake):
    @rt.function
    def prog(s, a):
        s += a

    with pytest.raises(TypeError, match="prog: missing a required argument: 'a'"):
        prog.run(backend=fake)
    with pytest.raises(TypeError, match="unknown sampling keyword"):
        prog.run_batch([{"a": "x"}], backend=fake, temprature=0)
    with pytest.raises(TypeError, match="cannot append a int"):
        prog.run(a=3, backend=fake)
    with pytest.raises(ValueError, match="choices"):
        rt.select("x", choices=[])
    with pytest.raises(TypeError, match="at most one of regex"):
        rt.gen("x", regex="a", choices=["a"])
    with pytest.raises(ValueError, match="max_tokens=0"):
        rt.gen("x", max_tokens=0)
    with pytest.raises(TypeError, match="first parameter"):
        rt.function(lambda: None)


def test_constraints_are_passed_to_the_engine(fake):
    @rt.function
    def prog(s):
        s += "n=" + rt.gen("n", regex="[0-9]+")
        s += rt.gen("j", json_schema={"type": "integer"})
        s += rt.gen("c", choices=["a", "b"])

    prog.run(backend=fake)
    r, j, c = (req.constraint for req in fake.requests)
    assert r.regex == "[0-9]+"
    assert j.json_schema == '{"type": "integer"}'
    assert c.choices == ["a", "b"]


def test_nested_roles_are_an_error(fake):
    @rt.function
    def prog(s):
        with s.user():
            s += rt.assistant("x")

    with pytest.raises(ValueError, match="inside an open user turn"):
        prog.run(backend=fake)


def test_default_backend(fake):
    @rt.function
    def prog(s):
        s += "a" + rt.gen("x")

    previous = _DefaultBackend.backend
    try:
        rt.set_default_backend(fake)
        assert rt.get_default_backend() is fake
        assert prog.run()["x"] == "<1:a>"
    finally:
        _DefaultBackend.backend = previous
