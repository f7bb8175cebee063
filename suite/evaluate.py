"""Exact-match evaluation: greedy generation on the test split, compared on the final number."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from tqdm.auto import tqdm
from transformers import PreTrainedTokenizerBase

from suite.data import Example, exact_match, prompt_batch


@torch.no_grad()
def exact_match_accuracy(
    model: nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    examples: list[Example],
    batch_size: int = 32,
    max_new_tokens: int = 64,
    progress: bool = True,
    stop: Sequence[str] = (),
) -> float:
    """Fraction of ``examples`` whose greedy completion ends in ``#### <answer>``. Generation ends
    after the current batch once ``stop`` holds a signal's name (the score is then not a score)."""
    if not examples:
        return float("nan")
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    hits = 0
    batches = range(0, len(examples), batch_size)
    for start in tqdm(batches, desc="eval", leave=False, disable=not progress):
        if stop:
            break
        chunk = examples[start : start + batch_size]
        batch = prompt_batch(tokenizer, [ex.prompt for ex in chunk])
        inputs = {k: v.to(device) for k, v in batch.items()}
        out = model.generate(
            **inputs,
            max_new_tokens=max_new_tokens,
            do_sample=False,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
        )
        texts = tokenizer.batch_decode(out[:, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
        hits += sum(exact_match(text, ex.answer) for text, ex in zip(texts, chunk, strict=True))
    model.train(was_training)
    return hits / len(examples)
