"""Token-bitmask logits masking for structured generation, as a numba-cuda kernel.

The grammar side hands a packed bitmask per sequence: int32 words ``[B, ceil(V / 32)]``,
bit ``j`` of word ``w`` set when token ``32 * w + j`` is allowed (the xgrammar /
llguidance layout). Disallowed tokens, and logits columns past the mask, become -inf.

The kernel is numba-cuda, so it also runs under ``NUMBA_ENABLE_CUDASIM=1`` (set before
numba is first imported) on tiny shapes in CI; on a GPU it works on torch tensors in place
through ``__cuda_array_interface__``, on torch's current stream.
"""

from __future__ import annotations

from typing import Any

import numpy as np

THREADS = 256


def _numba_cuda() -> Any:
    from radtrio.cuda.numba_compat import cuda

    return cuda


def _kernel() -> Any:
    from radtrio.cuda.mask_kernel import apply_token_bitmask

    return apply_token_bitmask


def apply_token_bitmask_(logits: Any, bitmask: Any, rows: Any | None = None) -> Any:
    """Mask ``logits`` [B, V] in place with ``bitmask`` [R, W] (int32).

    ``rows`` [B] (int32) picks the bitmask row of each logits row, -1 for an unconstrained
    row; by default row b uses bitmask row b. Accepts CUDA torch tensors (launched on
    torch's current stream), numba device arrays, or numpy arrays under the simulator.
    """
    cuda = _numba_cuda()
    n, vocab = logits.shape
    if rows is None:
        rows = np.arange(n, dtype=np.int32)
    if n == 0:
        return logits
    stream = 0
    if _is_torch(logits):
        import torch

        if bitmask.dtype != torch.int32:
            raise ValueError(f"bitmask: expected int32, got {bitmask.dtype}")
        if isinstance(rows, np.ndarray):
            rows = torch.from_numpy(rows).to(logits.device)
        rows = rows.to(device=logits.device, dtype=torch.int32)
        stream = cuda.external_stream(torch.cuda.current_stream(logits.device).cuda_stream)
        args = (cuda.as_cuda_array(logits), cuda.as_cuda_array(bitmask), cuda.as_cuda_array(rows))
    else:
        if np.dtype(bitmask.dtype) != np.int32:
            raise ValueError(f"bitmask: expected int32, got {bitmask.dtype}")
        args = (logits, bitmask, np.asarray(rows, dtype=np.int32))
    grid = ((vocab + THREADS - 1) // THREADS, n)
    _kernel()[grid, THREADS, stream](*args)
    return logits


def _is_torch(x: Any) -> bool:
    return type(x).__module__.startswith("torch")


def apply_bitmask_rows(logits: Any, rows: list[int], masks: list[Any]) -> None:
    """The sampler's ``apply_bitmask(logits, rows, masks)`` in one kernel launch: row
    ``rows[i]`` of ``logits`` keeps only the tokens allowed by ``masks[i]`` (packed words,
    numpy int32/uint32, bit j of word w allows token 32 * w + j); other rows are untouched."""
    if not rows:
        return
    words = np.stack([np.asarray(m).view(np.int32) for m in masks])
    row_map = np.full(logits.shape[0], -1, dtype=np.int32)
    row_map[np.asarray(rows, dtype=np.int64)] = np.arange(len(rows), dtype=np.int32)
    if _is_torch(logits):
        import torch

        dev = logits.device
        apply_token_bitmask_(
            logits, torch.from_numpy(words).to(dev), torch.from_numpy(row_map).to(dev)
        )
    else:
        apply_token_bitmask_(logits, words, row_map)
