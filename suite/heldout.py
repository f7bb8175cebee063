"""The held-out loss: the model's mean token loss on the validation split, measured without
gradients between training steps (the loop keeps it off the training clock)."""

from __future__ import annotations

import contextlib

import torch
from torch import nn
from transformers import PreTrainedTokenizerBase

from suite.data.collate import IGNORE_INDEX, CausalCollator
from suite.data.example import Example


@torch.no_grad()
def heldout_loss(
    model: nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    examples: list[Example],
    max_length: int,
    batch_size: int = 32,
    autocast: contextlib.AbstractContextManager | None = None,
) -> float:
    """Cross-entropy per target token over ``examples`` (every token weighs the same, whatever
    its batch), collated as in training: the loss covers the target and the eos only."""
    if not examples:
        return float("nan")
    collate = CausalCollator(tokenizer, max_length)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    total, tokens = 0.0, 0
    for start in range(0, len(examples), batch_size):
        batch = {k: v.to(device) for k, v in collate(examples[start : start + batch_size]).items()}
        n = int((batch["labels"][:, 1:] != IGNORE_INDEX).sum())  # the tokens the shifted loss covers
        if n == 0:
            continue
        with autocast or contextlib.nullcontext():
            loss = model(**batch).loss
        total, tokens = total + float(loss) * n, tokens + n
    model.train(was_training)
    return total / tokens if tokens else float("nan")
