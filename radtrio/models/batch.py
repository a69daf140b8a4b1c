"""The KV-slot contract between the scheduler, the model runtime and the kernels.

K/V of every token lives in a *slot* of a :class:`~radtrio.models.kv_pool.KVPool`
(per layer a tensor ``[num_slots, kv_heads, head_dim]``; slot 0 is reserved for
padding writes). A forward step runs a ragged batch of sequences; each sequence
brings ``extend_len >= 1`` new tokens (a prefill chunk, or one decode token) that
attend to ``seq_len`` tokens in all: its cached prefix followed by the new ones.

Everything is described in CSR form (the FlashInfer / SGLang layout), which the
CPU torch path and the CUDA kernels read the same way:

- ``qo_indptr[b]:qo_indptr[b+1]`` are sequence b's rows in ``input_ids`` /
  ``positions`` / ``out_slots`` (the new tokens, in order);
- ``kv_indptr[b]:kv_indptr[b+1]`` are sequence b's entries in ``kv_indices``:
  the slots of all its ``seq_len`` tokens in logical order, the last
  ``extend_len`` of them being ``out_slots`` of its new tokens.

The new tokens' K/V are written to ``out_slots`` before attention reads them.
New token i of sequence b sits at logical position ``seq_len - extend_len + i``
and attends causally to logical positions ``0 .. seq_len - extend_len + i``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class ForwardBatch:
    input_ids: torch.Tensor  # [T] int64, new tokens of all sequences, concatenated
    positions: torch.Tensor  # [T] int64, RoPE positions of the new tokens
    out_slots: torch.Tensor  # [T] int64, KV slot each new token writes (0 = padding, skipped)
    qo_indptr: torch.Tensor  # [B+1] int64, CSR offsets of new tokens per sequence
    kv_indptr: torch.Tensor  # [B+1] int64, CSR offsets into kv_indices per sequence
    kv_indices: torch.Tensor  # [sum(seq_lens)] int64, slots of every token of every sequence
    seq_lens: list[int]  # host copy: total tokens per sequence (cached prefix + new)
    extend_lens: list[int]  # host copy: new tokens per sequence
    # True: logits for every new token (scoring); else the last token's per sequence.
    return_all_logits: bool = False
    # Optional [R] int64 rows of the new tokens whose logits to return (overrides both defaults);
    # the engine uses it to score prompt tokens of some sequences without a [T, vocab] matmul.
    logits_indices: torch.Tensor | None = None

    @property
    def num_seqs(self) -> int:
        return len(self.seq_lens)

    @property
    def num_tokens(self) -> int:
        return int(self.input_ids.shape[0])

    @property
    def is_decode(self) -> bool:
        """Every sequence brings exactly one new token (a pure decode step)."""
        return all(n == 1 for n in self.extend_lens)

    def to(self, device: torch.device | str) -> ForwardBatch:
        return ForwardBatch(
            input_ids=self.input_ids.to(device, non_blocking=True),
            positions=self.positions.to(device, non_blocking=True),
            out_slots=self.out_slots.to(device, non_blocking=True),
            qo_indptr=self.qo_indptr.to(device, non_blocking=True),
            kv_indptr=self.kv_indptr.to(device, non_blocking=True),
            kv_indices=self.kv_indices.to(device, non_blocking=True),
            seq_lens=self.seq_lens,
            extend_lens=self.extend_lens,
            return_all_logits=self.return_all_logits,
            logits_indices=None
            if self.logits_indices is None
            else self.logits_indices.to(device, non_blocking=True),
        )

    def last_token_rows(self) -> torch.Tensor:
        """Row of each sequence's last new token (where next-token logits come from)."""
        return self.qo_indptr[1:] - 1

    @staticmethod
    def build(
        seqs: list[tuple[list[int], list[int], int]],
        return_all_logits: bool = False,
    ) -> ForwardBatch:
        """Build a batch on the host from ``(new_token_ids, all_slots, seq_len)`` per sequence.

        ``all_slots`` holds the slots of all ``seq_len`` tokens (cached prefix, then the
        new tokens); the new tokens are the last ``len(new_token_ids)`` of them.
        """
        input_ids: list[int] = []
        positions: list[int] = []
        out_slots: list[int] = []
        kv_indices: list[int] = []
        qo_indptr = [0]
        kv_indptr = [0]
        seq_lens: list[int] = []
        extend_lens: list[int] = []
        for new_ids, slots, seq_len in seqs:
            n = len(new_ids)
            if n < 1 or len(slots) != seq_len or seq_len < n:
                raise ValueError(
                    f"bad sequence: {n} new tokens, {len(slots)} slots, seq_len {seq_len}"
                )
            start = seq_len - n
            input_ids.extend(new_ids)
            positions.extend(range(start, seq_len))
            out_slots.extend(slots[start:])
            kv_indices.extend(slots)
            qo_indptr.append(qo_indptr[-1] + n)
            kv_indptr.append(kv_indptr[-1] + seq_len)
            seq_lens.append(seq_len)
            extend_lens.append(n)

        def as_tensor(values: list[int]) -> torch.Tensor:
            return torch.tensor(values, dtype=torch.int64)

        return ForwardBatch(
            input_ids=as_tensor(input_ids),
            positions=as_tensor(positions),
            out_slots=as_tensor(out_slots),
            qo_indptr=as_tensor(qo_indptr),
            kv_indptr=as_tensor(kv_indptr),
            kv_indices=as_tensor(kv_indices),
            seq_lens=seq_lens,
            extend_lens=extend_lens,
            return_all_logits=return_all_logits,
        )

    @staticmethod
    def from_arrays(
        new_ids: list[list[int]], slots: list[np.ndarray], seq_lens: list[int]
    ) -> ForwardBatch:
        """Like :meth:`build`, from each sequence's slot array (int64, ``seq_len`` long),
        with numpy doing the per-token work (the engine's hot path)."""
        extend = [len(ids) for ids in new_ids]
        if any(n < 1 for n in extend) or any(
            len(sl) != L or L < n for sl, L, n in zip(slots, seq_lens, extend, strict=True)
        ):
            raise ValueError("bad sequence: need >= 1 new token and seq_len slots per sequence")
        ext = np.asarray(extend, dtype=np.int64)
        lens = np.asarray(seq_lens, dtype=np.int64)
        qo = np.zeros(len(extend) + 1, dtype=np.int64)
        np.cumsum(ext, out=qo[1:])
        kv = np.zeros(len(extend) + 1, dtype=np.int64)
        np.cumsum(lens, out=kv[1:])
        kv_indices = np.concatenate(slots) if slots else np.zeros(0, dtype=np.int64)
        # position of new token j of sequence b: seq_len_b - extend_b + j
        starts = np.repeat(lens - ext - qo[:-1], ext)
        positions = starts + np.arange(int(qo[-1]), dtype=np.int64)
        out_slots = kv_indices[np.repeat(kv[1:] - ext - qo[:-1], ext) + np.arange(int(qo[-1]))]
        flat_ids = [t for ids in new_ids for t in ids]
        return ForwardBatch(
            input_ids=torch.tensor(flat_ids, dtype=torch.int64),
            positions=torch.from_numpy(positions),
            out_slots=torch.from_numpy(out_slots),
            qo_indptr=torch.from_numpy(qo),
            kv_indptr=torch.from_numpy(kv),
            kv_indices=torch.from_numpy(kv_indices.astype(np.int64, copy=False)),
            seq_lens=list(seq_lens),
            extend_lens=extend,
        )
