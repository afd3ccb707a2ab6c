"""The sums every zero-shot score is a function of, and per-position statistics for sentences.

Binoculars, Fast-DetectGPT, perplexity and log-rank each reduce a text to a handful of sums over
its predicted positions (sum of log p(x_t), of mu_t, of sigma2_t, of log rank) and their counts.
`TokenSums` holds them, so a document score is computed from per-window sums that the batch
produces in a few vectorised operations, instead of from per-token tensors gathered text by text.
Sentences need the per-position values, to pick their own tokens: `TextPositions` keeps those,
and is built only when sentence scores are asked for.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class TokenSums:
    """Sums over a set of predicted positions (float64), and the counts they run over.

    `expected` sums mu_t = sum_v q_t(v) log p_t(v) and `variance` sums
    sigma2_t = sum_v q_t(v) log^2 p_t(v) - mu_t^2 over the same positions as `log_prob`.
    `cross_expected` sums mu_t over the positions Binoculars' cross-perplexity counts
    (`cross_count` of them), as the reference code masks them: every position whose *input*
    token is not the pad id, each window's last position (which predicts past the window)
    included. A statistic the detector did not ask for is None.
    """

    count: int
    log_prob: float
    log_rank: float | None = None
    expected: float | None = None
    variance: float | None = None
    cross_expected: float | None = None
    cross_count: int = 0

    def __add__(self, other: TokenSums) -> TokenSums:
        return TokenSums(
            count=self.count + other.count,
            log_prob=self.log_prob + other.log_prob,
            log_rank=_add(self.log_rank, other.log_rank),
            expected=_add(self.expected, other.expected),
            variance=_add(self.variance, other.variance),
            cross_expected=_add(self.cross_expected, other.cross_expected),
            cross_count=self.cross_count + other.cross_count,
        )


def _add(first: float | None, second: float | None) -> float | None:
    return None if first is None or second is None else first + second


def required(value: float | None) -> float:
    """A sum that the detector asked for (a RuntimeError if it was not computed)."""
    if value is None:
        raise RuntimeError("a statistic the detector needs was not computed")
    return value


@dataclass(frozen=True)
class TextPositions:
    """One text's per-position statistics, every window's predicted positions in order.

    `predicted[i]` is the index (among the text's tokens, special tokens excluded) of the token
    that position i predicts, or -1 for a special token such as a closing `</s>`.
    `not_pad[i]` says whether position i's input token is not the pad id (Binoculars'
    cross-perplexity mask). Window tails (which predict past the window) are not included: a
    sentence never counts them.
    """

    predicted: torch.Tensor
    log_prob: torch.Tensor
    rank: torch.Tensor | None
    expected: torch.Tensor | None
    variance: torch.Tensor | None
    not_pad: torch.Tensor
    offsets: list[tuple[int, int]]

    def positions_in(self, start: int, end: int) -> torch.Tensor:
        """Which positions predict a token whose characters overlap `text[start:end]`."""
        inside = torch.tensor(
            [a < end and b > start for a, b in self.offsets] + [False], dtype=torch.bool
        )
        return inside[self.predicted]  # -1 (a special token) reads the trailing False

    def sums(self, keep: torch.Tensor) -> TokenSums:
        """The sums over the positions where `keep` is True (no window tails)."""

        def total(values: torch.Tensor | None) -> float | None:
            return None if values is None else float(values[keep].double().sum())

        cross = keep & self.not_pad
        return TokenSums(
            count=int(keep.sum()),
            log_prob=float(self.log_prob[keep].double().sum()),
            log_rank=None if self.rank is None else total(self.rank.log()),
            expected=total(self.expected),
            variance=total(self.variance),
            cross_expected=None
            if self.expected is None
            else float(self.expected[cross].double().sum()),
            cross_count=int(cross.sum()),
        )
