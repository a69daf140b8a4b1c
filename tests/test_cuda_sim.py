"""The numba-cuda kernels of radtrio.cuda under the CUDA simulator (no GPU needed).

``NUMBA_ENABLE_CUDASIM`` only takes effect before numba is first imported, so the check runs
in a fresh interpreter.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

CHECK = textwrap.dedent(
    """
    import numpy as np
    from radtrio.cuda.logits_mask import apply_token_bitmask_

    rng = np.random.default_rng(0)
    b, vocab, words = 4, 300, 9  # the mask covers 288 tokens; logits have 300 columns
    logits = rng.standard_normal((b, vocab)).astype(np.float32)
    before = logits.copy()
    bitmask = rng.integers(-2**31, 2**31 - 1, (3, words), dtype=np.int64).astype(np.int32)
    rows = np.array([2, -1, 0, 2], dtype=np.int32)
    apply_token_bitmask_(logits, bitmask, rows)
    masked = 0
    for i in range(b):
        for tok in range(vocab):
            r = rows[i]
            ok = r < 0 or (tok // 32 < words and (int(bitmask[r, tok // 32]) >> (tok % 32)) & 1)
            if ok:
                assert logits[i, tok] == before[i, tok], (i, tok)
            else:
                assert logits[i, tok] == -np.inf, (i, tok)
                masked += 1
    assert masked > 300, masked  # about half of three constrained rows
    try:
        apply_token_bitmask_(logits, bitmask.astype(np.int64), rows)
    except ValueError as e:
        assert "int32" in str(e)
    else:
        raise AssertionError("an int64 bitmask was accepted")
    # the sampler-shaped entry point: rows 3 and 0 constrained by two uint32 masks
    from radtrio.cuda.logits_mask import apply_bitmask_rows

    logits = rng.standard_normal((b, vocab)).astype(np.float32)
    before = logits.copy()
    masks = [bitmask[0].view(np.uint32), bitmask[1].view(np.uint32)]
    apply_bitmask_rows(logits, [3, 0], masks)
    for i, m in ((3, bitmask[0]), (0, bitmask[1])):
        for tok in range(vocab):
            ok = tok // 32 < words and (int(m[tok // 32]) >> (tok % 32)) & 1
            assert logits[i, tok] == (before[i, tok] if ok else -np.inf), (i, tok)
    assert np.array_equal(logits[[1, 2]], before[[1, 2]])
    print("ok")
    """
)


def test_token_bitmask_kernel_under_the_simulator() -> None:
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "1"}
    done = subprocess.run(
        [sys.executable, "-c", CHECK], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().endswith("ok")
