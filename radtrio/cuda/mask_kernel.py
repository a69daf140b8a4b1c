"""The numba-cuda kernel behind :func:`radtrio.cuda.logits_mask.apply_token_bitmask_`.

Kept in its own module with ``cuda`` as a module global: the simulator
(``NUMBA_ENABLE_CUDASIM=1``) swaps the kernel's global ``cuda`` for its fake one.
"""

from __future__ import annotations

import math

from radtrio.cuda.numba_compat import cuda


@cuda.jit
def apply_token_bitmask(logits, bitmask, rows):  # noqa: ANN001 - numba kernel
    b = cuda.blockIdx.y
    tok = cuda.blockIdx.x * cuda.blockDim.x + cuda.threadIdx.x
    if tok >= logits.shape[1]:
        return
    row = rows[b]
    if row < 0:
        return
    word = tok >> 5
    allowed = False
    if word < bitmask.shape[1]:
        allowed = ((bitmask[row, word] >> (tok & 31)) & 1) != 0
    if not allowed:
        logits[b, tok] = -math.inf
