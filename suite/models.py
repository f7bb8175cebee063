"""Build the model and tokenizer.

``model=tiny`` is a Qwen3-architecture causal LM built from a ``transformers`` config with a
byte-level (ByT5) tokenizer, so nothing is downloaded. Paper-scale configs load a local
Hugging Face checkpoint with ``from_pretrained``; ``model=standin_qwen3`` / ``model=standin_llama``
build a few-layer, narrow, randomly initialised model of the same family and dtype in their place
(``standin``), so every paper experiment runs end to end without its checkpoint.
"""

from __future__ import annotations

import torch
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    ByT5Tokenizer,
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    Qwen3Config,
    Qwen3ForCausalLM,
)

from suite.errors import ConfigError

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def byte_tokenizer() -> PreTrainedTokenizerBase:
    """A byte-level tokenizer that needs no files (ByT5: 256 bytes + 3 specials + 125 extras)."""
    tok = ByT5Tokenizer()
    tok.padding_side = "right"
    return tok


def tiny_qwen3(
    tokenizer: PreTrainedTokenizerBase,
    hidden_size: int = 128,
    num_layers: int = 4,
    num_heads: int = 4,
    num_kv_heads: int = 2,
    intermediate_size: int = 384,
    max_position_embeddings: int = 512,
    seed: int = 0,
) -> PreTrainedModel:
    """A small Qwen3 causal LM built from a config, initialised from ``seed``."""
    return seeded_lm(
        Qwen3Config,
        Qwen3ForCausalLM,
        tokenizer,
        seed,
        hidden_size=hidden_size,
        intermediate_size=intermediate_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        num_key_value_heads=num_kv_heads,
        max_position_embeddings=max_position_embeddings,
    )


def seeded_lm(config_class, model_class, tokenizer: PreTrainedTokenizerBase, seed: int, **arch):
    """``model_class(config_class(**arch))`` for ``tokenizer``'s vocabulary: untied head, head_dim =
    hidden / heads, initialised from ``seed`` without touching the global RNG."""
    config = config_class(
        vocab_size=len(tokenizer),
        head_dim=arch["hidden_size"] // arch["num_attention_heads"],
        tie_word_embeddings=False,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=None,
        **arch,
    )
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return model_class(config)


FAMILIES = {"qwen3": (Qwen3Config, Qwen3ForCausalLM), "llama": (LlamaConfig, LlamaForCausalLM)}


def _check_standin(family: str, dtype: str, hidden_size: int, num_heads: int, num_kv_heads: int) -> None:
    if family not in FAMILIES:
        raise ConfigError(f"model.family={family!r} is not a stand-in family; allowed: {', '.join(FAMILIES)}")
    if dtype not in DTYPES:
        raise ConfigError(f"model.dtype={dtype!r} is not a dtype; allowed: {', '.join(DTYPES)}")
    if hidden_size % num_heads or num_heads % num_kv_heads:
        raise ConfigError(
            f"model.hidden_size={hidden_size}, num_heads={num_heads}, num_kv_heads={num_kv_heads}: "
            "allowed: hidden_size a multiple of num_heads, num_heads a multiple of num_kv_heads"
        )


def standin(
    *,
    family: str,
    hidden_size: int,
    num_layers: int,
    num_heads: int,
    num_kv_heads: int,
    intermediate_size: int,
    max_position_embeddings: int,
    rope_theta: float,
    rms_norm_eps: float,
    dtype: str,
    seed: int,
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """A paper model's stand-in: its architecture ``family`` (``qwen3``: QK-norm attention;
    ``llama``), grouped-query attention, SwiGLU MLP, untied LM head and weight ``dtype``, but
    ``num_layers`` narrow blocks, initialised from ``seed`` (no checkpoint) with the byte tokenizer."""
    _check_standin(family, dtype, hidden_size, num_heads, num_kv_heads)
    config_class, model_class = FAMILIES[family]
    tokenizer = byte_tokenizer()
    model = seeded_lm(
        config_class,
        model_class,
        tokenizer,
        seed,
        hidden_size=hidden_size,
        intermediate_size=intermediate_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        num_key_value_heads=num_kv_heads,
        max_position_embeddings=max_position_embeddings,
        rope_parameters={"rope_type": "default", "rope_theta": rope_theta},
        rms_norm_eps=rms_norm_eps,
    )
    return model.to(DTYPES[dtype]), tokenizer


def load_pretrained(path: str, dtype: str = "bfloat16") -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Load a local Hugging Face checkpoint (model and tokenizer) in ``dtype``."""
    if dtype not in DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}; allowed: {', '.join(DTYPES)}")
    tokenizer = AutoTokenizer.from_pretrained(path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(path, dtype=DTYPES[dtype])
    return model, tokenizer
