"""Tiny models saved to disk, so tests exercise the real `from_pretrained` loading code offline."""

from __future__ import annotations

from pathlib import Path

from tokenizers import Tokenizer, processors
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedTokenizerFast

from aidetect.core.profiles import DetectorProfile
from aidetect.worker.detectors.demo import build_demo_causal_lm, build_demo_classifier

TINY_MAX_LENGTH = 16  # 14 content tokens per window, so a "long" text is a few dozen bytes


def tiny_classifier(path: Path) -> Path:
    """A tiny untrained RoBERTa sequence classifier saved under `path` (built once, reused)."""
    return build_demo_classifier(path / "tiny-classifier")


def classifier_profile(model: str | Path, **overrides: object) -> DetectorProfile:
    """An hf-classifier profile for `model` on CPU with a tiny window; `overrides` win."""
    fields: dict[str, object] = {
        "name": "tiny",
        "kind": "hf-classifier",
        "model": str(model),
        "ai_label": "Fake",
        "device": "cpu",
        "batch_size": 4,
        "max_length": TINY_MAX_LENGTH,
    }
    return DetectorProfile.model_validate(fields | overrides)


def tiny_causal_lm(path: Path, seed: int = 0) -> Path:
    """A tiny untrained GPT-2-style causal LM saved under `path`; seeds share one tokenizer."""
    return build_demo_causal_lm(path / f"tiny-causal-lm-{seed}", seed=seed)


def zero_shot_profile(kind: str, model: str | Path, **overrides: object) -> DetectorProfile:
    """A zero-shot profile for `model` on CPU in float32 with a tiny window and a threshold."""
    fields: dict[str, object] = {
        "name": "tiny",
        "kind": kind,
        "model": str(model),
        "device": "cpu",
        "dtype": "float32",
        "batch_size": 4,
        "max_length": TINY_MAX_LENGTH,
        "threshold": 1.0,
    }
    return DetectorProfile.model_validate(fields | overrides)


def gpt2_style_copy(source: Path, target: Path) -> Path:
    """A copy of a tiny causal LM whose tokenizer, like gpt2's and Falcon's, adds no special
    tokens and has no pad token (the reference code then pads with EOS, `</s>` here)."""
    if (target / "config.json").is_file():
        return target
    model = AutoModelForCausalLM.from_pretrained(source)
    original = AutoTokenizer.from_pretrained(source)
    backend = Tokenizer.from_str(original.backend_tokenizer.to_str())
    backend.post_processor = processors.TemplateProcessing(single="$A", pair="$A $B")
    tokenizer = PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=backend,
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        model_max_length=original.model_max_length,
    )
    model.save_pretrained(target)
    tokenizer.save_pretrained(target)
    return target
