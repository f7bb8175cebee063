"""A baseline in the user's own package: one module and one YAML, found with hydra.searchpath.

Nothing in the suite changes: the user's ``conf/method/my_sgd.yaml`` names ``mybaseline.build``
in ``_target_``, and ``hydra.searchpath`` adds the user's ``conf/`` to the suite's.
"""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.utils import instantiate
from omegaconf import OmegaConf

from suite.configs import CONF_DIR
from suite.methods import Method
from suite.models import byte_tokenizer, tiny_qwen3

MODULE = '''
"""Plain SGD on every trainable parameter: the smallest baseline a user can add."""
import torch

from suite.methods import Method, trainable


def build(model, lr):
    return Method(model=model, optimizer=torch.optim.SGD(trainable(model), lr=lr))
'''

YAML = """
name: my_sgd
_target_: mybaseline.build
lr: 0.1
"""


@pytest.fixture
def user_package(tmp_path, monkeypatch) -> Path:
    """``<tmp>/mybaseline/__init__.py`` and ``<tmp>/conf/method/my_sgd.yaml``, importable."""
    (tmp_path / "mybaseline").mkdir()
    (tmp_path / "mybaseline" / "__init__.py").write_text(textwrap.dedent(MODULE))
    (tmp_path / "conf" / "method").mkdir(parents=True)
    (tmp_path / "conf" / "method" / "my_sgd.yaml").write_text(textwrap.dedent(YAML))
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def searchpath(root: Path) -> str:
    return f"hydra.searchpath=[file://{root / 'conf'}]"


def test_user_method_composes_and_trains(user_package):
    GlobalHydra.instance().clear()
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        cfg = compose("config", overrides=[searchpath(user_package), "method=my_sgd"])
    assert cfg.method.name == "my_sgd" and cfg.method._target_ == "mybaseline.build"
    kwargs = OmegaConf.to_container(cfg.method, resolve=True)
    kwargs.pop("name")
    model = tiny_qwen3(
        byte_tokenizer(), hidden_size=32, num_layers=2, num_heads=2, num_kv_heads=1, intermediate_size=64
    )
    method = instantiate(kwargs, model=model, _convert_="all")
    assert isinstance(method, Method) and isinstance(method.optimizer, torch.optim.SGD)
    batch = torch.randint(0, 256, (4, 24), generator=torch.Generator().manual_seed(0))
    losses = []
    for _ in range(5):
        loss = method.model(input_ids=batch, labels=batch).loss
        method.backward(loss)
        method.optimizer.step()
        method.optimizer.zero_grad(set_to_none=True)
        losses.append(loss.item())
    assert losses[-1] < losses[0]


def test_without_the_searchpath_the_method_is_unknown(user_package):
    from hydra.errors import MissingConfigException

    GlobalHydra.instance().clear()
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"), pytest.raises(MissingConfigException):
        compose("config", overrides=["method=my_sgd"])


def test_the_documented_command_line(user_package, monkeypatch):
    """``suite-train "hydra.searchpath=[file://<pkg>/conf]" method=my_sgd``: the console entry
    point (preflight check, then the Hydra app), in-process."""
    from helpers import FAST, TINY

    from suite.train import main

    results = user_package / "results"
    argv = [
        "suite-train",
        searchpath(user_package),
        "method=my_sgd",
        *TINY,
        *FAST,
        "train.max_steps=3",
        "eval.n_examples=0",
        f"results_dir={results}",
    ]
    monkeypatch.setattr(sys, "argv", argv)
    GlobalHydra.instance().clear()
    try:
        main()
    finally:
        GlobalHydra.instance().clear()
    summary = json.loads((results / "default" / "my_sgd-seed0" / "summary.json").read_text())
    assert summary["status"] == "ok" and summary["method"] == "my_sgd"
