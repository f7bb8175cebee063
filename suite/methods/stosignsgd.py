"""StoSignSGD (arXiv 2604.15416, Alg. 3) on every trainable parameter."""

from __future__ import annotations

from torch import nn

from suite.methods import Method, trainable
from suite.methods.seeding import env_rank, method_seed, rank_seed
from suite.optim import StoSignSGD


def build(
    model: nn.Module,
    *,
    lr: float,
    betas: tuple[float, float],
    weight_decay: float,
    seed: int | None,
    noise_per_rank: bool,
    foreach: bool | None,
    fused_backward: bool,
) -> Method:
    """StoSignSGD on the model's trainable parameters; defaults (β2 0.999, the paper's shared
    betas) in ``conf/method/stosignsgd.yaml``. Under torchrun, with ``noise_per_rank``, each rank
    draws its own noise (:func:`~suite.methods.seeding.rank_seed`)."""
    rank = env_rank() if noise_per_rank else 0
    optimizer = StoSignSGD(
        trainable(model),
        lr=lr,
        betas=tuple(betas),
        weight_decay=weight_decay,
        seed=rank_seed(method_seed(seed), rank),
        foreach=foreach,
        fused_backward=fused_backward,
    )
    return Method(model=model, optimizer=optimizer, updates_in_backward=fused_backward)
