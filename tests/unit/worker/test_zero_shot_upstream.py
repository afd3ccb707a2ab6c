"""Zero-shot scores at the edges, against independent re-implementations of the upstream code.

`upstream_binoculars` follows `ahans30/Binoculars` (detector.py `_tokenize`/`compute_score`,
metrics.py `perplexity`/`entropy`) and `upstream_fast_detectgpt` follows
`baoguangsheng/fast-detect-gpt` (`get_sampling_discrepancy_analytic` and its caller), line by
line, on the tiny models: one padded batch, the reference code's own tokenizer call, its masks.
Where aidetect departs from upstream on purpose (texts longer than upstream's truncation, tied
ranks, undefined statistics), the tests pin the documented rule instead.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from transformers import (
    AutoConfig,
    AutoModelForCausalLM,
    AutoTokenizer,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from aidetect.worker.detectors import load_detector
from aidetect.worker.detectors.base import UnscorableItems
from aidetect.worker.detectors.chunking import split_windows
from aidetect.worker.detectors.token_stats import batch_statistics
from aidetect.worker.detectors.zero_shot import ZeroShotDetector
from tests.utils.tiny_models import gpt2_style_copy, zero_shot_profile

TOLERANCE = 1e-5
CONTEXT = 64  # the tiny models' context: upstream truncates there, aidetect's default window
EOS_TEXTS = [
    "A chat log.</s>User: hi</s>Bot: hello",
    "</s>starts with the end",
    "No special string at all, a plain text.",
    "ends</s>",
]
PAD_TEXTS = ["A page with a <pad> inside it.", "<pad><pad> twice", "Plain."]
LONG = "Long texts run past the tiny model's context of sixty-four tokens, twice over. " * 2


def unbounded(kind: str, model: Path, **overrides: object) -> ZeroShotDetector:
    """A detector whose profile sets no max_length: the kind's default window."""
    detector = load_detector(zero_shot_profile(kind, model, max_length=None, **overrides))
    assert isinstance(detector, ZeroShotDetector)
    return detector


def load(path: Path) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    model = AutoModelForCausalLM.from_pretrained(path).train(False)
    return model, AutoTokenizer.from_pretrained(path)


