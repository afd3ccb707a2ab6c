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


class DetectorProfile(BaseModel):
    """One detector configuration: the kind, the model(s), and the decision threshold.

    Keys may be written camelCase (as Helm values are) or snake_case.
    """

    model_config = ConfigDict(
        extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=True
    )

    name: str = Field(pattern=PROFILE_NAME_PATTERN, max_length=63)
    kind: DetectorKind
    model: str = Field(description="Local path or hub id of the (observer/scoring) model.")
    revision: str | None = Field(default=None, description="Hub revision or commit to pin.")
    ai_label: str | None = Field(
        default=None, description="hf-classifier: the id2label name that means AI-generated."
    )
    device: str = Field(default="auto", description="auto (cuda if available), cuda or cpu.")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    batch_size: int = Field(default=8, ge=1, le=1024)
    max_length: int = Field(default=512, ge=8)
    threshold: float = 0.5
    fallback: Literal["none", "demo"] = Field(
        default="none",
        description="demo: if the model cannot be loaded, use a small untrained model and say so.",
    )


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
