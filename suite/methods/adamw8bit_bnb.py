"""8-bit AdamW through bitsandbytes (``bitsandbytes.optim.AdamW8bit``; bitsandbytes-foundation/
bitsandbytes ``bitsandbytes/optim/adamw.py``): Dettmers et al., "8-bit Optimizers via Block-wise
Quantization" (arXiv 2110.02861, Sec. 2), run by the package's own kernels (its CPU backend here,
CUDA on a GPU).

A tensor with ≥ ``min_8bit_size`` values keeps both moments as uint8 codes with one fp32 absmax
per block of 256 values, ≈ 2·(1 + 4/256) B/param; a smaller one keeps fp32 moments. Each step
dequantizes a tensor's moments to fp32, takes AdamW's step (decoupled weight decay, ε added to
√v̂) and quantizes them again, so step 1 is AdamW's exactly. The two 256-entry code tables (a
signed one for m, an unsigned one for v) are shared by every tensor; the step count is a Python
int (no bytes). The package's ``load_state_dict`` deep-copies the tables into every tensor's
state; :func:`share_code_tables` points them back at the shared pair, so a resumed run holds
what a fresh one holds.
"""

from __future__ import annotations

import bitsandbytes as bnb
import torch
from torch import nn

from suite.methods import Method, trainable


def share_code_tables(optimizer: torch.optim.Optimizer) -> None:
    """Point every tensor's ``qmap1``/``qmap2`` at the optimizer's shared code tables (a
    bitsandbytes 8-bit optimizer holds them in ``name2qmap``), as its ``init_state`` does."""
    for state in optimizer.state.values():
        for key, table in (("qmap1", "dynamic"), ("qmap2", "udynamic")):
            if key in state:
                shared = optimizer.name2qmap[table].to(state[key].device)
                assert torch.equal(shared, state[key]), f"{key} is not bitsandbytes' {table} map"
                optimizer.name2qmap[table] = state[key] = shared


class AdamW8bit(bnb.optim.AdamW8bit):
    """bitsandbytes' ``AdamW8bit`` whose loaded state shares its code tables again."""

    def load_state_dict(self, state_dict, move_to_device=True):
        super().load_state_dict(state_dict, move_to_device)
        share_code_tables(self)


def build(
    model: nn.Module,
    *,
    lr: float,
    betas: tuple[float, float],
    eps: float,
    weight_decay: float,
    min_8bit_size: int,
) -> Method:
    """bitsandbytes ``AdamW8bit`` on the trainable parameters; defaults in
    ``conf/method/adamw8bit_bnb.yaml``."""
    optimizer = AdamW8bit(
        trainable(model),
        lr=lr,
        betas=tuple(betas),
        eps=eps,
        weight_decay=weight_decay,
        min_8bit_size=min_8bit_size,
    )
    return Method(model=model, optimizer=optimizer)
