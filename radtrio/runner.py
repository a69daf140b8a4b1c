"""The model runner: one coarse step (forward + sample + copy back) on the device.

The executor actor is its only caller, and calls it from one worker thread at a time,
so everything that touches the device lives here: the weights, the KV pool, the
attention backend and (on CUDA) the captured decode graphs.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import torch

from radtrio.config import EngineConfig
from radtrio.models.batch import ForwardBatch
from radtrio.models.kv_pool import KVPool
from radtrio.models.openmp_pool import OpenMPPool
from radtrio.sampling.sampler import SampleOutput, SamplingRow, sample

log = logging.getLogger(__name__)

CPU_KV_BUDGET_BYTES = 1 << 30  # default KV pool on CPU: 1 GiB


@dataclass
class StepWork:
    """What the executor runs in one step (built by the batcher on the host)."""

    batch: ForwardBatch
    sample_rows: list[int]  # batch sequence index of each sampled row
    sampling: list[SamplingRow]
    # Per sequence: (row offset in logits_indices, tokens to score) for prompt logprobs.
    score: dict[int, tuple[int, list[int]]] = field(default_factory=dict)


@dataclass
class StepResult:
    sampled: SampleOutput | None
    prompt_logprobs: dict[int, list[float]]
    forward_s: float
    sample_s: float


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device={name!r} requested but torch sees no CUDA device")
    return torch.device(name)


class ModelRunner:
    def __init__(self, model, config: EngineConfig, device: torch.device) -> None:
        self.model = model
        self.config = config
        self.device = device
        self.dtype = model.dtype
        self.num_slots = self._pool_slots()
        self.pool: KVPool = model.make_kv_pool(self.num_slots)
        self.backend = self._make_backend()
        # CPU: an idle OpenMP team in any other thread slows the step's (see
        # radtrio.models.openmp_pool). The event-loop thread's is freed before every step
        # and the worker thread's after it, so at most one team exists at a time (the
        # worker thread Trio hands the next step may be another one).
        self.openmp = OpenMPPool() if device.type == "cpu" else None
        self.graphs = None
        if device.type == "cuda" and config.cuda_graphs:
            self.graphs = self._make_graphs()

    def _pool_slots(self) -> int:
        if self.config.kv_slots is not None:
            return self.config.kv_slots
        per_token = self.model.kv_bytes_per_token()
        if self.device.type == "cuda":
            free, _total = torch.cuda.mem_get_info(self.device)
            budget = int(free * self.config.mem_fraction)
        else:
            budget = CPU_KV_BUDGET_BYTES
        return max(1024, budget // per_token)

    def _make_backend(self):
        if self.device.type == "cuda":
            from radtrio.cuda.backend import CudaAttentionBackend

            return CudaAttentionBackend(self.model, self.pool)
        from radtrio.models.torch_attention import TorchAttentionBackend

        return TorchAttentionBackend(self.model.config.sliding_window)

    def _make_graphs(self):
        try:
            from radtrio.cuda.graph_runner import GraphRunner
        except ImportError as err:  # pragma: no cover - depends on the CUDA build
            log.warning("CUDA graphs unavailable (%s); decode runs eagerly", err)
            return None
        return GraphRunner(self.model, self.pool, self.backend, max_batch=self.config.max_running)

    def release_loop_threads(self) -> None:
        if self.openmp is not None:
            self.openmp.release_calling_thread()

    def forward(self, batch: ForwardBatch) -> torch.Tensor:
        if self.graphs is not None and batch.is_decode and batch.logits_indices is None:
            out = self.graphs.run(batch)
            if out is not None:
                return out
        return self.model.forward(batch.to(self.device), self.pool, self.backend)

    def run(self, work: StepWork) -> StepResult:
        """Forward + sample + prompt logprobs. Called in a worker thread."""
        try:
            return self._run(work)
        finally:
            if self.openmp is not None:
                self.openmp.release_calling_thread()

    def _run(self, work: StepWork) -> StepResult:
        t0 = time.perf_counter()
        logits = self.forward(work.batch)
        t1 = time.perf_counter()
        scores: dict[int, list[float]] = {}
        if work.score:
            logprobs = torch.log_softmax(logits.float(), dim=-1)
            for seq, (offset, tokens) in work.score.items():
                ids = torch.tensor(tokens, dtype=torch.int64, device=logprobs.device)
                rows = torch.arange(offset, offset + len(tokens), device=logprobs.device)
                scores[seq] = logprobs[rows, ids].tolist()
        sampled = None
        if work.sample_rows:
            if work.batch.logits_indices is not None or work.batch.return_all_logits:
                rows = self._sample_logit_rows(work)
                logits = logits.index_select(0, rows.to(logits.device))
            elif len(work.sample_rows) != logits.shape[0]:
                logits = logits.index_select(
                    0, torch.tensor(work.sample_rows, dtype=torch.int64, device=logits.device)
                )
            sampled = sample(logits, work.sampling)
        t2 = time.perf_counter()
        return StepResult(sampled, scores, t1 - t0, t2 - t1)

    @staticmethod
    def _sample_logit_rows(work: StepWork) -> torch.Tensor:
        """Rows of the returned logits holding each sampled sequence's last token."""
        batch = work.batch
        last = (batch.qo_indptr[1:] - 1).tolist()
        if batch.logits_indices is None:
            return torch.tensor([last[s] for s in work.sample_rows], dtype=torch.int64)
        position = {int(r): i for i, r in enumerate(batch.logits_indices.tolist())}
        return torch.tensor([position[last[s]] for s in work.sample_rows], dtype=torch.int64)
