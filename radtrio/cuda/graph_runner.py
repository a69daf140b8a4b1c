"""CUDA graphs for decode steps: capture ``model.forward`` per batch size, replay with padding.

On the device machines a kernel launch costs about 30 us, so an eager decode step of a
30-layer model (hundreds of launches) is launch-bound. The runner captures the whole step
for a set of batch sizes over static input buffers; a decode batch of ``n`` sequences is
padded to the next captured size (padding rows write slot 0, which the kernels skip, and
attend to nothing) and replayed in one launch. Prefill and extend steps run eagerly.
"""

from __future__ import annotations

import bisect
import logging
from typing import Any, Protocol

import numpy as np
import torch

from radtrio.models.attention_backend import AttentionBackend
from radtrio.models.batch import ForwardBatch
from radtrio.models.kv_pool import KVPool

DEFAULT_BATCH_SIZES = (1, 2, 4, 8, 16, 32, 64, 128, 256)
DEFAULT_MAX_CONTEXT = 8192

log = logging.getLogger(__name__)


class StepModel(Protocol):
    device: torch.device
    max_positions: int

    def forward(
        self, batch: ForwardBatch, pool: KVPool, backend: AttentionBackend
    ) -> torch.Tensor: ...


class GraphRunner:
    """Decode steps through captured CUDA graphs.

    ``run(batch)`` returns float32 logits ``[n, vocab]`` (a view of the graph's static output,
    valid until the next ``run``: copy it to keep it), or None for a batch the graphs do not
    cover (prefill/extend, more sequences than the largest size, a context past
    ``max_context``, scoring): run those with ``model.forward``. Graphs are captured on the
    first ``run`` (or by ``capture()``); if capture fails the runner logs it and returns None
    from then on. Host (CPU) batches are cheapest: their inputs go up in two copies from
    pinned buffers; batches already on the GPU take a few device copies.

    Sizes default to 1, 2, 4, ... up to ``max_batch`` (which is captured too).
    """

    def __init__(
        self,
        model: StepModel,
        pool: KVPool,
        backend: AttentionBackend,
        max_batch: int = 256,
        batch_sizes: tuple[int, ...] | None = None,
        max_context: int | None = None,
    ) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch={max_batch}: must be >= 1")
        if batch_sizes is None:
            batch_sizes = tuple(b for b in DEFAULT_BATCH_SIZES if b < max_batch) + (max_batch,)
        if not batch_sizes or min(batch_sizes) < 1:
            raise ValueError(f"batch_sizes={batch_sizes!r}: need positive sizes")
        if max_context is None:
            max_context = min(
                getattr(model, "max_positions", DEFAULT_MAX_CONTEXT), DEFAULT_MAX_CONTEXT
            )
        if max_context < 1:
            raise ValueError(f"max_context={max_context}: must be >= 1")
        self.model = model
        self.pool = pool
        self.backend = backend
        self.batch_sizes = tuple(sorted(set(batch_sizes)))
        self.max_batch = self.batch_sizes[-1]
        self.max_context = max_context
        device = torch.device(model.device)
        if device.type != "cuda":
            raise ValueError(f"GraphRunner needs a CUDA model, got one on {device}")
        self.device = device
        mb = self.max_batch
        # Static inputs: one int64 header [ids | positions | out_slots | kv_indptr] and the
        # slot list; qo_indptr is always 0..bs (one new token per sequence).
        self._header = torch.zeros(4 * mb + 1, dtype=torch.int64, device=device)
        self._kv_indices = torch.zeros(mb * max_context, dtype=torch.int64, device=device)
        self._qo_indptr = torch.arange(mb + 1, dtype=torch.int64, device=device)
        self._host_header = torch.zeros(4 * mb + 1, dtype=torch.int64).pin_memory()
        self._host_indices = torch.zeros(mb * max_context, dtype=torch.int64).pin_memory()
        # numpy views of the pinned buffers: numpy's single-threaded memcpy, not torch's
        # threaded CPU copy (whose thread wake-ups cost more than the copy at these sizes)
        self._host_header_np = self._host_header.numpy()
        self._host_indices_np = self._host_indices.numpy()
        self._copied = torch.cuda.Event()
        self._copied.record()
        self._graphs: dict[int, torch.cuda.CUDAGraph] = {}
        self._outputs: dict[int, torch.Tensor] = {}
        self._keep: list[Any] = []  # tensors the graphs read that the model might replace
        self._failed = False

    # -- views of the static buffers ------------------------------------------------
    def _views(self, bs: int) -> tuple[torch.Tensor, ...]:
        mb, h = self.max_batch, self._header
        ids = h[0:bs]
        positions = h[mb : mb + bs]
        out_slots = h[2 * mb : 2 * mb + bs]
        kv_indptr = h[3 * mb : 3 * mb + bs + 1]
        return ids, positions, out_slots, kv_indptr

    def _static_batch(self, bs: int) -> ForwardBatch:
        ids, positions, out_slots, kv_indptr = self._views(bs)
        return ForwardBatch(
            input_ids=ids,
            positions=positions,
            out_slots=out_slots,
            qo_indptr=self._qo_indptr[: bs + 1],
            kv_indptr=kv_indptr,
            kv_indices=self._kv_indices,
            seq_lens=[self.max_context] * bs,  # plans the kernels for the longest context
            extend_lens=[1] * bs,
        )

    # -- capture --------------------------------------------------------------------
    def capture(self) -> None:
        """Capture one graph per batch size (largest first, sharing one memory pool)."""
        self._header.zero_()  # every sequence empty: warm-up steps write and read nothing
        mempool = torch.cuda.graph_pool_handle()
        side = torch.cuda.Stream(self.device)
        side.wait_stream(torch.cuda.current_stream(self.device))
        for bs in reversed(self.batch_sizes):
            batch = self._static_batch(bs)
            with torch.cuda.stream(side):
                for _ in range(2):  # compile kernels, grow tables, settle the allocator
                    self.model.forward(batch, self.pool, self.backend)
            torch.cuda.current_stream(self.device).wait_stream(side)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph, pool=mempool):
                out = self.model.forward(batch, self.pool, self.backend)
            self._graphs[bs] = graph
            self._outputs[bs] = out
        rope = getattr(self.model, "rope", None)
        if rope is not None:
            self._keep += [getattr(rope, "cos", None), getattr(rope, "sin", None)]
        torch.cuda.synchronize(self.device)

    @property
    def captured(self) -> bool:
        return bool(self._graphs)

    # -- replay ---------------------------------------------------------------------
    def can_run(self, batch: ForwardBatch) -> bool:
        """Whether the captured graphs cover ``batch`` (once captured)."""
        return (
            not self._failed
            and batch.is_decode
            and 1 <= batch.num_seqs <= self.max_batch
            and max(batch.seq_lens) <= self.max_context
            and not batch.return_all_logits
            and batch.logits_indices is None
        )

    def padded_size(self, n: int) -> int:
        return self.batch_sizes[bisect.bisect_left(self.batch_sizes, n)]

    def run(self, batch: ForwardBatch) -> torch.Tensor | None:
        if not self.can_run(batch):
            return None
        if not self.captured:
            try:
                self.capture()
            except Exception:
                log.exception("CUDA graph capture failed; decode steps run eagerly")
                self._failed = True
                self._graphs.clear()
                self._outputs.clear()
                return None
        n = batch.num_seqs
        bs = self.padded_size(n)
        total = int(sum(batch.seq_lens))
        if batch.input_ids.is_cuda:
            self._fill_from_device(batch, n, bs, total)
        else:
            self._fill_from_host(batch, n, bs, total)
        self._graphs[bs].replay()
        return self._outputs[bs][:n]

    def _fill_from_host(self, batch: ForwardBatch, n: int, bs: int, total: int) -> None:
        self._copied.synchronize()  # the previous step's copies have left the pinned buffers
        mb = self.max_batch
        h = self._host_header_np
        h[0:n] = _np(batch.input_ids)
        h[mb : mb + n] = _np(batch.positions)
        h[2 * mb : 2 * mb + n] = _np(batch.out_slots)
        h[3 * mb : 3 * mb + n + 1] = _np(batch.kv_indptr)
        if bs > n:
            h[n:bs] = 0
            h[mb + n : mb + bs] = 0
            h[2 * mb + n : 2 * mb + bs] = 0  # slot 0: padding, never written
            h[3 * mb + n + 1 : 3 * mb + bs + 1] = total  # empty sequences
        self._host_indices_np[:total] = _np(batch.kv_indices)
        self._header.copy_(self._host_header, non_blocking=True)
        self._kv_indices[:total].copy_(self._host_indices[:total], non_blocking=True)
        self._copied.record()

    def _fill_from_device(self, batch: ForwardBatch, n: int, bs: int, total: int) -> None:
        ids, positions, out_slots, kv_indptr = self._views(bs)
        ids[:n].copy_(batch.input_ids)
        positions[:n].copy_(batch.positions)
        out_slots[:n].copy_(batch.out_slots)
        kv_indptr[: n + 1].copy_(batch.kv_indptr)
        if bs > n:
            ids[n:].zero_()
            positions[n:].zero_()
            out_slots[n:].zero_()
            kv_indptr[n + 1 :].fill_(total)
        self._kv_indices[:total].copy_(batch.kv_indices)


def _np(x: Any) -> np.ndarray:
    """A CPU tensor (or sequence) as a numpy array, without a copy for tensors."""
    return x.numpy() if isinstance(x, torch.Tensor) else np.asarray(x, dtype=np.int64)
