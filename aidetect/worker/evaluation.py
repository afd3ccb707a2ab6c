"""`aidetect eval`: score labelled text with a profile's detector, report, calibrate, plot.

A raw score means nothing until it is measured on the user's own texts: published thresholds
hold for one model pair and one domain. This module runs the profile's detector in-process on a
labelled JSONL file, reports the RAID metrics, fits a calibration and a threshold at a target
false-positive rate, and can write both back into the profiles file the cluster reads.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import yaml

from aidetect.core import roc
from aidetect.core.calibration import fit_isotonic, fit_platt
from aidetect.core.errors import InvalidInput
from aidetect.core.profiles import Calibration, DetectorProfile, load_profiles

if TYPE_CHECKING:  # the detectors package imports torch
    from aidetect.worker.detectors.base import Detector

Method = Literal["platt", "isotonic"]
_LABELS: dict[object, int] = {"ai": 1, "human": 0, 1: 1, 0: 0}


class BadEvaluationData(InvalidInput):
    """The labelled file cannot be used: a malformed line, or a class missing."""


@dataclass(frozen=True)
class EvalOptions:
    """What `aidetect eval` was asked to do."""

    detector: str | None
    data: Path
    profiles_file: str | None
    target_fpr: float = 0.05
    method: Method = "platt"
    write_profile: bool = False
    plot: Path | None = None
    batch_size: int | None = None


def read_labelled(path: Path) -> tuple[list[str], list[int]]:
    """Texts and labels (1 = AI) from JSONL lines {"text": ..., "label": "ai"|"human"|1|0}."""
    texts: list[str] = []
    labels: list[int] = []
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            text, label = _parse_line(line, path, number)
            texts.append(text)
            labels.append(label)
    if not texts:
        raise BadEvaluationData(f"{path}: no labelled texts")
    return texts, labels


def _parse_line(line: str, path: Path, number: int) -> tuple[str, int]:
    where = f"{path}:{number}"
    try:
        record = json.loads(line)
    except json.JSONDecodeError as e:
        raise BadEvaluationData(f"{where}: not valid JSON ({e.msg})") from None
    if not isinstance(record, dict):
        raise BadEvaluationData(f"{where}: expected an object with text and label")
    text, label = record.get("text"), record.get("label")
    if not isinstance(text, str) or not text.strip():
        raise BadEvaluationData(f"{where}: text must be a non-empty string")
    key = label.lower() if isinstance(label, str) else label
    if isinstance(key, bool) or key not in _LABELS:
        raise BadEvaluationData(f'{where}: label must be "ai", "human", 1 or 0, not {label!r}')
    return text, _LABELS[key]


def fit_calibration(
    scores: Sequence[float], labels: Sequence[int], higher_is_ai: bool, method: Method
) -> Calibration:
    """The chosen calibration fitted on the scored data."""
    fit = fit_platt if method == "platt" else fit_isotonic
    return fit(scores, labels, higher_is_ai)


def build_report(
    profile: DetectorProfile,
    scores: Sequence[float],
    labels: Sequence[int],
    options: EvalOptions,
) -> tuple[dict[str, Any], Calibration, float]:
    """The JSON report, the fitted calibration (with its target FPR) and the chosen threshold."""
    n_ai = sum(labels)
    if n_ai == 0 or n_ai == len(labels):
        raise BadEvaluationData(f"{options.data}: need both AI and human texts, got {n_ai} AI")
    up = profile.higher_is_ai
    at_1 = roc.tpr_at_fpr(scores, labels, up, 0.01)
    at_5 = roc.tpr_at_fpr(scores, labels, up, 0.05)
    chosen = roc.tpr_at_fpr(scores, labels, up, options.target_fpr)
    calibration = fit_calibration(scores, labels, up, options.method).model_copy(
        update={"target_fpr": options.target_fpr}
    )
    try:
        f1_threshold, source = profile.decision_threshold(), "profile"
    except ValueError:
        f1_threshold, source = chosen.threshold, "fitted"
    report: dict[str, Any] = {
        "detector": profile.name,
        "n": len(labels),
        "n_ai": n_ai,
        "n_human": len(labels) - n_ai,
        "auroc": roc.auroc(scores, labels, up),
        "tpr_at_1pct_fpr": at_1.tpr,
        "threshold_at_1pct_fpr": at_1.threshold,
        "tpr_at_5pct_fpr": at_5.tpr,
        "threshold_at_5pct_fpr": at_5.threshold,
        "f1_at_threshold": roc.f1_at_threshold(scores, labels, up, f1_threshold),
        "f1_threshold": f1_threshold,
        "f1_threshold_source": source,
        "target_fpr": options.target_fpr,
        "threshold": chosen.threshold,
        "tpr_at_threshold": chosen.tpr,
        "fpr_at_threshold": chosen.fpr,
        "calibration": calibration.model_dump(mode="json", by_alias=True, exclude_none=True),
    }
    return report, calibration, chosen.threshold


def write_profile(path: Path, name: str, calibration: Calibration, threshold: float) -> None:
    """Set one profile's calibration and threshold in the YAML file, keeping everything else.

    The result is validated with `load_profiles` before it replaces the file. YAML comments
    are not preserved.
    """
    data = yaml.safe_load(path.read_text())
    try:
        body = data["profiles"][name]
    except (KeyError, TypeError):
        raise BadEvaluationData(f"{path}: no profile {name!r} to write to") from None
    body["calibration"] = calibration.model_dump(mode="json", by_alias=True, exclude_none=True)
    body["threshold"] = threshold
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w") as out:
            yaml.safe_dump(data, out, sort_keys=False, allow_unicode=True)
        load_profiles(temporary)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def plot_roc(
    path: Path, curve: roc.RocCurve, auroc: float, point: roc.OperatingPoint, name: str
) -> None:
    """The ROC curve as a PNG, AUROC in the title and the chosen operating point marked."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(figsize=(5, 5))
    try:
        axes.plot(curve.fpr, curve.tpr, drawstyle="steps-post", label=name)
        axes.plot([0, 1], [0, 1], linestyle=":", color="grey", label="chance")
        axes.scatter(
            [point.fpr],
            [point.tpr],
            color="red",
            zorder=3,
            label=f"threshold {point.threshold:.4g}",
        )
        axes.set(xlabel="false-positive rate", ylabel="true-positive rate", xlim=(0, 1))
        axes.set(ylim=(0, 1.01), title=f"{name}: AUROC {auroc:.3f}")
        axes.legend(loc="lower right")
        figure.savefig(path, dpi=100)
    finally:
        pyplot.close(figure)


