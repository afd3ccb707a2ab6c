"""The kopf floor: the least a kopf operator can do per CR, on the same apiserver as aidetect.

`make bench` runs it (`kopf run --standalone bench/kopf_floor.py`) on its own tiny CRD
(bench/kopf-floor-crd.yaml) while the aidetect operator is paused, and times create → this
handler's status patch seen, with the same client threads as the aidetect runs. A task can cost
no less than this in a kopf operator, so aidetect's tasks/s is reported as a fraction of it.
Its settings are kopf's defaults, except that only warnings become Events (as aidetect's).
"""

from __future__ import annotations

import logging
from typing import Any

import kopf

GROUP, VERSION, PLURAL = "bench.aidetect.io", "v1", "floortasks"
DONE = "Done"


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    settings.posting.level = logging.WARNING


@kopf.on.create(GROUP, VERSION, PLURAL)
def mark_done(patch: kopf.Patch, **_: Any) -> None:
    patch.status["phase"] = DONE
