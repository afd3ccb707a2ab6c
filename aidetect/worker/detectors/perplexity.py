"""The `perplexity` kind: the likelihood and log-rank baselines over one causal LM.

`metric: perplexity` gives the mean token negative log-likelihood (log-perplexity),
-(1/N) sum_t log p(x_t | x_<t); `metric: log-rank` gives (1/N) sum_t log rank(x_t). These are the
"likelihood" and "log-rank" baselines of the DetectGPT / Fast-DetectGPT papers with the sign
flipped so that, for both, lower means AI.

The rank is 1 + the number of vocabulary entries whose logit is strictly greater than the
observed token's: a tie goes to the observed token (the "min" rank of a tied group). The
reference code ranks by `argsort`, which orders tied logits arbitrarily, so it gives some rank
in [min, max] of the tied group, which can change from run to run; the min rank is the one
deterministic choice that does not depend on token ids, and it never makes a text look less
predictable than its logits say. Ties are rare in float32 and common in bf16 and fp16.

The window is the model's context, capped by the profile's `max_length` (the reference code
truncates at the model's context). N runs over every predicted position of every window: a mean
per token, so its distribution does not grow with length.
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
