"""radtrio's CUDA path: our own kernels (CuPy RawModule over ``csrc/*.cu``, and numba-cuda),
the CUDA attention backend and CUDA-graph decode. The only package that imports CuPy or
numba.cuda; nothing here imports them until a kernel is first used.

- :mod:`radtrio.cuda.ops`: launchers (attention over KV slots, store_kv, rms_norm,
  apply_rope_, silu_mul) on torch tensors;
- :mod:`radtrio.cuda.backend`: :class:`CudaAttentionBackend`;
- :mod:`radtrio.cuda.graph_runner`: :class:`GraphRunner`;
- :mod:`radtrio.cuda.llama_step`: the fused Llama step CausalLM dispatches to on CUDA;
- :mod:`radtrio.cuda.logits_mask`: token-bitmask masking of logits (numba-cuda).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def available() -> bool:
    """CuPy importable and a CUDA device visible."""
    try:
        import cupy

        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:  # ImportError, or CuPy's CUDARuntimeError without a driver
        return False


def fused_step_for(model: Any) -> Callable[..., Any] | None:
    """The fused CUDA forward step for ``model`` (a CausalLM on CUDA), or None when CuPy is
    missing or the model's shapes are not covered (then torch ops run)."""
    if not available():
        return None
    from radtrio.cuda.llama_step import forward_cuda, supports

    return forward_cuda if supports(model) else None
