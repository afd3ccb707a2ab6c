"""Detector profiles: which model serves a `spec.detector` name, and how.

Profiles come from a YAML file (a ConfigMap in the cluster, filled by Helm values); without one,
a built-in default names a real public checkpoint. The operator uses them to route tasks, the
worker to load models. Each profile has its own pair of queues.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

from aidetect.core.errors import UnknownDetector

DetectorKind = Literal["hf-classifier", "binoculars", "fast-detectgpt", "perplexity"]
PROFILE_NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"


class Calibration(BaseModel):
    """Maps a raw score to P(AI-generated), fitted by `aidetect eval` on labelled text.

    platt: p = 1 / (1 + exp(-(a * score + b))). isotonic: a non-decreasing step function,
    p = y[i] for the last x[i] <= score (x ascending; below x[0], y[0]).
    """

    model_config = ConfigDict(
        extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=True
    )

    method: Literal["platt", "isotonic"]
    a: float | None = None
    b: float | None = None
    x: list[float] | None = None
    y: list[float] | None = None
    target_fpr: float | None = Field(
        default=None, description="The false-positive rate the profile's threshold was chosen at."
    )

    @model_validator(mode="after")
    def _parameters_match_method(self) -> Calibration:
        if self.method == "platt" and (self.a is None or self.b is None):
            raise ValueError("platt calibration needs a and b")
        if self.method == "isotonic":
            if not self.x or not self.y or len(self.x) != len(self.y):
                raise ValueError("isotonic calibration needs x and y of the same, non-zero length")
            if self.x != sorted(self.x) or self.y != sorted(self.y):
                raise ValueError("isotonic calibration needs ascending x and non-decreasing y")
        return self


# Which way each kind's raw score points. Binoculars and perplexity: lower means AI.
HIGHER_IS_AI: dict[str, bool] = {
    "hf-classifier": True,  # P(AI label)
    "fast-detectgpt": True,  # sampling discrepancy
    "binoculars": False,  # log-perplexity / cross-perplexity
    "perplexity": False,  # mean log-perplexity (or mean log-rank)
}

# Published defaults, used when a profile sets no threshold (notes/detectors.md).
DEFAULT_THRESHOLDS: dict[str, float] = {
    "hf-classifier": 0.5,
    "binoculars": 0.8536432310785527,  # "low-fpr" (0.01% FPR) for Falcon-7B/-instruct in bf16
}


class DetectorProfile(BaseModel):
    """One detector configuration: the kind, the model(s), and the decision threshold.

    Keys may be written camelCase (as Helm values are) or snake_case.
    """

    model_config = ConfigDict(
        extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=True
    )

    name: str = Field(pattern=PROFILE_NAME_PATTERN, max_length=63)
    kind: DetectorKind
    model: str = Field(
        description="Local path or hub id: the classifier, the Binoculars observer, the "
        "Fast-DetectGPT scoring model, or the perplexity language model."
    )
    revision: str | None = Field(default=None, description="Hub revision or commit to pin.")
    reference_model: str | None = Field(
        default=None,
        description="Binoculars: the performer. Fast-DetectGPT: the reference (sampling) model; "
        "empty means the scoring model itself.",
    )
    reference_revision: str | None = None
    metric: Literal["perplexity", "log-rank"] = Field(
        default="perplexity", description="perplexity kind: mean log-perplexity or mean log-rank."
    )
    calibration: Calibration | None = None
    ai_label: str | None = Field(
        default=None, description="hf-classifier: the id2label name that means AI-generated."
    )
    device: str = Field(default="auto", description="auto (cuda if available), cuda or cpu.")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    batch_size: int = Field(default=8, ge=1, le=1024)
    max_length: int | None = Field(
        default=None,
        ge=8,
        description="The most tokens (special ones included) of one window; longer texts are "
        "cut into windows. Empty means the kind's default, as its reference code: 512 for "
        "binoculars and hf-classifier, the model's context for fast-detectgpt and perplexity. "
        "Never more than the model's context.",
    )
    threshold: float | None = Field(
        default=None,
        description="Threshold on the raw score; empty means the kind's published default.",
    )
    fallback: Literal["none", "demo"] = Field(
        default="none",
        description="demo: if the model cannot be loaded, use a small untrained model and say so.",
    )

    @property
    def higher_is_ai(self) -> bool:
        return HIGHER_IS_AI[self.kind]

    def decision_threshold(self) -> float:
        """The threshold in force; a zero-shot kind without a published one needs calibration."""
        if self.threshold is not None:
            return self.threshold
        if self.kind in DEFAULT_THRESHOLDS:
            return DEFAULT_THRESHOLDS[self.kind]
        raise ValueError(
            f"profile {self.name!r} ({self.kind}) needs a threshold: fit one with `aidetect eval`"
        )

    def label_of(self, score: float) -> Literal["ai", "human"]:
        threshold = self.decision_threshold()
        is_ai = score >= threshold if self.higher_is_ai else score < threshold
        return "ai" if is_ai else "human"


class ProfileSet(BaseModel):
    """All configured profiles and the cluster default."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    default: str
    profiles: dict[str, DetectorProfile]

    @model_validator(mode="before")
    @classmethod
    def _names_from_keys(cls, data: object) -> object:
        if isinstance(data, dict) and isinstance(data.get("profiles"), dict):
            data = dict(data)
            data["profiles"] = {
                name: {"name": name, **body} if isinstance(body, dict) else body
                for name, body in data["profiles"].items()
            }
        return data

    @model_validator(mode="after")
    def _default_exists(self) -> ProfileSet:
        if self.default not in self.profiles:
            raise ValueError(f"default profile {self.default!r} is not among the profiles")
        return self

    def resolve(self, name: str | None) -> DetectorProfile:
        """The profile for `spec.detector` (empty means the default); UnknownDetector if none."""
        wanted = name or self.default
        try:
            return self.profiles[wanted]
        except KeyError:
            known = ", ".join(sorted(self.profiles))
            raise UnknownDetector(f"no detector profile {wanted!r} (configured: {known})") from None


BUILTIN_PROFILES = ProfileSet(
    default="roberta-openai",
    profiles={
        "roberta-openai": DetectorProfile(
            name="roberta-openai",
            kind="hf-classifier",
            model="openai-community/roberta-base-openai-detector",
            ai_label="Fake",
            threshold=0.5,
            fallback="demo",
        )
    },
)


def load_profiles(path: str | Path | None) -> ProfileSet:
    """Profiles from a YAML file, or the built-in default when no file is configured."""
    if not path:
        return BUILTIN_PROFILES
    data = yaml.safe_load(Path(path).read_text())
    return ProfileSet.model_validate(data)
