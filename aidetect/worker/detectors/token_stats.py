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
  alone; the sums run over every window (each kind decides what to make of them).
- Logits are converted to float32 before any softmax, whatever dtype the model runs in.
- If the two models' vocabularies differ in size, both logits are cut to the smaller one.

The statistics are computed for a whole padded batch at once (the per-position formulas are the
reference code's, in its order of operations; padded positions are computed and then masked
out), in row groups of bounded size so that a large vocabulary does not multiply the logits'
memory. Per-position values leave the batch only when sentence scores need them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from aidetect.core.errors import InvalidInput, PermanentError
from aidetect.worker.detectors import chunking
from aidetect.worker.detectors.token_sums import TextPositions, TokenSums

# Rows of logits processed together hold at most this many float32 values (256 MiB) per
# temporary: a tiny model's batch goes in one step, a 65k-vocabulary model's a few rows at a time.
ROW_GROUP_ELEMENTS = 1 << 26


@dataclass(frozen=True)
class CausalLM:
    """A loaded causal language model, its tokenizer, and the version recorded with results."""

    tokenizer: PreTrainedTokenizerBase
    model: PreTrainedModel
    version: str


@dataclass(frozen=True)
class TextMeasure:
    """What a zero-shot score needs of one text: its sums over every window, how many windows
    it took, and (only when sentence scores were asked for) its per-position statistics."""

    sums: TokenSums
    windows: int
    positions: TextPositions | None


@dataclass(frozen=True)
class BatchStatistics:
    """Per-position statistics of a padded batch of framed windows (float32, on the CPU).

    Column t of `log_prob` and `rank` is the prediction of token t + 1 from tokens 0..t;
    `expected` (mu_t) and `variance` (sigma2_t) have one more column, the last position, which
    predicts past the window. Columns past a row's length are padding and mean nothing.
    """

    log_prob: torch.Tensor
    rank: torch.Tensor | None
    expected: torch.Tensor | None
    variance: torch.Tensor | None


