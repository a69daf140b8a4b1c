"""Random-weight models from a config, for tests and benchmarks of other shapes.

- :func:`random_model` builds our model straight from random tensors (any size, any device:
  benchmark shapes such as Llama-3.1-8B on a GPU);
- :func:`random_model_with_hf` builds the HF transformers model first and gives ours the very
  same weights (tiny shapes on CPU: parity tests).

Configs are HF-style dicts (``model_type`` + HF field names); :data:`SHAPES` names a few.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from radtrio.models.config import ModelConfig
from radtrio.models.llama import CausalLM
from radtrio.models.loader import LoadedModel, resolve_dtype

_TINY = {
    "vocab_size": 512,
    "hidden_size": 64,
    "intermediate_size": 160,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 1024,
    "rms_norm_eps": 1e-6,
    "initializer_range": 0.1,
}

SHAPES: dict[str, dict[str, Any]] = {
    "tiny-llama": {**_TINY, "model_type": "llama", "rope_theta": 10000.0},
    "tiny-llama3": {
        **_TINY,
        "model_type": "llama",
        "rope_theta": 500000.0,
        "rope_scaling": {
            "rope_type": "llama3",
            "factor": 8.0,
            "low_freq_factor": 1.0,
            "high_freq_factor": 4.0,
            "original_max_position_embeddings": 64,
        },
        "tie_word_embeddings": True,
    },
    "tiny-qwen2": {
        **_TINY,
        "model_type": "qwen2",
        "num_attention_heads": 6,
        "num_key_value_heads": 2,
        "hidden_size": 96,
        "rope_theta": 1000000.0,
        "tie_word_embeddings": True,
    },
    "tiny-mistral": {
        **_TINY,
        "model_type": "mistral",
        "num_key_value_heads": 1,
        "sliding_window": None,
        "rope_theta": 10000.0,
    },
    "smollm2-135m": {
        "model_type": "llama",
        "vocab_size": 49152,
        "hidden_size": 576,
        "intermediate_size": 1536,
        "num_hidden_layers": 30,
        "num_attention_heads": 9,
        "num_key_value_heads": 3,
        "max_position_embeddings": 8192,
        "rope_theta": 100000.0,
        "rms_norm_eps": 1e-5,
        "tie_word_embeddings": True,
    },
    "qwen2-0.5b": {
        "model_type": "qwen2",
        "vocab_size": 151936,
        "hidden_size": 896,
        "intermediate_size": 4864,
        "num_hidden_layers": 24,
        "num_attention_heads": 14,
        "num_key_value_heads": 2,
        "max_position_embeddings": 32768,
        "rope_theta": 1000000.0,
        "rms_norm_eps": 1e-6,
        "tie_word_embeddings": True,
    },
    "llama-3.2-1b": {
        "model_type": "llama",
        "vocab_size": 128256,
        "hidden_size": 2048,
        "intermediate_size": 8192,
        "num_hidden_layers": 16,
        "num_attention_heads": 32,
        "num_key_value_heads": 8,
        "max_position_embeddings": 131072,
        "rope_theta": 500000.0,
        "rope_scaling": {
            "rope_type": "llama3",
            "factor": 32.0,
            "low_freq_factor": 1.0,
            "high_freq_factor": 4.0,
            "original_max_position_embeddings": 8192,
        },
        "rms_norm_eps": 1e-5,
        "tie_word_embeddings": True,
    },
    "llama-3.1-8b": {
        "model_type": "llama",
        "vocab_size": 128256,
        "hidden_size": 4096,
        "intermediate_size": 14336,
        "num_hidden_layers": 32,
        "num_attention_heads": 32,
        "num_key_value_heads": 8,
        "max_position_embeddings": 131072,
        "rope_theta": 500000.0,
        "rope_scaling": {
            "rope_type": "llama3",
            "factor": 8.0,
            "low_freq_factor": 1.0,
            "high_freq_factor": 4.0,
            "original_max_position_embeddings": 8192,
        },
        "rms_norm_eps": 1e-5,
    },
    "mistral-7b": {
        "model_type": "mistral",
        "vocab_size": 32768,
        "hidden_size": 4096,
        "intermediate_size": 14336,
        "num_hidden_layers": 32,
        "num_attention_heads": 32,
        "num_key_value_heads": 8,
        "max_position_embeddings": 32768,
        "rope_theta": 1000000.0,
        "rms_norm_eps": 1e-5,
        "sliding_window": None,
    },
}


@dataclass
class RandomModelPair:
    loaded: LoadedModel  # ours
    hf_model: Any  # the transformers model with the same weights (eval mode, float32)


def shape_config(shape: str | dict[str, Any], **overrides: Any) -> dict[str, Any]:
    """An HF-style config dict from a :data:`SHAPES` name or a dict, with overrides."""
    if isinstance(shape, str):
        if shape not in SHAPES:
            raise ValueError(f"shape={shape!r}: must be one of {', '.join(SHAPES)} or a dict")
        base = SHAPES[shape]
    else:
        base = shape
    if "model_type" not in base:
        raise ValueError("a random-model config needs 'model_type' (llama, mistral or qwen2)")
    return {**base, **overrides}


def hf_config(config: dict[str, Any]) -> Any:
    """The transformers config object for an HF-style dict."""
    from transformers import AutoConfig

    fields = dict(config)
    model_type = fields.pop("model_type")
    return AutoConfig.for_model(model_type, **fields)


def random_model(
    shape: str | dict[str, Any],
    dtype: str | torch.dtype = "auto",
    device: str = "cpu",
    seed: int = 0,
    tokenizer: Any = None,
    std: float | None = None,
) -> LoadedModel:
    """Our model with random weights (normal, ``std`` = the config's initializer_range)."""
    cfg_dict = shape_config(shape)
    config = ModelConfig.from_hf(hf_config(cfg_dict))
    torch_dtype = resolve_dtype(dtype, device)
    std = float(std if std is not None else cfg_dict.get("initializer_range", 0.02))
    gen = torch.Generator(device="cpu").manual_seed(seed)
    H, hd = config.hidden, config.head_dim
    shapes = {
        "model.embed_tokens.weight": (config.vocab_size, H),
        "model.norm.weight": (H,),
    }
    if not config.tie_embeddings:
        shapes["lm_head.weight"] = (config.vocab_size, H)
    for i in range(config.layers):
        p = f"model.layers.{i}."
        shapes[p + "input_layernorm.weight"] = (H,)
        shapes[p + "post_attention_layernorm.weight"] = (H,)
        for name, rows in (
            ("q", config.heads * hd),
            ("k", config.kv_heads * hd),
            ("v", config.kv_heads * hd),
        ):
            shapes[p + f"self_attn.{name}_proj.weight"] = (rows, H)
            if config.qkv_bias:
                shapes[p + f"self_attn.{name}_proj.bias"] = (rows,)
        shapes[p + "self_attn.o_proj.weight"] = (H, config.heads * hd)
        shapes[p + "mlp.gate_proj.weight"] = (config.intermediate, H)
        shapes[p + "mlp.up_proj.weight"] = (config.intermediate, H)
        shapes[p + "mlp.down_proj.weight"] = (H, config.intermediate)

    def get(name: str) -> torch.Tensor:
        shape_ = shapes[name]
        if name.endswith("norm.weight"):
            return 1.0 + 0.1 * torch.randn(shape_, generator=gen)
        return std * torch.randn(shape_, generator=gen)

    model = CausalLM.from_hf_tensors(config, get, torch_dtype, device, shapes.__contains__)
    name = shape if isinstance(shape, str) else f"random-{config.arch}"
    return LoadedModel(model, tokenizer, config, name, f"random:{config.arch}")


def random_model_with_hf(
    shape: str | dict[str, Any],
    seed: int = 0,
    tokenizer: Any = None,
    dtype: str | torch.dtype = "float32",
) -> RandomModelPair:
    """HF transformers model (random init, float32, CPU) and ours with the same weights."""
    from transformers import AutoModelForCausalLM

    cfg_dict = shape_config(shape)
    hf_cfg = hf_config(cfg_dict)
    torch.manual_seed(seed)
    hf_model = AutoModelForCausalLM.from_config(hf_cfg, dtype=torch.float32).eval()
    with torch.no_grad():  # norms of 1 everywhere would hide a wrong norm weight
        gen = torch.Generator().manual_seed(seed + 1)
        for name, p in hf_model.named_parameters():
            if name.endswith("norm.weight"):
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=gen))
            elif name.endswith(".bias"):
                p.copy_(0.1 * torch.randn(p.shape, generator=gen))
    state = hf_model.state_dict()
    config = ModelConfig.from_hf(hf_cfg)
    torch_dtype = resolve_dtype(dtype, "cpu")
    model = CausalLM.from_hf_tensors(
        config, state.__getitem__, torch_dtype, "cpu", state.__contains__
    )
    name = shape if isinstance(shape, str) else f"random-{config.arch}"
    loaded = LoadedModel(model, tokenizer, config, name, f"random:{config.arch}")
    return RandomModelPair(loaded, hf_model)
