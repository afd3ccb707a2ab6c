"""The `binoculars` kind: log-perplexity over cross-perplexity of an observer/performer pair.

Hans et al. (ICML 2024), following the reference code (`ahans30/Binoculars`, metrics.py) exactly:

    logPPL(x) = -(1/(L-1)) sum_{t=1}^{L-1} log p_perf(x_t | x_<t)
    X-PPL(x)  = -(1/L) sum_{t=0}^{L-1} sum_v softmax(obs_t)(v) * log_softmax(perf_t)(v)
    B(x)      = logPPL(x) / X-PPL(x)          (lower means AI)

Two points where the code differs from the paper, and where aidetect follows the code (its
published thresholds were chosen with it): the perplexity term uses the *performer's* logits
(the paper writes the observer's; upstream issue #27), and the cross-perplexity averages over
every position, the last one included (it predicts past the text), while the perplexity term
averages over the shifted positions only. `profile.model` is the observer and
`profile.reference_model` the performer. Long texts: windows are scored alone and the sums run
over all their positions; sentences use their own tokens' positions (no window tail).
"""

from __future__ import annotations

from aidetect.worker.detectors.base import register
from aidetect.worker.detectors.token_stats import CausalLM
from aidetect.worker.detectors.token_sums import TokenSums, required
from aidetect.worker.detectors.zero_shot import Models, ZeroShotDetector


@register("binoculars")
class Binoculars(ZeroShotDetector):
    """Binoculars score B = logPPL / X-PPL; AI when below the threshold."""

    requires_reference = True
    wants_expectations = True

    @classmethod
    def roles(cls, main: CausalLM, other: CausalLM | None) -> Models:
        # The performer scores (log p); the observer's softmax is the reference q.
        if other is None:
            raise RuntimeError("binoculars needs a performer model")
        return other, main

    def aggregate(self, sums: TokenSums) -> float:
        log_ppl = -sums.log_prob / sums.count
        cross = required(sums.expected) + (sums.tail_expected or 0.0)
        x_ppl = -cross / (sums.count + sums.tail_count)
        return log_ppl / x_ppl
