"""The causal-LM loss over chunks of the sequence, so the full logits and their fp32 copy are never
held at once (``train.loss_chunks``).

The model runs once to its final hidden states (its output layer is asked for no positions,
``logits_to_keep``); each of K chunks of the shifted sequence then goes through the output layer
and ``cross_entropy(reduction="sum")`` under non-reentrant ``torch.utils.checkpoint``, so a chunk's
logits are recomputed in backward and freed after it. The sum over chunks divided by the count of
non-ignored labels of the whole micro-batch is Hugging Face's causal-LM loss (labels shifted by
one, ``ignore_index=-100``, logits upcast to fp32). As torchtune's chunked cross-entropy
(pytorch/torchtune, ``torchtune/modules/loss/ce_chunked_output_loss.py``) and Liger-Kernel's fused
linear cross-entropy (linkedin/Liger-Kernel, ``src/liger_kernel/ops/fused_linear_cross_entropy.py``;
arXiv:2410.10989)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

IGNORE_INDEX = -100


def causal_lm_loss(
    forward: torch.nn.Module, model: torch.nn.Module, batch: dict, chunks: int | None
) -> torch.Tensor:
    """``forward(**batch).loss``, or the same loss over ``chunks`` pieces of the sequence when
    ``chunks`` > 1. ``forward``: the module that runs the batch (a DDP wrapper, a peft model);
    ``model``: the causal LM it wraps (its decoder and output layer are read)."""
    if not chunks or chunks == 1:
        return forward(**batch).loss
    captured: list[torch.Tensor] = []
    hook = model.get_decoder().register_forward_hook(lambda m, a, out: captured.append(out.last_hidden_state))
    try:
        inputs = {k: v for k, v in batch.items() if k != "labels"}
        nothing = torch.zeros(0, dtype=torch.long, device=batch["input_ids"].device)
        forward(**inputs, logits_to_keep=nothing)
    finally:
        hook.remove()
    hidden = captured[-1][:, :-1]
    labels = batch["labels"][:, 1:]
    head = model.get_output_embeddings()
    total = sum(
        checkpoint(chunk_loss, head, h, y, use_reentrant=False)
        for h, y in zip(hidden.tensor_split(chunks, dim=1), labels.tensor_split(chunks, dim=1), strict=True)
    )
    return total / (labels != IGNORE_INDEX).sum()


def chunk_loss(head: torch.nn.Module, hidden: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The summed cross-entropy of one chunk, its logits upcast to fp32 as Hugging Face's loss does."""
    logits = head(hidden).float()
    return F.cross_entropy(logits.flatten(0, 1), labels.flatten(), ignore_index=IGNORE_INDEX, reduction="sum")
