"""ModelConfig: the shape of a Llama-family model, read from a HF config or GGUF metadata."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# HF `architectures` / `model_type` names we run, mapped to our family names.
ARCH_BY_HF_NAME = {
    "LlamaForCausalLM": "llama",
    "MistralForCausalLM": "mistral",
    "Qwen2ForCausalLM": "qwen2",
    "llama": "llama",
    "mistral": "mistral",
    "qwen2": "qwen2",
    "smollm": "llama",
}
SUPPORTED_ARCHS = ("llama", "mistral", "qwen2")
SUPPORTED_ROPE_TYPES = ("default", "linear", "llama3", "dynamic")


@dataclass
class ModelConfig:
    arch: str  # llama | mistral | qwen2
    vocab_size: int
    hidden: int
    intermediate: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    rope_theta: float = 10000.0
    rope_scaling: dict[str, Any] | None = None  # {"rope_type": "llama3"|"linear"|..., ...}
    rms_eps: float = 1e-6
    max_positions: int = 2048
    tie_embeddings: bool = False
    qkv_bias: bool = False
    bos_token_id: int | None = None
    eos_token_ids: list[int] = field(default_factory=list)
    sliding_window: int | None = None

    def validate(self) -> None:
        if self.arch not in SUPPORTED_ARCHS:
            raise ValueError(f"arch={self.arch!r}: must be one of {', '.join(SUPPORTED_ARCHS)}")
        for name in ("vocab_size", "hidden", "intermediate", "layers", "heads", "kv_heads"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)}: must be >= 1")
        if self.heads % self.kv_heads != 0:
            raise ValueError(
                f"heads={self.heads} is not a multiple of kv_heads={self.kv_heads} (GQA groups)"
            )
        if self.head_dim < 2 or self.head_dim % 2:
            raise ValueError(f"head_dim={self.head_dim}: must be even and >= 2 (RoPE pairs)")
        rope_type = (self.rope_scaling or {}).get("rope_type", "default")
        if rope_type not in SUPPORTED_ROPE_TYPES:
            raise ValueError(
                f"rope_scaling type {rope_type!r} is not supported "
                f"(supported: {', '.join(SUPPORTED_ROPE_TYPES)})"
            )

    @property
    def eos_token_id(self) -> int | None:
        return self.eos_token_ids[0] if self.eos_token_ids else None

    @staticmethod
    def from_hf(hf: Any) -> ModelConfig:
        """From a transformers PretrainedConfig or a config.json dict."""
        d = hf if isinstance(hf, dict) else hf.to_dict()
        arch = None
        for name in d.get("architectures") or []:
            arch = ARCH_BY_HF_NAME.get(name)
            if arch:
                break
        if arch is None:
            arch = ARCH_BY_HF_NAME.get(d.get("model_type", ""))
        if arch is None:
            raise ValueError(
                f"model architecture {d.get('architectures')} / model_type "
                f"{d.get('model_type')!r} is not supported "
                "(supported: Llama, Mistral, Qwen2, SmolLM)"
            )
        heads = int(d["num_attention_heads"])
        hidden = int(d["hidden_size"])
        kv_heads = int(d.get("num_key_value_heads") or heads)
        head_dim = int(d.get("head_dim") or hidden // heads)
        # transformers 5 keeps theta and scaling together in rope_parameters; 4.x split them.
        rope = d.get("rope_parameters") or {}
        if isinstance(rope, dict) and rope and all(isinstance(v, dict) for v in rope.values()):
            rope = next(iter(rope.values()))  # per-layer-type dict: take the first
        theta = float(rope.get("rope_theta") or d.get("rope_theta") or 10000.0)
        scaling = dict(rope) if rope else dict(d.get("rope_scaling") or {})
        scaling.pop("rope_theta", None)
        rope_type = scaling.get("rope_type") or scaling.get("type") or "default"
        scaling = None if rope_type == "default" else {**scaling, "rope_type": rope_type}
        eos = d.get("eos_token_id")
        eos_ids = (
            [] if eos is None else ([int(e) for e in eos] if isinstance(eos, list) else [int(eos)])
        )
        sliding = d.get("sliding_window")
        if arch == "qwen2" and not d.get("use_sliding_window", False):
            sliding = None
        bias = d.get("attention_bias")
        cfg = ModelConfig(
            arch=arch,
            vocab_size=int(d["vocab_size"]),
            hidden=hidden,
            intermediate=int(d["intermediate_size"]),
            layers=int(d["num_hidden_layers"]),
            heads=heads,
            kv_heads=kv_heads,
            head_dim=head_dim,
            rope_theta=theta,
            rope_scaling=scaling,
            rms_eps=float(d.get("rms_norm_eps", 1e-6)),
            max_positions=int(d.get("max_position_embeddings", 2048)),
            tie_embeddings=bool(d.get("tie_word_embeddings", False)),
            qkv_bias=(arch == "qwen2") if bias is None else bool(bias),
            bos_token_id=d.get("bos_token_id"),
            eos_token_ids=eos_ids,
            sliding_window=int(sliding) if sliding else None,
        )
        cfg.validate()
        return cfg

    @staticmethod
    def from_gguf_fields(meta: dict[str, Any], tensor_names: set[str]) -> ModelConfig:
        """From GGUF key/value metadata (already decoded to Python values)."""
        arch_name = str(meta.get("general.architecture", ""))
        arch = {"llama": "llama", "qwen2": "qwen2", "mistral": "mistral"}.get(arch_name)
        if arch is None:
            raise ValueError(
                f"GGUF architecture {arch_name!r} is not supported (supported: llama, qwen2)"
            )

        def key(name: str, default: Any = None) -> Any:
            return meta.get(f"{arch_name}.{name}", default)

        heads = int(key("attention.head_count"))
        hidden = int(key("embedding_length"))
        kv_heads = int(key("attention.head_count_kv") or heads)
        head_dim = int(key("attention.key_length") or hidden // heads)
        vocab = key("vocab_size")
        if vocab is None:
            vocab = len(meta.get("tokenizer.ggml.tokens", []))
        scaling = None
        scale_type = key("rope.scaling.type")
        if scale_type == "linear":
            scaling = {"rope_type": "linear", "factor": float(key("rope.scaling.factor"))}
        elif scale_type not in (None, "none"):
            raise ValueError(f"GGUF rope scaling type {scale_type!r} is not supported")
        eos = meta.get("tokenizer.ggml.eos_token_id")
        cfg = ModelConfig(
            arch=arch,
            vocab_size=int(vocab),
            hidden=hidden,
            intermediate=int(key("feed_forward_length")),
            layers=int(key("block_count")),
            heads=heads,
            kv_heads=kv_heads,
            head_dim=head_dim,
            rope_theta=float(key("rope.freq_base", 10000.0)),
            rope_scaling=scaling,
            rms_eps=float(key("attention.layer_norm_rms_epsilon", 1e-6)),
            max_positions=int(key("context_length", 2048)),
            tie_embeddings="output.weight" not in tensor_names,
            qkv_bias="blk.0.attn_q.bias" in tensor_names,
            bos_token_id=meta.get("tokenizer.ggml.bos_token_id"),
            eos_token_ids=[] if eos is None else [int(eos)],
        )
        cfg.validate()
        return cfg
