"""A fake tokenizer and step runner so the actors can be tested without a model."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

from radtrio.config import EngineConfig
from radtrio.engine import AsyncEngine, EngineParts
from radtrio.runner import StepResult, StepWork
from radtrio.sampling.sampler import SampleOutput

EOS = 1
VOCAB = 512


class CharTokenizer:
    """One token per character (ids = code points + 2; 0 pad, 1 EOS)."""

    eos_token_id = EOS

    def __call__(self, text: str, add_special_tokens: bool = True) -> dict:
        return {"input_ids": [min(ord(c), VOCAB - 3) + 2 for c in text]}

    def decode(self, ids: Sequence[int], skip_special_tokens: bool = True) -> str:
        return "".join(chr(i - 2) for i in ids if i >= 2)

    def apply_chat_template(self, messages, tokenize=True, add_generation_prompt=True, **_):
        text = "".join(f"<{m['role']}>{m['content']}" for m in messages)
        if add_generation_prompt:
            text += "<assistant>"
        return self(text)["input_ids"]


def next_token(prompt: Sequence[int], step: int) -> int:
    """The fake model's deterministic continuation: letters cycling from the prompt length."""
    return 2 + ord("a") + (len(prompt) + step) % 26


class FakeRunner:
    """Stands in for the model runner: checks the batch's slot bookkeeping and answers
    with `next_token`. Optional per-step delay and a gate to hold steps."""

    def __init__(self, step_delay_s: float = 0.0) -> None:
        self.step_delay_s = step_delay_s
        self.steps: list[StepWork] = []
        self.gate = threading.Event()
        self.gate.set()
        self.max_tokens_in_step = 0
        self.loop_releases = 0

    def release_loop_threads(self) -> None:
        self.loop_releases += 1

    def run(self, work: StepWork) -> StepResult:
        self.gate.wait(timeout=30)
        if self.step_delay_s:
            time.sleep(self.step_delay_s)
        batch = work.batch
        self.steps.append(work)
        self.max_tokens_in_step = max(self.max_tokens_in_step, batch.num_tokens)
        slots = batch.kv_indices.tolist()
        if 0 in slots:
            raise AssertionError("a sequence reads the padding slot 0")
        tokens = [next_token(row.prompt_ids, row.step) for row in work.sampling]
        return StepResult(SampleOutput(tokens), {}, 0.0, 0.0)


def make_engine(runner: FakeRunner | None = None, num_slots: int = 4096, **config) -> AsyncEngine:
    runner = runner or FakeRunner()
    parts = EngineParts(
        runner=runner,
        tokenizer=CharTokenizer(),
        num_slots=num_slots,
        context_len=2048,
        vocab_size=VOCAB,
        eos_ids={EOS},
        model_name="fake",
        dtype="float32",
        device="cpu",
    )
    return AsyncEngine(EngineConfig(**config), parts=parts)


def expected_text(prompt_ids: Sequence[int], n: int) -> str:
    return "".join(chr(next_token(prompt_ids, s) - 2) for s in range(n))
