"""Factories for DetectionTask manifests."""

from __future__ import annotations

import uuid
from typing import Any

from aidetect.core import crd


def detection_task(name: str | None = None, **spec: Any) -> dict[str, Any]:
    """A DetectionTask manifest; with no spec given, a single short English text."""
    return {
        "apiVersion": crd.API_VERSION,
        "kind": crd.KIND,
        "metadata": {"name": name or f"dt-{uuid.uuid4().hex[:8]}"},
        "spec": spec or {"text": "A short text to score."},
    }
