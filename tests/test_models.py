"""Model builders: the tiny model, the paper-scale loading path, the paper models' stand-ins, the
block finder."""

from __future__ import annotations

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf
from torch import nn
from transformers import LlamaForCausalLM, Qwen3ForCausalLM

from suite.blocks import find_blocks
from suite.configs import CONF_DIR
from suite.errors import ConfigError
from suite.models import byte_tokenizer, load_pretrained, standin, tiny_qwen3
from suite.pretrain import tiny_base


def small():
    return tiny_qwen3(
        byte_tokenizer(), hidden_size=32, num_layers=3, num_heads=2, num_kv_heads=1, intermediate_size=64
    )


def test_find_blocks_finds_the_decoder_layers_also_through_peft():
    from peft import LoraConfig, get_peft_model

    model = small()
    assert find_blocks(model) is model.model.layers and len(model.model.layers) == 3
    wrapped = get_peft_model(model, LoraConfig(r=2, target_modules=["q_proj"]))
    assert find_blocks(wrapped) is model.model.layers


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


# ---------------------------------------------------------------- the paper models' stand-ins

STANDINS = {"standin_qwen3": Qwen3ForCausalLM, "standin_llama": LlamaForCausalLM}
PAPER_MODELS = {"qwen3_8b": "standin_qwen3", "qwen3_32b": "standin_qwen3", "llama3_8b": "standin_llama"}


def model_config(name: str, **overrides):
    """conf/model/<name>.yaml with ``overrides`` merged in."""
    return OmegaConf.merge(OmegaConf.load(CONF_DIR / "model" / f"{name}.yaml"), overrides)


def builder_kwargs(name: str, **overrides) -> dict:
    """The stand-in's YAML as ``suite.models.standin``'s keyword arguments."""
    return {k: v for k, v in model_config(name, **overrides).items() if k not in ("name", "_target_")}


def build(name: str, **overrides):
    """What ``suite-train model=<name>`` builds (through the YAML's ``_target_``)."""
    return instantiate({k: v for k, v in model_config(name, **overrides).items() if k != "name"})


@pytest.mark.parametrize("name", sorted(STANDINS))
def test_standin_is_its_family_in_bf16_with_the_byte_tokenizer_and_seeded(name):
    model, tok = build(name)
    cfg = model_config(name)
    assert type(model) is STANDINS[name] and model.dtype == torch.bfloat16
    assert len(find_blocks(model)) == cfg.num_layers and model.config.hidden_size == cfg.hidden_size
    assert tok("12 + 3")["input_ids"] == byte_tokenizer()("12 + 3")["input_ids"]
    assert model.get_output_embeddings().weight.data_ptr() != model.get_input_embeddings().weight.data_ptr()
    again, _ = build(name)
    other, _ = build(name, seed=1)
    for (n, p), q in zip(model.named_parameters(), again.parameters(), strict=True):
        assert torch.equal(p, q), n
    assert not torch.equal(model.model.embed_tokens.weight, other.model.embed_tokens.weight)


@pytest.mark.parametrize("name", sorted(STANDINS))
def test_standin_trains_a_step_in_bf16_with_gradient_checkpointing(name):
    model, tok = build(name, num_layers=2, hidden_size=32, intermediate_size=64)
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.train()
    batch = tok(["Question: 2 + 3\nAnswer: 5"], return_tensors="pt")
    out = model(**batch, labels=batch["input_ids"])
    out.loss.backward()
    assert out.logits.dtype == torch.bfloat16 and torch.isfinite(out.loss)
    assert all(p.grad is not None and p.grad.dtype == torch.bfloat16 for p in model.parameters())


@pytest.mark.parametrize("paper, name", sorted(PAPER_MODELS.items()))
def test_standin_keeps_the_paper_models_architecture(paper, name):
    """Family, untied head, activation, norm epsilon, RoPE base, head ratio and dtype of the published
    config (the ``architecture`` key of conf/model/<paper>.yaml, from the checkpoint's config.json)."""
    published = model_config(paper).get("architecture")
    if published is None:
        pytest.skip(f"conf/model/{paper}.yaml carries no architecture key")
    model, _ = build(name)
    ours, theirs = model.config, dict(published)
    assert ours.model_type == theirs["model_type"] and ours.hidden_act == theirs["hidden_act"]
    assert ours.tie_word_embeddings == theirs["tie_word_embeddings"]
    assert ours.rms_norm_eps == theirs["rms_norm_eps"]
    assert ours.rope_parameters["rope_theta"] == theirs["rope_theta"]
    assert ours.max_position_embeddings == theirs["max_position_embeddings"]
    assert theirs["num_key_value_heads"] < theirs["num_attention_heads"]  # grouped-query attention
    assert ours.num_key_value_heads < ours.num_attention_heads
    assert str(model.dtype).removeprefix("torch.") == theirs["torch_dtype"] == model_config(paper).dtype


def test_standin_refuses_an_unknown_family_in_one_line():
    allowed = r"^model.family='gpt2' is not a stand-in family; allowed: qwen3, llama$"
    with pytest.raises(ConfigError, match=allowed):
        standin(**builder_kwargs("standin_qwen3", family="gpt2"))
    with pytest.raises(ConfigError, match="num_heads a multiple of num_kv_heads"):
        standin(**builder_kwargs("standin_llama", num_kv_heads=3))