def batch_statistics(
    scoring: torch.Tensor,
    reference: torch.Tensor | None,
    ids: torch.Tensor,
    *,
    ranks: bool,
    expectations: bool,
    variances: bool = False,
) -> BatchStatistics:
    """The statistics of every position of a batch from its [rows, width, vocab] logits.

    Without `reference` logits, the reference distribution is the scoring model's own softmax.
    `variances` (sigma2_t, which only Fast-DetectGPT uses) implies `expectations`.
    """
    rows, width, vocab = scoring.shape
    step = max(1, ROW_GROUP_ELEMENTS // max(1, width * vocab))
    parts = [
        _group_statistics(
            scoring[start : start + step],
            None if reference is None else reference[start : start + step],
            ids[start : start + step],
            ranks=ranks,
            expectations=expectations or variances,
            variances=variances,
        )
        for start in range(0, rows, step)
    ]
    if len(parts) == 1:
        return parts[0]

    def join(values: list[torch.Tensor | None]) -> torch.Tensor | None:
        present = [v for v in values if v is not None]
        return torch.cat(present) if present else None

    return BatchStatistics(
        log_prob=torch.cat([p.log_prob for p in parts]),
        rank=join([p.rank for p in parts]),
        expected=join([p.expected for p in parts]),
        variance=join([p.variance for p in parts]),
    )


def _group_statistics(
    scoring: torch.Tensor,
    reference: torch.Tensor | None,
    ids: torch.Tensor,
    *,
    ranks: bool,
    expectations: bool,
    variances: bool,
) -> BatchStatistics:
    """`batch_statistics` for one group of rows, moved to the CPU."""
    scoring = scoring.float()
    if reference is not None:
        vocab = min(scoring.shape[-1], reference.shape[-1])
        scoring, reference = scoring[..., :vocab], reference[..., :vocab].float()
    log_p = torch.log_softmax(scoring, dim=-1)
    targets = ids[:, 1:].unsqueeze(-1)
    log_prob = log_p[:, :-1].gather(-1, targets).squeeze(-1)
    rank = None
    if ranks:
        observed = scoring[:, :-1].gather(-1, targets)
        rank = (scoring[:, :-1] > observed).sum(dim=-1).float() + 1.0
    expected = variance = None
    if expectations:
        # softmax(s) is exp(log_softmax(s)): one pass over the vocabulary instead of three.
        # q is a temporary of its own, so q * log p and then q * log p * log p are built in it
        # in place: one [rows, width, vocab] buffer for both sums instead of three.
        q = log_p.exp() if reference is None else torch.softmax(reference, dim=-1)
        weighted = q.mul_(log_p)
        expected = weighted.sum(dim=-1)
        if variances:
            variance = weighted.mul_(log_p).sum(dim=-1) - expected.square()
    return BatchStatistics(
        log_prob=log_prob.cpu(),
        rank=None if rank is None else rank.cpu(),
        expected=None if expected is None else expected.cpu(),
        variance=None if variance is None else variance.cpu(),
    )


def window_sums(
    stats: BatchStatistics, lengths: Sequence[int], not_pad: torch.Tensor
) -> list[TokenSums]:
    """Each row's sums over its own positions (`lengths`: the rows' unpadded lengths).

    A row of n tokens has n - 1 predicted positions; Binoculars' cross term runs over its n
    positions (the tail, which predicts past the row, included) whose input token is not the
    pad id (`not_pad`, [rows, width] on the CPU), which is how the reference code masks it.
    """
    n = torch.tensor(lengths, dtype=torch.long)
    columns = torch.arange(not_pad.shape[1])
    predicted = columns[:-1] < (n - 1).unsqueeze(1)
    optional = [
        None if stats.rank is None else stats.rank.log(),
        None if stats.expected is None else stats.expected[:, :-1],
        None if stats.variance is None else stats.variance[:, :-1],
    ]
    # One masked sum of every statistic at once: a few tensor operations per batch, not per row
    stacked = torch.stack([stats.log_prob, *(v for v in optional if v is not None)])
    totals = iter(torch.where(predicted, stacked, 0.0).double().sum(dim=-1).tolist())
    log_prob: list[float] = next(totals)
    nothing: list[None] = [None] * len(lengths)
    log_rank, expected, variance = (nothing if v is None else next(totals) for v in optional)
    crossed = (columns < n.unsqueeze(1)) & not_pad
    cross_counts: list[int] = crossed.sum(dim=-1).tolist()
    cross: list[float] | list[None] = nothing
    if stats.expected is not None:
        cross = torch.where(crossed, stats.expected, 0.0).double().sum(dim=-1).tolist()
    return [
        TokenSums(
            count=max(length - 1, 0),
            log_prob=log_prob[row],
            log_rank=log_rank[row],
            expected=expected[row],
            variance=variance[row],
            cross_expected=cross[row],
            cross_count=cross_counts[row],
        )
        for row, length in enumerate(lengths)
    ]


@dataclass(frozen=True)
class _WindowPositions:
    """One window's per-position statistics (its tail left out), kept for sentence scores."""

    log_prob: torch.Tensor
    rank: torch.Tensor | None
    expected: torch.Tensor | None
    variance: torch.Tensor | None
    not_pad: torch.Tensor


def _row_positions(
    stats: BatchStatistics, not_pad: torch.Tensor, row: int, length: int
) -> _WindowPositions:
    def cut(values: torch.Tensor | None) -> torch.Tensor | None:
        return None if values is None else values[row, : max(length - 1, 0)]

    return _WindowPositions(
        log_prob=stats.log_prob[row, : max(length - 1, 0)],
        rank=cut(stats.rank),
        expected=cut(stats.expected),
        variance=cut(stats.variance),
        not_pad=not_pad[row, : max(length - 1, 0)],
    )


@dataclass(frozen=True)
class _WindowResult:
    sums: TokenSums
    positions: _WindowPositions | None


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
        max_length: int | None,
        batch_size: int,
        device: str,
        ranks: bool = False,
        expectations: bool = False,
        variances: bool = False,
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
        self.variances = variances
        self.frame = chunking.special_frame(self.tokenizer)
        models = [lm.model for lm in (scoring, reference) if lm is not None]
        limit = min(chunking.max_positions(self.tokenizer, m.config, max_length) for m in models)
        self.window = limit - len(self.frame)
        if self.window < 1:
            raise PermanentError(f"max_length {limit} leaves no room around the special tokens")
        self.pad_id = _pad_id(self.tokenizer)

    def measure(
        self, texts: Sequence[str], *, positions: bool = False
    ) -> list[TextMeasure | InvalidInput]:
        """Each text's sums (and, with `positions`, per-position statistics), in order.

        A text with nothing to predict (fewer than two tokens, special ones included) is not
        run through the model: its entry is the InvalidInput saying so, and the others are
        measured. The texts are tokenised once, in one call; character offsets are asked of the
        tokenizer only when sentences need them.
        """
        if not texts:
            return []
        encoded = self._encode(list(texts), offsets=positions)
        scorable = [len(ids) + len(self.frame) >= 2 for ids in encoded["input_ids"]]
        split = [
            chunking.split_windows(ids, self.window) if ok else []
            for ids, ok in zip(encoded["input_ids"], scorable, strict=True)
        ]
        framed = [self.frame.wrap(window) for windows in split for window in windows]
        scored = iter(self.score_windows(framed, positions=positions))
        offsets = encoded["offset_mapping"] if positions else [None] * len(split)
        results: list[TextMeasure | InvalidInput] = []
        for windows, text_offsets in zip(split, offsets, strict=True):
            if not windows:
                results.append(
                    InvalidInput("too short to score: it needs at least two tokens, it has fewer")
                )
                continue
            parts = [next(scored) for _ in windows]
            sums = parts[0].sums
            for part in parts[1:]:
                sums = sums + part.sums
            located = None
            if text_offsets is not None:
                located = self._positions(windows, parts, [tuple(o) for o in text_offsets])
            results.append(TextMeasure(sums=sums, windows=len(windows), positions=located))
        return results

    @property
    def window_positions(self) -> int:
        """The predicted positions of one full window: its tokens, special ones included, less
        the first (which nothing predicts)."""
        return self.window + len(self.frame) - 1

    def _encode(self, texts: list[str], *, offsets: bool) -> dict[str, list[Any]]:
        """Token ids (and, with `offsets`, character offsets) of each text, no special tokens."""
        if not offsets:
            return {"input_ids": chunking.token_ids(self.tokenizer, texts)}
        encoded = self.tokenizer(
            texts, add_special_tokens=False, return_offsets_mapping=True, verbose=False
        )
        return dict(encoded)

    def score_windows(
        self, framed: Sequence[Sequence[int]], *, positions: bool = False
    ) -> list[_WindowResult]:
        """Sums of each framed window, batched by length, one forward pass per model."""
        out: list[_WindowResult | None] = [None] * len(framed)
        with torch.inference_mode():
            for batch in chunking.length_sorted_batches(framed, self.batch_size):
                rows = [framed[i] for i in batch]
                lengths = [len(row) for row in rows]
                ids, mask = chunking.pad_right(rows, self.pad_id, self.device)
                # Scoring reads every position once: a KV cache would only cost time and memory
                scoring = self.scoring.model(input_ids=ids, attention_mask=mask, use_cache=False)
                reference = None
                if self.reference is not None:
                    reference = self.reference.model(
                        input_ids=ids, attention_mask=mask, use_cache=False
                    ).logits
                stats = batch_statistics(
                    scoring.logits,
                    reference,
                    ids,
                    ranks=self.ranks,
                    expectations=self.expectations,
                    variances=self.variances,
                )
                not_pad = (ids != self.pad_id).cpu()
                sums = window_sums(stats, lengths, not_pad)
                for row, index in enumerate(batch):
                    kept = _row_positions(stats, not_pad, row, lengths[row]) if positions else None
                    out[index] = _WindowResult(sums[row], kept)
        return [result for result in out if result is not None]

    def _positions(
        self,
        windows: Sequence[Sequence[int]],
        parts: Sequence[_WindowResult],
        offsets: list[tuple[int, int]],
    ) -> TextPositions:
        """Join a text's window positions, mapping each back to the text token it predicts."""
        prefix, suffix = len(self.frame.prefix), len(self.frame.suffix)
        predicted: list[int] = []
        start = 0
        for window in windows:
            # Framed position p (p >= 1) predicts content token start + p - prefix, if any.
            size = len(window)
            inner = range(1 - prefix, size + suffix)
            predicted += [start + i if 0 <= i < size else -1 for i in inner]
            start += size
        kept = [p.positions for p in parts if p.positions is not None]

        def join(values: list[torch.Tensor | None]) -> torch.Tensor | None:
            present = [v for v in values if v is not None]
            return torch.cat(present) if present and len(present) == len(values) else None

        return TextPositions(
            predicted=torch.tensor(predicted, dtype=torch.long),
            log_prob=torch.cat([k.log_prob for k in kept]),
            rank=join([k.rank for k in kept]),
            expected=join([k.expected for k in kept]),
            variance=join([k.variance for k in kept]),
            not_pad=torch.cat([k.not_pad for k in kept]),
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
