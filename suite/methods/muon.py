"""Muon (``torch.optim.Muon``) on the transformer blocks' 2-D weights, AdamW on everything else.

Muon (K. Jordan, "Muon: An optimizer for hidden layers in neural networks", 2024,
kellerjordan.github.io/posts/muon; github.com/KellerJordan/Muon ``muon.py``): the Nesterov momentum
of each hidden matrix's gradient, orthogonalised by five quintic Newton–Schulz iterations (in bf16),
replaces the update: W ← W(1 − lr·λ) − lr·√max(1, rows/cols)·NS₅(g + μB). State: one momentum
buffer per matrix (4 B/param in fp32).

The split is the authors' (the README's ``MuonWithAuxAdam`` example): Muon on the 2-D weights
inside the decoder blocks (attention and MLP projections); AdamW, with its own lr, betas and weight
decay, on the embeddings, the output head, every norm gain and bias (anything not 2-D). Both are
parts of one :class:`~suite.methods.hybrid.Hybrid` optimizer: the LR schedule scales both lrs alike
and the logged lr is Muon's.
"""

from __future__ import annotations

import torch
from torch import nn

from suite.blocks import find_blocks
from suite.methods import Method, trainable
from suite.methods.hybrid import Hybrid


def hidden_matrices(model: nn.Module) -> list[nn.Parameter]:
    """The trainable 2-D parameters inside the transformer blocks (Muon's share)."""
    return [p for p in find_blocks(model).parameters() if p.requires_grad and p.ndim == 2]


def build(
    model: nn.Module,
    *,
    lr: float,
    momentum: float,
    nesterov: bool,
    ns_steps: int,
    weight_decay: float,
    adjust_lr_fn: str,
    adamw_lr: float,
    adamw_betas: tuple[float, float],
    adamw_eps: float,
    adamw_weight_decay: float,
) -> Method:
    """Muon on :func:`hidden_matrices`, AdamW on the rest; defaults in ``conf/method/muon.yaml``."""
    hidden = hidden_matrices(model)
    ids = {id(p) for p in hidden}
    rest = [p for p in trainable(model) if id(p) not in ids]
    muon = torch.optim.Muon(
        hidden,
        lr=lr,
        momentum=momentum,
        nesterov=nesterov,
        ns_steps=ns_steps,
        weight_decay=weight_decay,
        adjust_lr_fn=adjust_lr_fn,
    )
    adamw = torch.optim.AdamW(
        rest, lr=adamw_lr, betas=tuple(adamw_betas), eps=adamw_eps, weight_decay=adamw_weight_decay
    )
    return Method(model=model, optimizer=Hybrid([muon, adamw]))
