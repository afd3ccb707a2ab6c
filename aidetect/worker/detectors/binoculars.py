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
from aidetect.worker.detectors.token_stats import CausalLM, TextStats
from aidetect.worker.detectors.zero_shot import Models, ZeroShotDetector, total


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

    def aggregate(self, stats: TextStats) -> float:
        log_ppl = -total(stats.log_prob) / stats.log_prob.numel()
        tail = stats.tail_expected
        positions = stats.log_prob.numel() + (0 if tail is None else tail.numel())
        x_ppl = -(total(stats.expected) + (0.0 if tail is None else total(tail))) / positions
        return log_ppl / x_ppl
