"""Compile the CUDA C sources under ``csrc/`` with CuPy (NVRTC) and launch them on torch's stream.

Each kernel template instance (``"attn_split<bf16, 128, 4>"``) is compiled once per
process on first use and cached (CuPy also caches the binary on disk). Tensors are passed
as raw device pointers taken from torch (no copies, no CuPy array objects per call); the
launch goes to torch's *current* stream, so kernels order with torch ops and are captured
by ``torch.cuda.graph`` like any torch launch.
"""

from __future__ import annotations

import functools
import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

CSRC = Path(__file__).with_name("csrc")

# torch dtype -> the storage type name the kernels are templated on (see csrc/common.cuh).
CUDA_TYPE = {torch.bfloat16: "bf16", torch.float16: "f16", torch.float32: "float"}


def cupy() -> Any:
    """The cupy module (imported on first use, so CPU-only installs never need it)."""
    import cupy as cp

    return cp


@functools.cache
def _source(name: str) -> str:
    return (CSRC / "common.cuh").read_text() + "\n" + (CSRC / name).read_text()


@functools.cache
def kernel(source: str, expression: str) -> Any:
    """The compiled kernel ``expression`` (a template instance) of ``csrc/<source>``."""
    cp = cupy()
    module = cp.RawModule(
        code=_source(source), options=("--std=c++17",), name_expressions=[expression]
    )
    return module.get_function(expression)


class _StreamHandle:
    """A raw CUDA stream handle in the CUDA stream protocol (``__cuda_stream__``)."""

    def __init__(self, handle: int) -> None:
        self.handle = handle

    def __cuda_stream__(self) -> tuple[int, int]:
        return (0, self.handle)


@functools.cache
def _external_stream(ptr: int, device: int) -> Any:
    """CuPy's view of torch's stream ``ptr``: ``Stream.from_external`` (CuPy >= 14, where
    ``ExternalStream`` is deprecated), else ``ExternalStream``."""
    cp = cupy()
    from_external = getattr(cp.cuda.Stream, "from_external", None)
    if from_external is not None:
        try:
            with cp.cuda.Device(device):
                stream = from_external(_StreamHandle(ptr))
            if int(stream.ptr) == ptr:
                return stream
        except Exception:  # an older or different signature: fall through
            pass
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return cp.cuda.ExternalStream(ptr, device)


def cuda_type(dtype: torch.dtype) -> str:
    try:
        return CUDA_TYPE[dtype]
    except KeyError:
        raise ValueError(
            f"dtype {dtype} is not supported by the CUDA kernels (bfloat16, float16, float32)"
        ) from None


def launch(
    fn: Any,
    grid: tuple[int, ...],
    block: tuple[int, ...],
    args: tuple[Any, ...],
    shared_mem: int = 0,
) -> None:
    """Launch on torch's current stream of the current device (``shared_mem``: dynamic
    shared memory in bytes; above 48 KiB the kernel's limit is raised first)."""
    device = torch.cuda.current_device()
    stream = _external_stream(torch.cuda.current_stream(device).cuda_stream, device)
    with cupy().cuda.Device(device), stream:
        if shared_mem > DEFAULT_SMEM and _raised.get((id(fn), device), 0) < shared_mem:
            fn.max_dynamic_shared_size_bytes = shared_mem
            _raised[(id(fn), device)] = shared_mem
        fn(grid, block, args, shared_mem=shared_mem)


DEFAULT_SMEM = 48 * 1024
_raised: dict[tuple[int, int], int] = {}  # (kernel, device) -> dynamic shared memory limit set


def ptr(t: torch.Tensor | None) -> np.uint64:
    """A tensor's device address as a kernel argument (null for None)."""
    return np.uint64(0 if t is None else t.data_ptr())


def i64(x: int) -> np.int64:
    return np.int64(x)


def i32(x: int) -> np.int32:
    return np.int32(x)


def f32(x: float) -> np.float32:
    return np.float32(x)


def rows(name: str, t: torch.Tensor, inner: int) -> tuple[torch.Tensor, int]:
    """View ``t`` as ``[rows, inner]`` rows for a kernel: return the tensor (a contiguous copy
    only when its rows are not contiguous and 16-byte aligned) and its row stride in elements."""
    if not t.is_cuda:
        raise ValueError(f"{name}: expected a CUDA tensor, got one on {t.device}")
    if t.dim() < 2 or math.prod(t.shape[1:]) != inner:
        raise ValueError(f"{name}: expected rows of {inner} elements, got shape {tuple(t.shape)}")
    if not _rows_ok(t, inner):
        t = t.contiguous()
    return t, t.stride(0)


def _rows_ok(t: torch.Tensor, inner: int) -> bool:
    expected = 1
    for size, stride in zip(reversed(t.shape[1:]), reversed(t.stride()[1:]), strict=True):
        if size != 1 and stride != expected:
            return False
        expected *= size
    esize = t.element_size()
    return t.data_ptr() % 16 == 0 and (t.stride(0) * esize) % 16 == 0 and (inner * esize) % 16 == 0
