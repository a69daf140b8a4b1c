"""The example programs run on the real engine (small settings), so they don't rot."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest
from models_fixtures import smollm2, smollm2_path  # noqa: F401  (fixtures)

import radtrio.lang as rt
from radtrio.config import EngineConfig
from radtrio.engine import AsyncEngine

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def load_example(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def backend(smollm2):  # noqa: F811
    engine = AsyncEngine(EngineConfig(kv_slots=8192, device="cpu"), loaded=smollm2)
    with rt.EngineBackend(engine) as b:
        yield b


def test_few_shot_classifier_gets_the_clear_reviews_right(backend):
    ex = load_example("few_shot_classifier")
    states = ex.classify.run_batch([{"review": r} for r, _ in ex.REVIEWS], backend=backend)
    assert [s["label"] for s in states] == [label for _, label in ex.REVIEWS]


def test_tree_of_thought_expands_and_answers(backend):
    ex = load_example("tree_of_thought")
    state = ex.tree_of_thought.run(question=ex.QUESTION, width=2, depth=1, backend=backend)
    best = state.ret_value
    assert best.text().startswith(state.text().split("Let's think step by step.\n")[0])
    assert "Step 1:" in best.text() and best["answer"]
    # The branches and the votes reused the question's KV.
    assert backend.stats().total_cached_tokens > 0
