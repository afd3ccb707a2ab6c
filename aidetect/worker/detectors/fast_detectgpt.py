"""The `fast-detectgpt` kind: the analytic sampling discrepancy of Bao et al. (ICLR 2024).

Following the reference code (`baoguangsheng/fast-detect-gpt`, get_sampling_discrepancy_analytic),
with q_t the reference model's softmax and log p_t the scoring model's log-softmax at position t,
over the P predicted positions of a text:

    mu_t      = sum_v q_t(v) log p_t(v)
    sigma2_t  = sum_v q_t(v) log^2 p_t(v) - mu_t^2
    z         = (sum_t log p_t(x_t) - sum_t mu_t) / sqrt(sum_t sigma2_t)
    score     = z * sqrt(min(1, W / P))                                  (higher means AI)

`profile.model` is the scoring model; `profile.reference_model` the reference (sampling) model,
and when it is empty the scoring model's own logits serve as the reference (one forward pass).

The window is the model's context (what the reference code's `truncation=True` truncates at),
capped by the profile's `max_length`; W is the number of predicted positions of one full window.
A text that fits one window (P <= W) gets exactly the reference code's score. A longer one,
which the reference code truncates, is cut into windows and z pools the sums over all of them;
z's mean grows like sqrt(P) for a fixed per-token discrepancy, so the factor sqrt(W / P) brings
it back to the scale of one full window: the score of a long text is distributed as the score
of a one-window text, and the published score distributions and thresholds, which were fitted
on one window, serve every length. (The mean of per-window scores would do the same in
expectation, but depends on how the windows are cut: balanced windows of a text just over one
window are half as long, and their scores sqrt(2) times smaller.)

Zero variance (a one-hot reference at every position) leaves z undefined (the reference code
divides by zero and returns NaN or inf): the text fails with UndefinedScore.
"""

from __future__ import annotations

import math

from aidetect.worker.detectors.base import register
from aidetect.worker.detectors.token_sums import TokenSums, required
from aidetect.worker.detectors.zero_shot import UndefinedScore, ZeroShotDetector


@register("fast-detectgpt")
class FastDetectGPT(ZeroShotDetector):
    """The analytic sampling discrepancy; AI when at or above the threshold."""

    wants_expectations = True
    wants_variances = True

    def aggregate(self, sums: TokenSums) -> float:
        variance = required(sums.variance)
        if not variance > 0:
            raise UndefinedScore(
                "the reference model's variance is zero on this text (it is certain of every "
                "token): the Fast-DetectGPT score is undefined"
            )
        z = (sums.log_prob - required(sums.expected)) / math.sqrt(variance)
        return z * math.sqrt(min(1.0, self.statistics.window_positions / sums.count))
