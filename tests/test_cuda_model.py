"""The model on GPU through radtrio.cuda (fused step, CUDA backend, CUDA graphs) against
HF transformers with the same random weights, and graph replay against eager steps."""

from __future__ import annotations

import pytest
import torch

pytestmark = pytest.mark.gpu

if not torch.cuda.is_available():
    pytest.skip("needs a CUDA GPU", allow_module_level=True)
pytest.importorskip("cupy")

from radtrio.cuda.backend import CudaAttentionBackend  # noqa: E402
from radtrio.cuda.graph_runner import GraphRunner  # noqa: E402
from radtrio.models.batch import ForwardBatch  # noqa: E402
from radtrio.models.config import ModelConfig  # noqa: E402
from radtrio.models.llama import CausalLM  # noqa: E402
from radtrio.models.random_model import random_model, random_model_with_hf  # noqa: E402

DEV = torch.device("cuda")
SMALL = {
    "model_type": "llama",
    "vocab_size": 1000,
    "hidden_size": 256,
    "intermediate_size": 512,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 2048,
    "rms_norm_eps": 1e-6,
    "initializer_range": 0.1,
}


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.double(), b.double()
    assert torch.isfinite(a).all()
    return float((a - b).norm() / b.norm())


class Seqs:
    """Sequences with slots drawn from a shuffled free list (holes, no order)."""

    def __init__(self, num_slots: int, seed: int) -> None:
        gen = torch.Generator().manual_seed(seed)
        self.free = (torch.randperm(num_slots - 1, generator=gen) + 1).tolist()
        self.tokens: list[list[int]] = []
        self.slots: list[list[int]] = []

    def add(self, prompt: list[int]) -> None:
        self.tokens.append(list(prompt))
        self.slots.append([self.free.pop() for _ in prompt])

    def prefill_batch(self) -> ForwardBatch:
        return ForwardBatch.build(
            [(t, s, len(t)) for t, s in zip(self.tokens, self.slots, strict=True)]
        )

    def decode_batch(self, new: list[int]) -> ForwardBatch:
        seqs = []
        for b, tok in enumerate(new):
            self.tokens[b].append(tok)
            self.slots[b].append(self.free.pop())
            seqs.append(([tok], list(self.slots[b]), len(self.slots[b])))
        return ForwardBatch.build(seqs)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_graph_replay_matches_eager_steps(dtype: str) -> None:
    model = random_model(SMALL, dtype=dtype, device="cuda", seed=3).model
    pool = model.make_kv_pool(4096)
    backend = CudaAttentionBackend(model, pool)
    runner = GraphRunner(model, pool, backend, max_batch=16, max_context=512)
    gen = torch.Generator().manual_seed(0)
    seqs = Seqs(pool.num_slots, seed=1)
    for n in (3, 17, 64, 130, 1):  # 5 sequences: replays pad them to the size-8 graph
        seqs.add(torch.randint(0, 1000, (n,), generator=gen).tolist())
    logits = model.forward(seqs.prefill_batch().to(DEV), pool, backend)
    tol = 1e-4 if dtype == "float32" else 2e-2  # cuBLAS may pick other kernels for M=5 vs 8
    for _ in range(4):
        batch = seqs.decode_batch(logits.argmax(-1).tolist())
        eager = model.forward(batch.to(DEV), pool, backend)  # writes the same K/V as the graph
        graphed = runner.run(batch)
        assert graphed is not None and graphed.shape == eager.shape
        assert rel_err(graphed, eager) < tol, rel_err(graphed, eager)
        # a batch already on the GPU takes the device-copy path
        assert rel_err(runner.run(batch.to(DEV)), eager) < tol
        logits = graphed.clone()
    assert runner.padded_size(5) == 8 and set(runner._graphs) == {1, 2, 4, 8, 16}
    assert runner.run(seqs.prefill_batch()) is None  # prefill is not graphed


def hf_greedy(hf_model, prompt: list[int], steps: int) -> tuple[list[int], torch.Tensor]:
    ids = torch.tensor([prompt], device=DEV)
    out = hf_model.generate(
        ids, do_sample=False, max_new_tokens=steps, min_new_tokens=steps, pad_token_id=0,
        output_logits=True, return_dict_in_generate=True,
    )  # fmt: skip
    return out.sequences[0, len(prompt) :].tolist(), out.logits[0][0]


@pytest.mark.parametrize("shape", ["smollm2-135m", "llama-3.2-1b"])
def test_greedy_tokens_and_logits_match_hf(shape: str) -> None:
    steps, prompts_n = 16, 8
    pair = random_model_with_hf(shape, seed=0)
    hf = pair.hf_model.to(DEV)
    hf.generation_config.eos_token_id = None
    state = hf.state_dict()
    config = ModelConfig.from_hf(hf.config)
    gen = torch.Generator().manual_seed(7)
    prompts = [
        torch.randint(0, config.vocab_size, (int(n),), generator=gen).tolist()
        for n in torch.randint(4, 60, (prompts_n,), generator=gen)
    ]
    with torch.no_grad():
        ref = [hf_greedy(hf, p, steps) for p in prompts]

    ours = CausalLM.from_hf_tensors(
        config, state.__getitem__, torch.float32, DEV, state.__contains__
    )
    pool = ours.make_kv_pool(2048)
    backend = CudaAttentionBackend(ours, pool)
    runner = GraphRunner(ours, pool, backend, max_batch=8, max_context=256)
    seqs = Seqs(pool.num_slots, seed=2)
    for p in prompts:
        seqs.add(p)
    logits = ours.forward(seqs.prefill_batch().to(DEV), pool, backend)
    first = torch.stack([r[1] for r in ref])
    assert rel_err(logits, first) < 1e-4, rel_err(logits, first)
    tokens = [[t] for t in logits.argmax(-1).tolist()]
    for _ in range(steps - 1):
        out = runner.run(seqs.decode_batch([t[-1] for t in tokens]))
        assert out is not None
        for b, t in enumerate(out.argmax(-1).tolist()):
            tokens[b].append(t)
    assert tokens == [r[0] for r in ref]

    # bf16: our error against HF float32 is no worse than HF's own bf16 error.
    ours16 = CausalLM.from_hf_tensors(
        config, state.__getitem__, torch.bfloat16, DEV, state.__contains__
    )
    pool16 = ours16.make_kv_pool(2048)
    seqs16 = Seqs(pool16.num_slots, seed=3)
    for p in prompts:
        seqs16.add(p)
    backend16 = CudaAttentionBackend(ours16, pool16)
    logits16 = ours16.forward(seqs16.prefill_batch().to(DEV), pool16, backend16)
    hf16 = hf.to(torch.bfloat16)
    with torch.no_grad():
        hf16_first = torch.stack(
            [hf16(torch.tensor([p], device=DEV)).logits[0, -1].float() for p in prompts]
        )
    err_ours, err_hf = rel_err(logits16, first), rel_err(hf16_first, first)
    assert err_ours < 2 * err_hf + 1e-3, (err_ours, err_hf)
    assert err_ours < 0.05
