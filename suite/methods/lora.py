"""LoRA (peft): W = W0 + (alpha/r)·B·A on the chosen Linear layers, AdamW on A and B only.

``peft.get_peft_model`` injects the adapters into the model in place and returns a
``PeftModelForCausalLM`` wrapping it; that wrapper is ``Method.model``. The base weights are
frozen (``requires_grad=False``), so AdamW state is 8 B per adapter parameter (fp32 ``exp_avg`` +
``exp_avg_sq``) plus one 4-byte ``step`` scalar per adapter tensor: 8 B × r·(d_in + d_out) per
adapted matrix.

Gradient checkpointing: the embeddings are frozen, so the loop's non-reentrant checkpointing is
required (reentrant checkpointing fails with "element 0 of tensors does not require grad");
nothing else is needed here.

``suite-train save_checkpoint=true`` saves a plain Hugging Face checkpoint with the adapters merged
(``suite.train.save_checkpoint``).
"""

from __future__ import annotations

import torch
from peft import LoraConfig, get_peft_model
from torch import nn

from suite.methods import Method, trainable


def build(
    model: nn.Module,
    *,
    lr: float,
    r: int,
    alpha: float,
    dropout: float,
    target_modules: str | list[str],
    weight_decay: float,
    betas: tuple[float, float],
    eps: float,
) -> Method:
    """LoRA adapters on ``model`` and AdamW on them; defaults in ``conf/method/lora.yaml``."""
    config = LoraConfig(
        r=r,
        lora_alpha=alpha,
        lora_dropout=dropout,
        target_modules=target_modules,
        bias="none",
        task_type="CAUSAL_LM",
    )
    peft_model = get_peft_model(model, config)
    optimizer = torch.optim.AdamW(
        trainable(peft_model), lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, foreach=True
    )
    return Method(model=peft_model, optimizer=optimizer)
