"""Our Llama-family forward pass (Llama, Mistral, Qwen2, SmolLM) over the KV-slot contract.

Weights are kept fused and laid out the way the step runs them: one q/k/v projection, one
gate/up projection, each stored transposed (``[hidden, out]``, so the step is ``x @ W_t``:
on CPU MKL runs that layout up to 1.7x faster than ``F.linear``'s ``x @ W.T`` at batch
sizes 4-16); the residual adds ride inside the output GEMMs (``addmm``). Attention goes
through an :class:`~radtrio.models.attention_backend.AttentionBackend`, which owns the
reads and writes of the :class:`~radtrio.models.kv_pool.KVPool` slots.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from radtrio.models.attention_backend import AttentionBackend
from radtrio.models.batch import ForwardBatch
from radtrio.models.config import ModelConfig
from radtrio.models.kv_pool import KVPool
from radtrio.models.rope import RopeTables

# A getter of HF-named tensors ("model.layers.0.self_attn.q_proj.weight", ...).
TensorGetter = Callable[[str], torch.Tensor]


@dataclass
class LayerWeights:
    input_norm: torch.Tensor  # [hidden]
    qkv_t: torch.Tensor  # [hidden, (heads + 2 kv_heads) * head_dim] (q/k/v transposed)
    qkv_bias: torch.Tensor | None
    o_t: torch.Tensor  # [heads * head_dim, hidden] (o_proj transposed, for addmm)
    post_norm: torch.Tensor  # [hidden]
    gate_up_t: torch.Tensor  # [hidden, 2 * intermediate] (gate/up transposed)
    down_t: torch.Tensor  # [intermediate, hidden] (down_proj transposed, for addmm)


class CausalLM:
    """A decoder-only Llama-family model. ``forward`` returns float32 logits."""

    def __init__(
        self,
        config: ModelConfig,
        embed: torch.Tensor,
        layers: list[LayerWeights],
        final_norm: torch.Tensor,
        lm_head: torch.Tensor,
    ) -> None:
        config.validate()
        if len(layers) != config.layers:
            raise ValueError(f"got {len(layers)} layers, config says {config.layers}")
        self.config = config
        self.embed = embed
        self.layers = layers
        self.final_norm = final_norm
        self.lm_head = lm_head
        self.dtype = embed.dtype
        self.device = embed.device
        self.rope = RopeTables(config, self.dtype, self.device)
        self.scale = config.head_dim**-0.5
        self._fused_step = _cuda_step(self) if self.device.type == "cuda" else None

    # -- shape facts the engine and the kernels need ---------------------------------
    @property
    def num_layers(self) -> int:
        return self.config.layers

    @property
    def num_heads(self) -> int:
        return self.config.heads

    @property
    def kv_heads(self) -> int:
        return self.config.kv_heads

    @property
    def head_dim(self) -> int:
        return self.config.head_dim

    @property
    def vocab_size(self) -> int:
        return self.config.vocab_size

    @property
    def max_positions(self) -> int:
        return self.config.max_positions

    def num_parameters(self) -> int:
        tensors = [self.embed, self.final_norm]
        if self.lm_head is not self.embed:
            tensors.append(self.lm_head)
        for layer in self.layers:
            tensors += [layer.input_norm, layer.qkv_t, layer.o_t, layer.post_norm]
            tensors += [layer.gate_up_t, layer.down_t]
            if layer.qkv_bias is not None:
                tensors.append(layer.qkv_bias)
        return sum(t.numel() for t in tensors)

    def kv_bytes_per_token(self, dtype: torch.dtype | None = None) -> int:
        element = torch.empty((), dtype=dtype or self.dtype).element_size()
        return 2 * self.num_layers * self.kv_heads * self.head_dim * element

    def make_kv_pool(self, num_slots: int, dtype: torch.dtype | None = None) -> KVPool:
        """A KV pool shaped for this model (slot 0 is the padding slot)."""
        return KVPool(
            self.num_layers, num_slots, self.kv_heads, self.head_dim,
            dtype or self.dtype, self.device,
        )  # fmt: skip

    # -- construction ----------------------------------------------------------------
    @staticmethod
    def from_hf_tensors(
        config: ModelConfig,
        get: TensorGetter,
        dtype: torch.dtype,
        device: torch.device | str = "cpu",
        has: Callable[[str], bool] | None = None,
    ) -> CausalLM:
        """Build from HF-named tensors (q/k in HF's rotate-half layout)."""
        device = torch.device(device)

        def load(name: str) -> torch.Tensor:
            return get(name).to(device=device, dtype=dtype)

        def fused(names: list[str]) -> torch.Tensor:
            return torch.cat([load(n) for n in names], dim=0).contiguous()

        def fused_t(names: list[str]) -> torch.Tensor:
            return torch.cat([load(n) for n in names], dim=0).t().contiguous()

        layers = []
        for i in range(config.layers):
            p = f"model.layers.{i}."
            att = p + "self_attn."
            qkv_bias = None
            if config.qkv_bias:
                qkv_bias = fused([att + f"{x}_proj.bias" for x in "qkv"])
            layers.append(
                LayerWeights(
                    input_norm=load(p + "input_layernorm.weight").contiguous(),
                    qkv_t=fused_t([att + f"{x}_proj.weight" for x in "qkv"]),
                    qkv_bias=qkv_bias,
                    o_t=load(att + "o_proj.weight").t().contiguous(),
                    post_norm=load(p + "post_attention_layernorm.weight").contiguous(),
                    gate_up_t=fused_t([p + "mlp.gate_proj.weight", p + "mlp.up_proj.weight"]),
                    down_t=load(p + "mlp.down_proj.weight").t().contiguous(),
                )
            )
        embed = load("model.embed_tokens.weight").contiguous()
        tied = config.tie_embeddings or (has is not None and not has("lm_head.weight"))
        lm_head = embed if tied else load("lm_head.weight").contiguous()
        return CausalLM(config, embed, layers, load("model.norm.weight").contiguous(), lm_head)

    # -- the step --------------------------------------------------------------------
    def __call__(
        self, batch: ForwardBatch, pool: KVPool, backend: AttentionBackend
    ) -> torch.Tensor:
        return self.forward(batch, pool, backend)

    @torch.inference_mode()
    def forward(self, batch: ForwardBatch, pool: KVPool, backend: AttentionBackend) -> torch.Tensor:
        """Run one step; float32 logits of the last new token of each sequence ``[B, vocab]``.

        ``batch.return_all_logits`` gives every new token's ``[T, vocab]``;
        ``batch.logits_indices`` (rows of the new tokens) gives ``[R, vocab]`` for those rows.
        """
        if self._fused_step is not None:  # CUDA: the same step on radtrio.cuda's fused kernels
            return self._fused_step(self, batch, pool, backend)
        cfg = self.config
        T = batch.num_tokens
        nh, kvh, hd = cfg.heads, cfg.kv_heads, cfg.head_dim
        q_width = nh * hd
        qk_heads = nh + kvh
        qk_width = qk_heads * hd
        eps = cfg.rms_eps
        norm_shape = (cfg.hidden,)
        inter = cfg.intermediate

        backend.prepare(batch)
        self.rope.ensure(max(batch.seq_lens))
        cos = self.rope.cos[batch.positions]  # [T, 1, hd]
        sin = self.rope.sin[batch.positions]

        x = F.embedding(batch.input_ids, self.embed)  # residual stream [T, hidden]
        for i, layer in enumerate(self.layers):
            h = F.rms_norm(x, norm_shape, layer.input_norm, eps)
            qkv = project(h, layer.qkv_t, layer.qkv_bias)
            qk = qkv[:, :qk_width].view(T, qk_heads, hd)
            swapped = qk.unflatten(-1, (2, hd // 2)).flip(-2).flatten(-2)
            qk = torch.addcmul(qk * cos, swapped, sin)
            v = qkv[:, qk_width:].view(T, kvh, hd)
            o = backend.forward(i, qk[:, :nh], qk[:, nh:], v, batch, pool, self.scale)
            x = torch.addmm(x, o.reshape(T, q_width), layer.o_t)
            h = F.rms_norm(x, norm_shape, layer.post_norm, eps)
            gu = torch.mm(h, layer.gate_up_t)
            act = F.silu(gu[:, :inter]) * gu[:, inter:]
            x = torch.addmm(x, act, layer.down_t)

        if batch.logits_indices is not None:
            x = x[batch.logits_indices]
        elif not batch.return_all_logits and T != batch.num_seqs:
            x = x[batch.last_token_rows()]
        h = F.rms_norm(x, norm_shape, self.final_norm, eps)
        return F.linear(h, self.lm_head).float()


def project(x: torch.Tensor, weight_t: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """``x @ weight_t (+ bias)`` for a transposed ``[in, out]`` weight."""
    if bias is None:
        return torch.mm(x, weight_t)
    return torch.addmm(bias, x, weight_t)


def _cuda_step(model: CausalLM) -> Callable[..., torch.Tensor] | None:
    """radtrio.cuda's fused forward for a model on CUDA, or None (torch ops) without CuPy."""
    from radtrio.cuda import fused_step_for

    return fused_step_for(model)
