"""Read a GGUF file: metadata -> ModelConfig, tensors -> dequantized HF-named torch tensors.

llama.cpp's converter permutes the rows of ``attn_q`` / ``attn_k`` of llama-arch models
(it stores RoPE pairs interleaved); we undo that so the weights are in HF's rotate-half
layout, as transformers' own GGUF loader does. Qwen2 GGUFs are not permuted.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import torch

from radtrio.models.config import ModelConfig
from radtrio.models.progress import progress_bar

# GGUF tensor name (after "blk.N.") -> HF name (after "model.layers.N.")
_LAYER_NAMES = {
    "attn_norm.weight": "input_layernorm.weight",
    "attn_q.weight": "self_attn.q_proj.weight",
    "attn_k.weight": "self_attn.k_proj.weight",
    "attn_v.weight": "self_attn.v_proj.weight",
    "attn_q.bias": "self_attn.q_proj.bias",
    "attn_k.bias": "self_attn.k_proj.bias",
    "attn_v.bias": "self_attn.v_proj.bias",
    "attn_output.weight": "self_attn.o_proj.weight",
    "ffn_norm.weight": "post_attention_layernorm.weight",
    "ffn_gate.weight": "mlp.gate_proj.weight",
    "ffn_up.weight": "mlp.up_proj.weight",
    "ffn_down.weight": "mlp.down_proj.weight",
}
_TOP_NAMES = {
    "token_embd.weight": "model.embed_tokens.weight",
    "output_norm.weight": "model.norm.weight",
    "output.weight": "lm_head.weight",
}


def hf_name(gguf_name: str) -> str | None:
    if gguf_name in _TOP_NAMES:
        return _TOP_NAMES[gguf_name]
    if gguf_name.startswith("blk."):
        _, layer, rest = gguf_name.split(".", 2)
        if rest in _LAYER_NAMES:
            return f"model.layers.{layer}.{_LAYER_NAMES[rest]}"
    return None


def unpermute_rope_rows(w: np.ndarray, n_head: int) -> np.ndarray:
    """Undo llama.cpp's q/k row permutation (interleaved RoPE pairs -> rotate-half halves)."""
    dim = w.shape[0] // n_head // 2
    return w.reshape(n_head, dim, 2, *w.shape[1:]).swapaxes(2, 1).reshape(w.shape)


def _field_value(field: Any) -> Any:
    return field.contents()


class GGUFFile:
    """An opened GGUF file (memory-mapped): metadata, config and tensors."""

    def __init__(self, path: Path) -> None:
        import gguf

        self.path = Path(path)
        try:
            self.reader = gguf.GGUFReader(str(self.path))
        except Exception as exc:  # the gguf package raises ValueError / struct errors
            raise ValueError(f"{self.path}: not a readable GGUF file ({exc})") from exc
        skip = ("tokenizer.ggml.tokens", "tokenizer.ggml.merges", "tokenizer.ggml.token_type")
        self.meta: dict[str, Any] = {}
        for name, field in self.reader.fields.items():
            if name in skip or name.startswith("GGUF."):
                continue
            self.meta[name] = _field_value(field)
        self.tensors = {t.name: t for t in self.reader.tensors}
        self.config = ModelConfig.from_gguf_fields(self.meta, set(self.tensors))
        self.arch = str(self.meta.get("general.architecture"))

    def hf_tensors(
        self, dtype: torch.dtype, progress: bool = False
    ) -> Iterator[tuple[str, torch.Tensor]]:
        """Yield ``(hf_name, tensor)`` dequantized to ``dtype``, q/k rows un-permuted."""
        from gguf.quants import dequantize

        cfg = self.config
        bar = progress_bar(len(self.tensors), "dequantize", "tensor") if progress else nullcontext()
        with bar as pbar:
            for name, tensor in self.tensors.items():
                target = hf_name(name)
                if target is None:
                    if pbar is not None:
                        pbar.update(1)
                    continue
                w = dequantize(tensor.data, tensor.tensor_type)
                w = w.reshape([int(n) for n in reversed(tensor.shape)])
                if self.arch == "llama":
                    if ".attn_q." in name:
                        w = unpermute_rope_rows(w, cfg.heads)
                    elif ".attn_k." in name:
                        w = unpermute_rope_rows(w, cfg.kv_heads)
                w = np.ascontiguousarray(w, dtype=np.float32)
                if not w.flags.writeable:  # a float32 tensor still in the memory map
                    w = w.copy()
                yield target, torch.from_numpy(w).to(dtype)
                if pbar is not None:
                    pbar.update(1)

    def load_state(self, dtype: torch.dtype, progress: bool = False) -> dict[str, torch.Tensor]:
        return dict(self.hf_tensors(dtype, progress))
