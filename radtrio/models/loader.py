"""``load_model``: from the default model, a GGUF file, a safetensors folder or a hub id."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from radtrio.models.config import ModelConfig
from radtrio.models.kv_pool import KVPool
from radtrio.models.llama import CausalLM
from radtrio.models.progress import progress_bar

log = logging.getLogger(__name__)

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


class ModelLoadError(RuntimeError):
    """A model could not be found or read; the message lists what was tried."""


@dataclass
class LoadedModel:
    model: CausalLM
    tokenizer: Any  # a transformers tokenizer (None only for tokenizer-less random models)
    config: ModelConfig
    name: str
    source: str  # "gguf:<path>", "safetensors:<dir>", "hub:<id>", "random:<arch>"
    load_seconds: float = 0.0

    @property
    def dtype(self) -> torch.dtype:
        return self.model.dtype

    @property
    def device(self) -> torch.device:
        return self.model.device

    def make_kv_pool(self, num_slots: int) -> KVPool:
        return self.model.make_kv_pool(num_slots)


def resolve_dtype(dtype: str | torch.dtype, device: str | torch.device) -> torch.dtype:
    """``auto`` is float32 on CPU and bfloat16 on CUDA."""
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype == "auto":
        return torch.bfloat16 if torch.device(device).type == "cuda" else torch.float32
    if dtype not in DTYPES:
        raise ValueError(f"dtype={dtype!r}: must be auto, {', '.join(DTYPES)}")
    return DTYPES[dtype]


def load_model(
    spec: str | None,
    dtype: str = "auto",
    device: str = "cpu",
    progress: bool = True,
) -> LoadedModel:
    """Load a model for serving.

    ``spec``: None (or "default") for SmolLM2-135M-Instruct, a ``.gguf`` file, a folder with
    ``config.json`` + ``*.safetensors`` + tokenizer files (or holding one ``.gguf``), or a
    Hugging Face hub id (needs network access).
    """
    start = time.perf_counter()
    torch_dtype = resolve_dtype(dtype, device)
    if torch.device(device).type == "cpu" and torch_dtype != torch.float32:
        _warn_without_bf16_hardware(torch_dtype)
    if spec is None or spec in ("", "default"):
        from radtrio.models.fetch import DEFAULT_MODEL_NAME, default_model_path

        loaded = load_gguf(default_model_path(progress), torch_dtype, device, progress)
        loaded.name = DEFAULT_MODEL_NAME
    else:
        loaded = _load_spec(spec, torch_dtype, device, progress)
    loaded.load_seconds = time.perf_counter() - start
    return loaded


def _warn_without_bf16_hardware(dtype: torch.dtype) -> None:
    from radtrio.models.cpu_features import bf16_matmul_flags

    if not bf16_matmul_flags():
        log.warning(
            "dtype %s on a CPU without bf16 matrix instructions (amx_bf16, avx512_bf16): "
            "its matrix products run several times slower than float32 here; "
            "--dtype float32 (the CPU default) is faster on this machine",
            str(dtype).removeprefix("torch."),
        )


def _load_spec(spec: str, dtype: torch.dtype, device: str, progress: bool) -> LoadedModel:
    path = Path(spec).expanduser()
    tried = [f"a local path {path.resolve()}: "]
    if path.is_file():
        if path.suffix == ".gguf":
            return load_gguf(path, dtype, device, progress)
        raise ModelLoadError(f"model {spec!r}: {path} is a file but not a .gguf file")
    if path.is_dir():
        if (path / "config.json").is_file():
            return load_safetensors_folder(path, dtype, device, progress)
        ggufs = sorted(path.glob("*.gguf"))
        if len(ggufs) == 1:
            return load_gguf(ggufs[0], dtype, device, progress)
        found = ", ".join(p.name for p in ggufs) or "none"
        raise ModelLoadError(
            f"model {spec!r}: the folder {path} has no config.json and not exactly one "
            f".gguf file (found: {found})"
        )
    tried[0] += "does not exist"
    if _looks_like_hub_id(spec):
        try:
            folder = _hub_download(spec, progress)
        except Exception as exc:  # offline, unknown repo, gated, ...
            tried.append(f"the Hugging Face hub id {spec!r}: {type(exc).__name__}: {exc}")
        else:
            loaded = load_safetensors_folder(folder, dtype, device, progress)
            loaded.source = f"hub:{spec}"
            loaded.name = spec
            return loaded
    else:
        tried.append(f"a Hugging Face hub id: {spec!r} is not of the form 'org/name'")
    raise ModelLoadError(f"could not load model {spec!r}; tried " + "; ".join(tried))


def _looks_like_hub_id(spec: str) -> bool:
    parts = spec.split("/")
    return len(parts) == 2 and all(parts) and not spec.startswith((".", "~"))


def _hub_download(repo_id: str, progress: bool) -> Path:
    from huggingface_hub import snapshot_download

    patterns = ["config.json", "*.safetensors", "*.safetensors.index.json", "tokenizer*"]
    patterns += [
        "special_tokens_map.json",
        "generation_config.json",
        "*.jinja",
        "vocab*",
        "merges*",
    ]
    return Path(snapshot_download(repo_id, allow_patterns=patterns))


def load_gguf(path: Path, dtype: torch.dtype, device: str, progress: bool = True) -> LoadedModel:
    from radtrio.models.gguf_loader import GGUFFile
    from radtrio.models.tokenizer import load_gguf_tokenizer

    path = Path(path)
    try:
        gg = GGUFFile(path)
    except ValueError as exc:
        raise ModelLoadError(f"could not load model {str(path)!r}: {exc}") from exc
    state = gg.load_state(dtype, progress)
    model = CausalLM.from_hf_tensors(
        gg.config, state.__getitem__, dtype, device, state.__contains__
    )
    del state
    tokenizer = load_gguf_tokenizer(path, gg.meta.get("tokenizer.ggml.pre"))
    name = str(gg.meta.get("general.name") or path.stem)
    return LoadedModel(model, tokenizer, gg.config, name, f"gguf:{path}")


def load_safetensors_folder(
    folder: Path, dtype: torch.dtype, device: str, progress: bool = True
) -> LoadedModel:
    from safetensors import safe_open

    from radtrio.models.tokenizer import load_folder_tokenizer

    folder = Path(folder)
    try:
        hf_config = json.loads((folder / "config.json").read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelLoadError(f"{folder / 'config.json'}: not readable JSON ({exc})") from exc
    try:
        config = ModelConfig.from_hf(hf_config)
    except (KeyError, ValueError) as exc:
        raise ModelLoadError(f"{folder / 'config.json'}: {exc}") from exc
    files = sorted(folder.glob("*.safetensors"))
    if not files:
        raise ModelLoadError(
            f"{folder}: no *.safetensors weights (found: "
            f"{', '.join(p.name for p in sorted(folder.iterdir())) or 'nothing'})"
        )
    handles = [safe_open(str(f), framework="pt") for f in files]
    where = {name: h for h in handles for name in h.keys()}

    bar = progress_bar(len(where), "load", "tensor", disable=not progress)

    def get(name: str) -> torch.Tensor:
        if name not in where:
            raise ModelLoadError(f"{folder}: tensor {name!r} is missing from the safetensors files")
        bar.update(1)
        return where[name].get_tensor(name)

    with bar:
        model = CausalLM.from_hf_tensors(config, get, dtype, device, where.__contains__)
    try:
        tokenizer = load_folder_tokenizer(folder)
    except Exception as exc:
        raise ModelLoadError(f"{folder}: no usable tokenizer files ({exc})") from exc
    name = hf_config.get("_name_or_path") or folder.name
    return LoadedModel(model, tokenizer, config, str(name), f"safetensors:{folder}")
