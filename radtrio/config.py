"""Engine settings (what `radtrio serve` flags and `radtrio.Engine(...)` keywords set)."""

from __future__ import annotations

from dataclasses import dataclass

SCHEDULE_POLICIES = ("lpm", "fcfs", "dfs-weight")


@dataclass
class EngineConfig:
    model: str | None = None  # None = the default model (SmolLM2-135M-Instruct)
    device: str = "auto"  # auto | cpu | cuda
    dtype: str = "auto"  # auto | float32 | bfloat16 | float16
    max_running: int = 64  # requests decoding at once
    kv_slots: int | None = None  # KV pool size in tokens; None = from mem_fraction
    mem_fraction: float = 0.5  # share of free device memory for the KV pool (cuda)
    max_queued: int = 4096  # requests waiting; beyond this a request gets an "overloaded" error
    schedule_policy: str = "lpm"
    radix_cache: bool = True
    chunked_prefill_size: int | None = None  # tokens per prefill step; None = sized for the device
    max_prefill_tokens: int | None = None  # prefill token budget per step; None = chunk size
    jump_forward: bool = True
    # Fewest forced tokens a jump-forward must gain; None = 1, or learned from step times
    # where CUDA graphs make an extend step far dearer than a decode step.
    jump_forward_min_tokens: int | None = None
    page_size: int = 1
    evict_watermark: float = 0.02  # the evictor keeps this share of the pool free
    cuda_graphs: bool = True
    seed: int = 0
    context_len: int | None = None  # None = the model's max positions

    def validate(self) -> None:
        if self.schedule_policy not in SCHEDULE_POLICIES:
            raise ValueError(
                f"schedule_policy={self.schedule_policy!r}: "
                f"must be one of {', '.join(SCHEDULE_POLICIES)}"
            )
        if self.device not in ("auto", "cpu", "cuda") and not self.device.startswith("cuda:"):
            raise ValueError(f"device={self.device!r}: must be auto, cpu or cuda[:N]")
        if self.dtype not in ("auto", "float32", "bfloat16", "float16"):
            raise ValueError(f"dtype={self.dtype!r}: must be auto, float32, bfloat16 or float16")
        if self.max_running < 1:
            raise ValueError(f"max_running={self.max_running}: must be >= 1")
        if self.kv_slots is not None and self.kv_slots < 16:
            raise ValueError(f"kv_slots={self.kv_slots}: must be >= 16")
        if not 0.0 < self.mem_fraction <= 0.95:
            raise ValueError(f"mem_fraction={self.mem_fraction}: must be in (0, 0.95]")
        if self.jump_forward_min_tokens is not None and self.jump_forward_min_tokens < 1:
            raise ValueError(
                f"jump_forward_min_tokens={self.jump_forward_min_tokens}: must be >= 1"
            )
        if self.page_size < 1:
            raise ValueError(f"page_size={self.page_size}: must be >= 1")
