"""The `perplexity` kind: the likelihood and log-rank baselines over one causal LM.

`metric: perplexity` gives the mean token negative log-likelihood (log-perplexity),
-(1/N) sum_t log p(x_t | x_<t); `metric: log-rank` gives (1/N) sum_t log rank(x_t), the rank
counted from 1 among the model's logits at t (ties go to the observed token). These are the
"likelihood" and "log-rank" baselines of the DetectGPT / Fast-DetectGPT papers with the sign
flipped so that, for both, lower means AI. N runs over every predicted position of every window.
"""

from __future__ import annotations

from aidetect.core.profiles import DetectorProfile
from aidetect.worker.detectors.base import register
from aidetect.worker.detectors.token_sums import TokenSums, required
from aidetect.worker.detectors.zero_shot import ZeroShotDetector


@register("perplexity")
class Perplexity(ZeroShotDetector):
    """Mean log-perplexity or mean log-rank; AI when below the threshold."""

    allows_reference = False

    @classmethod
    def needs_ranks(cls, profile: DetectorProfile) -> bool:
        return profile.metric == "log-rank"

    def aggregate(self, sums: TokenSums) -> float:
        if self.profile.metric == "log-rank":
            return required(sums.log_rank) / sums.count
        return -sums.log_prob / sums.count
