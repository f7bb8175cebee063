"""Each ``conf/method/*.yaml`` is the one source of its method's defaults.

The builder named by ``_target_`` must accept exactly the YAML's keys (Hydra passes all of them
but ``name`` and ``traits``, plus ``model``): none unknown to it, none of its arguments without a default left
out of the YAML, and any default its signature still carries equal to the YAML's value.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path

import pytest
from hydra.utils import get_method
from omegaconf import OmegaConf

from suite.configs import CONF_DIR

METHOD_YAMLS = sorted((CONF_DIR / "method").glob("*.yaml"))
SUITE_KEYS = {"name", "_target_", "traits"}  # read by the suite and by Hydra, never passed to the builder
PASSED_BY_THE_LOOP = {"model"}


def _plain(value: object) -> object:
    """Tuples as lists, so a signature's ``(0.9, 0.999)`` compares with the YAML's ``[0.9, 0.999]``."""
    return [_plain(v) for v in value] if isinstance(value, (tuple, list)) else value


def disagreements(builder: Callable, hparams: dict) -> list[str]:
    """Every way ``builder``'s signature and the YAML's ``hparams`` disagree, one line each."""
    params = inspect.signature(builder).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    named = {n: p for n, p in params.items() if n not in PASSED_BY_THE_LOOP and p.kind is not p.VAR_KEYWORD}
    found = []
    if not takes_any:
        found += [f"YAML key {k!r} is not an argument of the builder" for k in hparams if k not in named]
    for name, p in named.items():
        if p.kind is p.VAR_POSITIONAL:
            continue
        if name not in hparams:
            if p.default is p.empty:
                found.append(f"argument {name!r} has no default and is missing from the YAML")
            continue
        if p.default is not p.empty and _plain(p.default) != _plain(hparams[name]):
            found.append(f"argument {name!r} defaults to {p.default!r} but the YAML says {hparams[name]!r}")
    return found


def yaml_hparams(path: Path) -> tuple[str, dict]:
    """(``_target_``, the keys Hydra passes to it) of one method YAML, its interpolations of the
    run's settings (``${seed}``, ``${train.warmup_steps}``) resolved against ``conf/config.yaml``."""
    root = OmegaConf.load(CONF_DIR / "config.yaml")
    root.method = OmegaConf.load(path)
    cfg = OmegaConf.to_container(root.method, resolve=True)
    return cfg["_target_"], {k: v for k, v in cfg.items() if k not in SUITE_KEYS}


def test_every_method_yaml_is_found():
    assert len(METHOD_YAMLS) >= 16, [p.name for p in METHOD_YAMLS]


@pytest.mark.parametrize("path", METHOD_YAMLS, ids=lambda p: p.stem)
def test_builder_takes_exactly_the_yaml_keys(path):
    target, hparams = yaml_hparams(path)
    found = disagreements(get_method(target), hparams)
    assert not found, f"{path.name} vs {target}: " + "; ".join(found)


@pytest.mark.parametrize("path", METHOD_YAMLS, ids=lambda p: p.stem)
def test_yaml_name_is_its_file_name(path):
    assert OmegaConf.load(path).name == path.stem


def _planted(model, *, lr: float = 1e-4, betas: tuple[float, float] = (0.9, 0.999), eps: float) -> None:
    """A builder that disagrees with the YAML below in every way the check looks for."""


def test_check_reports_each_kind_of_disagreement():
    found = disagreements(_planted, {"lr": 1e-3, "betas": [0.9, 0.999], "momentum": 0.9})
    assert found == [
        "YAML key 'momentum' is not an argument of the builder",
        "argument 'lr' defaults to 0.0001 but the YAML says 0.001",
        "argument 'eps' has no default and is missing from the YAML",
    ]


def test_check_accepts_a_matching_default_and_any_key_for_var_keyword():
    def forwarding(model, *, lr: float = 1e-3, **hparams) -> None:
        """Forwards every other key to the optimizer class."""

    assert disagreements(forwarding, {"lr": 1e-3, "anything": 1}) == []
    assert disagreements(_planted, {"lr": 1e-4, "betas": (0.9, 0.999), "eps": 1e-8}) == []
