"""Turn a detector's raw score into a calibrated probability that the text is AI-generated.

The parameters are fitted by `aidetect eval` on labelled text from the user's own domain and
stored in the profile. Without calibration there is no probability: a raw score is not one.
"""

from __future__ import annotations

import bisect
import math

from aidetect.core.profiles import Calibration


def calibrated_probability(calibration: Calibration | None, score: float) -> float | None:
    """P(AI) for a raw score under the profile's calibration; None without one."""
    if calibration is None:
        return None
    if calibration.method == "platt":
        assert calibration.a is not None and calibration.b is not None
        z = calibration.a * score + calibration.b
        # Written in the form that cannot overflow for large |z|.
        return 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))
    assert calibration.x is not None and calibration.y is not None
    i = bisect.bisect_right(calibration.x, score) - 1
    return calibration.y[max(i, 0)]
