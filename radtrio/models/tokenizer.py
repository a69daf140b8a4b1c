"""Tokenizers from transformers, for safetensors folders and GGUF files.

For a GGUF, transformers builds the tokenizer from the file's vocabulary and merges, but
it drops SmolLM2's digit splitting (llama.cpp pre-tokenizer type ``smollm``: every digit is
its own pre-token, then byte-level BPE), so "2024" would not tokenize like the original
model. We put that pre-tokenizer back and keep the built tokenizer in the cache folder, so
later loads skip the slow GGUF vocabulary parse.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from radtrio.models.fetch import cache_dir

# llama.cpp pre-tokenizer types whose HF original splits digits one by one before ByteLevel.
_INDIVIDUAL_DIGIT_PRE = ("smollm",)

# Bump when the way we build GGUF tokenizers changes, so stale cached ones are rebuilt.
_BUILD_VERSION = 1


def load_folder_tokenizer(folder: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(folder))


def load_gguf_tokenizer(gguf_path: Path, pre_type: str | None) -> Any:
    """The tokenizer of a GGUF file (cached as a tokenizer folder after the first build)."""
    from transformers import AutoTokenizer

    stat = gguf_path.stat()
    key = f"{gguf_path.stem}-{stat.st_size}-{stat.st_mtime_ns}-v{_BUILD_VERSION}"
    cached = cache_dir() / "tokenizers" / key
    if (cached / "tokenizer.json").is_file():
        return AutoTokenizer.from_pretrained(str(cached))
    tok = AutoTokenizer.from_pretrained(str(gguf_path.parent), gguf_file=gguf_path.name)
    if pre_type in _INDIVIDUAL_DIGIT_PRE:
        add_digit_splitting(tok)
    try:
        tmp = cached.with_name(cached.name + f".part-{os.getpid()}")
        tok.save_pretrained(str(tmp))
        os.replace(tmp, cached)
    except OSError:  # a read-only cache (or a racing writer) only costs a rebuild next time
        shutil.rmtree(tmp, ignore_errors=True)
    return tok


def add_digit_splitting(tok: Any) -> None:
    """Prepend ``Digits(individual_digits=True)`` to the byte-level pre-tokenizer."""
    from tokenizers import pre_tokenizers

    backend = tok.backend_tokenizer
    current = json.loads(backend.to_str()).get("pre_tokenizer") or {}
    if current.get("type") == "Sequence" and any(
        p.get("type") == "Digits" for p in current.get("pretokenizers", [])
    ):
        return
    parts = [pre_tokenizers.Digits(individual_digits=True)]
    if backend.pre_tokenizer is not None:
        parts.append(backend.pre_tokenizer)
    backend.pre_tokenizer = pre_tokenizers.Sequence(parts)