@pytest.fixture(scope="module")
def gpt2_style_dirs(
    causal_lm_dirs: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("gpt2-style")
    first, second = causal_lm_dirs
    return gpt2_style_copy(first, root / "0"), gpt2_style_copy(second, root / "1")


# --- the reference code, re-implemented ------------------------------------------------------


def upstream_binoculars(
    observer: PreTrainedModel,
    performer: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    batch: list[str],
    *,
    max_token_observed: int = 512,
    mask: str = "pad-id",
) -> list[float]:
    """Binoculars' compute_score; `mask="attention"` is aidetect's rule before issue 14."""
    if not tokenizer.pad_token:
        tokenizer.pad_token = tokenizer.eos_token
    encodings = tokenizer(
        batch,
        return_tensors="pt",
        padding="longest" if len(batch) > 1 else False,
        truncation=True,
        max_length=min(max_token_observed, CONTEXT),
        return_token_type_ids=False,
    )
    with torch.inference_mode():
        observer_logits = observer(**encodings).logits.float()
        performer_logits = performer(**encodings).logits.float()
    # metrics.perplexity(encodings, performer_logits)
    shifted_logits = performer_logits[..., :-1, :].contiguous()
    shifted_labels = encodings.input_ids[..., 1:].contiguous()
    shifted_attention_mask = encodings.attention_mask[..., 1:].contiguous()
    ce_loss = torch.nn.CrossEntropyLoss(reduction="none")
    ppl = (ce_loss(shifted_logits.transpose(1, 2), shifted_labels) * shifted_attention_mask).sum(
        1
    ) / shifted_attention_mask.sum(1)
    # metrics.entropy(observer_logits, performer_logits, encodings, pad_token_id)
    vocab_size = observer_logits.shape[-1]
    total_tokens_available = performer_logits.shape[-2]
    p_proba = torch.softmax(observer_logits, dim=-1).view(-1, vocab_size)
    q_scores = performer_logits.view(-1, vocab_size)
    ce = ce_loss(input=q_scores, target=p_proba).view(-1, total_tokens_available)
    if mask == "pad-id":
        padding_mask = (encodings.input_ids != tokenizer.pad_token_id).type(torch.uint8)
    else:
        padding_mask = encodings.attention_mask
    x_ppl = (ce * padding_mask).sum(1) / padding_mask.sum(1)
    return [float(v) for v in ppl / x_ppl]


def upstream_fast_detectgpt(
    scoring: PreTrainedModel,
    reference: PreTrainedModel | None,
    tokenizer: PreTrainedTokenizerBase,
    text: str,
) -> float:
    """fast_detect_gpt.py: one text, truncated at the model's context."""
    tokenized = tokenizer(
        text, truncation=True, return_tensors="pt", padding=True, return_token_type_ids=False
    )
    labels = tokenized.input_ids[:, 1:]
    with torch.inference_mode():
        logits_score = scoring(**tokenized).logits[:, :-1].float()
        logits_ref = logits_score if reference is None else reference(**tokenized).logits[:, :-1]
    return analytic_discrepancy(logits_ref.float(), logits_score, labels)


def analytic_discrepancy(
    logits_ref: torch.Tensor, logits_score: torch.Tensor, labels: torch.Tensor
) -> float:
    """get_sampling_discrepancy_analytic, as written upstream."""
    labels = labels.unsqueeze(-1) if labels.ndim == logits_score.ndim - 1 else labels
    lprobs_score = torch.log_softmax(logits_score, dim=-1)
    probs_ref = torch.softmax(logits_ref, dim=-1)
    log_likelihood = lprobs_score.gather(dim=-1, index=labels).squeeze(-1)
    mean_ref = (probs_ref * lprobs_score).sum(dim=-1)
    var_ref = (probs_ref * torch.square(lprobs_score)).sum(dim=-1) - torch.square(mean_ref)
    discrepancy = (log_likelihood.sum(dim=-1) - mean_ref.sum(dim=-1)) / var_ref.sum(dim=-1).sqrt()
    return float(discrepancy.mean())


def upstream_log_rank(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """baselines.py get_logrank (sign flipped as aidetect's: lower means AI); upstream's argsort
    orders a tie arbitrarily, and this stable one (ties by id) is one of its possible orders."""
    matches = (
        logits.argsort(dim=-1, descending=True, stable=True) == labels.unsqueeze(-1)
    ).nonzero()
    ranks = matches[:, -1].float() + 1
    return float(torch.log(ranks).mean())


# --- 1. Binoculars: the pad-id mask ----------------------------------------------------------


@pytest.mark.parametrize(
    ("variant", "texts"), [("gpt2-style", EOS_TEXTS), ("pad-token", PAD_TEXTS + EOS_TEXTS[:1])]
)
def test_binoculars_masks_the_pad_id_as_upstream(
    variant: str,
    texts: list[str],
    causal_lm_dirs: tuple[Path, Path],
    gpt2_style_dirs: tuple[Path, Path],
) -> None:
    # Given a tokenizer whose pad id is EOS (gpt2, Falcon) or a pad token of its own, and texts
    # that contain that token's literal string
    first, second = gpt2_style_dirs if variant == "gpt2-style" else causal_lm_dirs
    detector = unbounded("binoculars", first, reference_model=str(second))
    (observer, tokenizer), (performer, _) = load(first), load(second)
    # When aidetect and upstream score them, in one padded batch and alone
    expected = upstream_binoculars(observer, performer, tokenizer, texts)
    alone = [upstream_binoculars(observer, performer, tokenizer, [t])[0] for t in texts]
    got = [score.score for score in detector.score(texts)]
    # Then the scores agree, and the old attention-mask rule would not have
    assert expected == pytest.approx(alone, abs=TOLERANCE)
    assert got == pytest.approx(expected, abs=TOLERANCE)
    old = upstream_binoculars(observer, performer, tokenizer, texts, mask="attention")
    assert max(abs(a - b) for a, b in zip(old, expected, strict=True)) > 1e-4


def test_binoculars_text_of_only_pad_tokens_fails_alone(gpt2_style_dirs: tuple[Path, Path]) -> None:
    first, second = gpt2_style_dirs
    detector = unbounded("binoculars", first, reference_model=str(second))
    (observer, tokenizer), (performer, _) = load(first), load(second)
    assert math.isnan(upstream_binoculars(observer, performer, tokenizer, ["</s></s>"])[0])
    with pytest.raises(UnscorableItems) as caught:
        detector.score(["A fine text.", "</s></s>"])
    assert list(caught.value.reasons) == [1]
    assert "every token is the pad token" in caught.value.reasons[1]
    assert caught.value.scores[0] is not None and caught.value.scores[1] is None


# --- 2. Fast-DetectGPT: one window, and beyond -----------------------------------------------


@pytest.mark.parametrize("pair", [False, True], ids=["same-model", "reference"])
def test_fast_detectgpt_within_the_models_context_equals_upstream(
    pair: bool, causal_lm_dirs: tuple[Path, Path]
) -> None:
    first, second = causal_lm_dirs
    extra = {"reference_model": str(second)} if pair else {}
    detector = unbounded("fast-detectgpt", first, **extra)
    (scoring, tokenizer), (reference, _) = load(first), load(second)
    texts = [*EOS_TEXTS, "x" * (CONTEXT - 2)]  # the last one fills the window exactly
    got = detector.score(texts)
    assert [s.chunks for s in got] == [1] * len(texts)
    expected = [
        upstream_fast_detectgpt(scoring, reference if pair else None, tokenizer, t) for t in texts
    ]
    assert [s.score for s in got] == pytest.approx(expected, abs=TOLERANCE)


def test_fast_detectgpt_long_text_is_the_pooled_z_rescaled_to_one_window(
    causal_lm_dirs: tuple[Path, Path],
) -> None:
    # Given a text three times the model's context, and upstream's pieces run window by window
    first, _ = causal_lm_dirs
    detector = unbounded("fast-detectgpt", first)
    scoring, tokenizer = load(first)
    content = tokenizer(LONG, add_special_tokens=False)["input_ids"]
    windows = split_windows(content, CONTEXT - 2)
    log_p = mu = sigma2 = 0.0
    positions = 0
    for window in windows:
        ids = torch.tensor([[tokenizer.bos_token_id, *window, tokenizer.eos_token_id]])
        with torch.inference_mode():
            logits = scoring(input_ids=ids).logits[:, :-1].float()
        lprobs = torch.log_softmax(logits, dim=-1)
        probs = torch.softmax(logits, dim=-1)
        mean = (probs * lprobs).sum(-1)
        log_p += float(lprobs.gather(-1, ids[:, 1:].unsqueeze(-1)).sum())
        mu += float(mean.sum())
        sigma2 += float(((probs * lprobs.square()).sum(-1) - mean.square()).sum())
        positions += ids.shape[1] - 1
    pooled = (log_p - mu) / math.sqrt(sigma2)
    # When aidetect scores it
    result = detector.score([LONG])[0]
    # Then it is the pooled z scaled by sqrt(W / P), W one full window's predicted positions
    assert result.chunks == len(windows) >= 3
    expected = pooled * math.sqrt((CONTEXT - 1) / positions)
    assert result.score == pytest.approx(expected, abs=TOLERANCE)
    truncated = upstream_fast_detectgpt(scoring, None, tokenizer, LONG)
    assert abs(pooled - truncated) > abs(result.score - truncated)  # pooling alone inflates z


@pytest.mark.parametrize("copies", [2, 3, 5])
def test_fast_detectgpt_text_of_identical_full_windows_scores_as_one_window(
    copies: int, causal_lm_dirs: tuple[Path, Path]
) -> None:
    # Given a text that fills one window exactly, and the same text repeated: its windows are
    # all that one window, so the per-token discrepancy does not change with length
    detector = unbounded("fast-detectgpt", causal_lm_dirs[0])
    one = "Exactly sixty-two bytes fill one window of the tiny model. ..."
    assert len(one.encode()) == CONTEXT - 2
    single = detector.score([one])[0]
    # When the repeated text is scored, then its score is the one window's (pooled z alone
    # would be sqrt(copies) times larger)
    repeated = detector.score([one * copies])[0]
    assert (single.chunks, repeated.chunks) == (1, copies)
    assert repeated.score == pytest.approx(single.score, abs=TOLERANCE)


def test_fast_detectgpt_zero_variance_fails_only_its_own_text(
    causal_lm_dirs: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a model that is certain of the next token on any window containing "~"
    detector = unbounded("fast-detectgpt", causal_lm_dirs[0])
    model = detector.statistics.scoring.model
    original = model.forward
    marker = detector.statistics.tokenizer("~", add_special_tokens=False)["input_ids"][0]

    def certain(*args: object, **kwargs: object) -> object:
        out = original(*args, **kwargs)
        rows = (kwargs["input_ids"] == marker).any(dim=1)
        one_hot = torch.full_like(out.logits, -1e4)
        one_hot[..., 5] = 0.0
        out.logits[rows] = one_hot[rows]
        return out

    monkeypatch.setattr(model, "forward", certain)
    good = detector.score(["A fine text."])[0].score
    # When it scores a batch with such a text in the middle
    with pytest.raises(UnscorableItems) as caught:
        detector.score(["A fine text.", "~ certain ~", "Another."])
    # Then that text fails with its cause, the reference formula has no value, the rest score
    assert list(caught.value.reasons) == [1]
    assert "variance is zero" in caught.value.reasons[1]
    scores = caught.value.scores
    assert scores[0] is not None and scores[0].score == pytest.approx(good, abs=TOLERANCE)
    assert scores[2] is not None and scores[1] is None
    logits = torch.full((1, 4, 10), -1e4)
    logits[..., 5] = 0.0
    assert not math.isfinite(analytic_discrepancy(logits, logits, torch.tensor([[1, 2, 3, 4]])))


# --- 3. Windows per kind ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def long_context_dir(
    causal_lm_dirs: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A tiny causal LM with a 1 024-token context, so that 512 is not the model's limit."""
    target = tmp_path_factory.mktemp("long-context")
    config = AutoConfig.from_pretrained(causal_lm_dirs[0])
    config.n_positions = 1024
    AutoModelForCausalLM.from_config(config).save_pretrained(target)  # type: ignore[no-untyped-call]
    tokenizer = AutoTokenizer.from_pretrained(causal_lm_dirs[0])
    tokenizer.model_max_length = 1024
    tokenizer.save_pretrained(target)
    return target


@pytest.mark.parametrize(
    ("kind", "max_length", "window"),
    [
        ("binoculars", None, 512),  # upstream's max_token_observed
        ("fast-detectgpt", None, 1024),  # upstream truncates at the model's context
        ("perplexity", None, 1024),
        ("binoculars", 100, 100),  # a profile's max_length caps every kind
        ("fast-detectgpt", 100, 100),
        ("fast-detectgpt", 4096, 1024),  # but never past the model's context
    ],
)
def test_default_window_per_kind_matches_upstream(
    kind: str, max_length: int | None, window: int, long_context_dir: Path
) -> None:
    extra = {"reference_model": str(long_context_dir)} if kind == "binoculars" else {}
    profile = zero_shot_profile(kind, long_context_dir, max_length=max_length, **extra)
    detector = load_detector(profile)
    assert isinstance(detector, ZeroShotDetector)
    assert detector.statistics.window + len(detector.statistics.frame) == window


# --- 4. Rank ties ----------------------------------------------------------------------------


def test_tied_logits_give_the_observed_token_the_best_rank_of_its_tie() -> None:
    # Given logits where the observed token ties with others, above and below it in id order
    logits = torch.tensor(
        [[[2.0, 5.0, 5.0, 5.0, 1.0, 5.0], [3.0, 3.0, 3.0, 0.0, 9.0, 3.0], [0.0] * 6]]
    )  # the last position predicts past the text
    ids = torch.tensor([[0, 3, 5]])  # position 0 predicts token 3, position 1 token 5
    # When the statistics rank them
    stats = batch_statistics(logits, None, ids, ranks=True, expectations=False)
    # Then the rank is 1 + the count of strictly greater logits (the "min" rank of the tie)
    assert stats.rank is not None
    assert stats.rank[0].tolist() == [1.0, 2.0]
    expected = [
        1 + sum(v > row[t] for v in row) for row, t in zip(logits[0].tolist(), [3, 5], strict=False)
    ]
    assert stats.rank[0].tolist() == expected
    # whereas upstream's argsort puts a tied token anywhere in its tie (here, by id order)
    assert upstream_log_rank(logits[0, :-1], ids[0, 1:]) > float(stats.rank[0].log().mean())


def test_log_rank_with_tied_vocabulary_entries_equals_the_min_rank_definition(
    causal_lm_dirs: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory
) -> None:
    # Given a model whose letters a-z share one embedding (and so, tied, one logit everywhere)
    target = tmp_path_factory.mktemp("tied")
    model, tokenizer = load(causal_lm_dirs[0])
    letters = tokenizer("abcdefghijklmnopqrstuvwxyz", add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        embeddings = model.get_input_embeddings()
        assert isinstance(embeddings, torch.nn.Embedding)
        embeddings.weight[letters] = embeddings.weight[letters[0]].clone()
    model.save_pretrained(target)
    tokenizer.save_pretrained(target)
    detector = unbounded("perplexity", target, metric="log-rank")
    text = "a tie, in text made of letters"
    ids = tokenizer(text, return_tensors="pt").input_ids
    with torch.inference_mode():
        logits = model(input_ids=ids).logits[0, :-1].float()
    observed = logits.gather(-1, ids[0, 1:].unsqueeze(-1))
    assert int((logits == observed).sum()) > 2 * len(text)  # ties at most positions
    # When aidetect scores it, then it is the min-rank definition, not upstream's argsort
    min_rank = (1.0 + (logits > observed).sum(-1).double()).log().mean()
    score = detector.score([text])[0].score
    assert score == pytest.approx(float(min_rank), abs=TOLERANCE)
    assert upstream_log_rank(logits, ids[0, 1:]) > score + 0.05  # 0.070 on this text


# --- 5. A batch that mixes good and unscorable texts -----------------------------------------


def test_too_short_texts_fail_alone_and_the_rest_of_the_batch_is_scored(
    gpt2_style_dirs: tuple[Path, Path],
) -> None:
    # Given a tokenizer that adds no special tokens, so "" and "a" have nothing to predict
    detector = unbounded("perplexity", gpt2_style_dirs[0])
    alone = detector.score(["Fine text."])[0].score
    # When a batch holds them between good texts
    with pytest.raises(UnscorableItems) as caught:
        detector.score(["", "Fine text.", "a", "ab"])
    # Then each fails with its cause and the others get their own scores
    assert sorted(caught.value.reasons) == [0, 2]
    assert all("too short" in r for r in caught.value.reasons.values())
    scores = caught.value.scores
    assert scores[1] is not None and scores[1].score == pytest.approx(alone, abs=TOLERANCE)
    assert scores[3] is not None and scores[0] is None and scores[2] is None
    assert "text 0: too short" in str(caught.value)
