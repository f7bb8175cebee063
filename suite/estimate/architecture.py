"""The model of a model config, built on the meta device: shapes and dtypes, no weights.

A paper-scale model YAML carries its checkpoint's published ``config.json`` under
``architecture``; the suite's tiny model is rebuilt by its own builder without pretraining
(``suite.models.tiny_qwen3``); any other builder that makes its model from a config (the paper
stand-ins, ``suite.models.standin``) is called as it is, under the meta device.
"""

from __future__ import annotations

from typing import Any

import torch
from hydra.utils import instantiate
from transformers import AutoConfig, AutoModelForCausalLM, PreTrainedModel

from suite.errors import ConfigError
from suite.models import DTYPES, byte_tokenizer, tiny_qwen3

TINY_BUILDER = "suite.pretrain.tiny_base"
CHECKPOINT_LOADER = "suite.models.load_pretrained"
TINY_KEYS = ("hidden_size", "num_layers", "num_heads", "num_kv_heads", "intermediate_size")


def from_architecture(architecture: dict[str, Any], dtype: str) -> PreTrainedModel:
    """``AutoModelForCausalLM.from_config`` of a ``config.json`` dict, on the meta device, in ``dtype``."""
    fields = dict(architecture)
    fields.pop("architectures", None)
    fields.pop("torch_dtype", None)
    model_type = fields.pop("model_type", None)
    if model_type is None:
        raise ConfigError("model.architecture has no model_type; allowed: a Hugging Face config.json")
    config = AutoConfig.for_model(model_type, **fields)
    with torch.device("meta"):
        return AutoModelForCausalLM.from_config(config, dtype=DTYPES[dtype])


def tiny_on_meta(model_cfg: dict[str, Any]) -> PreTrainedModel:
    """The tiny model exactly as ``suite.pretrain.tiny_base`` builds it, on the meta device."""
    arch = {key: model_cfg[key] for key in TINY_KEYS}
    with torch.device("meta"):
        model = tiny_qwen3(byte_tokenizer(), **arch)
    return model.to(DTYPES[model_cfg["dtype"]])


def meta_model(model_cfg: dict[str, Any]) -> PreTrainedModel:
    """The meta-device model of ``model_cfg`` (a resolved ``cfg.model``)."""
    dtype = model_cfg.get("dtype", "float32")
    if dtype not in DTYPES:
        raise ConfigError(f"model.dtype={dtype} is not known; allowed: {', '.join(DTYPES)}")
    if model_cfg.get("architecture"):
        model = from_architecture(model_cfg["architecture"], dtype)
    elif model_cfg.get("_target_") == TINY_BUILDER:
        model = tiny_on_meta(model_cfg)
    elif model_cfg.get("_target_") == CHECKPOINT_LOADER:
        raise ConfigError(
            f"model={model_cfg.get('name')} loads a checkpoint and has no architecture to estimate from; "
            f"allowed: a model YAML with an `architecture:` (its config.json) or a builder from config"
        )
    else:
        builder = {k: v for k, v in model_cfg.items() if k not in ("name", "architecture")}
        with torch.device("meta"):
            model, _ = instantiate(builder)
    model.config.use_cache = False
    return model
