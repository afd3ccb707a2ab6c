"""The bare model loop: the worker's own classifier, `model(**batch)` on pre-tokenized batches.

The worker is loaded exactly as the stack's worker loads it (the same settings, profile, demo
root and loading code: a profile with `fallback: demo` lands on the same untrained demo model),
so the loop runs the very weights that scored the batch CRs, on the same texts, with the
profile's batch size. Tokenizing and padding happen before the clock starts: what is left is the
model, which is what the batch path is measured against.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from aidetect.core.config import Settings
from aidetect.core.profiles import DetectorProfile
from aidetect.worker.detectors import load_detector
from aidetect.worker.detectors.hf_classifier import HfClassifier


@dataclass(frozen=True)
class BareLoop:
    """Texts per second of the bare loop, and what it ran."""

    texts_per_s: float
    batch_size: int
    model_version: str
    device: str
    threads: int


def worker_profile(settings: Settings) -> DetectorProfile:
    """The profile the stack's worker serves first (its default profile unless it names some)."""
    profiles = settings.profiles()
    return profiles.resolve((settings.worker.detectors or [profiles.default])[0])


def bare_classifier_loop(texts: Sequence[str], repeats: int = 3) -> BareLoop:
    """The best of `repeats` timed passes over `texts`, after one warm-up pass over a few, at
    each torch thread count from 1 to the machine's cores (the best count counts).

    The best, not the median: other work on the machine can only slow the model down, and what
    the batch path is measured against is what the model can do. A tiny model on few cores can
    run faster on one thread than on all (each operator's barrier costs more than it saves).
    """
    settings = Settings()
    profile = worker_profile(settings)
    detector = load_detector(profile, demo_root=Path(settings.worker.demo_model_dir).expanduser())
    if not isinstance(detector, HfClassifier):
        raise RuntimeError(
            f"the worker's profile {profile.name!r} is {profile.kind}, not a classifier"
        )
    size = profile.batch_size
    batches = [
        detector.tokenizer(list(texts[i : i + size]), padding=True, return_tensors="pt").to(
            detector.device
        )
        for i in range(0, len(texts), size)
    ]
    model = detector.model

    def run(part: Sequence[object]) -> float:
        start = time.perf_counter()
        with torch.inference_mode():
            for batch in part:
                model(**batch)  # type: ignore[arg-type]
        return time.perf_counter() - start

    default = torch.get_num_threads()
    timings: dict[int, float] = {}
    try:
        for threads in range(1, (os.cpu_count() or 1) + 1):
            torch.set_num_threads(threads)
            run(batches[:10])
            timings[threads] = min(run(batches) for _ in range(repeats))
    finally:
        torch.set_num_threads(default)
    best = min(timings, key=lambda t: timings[t])
    return BareLoop(
        texts_per_s=len(texts) / timings[best],
        batch_size=size,
        model_version=detector.model_version,
        device=detector.device,
        threads=best,
    )