def score_texts(
    detector: Detector, texts: Sequence[str], batch_size: int
) -> tuple[list[float | None], dict[int, str]]:
    """Raw scores in input order (None for a text the detector cannot score), `batch_size`
    texts per call, with a progress bar on a TTY; and why each unscored text was not scored."""
    from tqdm import tqdm  # type: ignore[import-untyped]  # no types-tqdm in dev deps yet

    from aidetect.worker.detectors.base import UnscorableItems

    scores: list[float | None] = []
    unscorable: dict[int, str] = {}
    with tqdm(
        total=len(texts), unit="text", file=sys.stderr, disable=not sys.stderr.isatty()
    ) as bar:
        for start in range(0, len(texts), batch_size):
            batch = texts[start : start + batch_size]
            try:
                scores.extend(result.score for result in detector.score(batch))
            except UnscorableItems as e:  # those texts are left out, the others count
                scores.extend(None if s is None else s.score for s in e.scores)
                unscorable.update({start + i: why for i, why in e.reasons.items()})
            bar.update(len(batch))
    return scores, unscorable


def run_eval(options: EvalOptions) -> dict[str, Any]:
    """Load the detector, score the file, and do what the options ask; returns the report."""
    from aidetect.worker.detectors import load_detector

    if not 0.0 < options.target_fpr < 1.0:
        raise BadEvaluationData(f"--target-fpr must be in (0, 1), not {options.target_fpr}")
    if options.batch_size is not None and options.batch_size < 1:
        raise BadEvaluationData(f"--batch-size must be at least 1, not {options.batch_size}")
    if options.write_profile and not options.profiles_file:
        raise BadEvaluationData("--write-profile needs a profiles file (--profiles)")
    texts, labels = read_labelled(options.data)
    profile = load_profiles(options.profiles_file).resolve(options.detector)
    if options.batch_size is not None:
        profile = profile.model_copy(update={"batch_size": options.batch_size})
    detector = load_detector(profile)
    raw, unscorable = score_texts(detector, texts, profile.batch_size)
    kept = [i for i, score in enumerate(raw) if score is not None]
    if not kept:
        raise BadEvaluationData("the detector could score none of the texts")
    scores = [s for s in raw if s is not None]
    report, calibration, threshold = build_report(
        profile, scores, [labels[i] for i in kept], options
    )
    report["unscorable"] = {
        "count": len(unscorable),
        "examples": [f"line {i + 1}: {why}" for i, why in sorted(unscorable.items())[:5]],
    }
    report["model_version"] = detector.model_version
    report["demo"] = detector.demo
    if options.write_profile:
        if detector.demo:
            raise BadEvaluationData("refusing --write-profile: the scores came from a demo model")
        assert options.profiles_file is not None
        write_profile(Path(options.profiles_file), profile.name, calibration, threshold)
    if options.plot is not None:
        curve = roc.roc_curve(scores, labels, profile.higher_is_ai)
        point = roc.rates_at(scores, labels, profile.higher_is_ai, threshold)
        plot_roc(options.plot, curve, report["auroc"], point, profile.name)
    return report
