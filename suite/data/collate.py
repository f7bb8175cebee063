"""Batches of token ids: training batches with the loss on the target only, and prompt batches
for greedy generation."""

from __future__ import annotations

import torch
from transformers import PreTrainedTokenizerBase

from suite.data.example import Example
from suite.errors import ConfigError

IGNORE_INDEX = -100


def _ids(tokenizer: PreTrainedTokenizerBase, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False)["input_ids"]


class CausalCollator:
    """``list[Example]`` -> ``input_ids``, ``attention_mask``, ``labels`` for a causal LM.

    The text is prompt + target + eos. Prompt and target are tokenized separately, so the prompt's
    tokens are exactly those that ``prompt_batch`` gives at eval time. ``labels`` are -100 on the
    prompt and on padding: the loss covers the target tokens and the eos only. Sequences longer
    than ``max_length`` are cut from the right (the prompt's start is kept); a prompt that fills
    ``max_length`` on its own leaves no label. Padding is on the right with ``pad_token_id``.
    """

    def __init__(self, tokenizer: PreTrainedTokenizerBase, max_length: int):
        if max_length < 1:
            raise ValueError(f"max_length must be >= 1, got {max_length}")
        if tokenizer.eos_token_id is None or tokenizer.pad_token_id is None:
            raise ValueError("the tokenizer needs both an eos and a pad token")
        self.tokenizer = tokenizer
        self.max_length = max_length

    def __call__(self, batch: list[Example]) -> dict[str, torch.Tensor]:
        rows = []
        for ex in batch:
            prompt = _ids(self.tokenizer, ex.prompt)
            target = _ids(self.tokenizer, ex.target) + [self.tokenizer.eos_token_id]
            ids = (prompt + target)[: self.max_length]
            labels = ([IGNORE_INDEX] * len(prompt) + target)[: self.max_length]
            rows.append((ids, labels))
        width = max(len(ids) for ids, _ in rows)
        input_ids = torch.full((len(rows), width), self.tokenizer.pad_token_id, dtype=torch.long)
        labels = torch.full((len(rows), width), IGNORE_INDEX, dtype=torch.long)
        attention_mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, (ids, lab) in enumerate(rows):
            input_ids[i, : len(ids)] = torch.tensor(ids)
            labels[i, : len(lab)] = torch.tensor(lab)
            attention_mask[i, : len(ids)] = 1
        return {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}


def check_supervised(
    examples: list[Example], tokenizer: PreTrainedTokenizerBase, max_length: int, sample: int = 1000
) -> None:
    """Refuse a ``max_length`` that cuts every example's target: the prompt alone fills it, so no
    token is supervised and the loss is undefined (checked on the first ``sample`` examples)."""
    lengths = [len(_ids(tokenizer, ex.prompt)) for ex in examples[:sample]]
    if lengths and min(lengths) >= max_length:
        raise ConfigError(
            f"data.max_length={max_length} leaves no supervised token: the shortest of the first "
            f"{len(lengths)} training prompts is {min(lengths)} tokens; "
            f"allowed: data.max_length > {min(lengths)}"
        )


def prompt_batch(tokenizer: PreTrainedTokenizerBase, prompts: list[str]) -> dict[str, torch.Tensor]:
    """Left-padded ``input_ids`` and ``attention_mask`` of ``prompts`` for generation (no eos)."""
    rows = [_ids(tokenizer, p) for p in prompts]
    width = max(len(ids) for ids in rows)
    input_ids = torch.full((len(rows), width), tokenizer.pad_token_id, dtype=torch.long)
    attention_mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, ids in enumerate(rows):
        if ids:
            input_ids[i, width - len(ids) :] = torch.tensor(ids)
            attention_mask[i, width - len(ids) :] = 1
    return {"input_ids": input_ids, "attention_mask": attention_mask}
