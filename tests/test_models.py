"""Model builders: the tiny model, the paper-scale loading path, the block finder."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from suite.models import block_param_names, byte_tokenizer, find_blocks, load_pretrained, tiny_qwen3
from suite.pretrain import tiny_base


def small():
    return tiny_qwen3(
        byte_tokenizer(), hidden_size=32, num_layers=3, num_heads=2, num_kv_heads=1, intermediate_size=64
    )


def test_find_blocks_and_names():
    model = small()
    assert len(find_blocks(model)) == 3
    names = block_param_names(model)
    assert all(n.startswith("model.layers.1.") for n in names[1])
    assert not any(n.startswith("model.layers.11") for n in names[1])


def test_find_blocks_names_the_patterns():
    with pytest.raises(ValueError, match="model.layers, transformer.h"):
        find_blocks(nn.Sequential(nn.Linear(2, 2)))


def test_from_pretrained_loads_bf16_checkpoint_saved_by_the_test(tmp_path):
    tok = byte_tokenizer()
    model = small()
    model.save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    loaded, tok2 = load_pretrained(str(tmp_path), dtype="bfloat16")
    assert loaded.dtype == torch.bfloat16
    assert tok2("12 + 3")["input_ids"] == tok("12 + 3")["input_ids"]
    for (n, p), (_, q) in zip(model.named_parameters(), loaded.named_parameters(), strict=True):
        torch.testing.assert_close(p.to(torch.bfloat16), q, msg=n)


def test_pretrained_base_is_cached_and_deterministic(tmp_path):
    kw = dict(
        hidden_size=32,
        num_layers=2,
        num_heads=2,
        num_kv_heads=1,
        intermediate_size=64,
        pretrain_steps=5,
        pretrain_batch_size=4,
    )
    a, _ = tiny_base(**kw, cache_dir=str(tmp_path / "one"))
    b, _ = tiny_base(**kw, cache_dir=str(tmp_path / "two"))
    random_init = tiny_qwen3(
        byte_tokenizer(), hidden_size=32, num_layers=2, num_heads=2, num_kv_heads=1, intermediate_size=64
    )
    assert len(list((tmp_path / "one").glob("tiny-base-*/model.safetensors"))) == 1
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(p, q)
    assert not torch.equal(a.model.embed_tokens.weight, random_init.model.embed_tokens.weight)
