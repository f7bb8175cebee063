"""Method traits (suite/traits.py): every suite method declares them, malformed blocks are one
line, the conditions and switches read the hyperparameters, and the tables' labels come from them."""

from __future__ import annotations

import re

import pytest
from omegaconf import DictConfig, OmegaConf

from suite import traits
from suite.checks import check_device, check_method_loop
from suite.configs import CONF_DIR
from suite.errors import ConfigError
from suite.papers.frames import label

METHOD_YAMLS = sorted((CONF_DIR / "method").glob("*.yaml"))


def method(**keys) -> DictConfig:
    return OmegaConf.create({"name": "m", "_target_": "x.build", "lr": 0.1, "fused": False, **keys})


@pytest.mark.parametrize("path", METHOD_YAMLS, ids=lambda p: p.stem)
def test_every_suite_method_declares_its_label_and_how_it_runs_under_torchrun(path):
    cfg = OmegaConf.load(path)
    assert {"label", "distributed"} <= set(cfg.traits), path.name
    assert traits.of(cfg).label == cfg.traits.label


def test_a_method_without_traits_gets_the_defaults():
    got = traits.of(method())
    assert got == traits.Traits(label="m")
    assert got.distributed == "refused" and "declares no traits.distributed" in got.refused_because


def test_a_switch_trait_reads_its_hyperparameter():
    cfg = method(traits={"updates_in_backward": "fused", "distributed": "averaged"})
    declared = traits.of(cfg)
    assert declared.in_backward(cfg) is False
    cfg.fused = True
    assert declared.in_backward(cfg) is True


def test_conditions_hold_or_not_on_the_hyperparameters():
    cfg = method(momentum=0.9, traits={"distributed": "voted", "distributed_requires": ["momentum == 0"]})
    (condition,) = traits.of(cfg).distributed_requires
    assert str(condition) == "momentum == 0" and not condition.holds(cfg)
    cfg.momentum = 0.0
    assert condition.holds(cfg)
    assert traits.Condition("lr", ">", 0.5).holds(cfg) is False
    assert traits.Condition("lr", "<", "a string").holds(cfg) is False  # incomparable: does not hold


def test_in_backward_accumulation_holds_where_its_conditions_do():
    cfg = method(
        momentum=0.9, traits={"updates_in_backward": "fused", "accumulates_in_backward": ["momentum > 0"]}
    )
    declared = traits.of(cfg)
    assert declared.accumulates(cfg) and declared.no_accumulation_because == traits.NO_BUFFER
    cfg.momentum = 0.0
    assert not declared.accumulates(cfg)
    assert not traits.of(method()).accumulates(method())  # undeclared: never


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ({"distributed": "sharded"}, "traits.distributed='sharded' is not one of averaged, voted"),
        ({"labell": "M"}, "unknown trait labell; allowed: label, packages"),
        (
            {"updates_in_backward": "no_such_key"},
            "must be true, false or one of the method's",
        ),
        ({"updates_in_backward": True, "distributed": "averaged"}, "always updates inside backward"),
        ({"distributed": "refused"}, "needs traits.refused_because"),
        ({"packages": "peft"}, "traits.packages must be a list of strings"),
        ({"distributed": "voted", "distributed_requires": ["momentum is 0"]}, "must read '<hyperparameter>"),
        ({"distributed": "voted", "distributed_requires": ["beta == 0"]}, "must read '<hyperparameter>"),
        ({"accumulates_in_backward": ["momentum is 0"]}, "must read '<hyperparameter>"),
        ({"fsdp": True, "fsdp_refused_because": "why"}, "traits.fsdp=true with traits.fsdp_refused_because"),
        ({"copies_grads_in_backward": "nope"}, "traits.copies_grads_in_backward='nope' must be true, false"),
        ({"grad_accum_requires": ["fused is off"]}, "must read '<hyperparameter>"),
        ({"needs_cuda_because": " "}, "traits.needs_cuda_because must say why it needs CUDA, got ' '"),
        ({"needs_cuda_because": ["a"]}, "traits.needs_cuda_because must say why it needs CUDA"),
    ],
)
def test_a_malformed_block_is_one_line(block, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        traits.of(method(momentum=0.0, traits=block))


def test_the_tables_labels_come_from_the_traits():
    assert label("lora") == "LoRA" and label("galore_layerwise") == "GaLore (layerwise)"
    assert label("signum") == "Signum" and label("sgdm") == "SGDM"
    assert label("not_a_method") == "not_a_method"


def test_a_cuda_only_method_is_refused_on_any_other_device():
    cfg = OmegaConf.create({"device": "cpu", "method": method(traits={"needs_cuda_because": "its kernels"})})
    with pytest.raises(ConfigError) as err:
        check_device(cfg)
    assert str(err.value) == (
        "method m needs CUDA (its kernels) and device=cpu; run it with device=cuda or auto on a GPU"
    )
    cfg.device = "cuda"  # asked for: without a GPU the run refuses it (suite.loop.pick_device)
    check_device(cfg)
    cfg.device, cfg.method = "cpu", method()
    check_device(cfg)  # no trait: any device


def test_a_method_that_copies_its_gradients_in_backward_refuses_clipping_fp16_and_unmet_accumulation():
    block = {"copies_grads_in_backward": True, "grad_accum_requires": ["fused == false"]}
    train = {"grad_accum": 1, "autocast": None, "max_grad_norm": None}
    cfg = OmegaConf.create({"device": "cuda", "method": method(traits=block), "train": train})
    check_method_loop(cfg)
    cfg.train.grad_accum = 2
    check_method_loop(cfg)  # fused == false holds
    cfg.method.fused = True
    with pytest.raises(ConfigError, match=r"^method.fused=True cannot accumulate gradients: m needs fused"):
        check_method_loop(cfg)
    cfg.train.grad_accum = 1
    for key, value, said in (("max_grad_norm", 1.0, "cannot clip"), ("autocast", "fp16", "loss scaler")):
        cfg.train[key] = value
        with pytest.raises(ConfigError, match=f"^method m copies each gradient to its optimizer .*{said}"):
            check_method_loop(cfg)
        cfg.train[key] = None
