"""Per-token statistics of one or two causal language models, from one forward pass per model.

Binoculars, Fast-DetectGPT and the perplexity baselines all reduce to sums of per-token numbers
read off a language model's logits: the log-probability of each observed token, its rank, and
the mean and variance of the scoring model's log-probabilities under a reference distribution.
Computing them here, once per batch, keeps the three detectors thin and lets sentence scores
come from the same pass as the document score: a sentence only selects its tokens' statistics.

Conventions, shared with the reference implementations:
- Each window is tokenized with the tokenizer's own special tokens around it (as the reference
  code's plain `tokenizer(text)` call does) and position t is scored from positions < t.
- Long texts are cut into windows that fit the model (`chunking`) and each window is scored
  alone; the statistics are concatenated, so means and sums over them are token-weighted.
- Logits are converted to float32 before any softmax, whatever dtype the model runs in.
- If the two models' vocabularies differ in size, both logits are cut to the smaller one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from aidetect.core.errors import InvalidInput, PermanentError
from aidetect.worker.detectors import chunking


@dataclass(frozen=True)
class CausalLM:
    """A loaded causal language model, its tokenizer, and the version recorded with results."""

    tokenizer: PreTrainedTokenizerBase
    model: PreTrainedModel
    version: str


@dataclass(frozen=True)
class TextStats:
    """One text's statistics over every predicted position of every window, in order.

    `predicted[i]` is the index (among the text's tokens, special tokens excluded) of the token
    that position i predicts, or -1 for a special token such as a closing `</s>`.
    `expected` is mu_t = sum_v q_t(v) log p_t(v) (q: reference softmax, p: scoring softmax) and
    `variance` is sum_v q_t(v) log^2 p_t(v) - mu_t^2. `tail_expected` holds mu at each window's
    last position, which predicts past the window: Binoculars' cross-perplexity counts it.
    """

    predicted: torch.Tensor
    log_prob: torch.Tensor
    rank: torch.Tensor | None
    expected: torch.Tensor | None
    variance: torch.Tensor | None
    tail_expected: torch.Tensor | None
    windows: int
    offsets: list[tuple[int, int]]

    def select(self, keep: torch.Tensor) -> TextStats:
        """The statistics of the positions where `keep` is True; window tails are dropped."""

        def pick(values: torch.Tensor | None) -> torch.Tensor | None:
            return None if values is None else values[keep]

        return replace(
            self,
            predicted=self.predicted[keep],
            log_prob=self.log_prob[keep],
            rank=pick(self.rank),
            expected=pick(self.expected),
            variance=pick(self.variance),
            tail_expected=None if self.tail_expected is None else self.tail_expected[:0],
        )

    def positions_in(self, start: int, end: int) -> torch.Tensor:
        """Which positions predict a token whose characters overlap `text[start:end]`."""
        inside = torch.tensor(
            [a < end and b > start for a, b in self.offsets] + [False], dtype=torch.bool
        )
        return inside[self.predicted]  # -1 (a special token) reads the trailing False


@dataclass(frozen=True)
class _WindowStats:
    log_prob: torch.Tensor
    rank: torch.Tensor | None
    expected: torch.Tensor | None
    variance: torch.Tensor | None


class TokenStatistics:
    """Scores windows of token ids with a scoring model and an optional reference model.

    Without a reference model, the reference distribution q is the scoring model's own softmax,
    computed from the same logits: there is one forward pass, not two.
    """

    def __init__(
        self,
        scoring: CausalLM,
        reference: CausalLM | None,
        *,
        max_length: int,
        batch_size: int,
        device: str,
        ranks: bool = False,
        expectations: bool = False,
    ) -> None:
        self.scoring = scoring
        self.reference = reference
        self.tokenizer = scoring.tokenizer
        if reference is not None:
            _require_identical_tokenizers(scoring.tokenizer, reference.tokenizer)
        self.batch_size = batch_size
        self.device = device
        self.ranks = ranks
        self.expectations = expectations
        self.frame = chunking.special_frame(self.tokenizer)
        models = [lm.model for lm in (scoring, reference) if lm is not None]
        limit = min(chunking.max_positions(self.tokenizer, m.config, max_length) for m in models)
        self.window = limit - len(self.frame)
        if self.window < 1:
            raise PermanentError(f"max_length {limit} leaves no room around the special tokens")
        self.pad_id = _pad_id(self.tokenizer)

    def text_stats(self, texts: Sequence[str]) -> list[TextStats]:
        """The statistics of each text, in order; InvalidInput if one has nothing to predict."""
        if not texts:
            return []
        encoded = self.tokenizer(
            list(texts), add_special_tokens=False, return_offsets_mapping=True, verbose=False
        )
        split = [chunking.split_windows(ids, self.window) for ids in encoded["input_ids"]]
        framed = [self.frame.wrap(window) for windows in split for window in windows]
        scored = iter(self.window_stats(framed))
        results: list[TextStats] = []
        for windows, offsets in zip(split, encoded["offset_mapping"], strict=True):
            parts = [next(scored) for _ in windows]
            stats = self._concatenate(windows, parts, [tuple(o) for o in offsets])
            if stats.log_prob.numel() == 0:
                raise InvalidInput("a text is too short to score: it needs at least two tokens")
            results.append(stats)
        return results

    def window_stats(self, framed: Sequence[Sequence[int]]) -> list[_WindowStats]:
        """Statistics of each framed window, batched by length, one forward pass per model."""
        out: list[_WindowStats | None] = [None] * len(framed)
        with torch.inference_mode():
            for batch in chunking.length_sorted_batches(framed, self.batch_size):
                rows = [framed[i] for i in batch]
                if max(len(row) for row in rows) == 0:
                    raise InvalidInput("a text is too short to score: it has no tokens")
                ids, mask = chunking.pad_right(rows, self.pad_id, self.device)
                scoring = self.scoring.model(input_ids=ids, attention_mask=mask).logits
                reference = None
                if self.reference is not None:
                    reference = self.reference.model(input_ids=ids, attention_mask=mask).logits
                for row, index in enumerate(batch):
                    n = len(framed[index])
                    ref = None if reference is None else reference[row, :n]
                    out[index] = self._row_stats(scoring[row, :n], ref, ids[row, :n])
        return [stats for stats in out if stats is not None]

    def _row_stats(
        self, scoring: torch.Tensor, reference: torch.Tensor | None, ids: torch.Tensor
    ) -> _WindowStats:
        """Statistics of one unpadded window from its [n, V] logits (float32 from here on)."""
        scoring = scoring.float()
        if reference is not None:
            vocab = min(scoring.shape[-1], reference.shape[-1])
            scoring, reference = scoring[:, :vocab], reference[:, :vocab].float()
        log_p = torch.log_softmax(scoring, dim=-1)
        targets = ids[1:].unsqueeze(-1)
        log_prob = log_p[:-1].gather(-1, targets).squeeze(-1)
        rank = None
        if self.ranks:
            observed = scoring[:-1].gather(-1, targets)
            rank = (scoring[:-1] > observed).sum(dim=-1).float() + 1.0
        expected = variance = None
        if self.expectations:
            q = torch.softmax(scoring if reference is None else reference, dim=-1)
            expected = (q * log_p).sum(dim=-1)
            variance = (q * log_p.square()).sum(dim=-1) - expected.square()
        return _WindowStats(
            log_prob=log_prob.cpu(),
            rank=None if rank is None else rank.cpu(),
            expected=None if expected is None else expected.cpu(),
            variance=None if variance is None else variance.cpu(),
        )

    def _concatenate(
        self,
        windows: Sequence[Sequence[int]],
        parts: Sequence[_WindowStats],
        offsets: list[tuple[int, int]],
    ) -> TextStats:
        """Join a text's window statistics, mapping positions back to the text's tokens."""
        prefix = len(self.frame.prefix)
        predicted: list[int] = []
        start = 0
        for window in windows:
            # Framed position p (p >= 1) predicts content token start + p - prefix, if any.
            for position in range(1, len(self.frame.wrap(window))):
                inner = position - prefix
                predicted.append(start + inner if 0 <= inner < len(window) else -1)
            start += len(window)

        def join(values: list[torch.Tensor | None]) -> torch.Tensor | None:
            present = [v for v in values if v is not None]
            return torch.cat(present) if present and len(present) == len(values) else None

        expected = [p.expected for p in parts]
        return TextStats(
            predicted=torch.tensor(predicted, dtype=torch.long),
            log_prob=torch.cat([p.log_prob for p in parts]),
            rank=join([p.rank for p in parts]),
            expected=join([None if e is None else e[:-1] for e in expected]),
            variance=join([None if p.variance is None else p.variance[:-1] for p in parts]),
            tail_expected=join([None if e is None else e[-1:] for e in expected]),
            windows=len(windows),
            offsets=offsets,
        )


def _require_identical_tokenizers(
    first: PreTrainedTokenizerBase, second: PreTrainedTokenizerBase
) -> None:
    """Two-model scores compare logits id by id, so both models must share one vocabulary."""
    if first.get_vocab() != second.get_vocab():
        raise PermanentError(
            f"the two models' tokenizers differ ({type(first).__name__} with "
            f"{len(first)} tokens vs {type(second).__name__} with {len(second)}): "
            "pair models that share a tokenizer"
        )


def _pad_id(tokenizer: PreTrainedTokenizerBase) -> int:
    """The padding id: the pad token, else EOS as the reference code does (masked anyway)."""
    pad_id = tokenizer.pad_token_id
    if pad_id is None:
        pad_id = tokenizer.eos_token_id
    if not isinstance(pad_id, int):
        raise PermanentError(f"{type(tokenizer).__name__} has neither a pad nor an EOS token")
    return pad_id
