"""The `binoculars` kind: log-perplexity over cross-perplexity of an observer/performer pair.

Hans et al. (ICML 2024), following the reference code (`ahans30/Binoculars`, metrics.py and
detector.py) exactly, for a text of L tokens (special ones included) in one window:

    logPPL(x) = -(1/(L-1)) sum_{t=1}^{L-1} log p_perf(x_t | x_<t)
    X-PPL(x)  = -(1/|M|) sum_{t in M} sum_v softmax(obs_t)(v) * log_softmax(perf_t)(v)
    M         = {t in 0..L-1 : x_t != pad_id}        (pad_id: the pad token, else EOS)
    B(x)      = logPPL(x) / X-PPL(x)                 (lower means AI)

Where the code differs from the paper, aidetect follows the code (its published thresholds were
chosen with it): the perplexity term uses the *performer's* logits (the paper writes the
observer's; upstream issue #27); the cross-perplexity counts every position, the last one too
(it predicts past the text), while the perplexity term counts the shifted positions only; and
the cross-perplexity leaves out each position whose input token is the pad id. For a
gpt2-style or Falcon tokenizer (no pad token, so pad = EOS) that is every literal EOS string
(`<|endoftext|>`) in the text, and the closing EOS where the tokenizer adds one. aidetect masks
exactly so; masking by the attention mask instead (as aidetect did before) differs only on texts
that contain the pad token.

`profile.model` is the observer and `profile.reference_model` the performer. The window is 512
tokens unless the profile sets `max_length` (the reference code's `max_token_observed`). Texts
longer than one window (which the reference code truncates) are cut into windows, each scored
alone, and both means run over the positions of every window: B stays a ratio of per-token
means, so its distribution does not grow with length. Sentences use their own tokens'
positions (no window tail).
"""

from __future__ import annotations

from aidetect.worker.detectors.base import register
from aidetect.worker.detectors.token_stats import CausalLM
from aidetect.worker.detectors.token_sums import TokenSums, required
from aidetect.worker.detectors.zero_shot import Models, UndefinedScore, ZeroShotDetector


@register("binoculars")
class Binoculars(ZeroShotDetector):
    """Binoculars score B = logPPL / X-PPL; AI when below the threshold."""

    requires_reference = True
    wants_expectations = True
    default_max_length = 512  # upstream's max_token_observed

    @classmethod
    def roles(cls, main: CausalLM, other: CausalLM | None) -> Models:
        # The performer scores (log p); the observer's softmax is the reference q.
        if other is None:
            raise RuntimeError("binoculars needs a performer model")
        return other, main

    def aggregate(self, sums: TokenSums) -> float:
        if sums.cross_count == 0:
            raise UndefinedScore(
                "every token is the pad token, which the cross-perplexity leaves out: "
                "the Binoculars score is undefined"
            )
        log_ppl = -sums.log_prob / sums.count
        x_ppl = -required(sums.cross_expected) / sums.cross_count
        if x_ppl == 0:
            raise UndefinedScore("the cross-perplexity is zero: the Binoculars score is undefined")
        return log_ppl / x_ppl
