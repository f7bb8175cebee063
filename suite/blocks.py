"""Find a model's transformer blocks and the Linear layers inside them (torch only, so an
optimizer may use it without importing transformers)."""

from __future__ import annotations

import re

from torch import nn

# Attribute paths of the block list, in the order the ABSignSGD reference tries them (``get_num_layers``
# in github.com/yijiezcn/ABSignSGD, ``absignsgd.py``): Qwen and Llama match ``model.layers`` first.
BLOCK_PATHS = (
    "model.layers",
    "transformer.h",
    "gpt_neox.layers",
    "h",
    "decoder.layers",
    "blocks",
    "model.decoder.layers",
    "transformer.blocks",
    "transformer.layers",
)


def find_blocks(model: nn.Module) -> nn.ModuleList:
    """The model's list of transformer blocks, found by the reference's attribute paths.

    Wrappers (peft) are looked through via ``get_base_model``.
    """
    if hasattr(model, "get_base_model"):
        model = model.get_base_model()
    for path in BLOCK_PATHS:
        obj = model
        for attr in path.split("."):
            obj = getattr(obj, attr, None)
            if obj is None:
                break
        if isinstance(obj, nn.ModuleList) and len(obj) > 0:
            return obj
    raise ValueError(
        f"cannot find the transformer blocks of {type(model).__name__}; "
        f"looked for a non-empty ModuleList at: {', '.join(BLOCK_PATHS)}"
    )


_LINEAR_GROUPS = re.compile(r"(attn|mlp)")


def attn_mlp_linear_names(model: nn.Module) -> list[str]:
    """Names of the ``nn.Linear`` modules inside attention and MLP blocks (GaLore's selection)."""
    return [
        name
        for name, module in model.named_modules()
        if isinstance(module, nn.Linear) and _LINEAR_GROUPS.search(name)
    ]
