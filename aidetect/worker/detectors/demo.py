"""Small, untrained models built offline from transformers configs: a classifier and causal LMs.

No model hub is reachable on the development and CI machines, so these models serve twice:
tests drive the real loading code (`from_pretrained` on a saved directory) with them, and a
profile with `fallback: demo` runs on them when its checkpoint cannot be loaded. They have never
been trained: their scores mean nothing, and every result they give says so through
`DEMO_MODEL_VERSION`. The classifier's labels mirror openai-community/roberta-base-openai-detector;
the GPT-2-style causal LMs stand in for the zero-shot kinds, and all share one byte-level
tokenizer, so two seeds make a Binoculars or Fast-DetectGPT pair with identical tokenizers.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
from transformers import (
    GPT2Config,
    GPT2LMHeadModel,
    PreTrainedModel,
    RobertaConfig,
    RobertaForSequenceClassification,
    RobertaTokenizerFast,
)

logger = logging.getLogger(__name__)

DEMO_MODEL_VERSION = "demo-untrained"
DEMO_AI_LABEL = "Fake"
DEFAULT_DEMO_ROOT = Path.home() / ".cache" / "aidetect" / "demo-models"
CLASSIFIER_DIRNAME = "roberta-classifier"
CAUSAL_LM_DIRNAME = "gpt2-causal-lm"
# RoBERTa's special tokens, at RoBERTa's ids: <s>=0, <pad>=1, </s>=2, <unk>=3; then <mask>.
SPECIAL_TOKENS = ("<s>", "<pad>", "</s>", "<unk>", "<mask>")
MAX_LENGTH = 512
# Short enough that a paragraph already needs several windows, so chunking is exercised.
CAUSAL_LM_MAX_LENGTH = 64
_REQUIRED_FILES = ("config.json", "model.safetensors", "tokenizer.json")


@dataclass(frozen=True)
class DemoSize:
    """A demo model's shape. The default is tiny; benchmarks build bigger ones to see how the
    pipeline's fixed costs weigh against a forward pass that costs what a real model's does
    (`vocab` beyond the tokenizer's 261 symbols only widens the output, as GPT-2's 50 257 do)."""

    width: int = 32
    layers: int = 2
    heads: int = 2
    vocab: int = len(SPECIAL_TOKENS) + 256


TINY = DemoSize()


def build_demo_classifier(
    directory: Path | None = None, *, seed: int = 0, size: DemoSize = TINY
) -> Path:
    """Build the demo classifier into `directory` (reused if already there) and return it."""
    target = directory or DEFAULT_DEMO_ROOT / CLASSIFIER_DIRNAME
    return _build(target, lambda: _untrained_classifier(seed, size), MAX_LENGTH)


def build_demo_causal_lm(
    directory: Path | None = None, *, seed: int = 0, size: DemoSize = TINY
) -> Path:
    """Build a demo GPT-2-style causal LM into `directory` (reused if there) and return it.

    Different seeds give different weights behind identical tokenizers.
    """
    target = directory or DEFAULT_DEMO_ROOT / f"{CAUSAL_LM_DIRNAME}-{seed}"
    return _build(target, lambda: _untrained_causal_lm(seed, size), CAUSAL_LM_MAX_LENGTH)


def _build(target: Path, make_model: Callable[[], PreTrainedModel], max_length: int) -> Path:
    """Save tokenizer and model to `target` unless already there.

    The build goes to a sibling temporary directory that is renamed into place, so concurrent
    workers sharing a cache never see a half-written model.
    """
    if is_built(target):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        tokenizer = _byte_level_tokenizer()
        tokenizer.model_max_length = max_length
        tokenizer.save_pretrained(staging)
        make_model().save_pretrained(staging)
        try:
            staging.rename(target)
        except OSError:
            if not is_built(target):  # else a concurrent builder won the race: use its copy
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    logger.info("built an untrained demo model at %s", target)
    return target


def is_built(directory: Path) -> bool:
    """Whether `directory` holds a complete saved demo model."""
    return all((directory / name).is_file() for name in _REQUIRED_FILES)


def _byte_level_tokenizer() -> RobertaTokenizerFast:
    """RoBERTa's byte-level BPE with the 256 byte symbols and no merges: one token per byte."""
    vocab = {token: index for index, token in enumerate(SPECIAL_TOKENS)}
    for symbol in sorted(pre_tokenizers.ByteLevel.alphabet()):
        vocab[symbol] = len(vocab)
    backend = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    backend.post_processor = processors.RobertaProcessing(
        ("</s>", vocab["</s>"]), ("<s>", vocab["<s>"]), trim_offsets=True, add_prefix_space=False
    )
    return RobertaTokenizerFast(
        tokenizer_object=backend,
        bos_token="<s>",
        eos_token="</s>",
        sep_token="</s>",
        cls_token="<s>",
        unk_token="<unk>",
        pad_token="<pad>",
        mask_token="<mask>",
        model_max_length=MAX_LENGTH,
    )


def _untrained_classifier(seed: int, size: DemoSize) -> RobertaForSequenceClassification:
    """A RoBERTa classifier (by default 2 layers, 32 wide) with seeded random weights."""
    config = RobertaConfig(
        vocab_size=size.vocab,
        hidden_size=size.width,
        num_hidden_layers=size.layers,
        num_attention_heads=size.heads,
        intermediate_size=2 * size.width,
        max_position_embeddings=MAX_LENGTH + 2,  # RoBERTa's positions start after padding_idx
        type_vocab_size=1,
        # Wider than RoBERTa's 0.02 so that outputs differ visibly between texts: tests can
        # then tell windows and batch rows apart. The values still mean nothing.
        initializer_range=0.3,
        pad_token_id=1,
        bos_token_id=0,
        eos_token_id=2,
        id2label={0: DEMO_AI_LABEL, 1: "Real"},
        label2id={DEMO_AI_LABEL: 0, "Real": 1},
    )
    # Seed a forked RNG so the weights are reproducible without disturbing the caller's RNG.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = RobertaForSequenceClassification(config)
    model.train(False)
    return model


def _untrained_causal_lm(seed: int, size: DemoSize) -> GPT2LMHeadModel:
    """A GPT-2 (by default 2 layers, 32 wide) with seeded random weights and 64 positions."""
    config = GPT2Config(
        vocab_size=size.vocab,
        n_embd=size.width,
        n_layer=size.layers,
        n_head=size.heads,
        n_positions=CAUSAL_LM_MAX_LENGTH,
        initializer_range=0.3,  # as for the classifier: visibly different outputs per text
        bos_token_id=0,
        pad_token_id=1,
        eos_token_id=2,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = GPT2LMHeadModel(config)
    model.train(False)
    return model
