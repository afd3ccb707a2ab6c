"""The `fast-detectgpt` kind: the analytic sampling discrepancy of Bao et al. (ICLR 2024).

Following the reference code (`baoguangsheng/fast-detect-gpt`, get_sampling_discrepancy_analytic),
with q_t the reference model's softmax and log p_t the scoring model's log-softmax at position t:

    mu_t      = sum_v q_t(v) log p_t(v)
    sigma2_t  = sum_v q_t(v) log^2 p_t(v) - mu_t^2
    score     = (sum_t log p_t(x_t) - sum_t mu_t) / sqrt(sum_t sigma2_t)     (higher means AI)

`profile.model` is the scoring model; `profile.reference_model` the reference (sampling) model,
and when it is empty the scoring model's own logits serve as the reference (one forward pass).
Long texts: the sums run over every predicted position of every window.
"""

from __future__ import annotations

import math

from aidetect.worker.detectors.base import register
from aidetect.worker.detectors.token_sums import TokenSums, required
from aidetect.worker.detectors.zero_shot import ZeroShotDetector


@register("fast-detectgpt")
class FastDetectGPT(ZeroShotDetector):
    """The analytic sampling discrepancy; AI when at or above the threshold."""

    wants_expectations = True
    wants_variances = True

    def aggregate(self, sums: TokenSums) -> float:
        variance = required(sums.variance)
        discrepancy = sums.log_prob - required(sums.expected)
        # A zero variance means a one-hot reference: no spread to normalise by, and nothing to say.
        return discrepancy / math.sqrt(variance) if variance > 0 else 0.0
