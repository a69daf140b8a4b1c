"""Rotary position embeddings: inverse frequencies (with scaling) and cos/sin tables."""

from __future__ import annotations

import math

import torch

from radtrio.models.config import ModelConfig


def inverse_frequencies(config: ModelConfig) -> tuple[torch.Tensor, float]:
    """Inverse frequencies [head_dim // 2] (float32) and the attention scaling of cos/sin."""
    dim = config.head_dim
    inv = 1.0 / (config.rope_theta ** (torch.arange(0, dim, 2, dtype=torch.int64).float() / dim))
    scaling = config.rope_scaling or {}
    rope_type = scaling.get("rope_type", "default")
    if rope_type == "default":
        return inv, 1.0
    if rope_type == "linear":
        return inv / float(scaling["factor"]), 1.0
    if rope_type == "llama3":
        factor = float(scaling["factor"])
        low = float(scaling.get("low_freq_factor", 1.0))
        high = float(scaling.get("high_freq_factor", 4.0))
        old_len = float(scaling.get("original_max_position_embeddings", config.max_positions))
        low_wavelen = old_len / low
        high_wavelen = old_len / high
        wavelen = 2 * math.pi / inv
        scaled = torch.where(wavelen > low_wavelen, inv / factor, inv)
        smooth = (old_len / wavelen - low) / (high - low)
        smoothed = (1 - smooth) * scaled / factor + smooth * scaled
        medium = ~(wavelen < high_wavelen) * ~(wavelen > low_wavelen)
        return torch.where(medium, smoothed, scaled), 1.0
    raise ValueError(f"rope_scaling type {rope_type!r} is not supported")


class RopeTables:
    """cos/sin per position, laid out for ``x * cos + halves_swapped(x) * sin_signed``.

    ``cos`` is ``cat(cos(f), cos(f))`` and ``sin_signed`` is ``cat(-sin(f), sin(f))``, so that
    with ``x = [x1, x2]`` and ``swapped = [x2, x1]`` the result is the rotate-half form
    ``x * cos + cat(-x2, x1) * sin`` used by HF Llama-family models.
    """

    def __init__(self, config: ModelConfig, dtype: torch.dtype, device: torch.device) -> None:
        self.inv_freq, self.attention_scaling = inverse_frequencies(config)
        self.dtype = dtype
        self.device = device
        self.length = 0
        self.cos = torch.empty(0)
        self.sin = torch.empty(0)
        self.ensure(min(config.max_positions, 8192))

    def ensure(self, length: int) -> None:
        """Grow the tables to cover positions ``0 .. length - 1``."""
        if length <= self.length:
            return
        length = max(length, 2 * self.length)
        positions = torch.arange(length, dtype=torch.float32)
        freqs = positions[:, None] * self.inv_freq[None, :]
        cos = freqs.cos() * self.attention_scaling
        sin = freqs.sin() * self.attention_scaling
        self.cos = torch.cat([cos, cos], dim=-1).to(self.device, self.dtype)[:, None, :]
        self.sin = torch.cat([-sin, sin], dim=-1).to(self.device, self.dtype)[:, None, :]
        self.length = length
