"""How every detector kind picks its device and dtype, loads checkpoints and names their version.

The rules are the same for a classifier, a perplexity scorer or a Binoculars pair: `auto` means
CUDA when present, bf16/fp16 on GPU and fp32 on CPU; checkpoints load through the ordinary
`from_pretrained(model, revision=...)`; and each result records a model version that pins what
scored it (a hub commit, or a content hash for a local directory). A profile with
`fallback: demo` may run on an untrained demo model instead, loudly: see `load_or_demo`.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, TypeVar

import torch
from huggingface_hub import try_to_load_from_cache
from transformers import AutoTokenizer, PretrainedConfig, PreTrainedModel, PreTrainedTokenizerBase

from aidetect.core.errors import PermanentError
from aidetect.core.profiles import DetectorProfile

logger = logging.getLogger(__name__)

DtypeName = Literal["auto", "float32", "bfloat16", "float16"]
UNPINNED = "unpinned"
WEIGHT_PATTERNS = ("*.safetensors", "*.bin")
DIGEST_CHARS = 12
_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
_SNAPSHOT_COMMIT = re.compile(r"snapshots/([0-9a-f]{40})/")
_HASH_BLOCK = 1 << 20


class ModelUnavailable(PermanentError):
    """A checkpoint could not be loaded: missing, hub unreachable, or not a known model."""


Loaded = TypeVar("Loaded")


def pick_device(requested: str) -> str:
    """`auto` means cuda when torch sees a GPU, else cpu; cuda without a GPU is a config error."""
    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise PermanentError(f"device {requested!r} requested but torch sees no CUDA device")
    return requested


def pick_dtype(requested: DtypeName, device: str) -> torch.dtype:
    """`auto` means bf16 on a GPU that supports it, else fp16 on GPU, and fp32 on CPU."""
    if requested != "auto":
        return _DTYPES[requested]
    if device.startswith("cuda"):
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32


def load_pretrained(
    source: str,
    revision: str | None,
    auto_class: Any,
    *,
    device: str,
    dtype: torch.dtype,
) -> tuple[PreTrainedTokenizerBase, PreTrainedModel]:
    """The tokenizer and model at `source` (hub id or directory), in eval mode on `device`.

    `auto_class` is a transformers `AutoModelFor...` class (they share no typed base).
    """
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, revision=revision)
        model = auto_class.from_pretrained(source, revision=revision, dtype=dtype)
    except (OSError, ValueError) as e:
        pinned = f" at revision {revision!r}" if revision else ""
        raise ModelUnavailable(f"cannot load model {source!r}{pinned}: {e}") from e
    if not isinstance(model, PreTrainedModel):
        raise ModelUnavailable(f"{source!r} did not load as a transformers model")
    model.to(device)  # type: ignore[arg-type]  # transformers types `to` too narrowly
    model.train(False)
    return tokenizer, model


def model_version(source: str, revision: str | None, config: PretrainedConfig) -> str:
    """`dirname@sha256:<12 hex>` for a local directory, `hub-id@<commit>` for a hub checkpoint."""
    directory = Path(source)
    if directory.is_dir():
        return f"{directory.resolve().name}@sha256:{checkpoint_digest(directory)[:DIGEST_CHARS]}"
    commit = getattr(config, "_commit_hash", None) or _cached_commit(source, revision)
    return f"{source}@{commit or revision or UNPINNED}"


def checkpoint_digest(directory: Path) -> str:
    """SHA-256 over the names and bytes of the weight files and config.json, in name order."""
    files = sorted(
        {path for pattern in WEIGHT_PATTERNS for path in directory.glob(pattern)}
        | {path for path in [directory / "config.json"] if path.is_file()}
    )
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.name.encode() + b"\0")
        with path.open("rb") as handle:
            while block := handle.read(_HASH_BLOCK):
                digest.update(block)
    return digest.hexdigest()


def _cached_commit(repo_id: str, revision: str | None) -> str | None:
    """The commit the hub cache resolved `revision` to (transformers 5 no longer keeps it)."""
    cached = try_to_load_from_cache(repo_id, "config.json", revision=revision)
    if not isinstance(cached, str):
        return None
    match = _SNAPSHOT_COMMIT.search(Path(cached).as_posix())
    return match.group(1) if match else None


def load_or_demo(
    profile: DetectorProfile,
    load_model: Callable[[], Loaded],
    load_demo: Callable[[], Loaded],
) -> tuple[Loaded, bool]:
    """The profile's model, or with `fallback: demo` an untrained stand-in; True if the latter."""
    try:
        return load_model(), False
    except ModelUnavailable as e:
        if profile.fallback != "demo":
            raise ModelUnavailable(
                f"detector profile {profile.name!r}: {e} (mount the checkpoint and set `model` to "
                "its path, or set `fallback: demo` to run an untrained demo model instead)"
            ) from e
        logger.warning(
            "detector profile %r: %s; falling back to an UNTRAINED DEMO model "
            "(fallback: demo): its scores mean nothing and its results say "
            "model_version 'demo-untrained'",
            profile.name,
            e,
        )
    return load_demo(), True
