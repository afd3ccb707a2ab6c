"""Windows over long token sequences, and padded batches of them.

Models see at most a fixed number of positions, and aidetect never truncates silently: a long
text is cut into consecutive windows that together hold every token, and each window is scored.
How the windows' numbers combine is the kind's business (docs/detectors.md): the classifier
takes a token-weighted mean of window scores, the zero-shot kinds pool per-token sums. Every
kind shares the cutting rules, so they live here rather than in one detector.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch
from transformers import PretrainedConfig, PreTrainedTokenizerBase

from aidetect.core.errors import PermanentError

# Models whose learned positions start after the padding index (RoBERTa's `padding_idx + 1`),
# so `max_position_embeddings` overstates the usable length by `pad_token_id + 1`.
_OFFSET_POSITION_MODELS = frozenset(
    {
        "roberta",
        "xlm-roberta",
        "xlm-roberta-xl",
        "camembert",
        "longformer",
        "data2vec-text",
        "roberta-prelayernorm",
        "xmod",
    }
)
_UNSET_TOKENIZER_LENGTH = 1_000_000  # tokenizers without a limit report ~1e30
# When neither the profile nor the model says how long a window may be: the old fixed default.
FALLBACK_POSITIONS = 512


@dataclass(frozen=True)
class SpecialFrame:
    """The special tokens a tokenizer puts around one sequence (e.g. `<s>` … `</s>`)."""

    prefix: tuple[int, ...]
    suffix: tuple[int, ...]

    def wrap(self, ids: Sequence[int]) -> list[int]:
        return [*self.prefix, *ids, *self.suffix]

    def __len__(self) -> int:
        return len(self.prefix) + len(self.suffix)


def special_frame(tokenizer: PreTrainedTokenizerBase) -> SpecialFrame:
    """Find the special tokens around a single sequence by encoding a probe with and without them.

    Probing works for every tokenizer backend (transformers 5 fast tokenizers no longer expose
    `build_inputs_with_special_tokens`).
    """
    probe = "probe text"
    bare: list[int] = tokenizer(probe, add_special_tokens=False)["input_ids"]
    full: list[int] = tokenizer(probe, add_special_tokens=True)["input_ids"]
    for start in range(len(full) - len(bare) + 1):
        if full[start : start + len(bare)] == bare:
            return SpecialFrame(tuple(full[:start]), tuple(full[start + len(bare) :]))
    raise PermanentError(
        f"cannot locate the text among the special tokens of {type(tokenizer).__name__}"
    )


def max_positions(
    tokenizer: PreTrainedTokenizerBase, config: PretrainedConfig, profile_max: int | None
) -> int:
    """The most tokens (special ones included) one forward pass may take: the model's context
    (what `truncation=True` uses, and the position table), capped by `profile_max` if set."""
    limits = [] if profile_max is None else [profile_max]
    tokenizer_max = tokenizer.model_max_length
    if isinstance(tokenizer_max, int) and tokenizer_max < _UNSET_TOKENIZER_LENGTH:
        limits.append(tokenizer_max)
    positions = getattr(config, "max_position_embeddings", None)
    if isinstance(positions, int):
        if config.model_type in _OFFSET_POSITION_MODELS:
            positions -= (getattr(config, "pad_token_id", None) or 0) + 1
        limits.append(positions)
    return min(limits) if limits else FALLBACK_POSITIONS


def split_windows(ids: Sequence[int], size: int) -> list[list[int]]:
    """Consecutive windows of at most `size` ids that hold every id exactly once.

    The windows are balanced (their lengths differ by at most one) so that no text ends with a
    stub of a few tokens whose score would be noise. An empty sequence gives one empty window.
    """
    if size < 1:
        raise ValueError(f"window size must be positive, got {size}")
    count = max(1, math.ceil(len(ids) / size))
    base, extra = divmod(len(ids), count)
    windows: list[list[int]] = []
    start = 0
    for index in range(count):
        end = start + base + (1 if index < extra else 0)
        windows.append(list(ids[start:end]))
        start = end
    return windows


def token_weighted_mean(scores: Sequence[float], windows: Sequence[Sequence[int]]) -> float:
    """The mean of window scores, each weighted by its token count (an empty window weighs 1)."""
    weights = [max(len(window), 1) for window in windows]
    return sum(s * w for s, w in zip(scores, weights, strict=True)) / sum(weights)


def token_ids(tokenizer: PreTrainedTokenizerBase, texts: Sequence[str]) -> list[list[int]]:
    """Each text's token ids, without special tokens, in one batched call.

    A fast tokenizer's Rust backend is called directly with `encode_batch_fast`, which skips
    the offset tracking and the Python wrapper's encodings (the same ids in about 40 % less
    time: on the tiny demo models tokenizing cost a sixth of a forward pass). Only when the
    backend has no truncation or padding of its own configured, which the wrapper would reset.
    """
    backend = getattr(tokenizer, "backend_tokenizer", None)
    fast = getattr(backend, "encode_batch_fast", None)
    if backend is None or fast is None or backend.truncation or backend.padding:
        out = tokenizer(list(texts), add_special_tokens=False, verbose=False)["input_ids"]
        return [list(ids) for ids in out]
    return [encoding.ids for encoding in fast(list(texts), add_special_tokens=False)]


def length_sorted_batches(
    sequences: Sequence[Sequence[int]], batch_size: int
) -> Iterator[list[int]]:
    """Indices of `sequences` in batches of similar length, longest first: little padding."""
    order = sorted(range(len(sequences)), key=lambda i: len(sequences[i]), reverse=True)
    for start in range(0, len(order), batch_size):
        yield order[start : start + batch_size]


def pad_right(
    sequences: Sequence[Sequence[int]], pad_id: int, device: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """`input_ids` and `attention_mask` for sequences padded on the right to the longest one.

    Built from one padded list and one comparison, not row by row: this runs once per batch.
    """
    lengths = torch.tensor([len(s) for s in sequences], dtype=torch.long)
    width = int(lengths.max())
    padded = [[*s, *([pad_id] * (width - len(s)))] for s in sequences]
    input_ids = torch.tensor(padded, dtype=torch.long).reshape(len(sequences), width)
    attention_mask = (torch.arange(width) < lengths.unsqueeze(1)).long()
    return input_ids.to(device), attention_mask.to(device)
