"""Throughput of each detector kind against a bare loop of its own model forward passes.

For every kind, on tiny untrained causal LMs on CPU, this times `detector.score(texts)` on a fixed
set of texts and, in the same run, a baseline that only runs the same model forward pass(es) on
the same padded batches (tokenized and padded beforehand). The ratio says how much the
detector's own work (tokenizing, windowing, softmax statistics, aggregation) costs on top of the
models. Tiny models make that overhead look large: with a 7B model the forward pass dominates.

    python bench/detector_throughput.py --texts 64 --batch-size 16 --repeats 5
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import tempfile
import time
from argparse import Namespace
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch

from aidetect.core.profiles import DetectorProfile
from aidetect.worker.detectors import chunking, load_detector
from aidetect.worker.detectors.demo import (
    CAUSAL_LM_MAX_LENGTH,
    TINY,
    DemoSize,
    build_demo_causal_lm,
    build_demo_classifier,
)
from aidetect.worker.detectors.hf_classifier import HfClassifier
from aidetect.worker.detectors.zero_shot import ZeroShotDetector

WORDS = "the model reads a text and says whether a machine wrote it or a person did".split()
# Report name -> (kind, metric, whether reference_model is the second model).
KINDS: dict[str, tuple[str, str, bool]] = {
    "perplexity": ("perplexity", "perplexity", False),
    "log-rank": ("perplexity", "log-rank", False),
    "fast-detectgpt (one model)": ("fast-detectgpt", "perplexity", False),
    "fast-detectgpt (two models)": ("fast-detectgpt", "perplexity", True),
    "binoculars": ("binoculars", "perplexity", True),
}


def make_texts(count: int, seed: int = 0) -> list[str]:
    """Texts of 3 to 40 words (mostly one window, some two or three), fixed by the seed."""
    rng = random.Random(seed)
    return [" ".join(rng.choices(WORDS, k=rng.randint(3, 40))) + "." for _ in range(count)]


def paired_rates(
    first: Callable[[], object], second: Callable[[], object], texts: int, repeats: int
) -> tuple[float, float]:
    """Texts per second of each, the median of `repeats` timed runs after one warm-up run.

    The two are timed in turns (first, second, first, ...), so that whatever else loads the
    machine for a while slows both alike and their ratio stays fair.
    """
    first()
    second()
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(repeats):
        for run, out in ((first, times[0]), (second, times[1])):
            start = time.perf_counter()
            run()
            out.append(time.perf_counter() - start)
    return texts / statistics.median(times[0]), texts / statistics.median(times[1])


def baseline(detector: ZeroShotDetector, texts: list[str]) -> Callable[[], object]:
    """Only the forward pass(es), on the detector's own padded batches, prepared in advance."""
    stats = detector.statistics
    encoded = stats.tokenizer(texts, add_special_tokens=False, verbose=False)["input_ids"]
    framed = [
        stats.frame.wrap(window)
        for ids in encoded
        for window in chunking.split_windows(ids, stats.window)
    ]
    batches = [
        chunking.pad_right([framed[i] for i in batch], stats.pad_id, stats.device)
        for batch in chunking.length_sorted_batches(framed, detector.profile.batch_size)
    ]
    models = [lm.model for lm in (stats.scoring, stats.reference) if lm is not None]

    def run() -> None:
        with torch.inference_mode():
            for ids, mask in batches:
                for model in models:
                    model(input_ids=ids, attention_mask=mask)

    return run


def measure(
    options: tuple[str, str, bool], models: tuple[Path, Path], texts: list[str], args: Namespace
) -> dict[str, float]:
    """Detector and forward-only texts/s for one kind, measured back to back."""
    kind, metric, paired = options
    fields: dict[str, object] = {
        "name": "bench",
        "kind": kind,
        "model": str(models[0]),
        "metric": metric,
        "device": "cpu",
        "dtype": "float32",
        "batch_size": args.batch_size,
        "max_length": CAUSAL_LM_MAX_LENGTH,
        "threshold": 0.0,
    }
    if paired:
        fields["reference_model"] = str(models[1])
    detector = load_detector(DetectorProfile.model_validate(fields))
    assert isinstance(detector, ZeroShotDetector)
    scored, bare = paired_rates(
        lambda: detector.score(texts), baseline(detector, texts), len(texts), args.repeats
    )
    return {
        "detector_texts_per_s": round(scored, 1),
        "forward_only_texts_per_s": round(bare, 1),
        "ratio": round(scored / bare, 3),
    }


def measure_classifier(model: Path, texts: list[str], args: Namespace) -> dict[str, float]:
    """The same comparison for hf-classifier: detector.score against the bare forward pass."""
    profile = DetectorProfile.model_validate(
        {
            "name": "bench",
            "kind": "hf-classifier",
            "model": str(model),
            "ai_label": "Fake",
            "device": "cpu",
            "dtype": "float32",
            "batch_size": args.batch_size,
        }
    )
    detector = load_detector(profile)
    assert isinstance(detector, HfClassifier)
    batches = [
        detector.tokenizer(texts[i : i + args.batch_size], padding=True, return_tensors="pt")
        for i in range(0, len(texts), args.batch_size)
    ]

    def bare() -> None:
        with torch.inference_mode():
            for batch in batches:
                detector.model(**batch)

    scored, forward = paired_rates(lambda: detector.score(texts), bare, len(texts), args.repeats)
    return {
        "detector_texts_per_s": round(scored, 1),
        "forward_only_texts_per_s": round(forward, 1),
        "ratio": round(scored / forward, 3),
    }


def run_all(
    texts: int, batch_size: int, repeats: int, size: DemoSize = TINY, kinds: list[str] | None = None
) -> dict[str, Any]:
    """Each kind's detector and forward-only texts/s on `texts` texts (`make bench` calls it),
    on untrained models of `size` (the tiny demo models by default)."""
    torch.set_num_threads(min(torch.get_num_threads(), 2))
    args = Namespace(batch_size=batch_size, repeats=repeats)
    sample = make_texts(texts)
    wanted = kinds or [*KINDS, "hf-classifier"]
    with tempfile.TemporaryDirectory() as root:
        models = (
            build_demo_causal_lm(Path(root) / "lm-0", seed=0, size=size),
            build_demo_causal_lm(Path(root) / "lm-1", seed=1, size=size),
        )
        results = {
            name: measure(options, models, sample, args)
            for name, options in KINDS.items()
            if name in wanted
        }
        if "hf-classifier" in wanted:
            classifier = build_demo_classifier(Path(root) / "classifier", size=size)
            results["hf-classifier"] = measure_classifier(classifier, sample, args)
    return {
        "device": "cpu",
        "threads": torch.get_num_threads(),
        "texts": len(sample),
        "batch_size": batch_size,
        "max_length": CAUSAL_LM_MAX_LENGTH,
        "model": {"width": size.width, "layers": size.layers, "vocab": size.vocab},
        "kinds": results,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--texts", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--width", type=int, default=TINY.width, help="hidden size of the models")
    parser.add_argument("--layers", type=int, default=TINY.layers)
    parser.add_argument("--heads", type=int, default=TINY.heads)
    parser.add_argument("--vocab", type=int, default=TINY.vocab, help="output width (GPT-2: 50257)")
    parser.add_argument("--kind", action="append", help="only these kinds (repeatable)")
    args = parser.parse_args()
    size = DemoSize(args.width, args.layers, args.heads, args.vocab)
    print(json.dumps(run_all(args.texts, args.batch_size, args.repeats, size, args.kind), indent=2))


if __name__ == "__main__":
    main()
