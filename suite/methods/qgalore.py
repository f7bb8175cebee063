"""Q-GaLore (q-galore-torch ``QGaLoreAdamW8bit``; Zhang et al., "Q-GaLore: Quantized GaLore with
INT4 Projection and Layer-Adaptive Low-Rank Gradients", arXiv 2407.08296, Sec. 3): GaLore's
projected 8-bit Adam (``conf/method/galore8bit.yaml``) with

* **INT4 projection** (Sec. 3.2): each projector is stored as unsigned ``quant_n_bit``-bit codes
  (one per byte) with an fp32 scale and zero point per group of ``quant_group_size`` values and
  dequantized for every projection (VITA-Group/Q-GaLore ``q_galore_torch/q_galore_projector.py``);
* **layer-adaptive subspace updates** (Sec. 3.3): at each SVD the cosine similarity of the new
  projector's first vector with the previous one joins a queue of ``queue_size``; once the queue is
  full and its mean reaches ``cos_threshold``, that layer's ``update_proj_gap`` is multiplied by
  ``gamma_proj``.

Not applied: Q-GaLore's INT8 weights with stochastic rounding (Sec. 3.4), which need the
repository's ``QGaLoreLinear`` layers; the PyPI package does not ship them, so the weights stay in
``model.dtype``.

The package's optimizer was written against an older bitsandbytes: besides the traps
:class:`~suite.methods.galore.Bnb8bitGaLore` closes, its own ``update_step`` reads config keys
current bitsandbytes no longer has (``percentile_clipping``, ``block_wise``) and calls the update
kernels with positional arguments in their old order; without INT8 weights it is bitsandbytes'
own ``update_step``, which is used instead.
"""

from __future__ import annotations

from bitsandbytes.optim.optimizer import Optimizer2State
from q_galore_torch import QGaLoreAdamW8bit
from torch import nn

from suite.methods import Method
from suite.methods.galore import Bnb8bitGaLore
from suite.methods.lowrank import LiveState, lowrank_groups, projector_matrices


class QGaLoreAdamW8bitCompat(Bnb8bitGaLore, QGaLoreAdamW8bit):
    """q-galore-torch's ``QGaLoreAdamW8bit`` on current bitsandbytes, weights not quantized."""

    def update_step(self, group, p, gindex, pindex, flag_use_float_grad=False):
        assert not flag_use_float_grad, "INT8 weights (float_grad) are not supported"
        Optimizer2State.update_step(self, group, p, gindex, pindex)


def build(
    model: nn.Module,
    *,
    lr: float,
    rank: int,
    update_proj_gap: int,
    scale: float,
    quant_n_bit: int,
    quant_group_size: int,
    cos_threshold: float,
    gamma_proj: float,
    queue_size: int,
    weight_decay: float,
    betas: tuple[float, float],
    eps: float,
    min_8bit_size: int,
) -> Method:
    """Q-GaLore (:class:`QGaLoreAdamW8bitCompat`); defaults in ``conf/method/qgalore.yaml``."""
    groups = lowrank_groups(
        model,
        rank=rank,
        update_proj_gap=update_proj_gap,
        scale=scale,
        proj_type="std",  # the only projection the package implements
        quant=True,
        quant_n_bit=quant_n_bit,
        quant_group_size=quant_group_size,
        cos_threshold=cos_threshold,
        gamma_proj=gamma_proj,
        queue_size=queue_size,
    )
    optimizer = QGaLoreAdamW8bitCompat(
        groups, lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, min_8bit_size=min_8bit_size
    )
    return Method(
        model=model, optimizer=optimizer, extra_state=[LiveState(lambda: projector_matrices(optimizer))]
    )
