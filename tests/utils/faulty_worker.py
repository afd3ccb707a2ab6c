"""A real `aidetect worker` whose detector misbehaves on purpose, for failure tests.

Everything but the detector's `score` is the real worker: the queue, the database, acks and
retries. AIDETECT_TEST_POISON=marker makes any batch holding a text with the marker raise;
AIDETECT_TEST_SLOW_SECONDS=s makes every batch take s seconds longer (to kill it mid-batch).
Run as: python -m tests.utils.faulty_worker --detector NAME
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence

from aidetect.cli import main
from aidetect.core.models import Score
from aidetect.worker.detectors.hf_classifier import HfClassifier

_real_score = HfClassifier.score


def _faulty_score(
    self: HfClassifier, texts: Sequence[str], *, sentences: bool = False
) -> list[Score]:
    marker = os.environ.get("AIDETECT_TEST_POISON")
    if marker and any(marker in t for t in texts):
        raise RuntimeError(f"poisoned text (contains {marker!r})")
    time.sleep(float(os.environ.get("AIDETECT_TEST_SLOW_SECONDS", "0")))
    return _real_score(self, texts, sentences=sentences)


if __name__ == "__main__":
    HfClassifier.score = _faulty_score  # type: ignore[method-assign]
    raise SystemExit(main(["worker", *sys.argv[1:]]))
