"""A baseline in the user's own package: two files each, found with ``hydra.searchpath``.

Two plugin baselines, because one method cannot both update inside backward and be averaged
under torchrun: DDP all-reduces gradient buckets asynchronously and finishes at the end of
backward, after a per-parameter hook has already stepped on the rank's own gradient.

- ``my_sgd`` is README's "Add a baseline" example, read from README.md: its traits say it is
  averaged, so it runs through the command-line check in one process and on two gloo ranks.
- ``my_fused_sgd`` steps each parameter inside backward (a post-accumulate-grad hook, as LOMO);
  its traits make the command-line check refuse gradient accumulation, and torchrun.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from helpers import FAST, TINY
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from safetensors.torch import load_file

from suite import distributed, loop, preflight, train
from suite.configs import CONF_DIR
from suite.errors import ConfigError
from suite.models import byte_tokenizer, tiny_qwen3

README = Path(__file__).resolve().parents[1] / "README.md"

FUSED_MODULE = '''
"""SGD inside backward: each parameter steps as soon as its gradient is complete, which is freed."""
import torch

from suite.methods import Method, trainable


def build(model, lr):
    optimizer = torch.optim.SGD(trainable(model), lr=lr)

    @torch.no_grad()
    def step(p):
        p.add_(p.grad, alpha=-optimizer.param_groups[0]["lr"])  # the run's schedule sets the lr
        p.grad = None

    for p in trainable(model):
        p.register_post_accumulate_grad_hook(step)
    return Method(model=model, optimizer=optimizer, updates_in_backward=True)
'''

FUSED_YAML = """
name: my_fused_sgd
_target_: myfused.build
traits:
  updates_in_backward: true
lr: 0.1
"""


def readme_example() -> dict[str, str]:
    """The python and yaml blocks of README's "Add a baseline" section."""
    section = README.read_text().split("## Add a baseline\n", 1)[1].split("\n## ", 1)[0]
    return dict(re.findall(r"```(python|yaml)\n(.*?)```", section, re.S))


@pytest.fixture
def user_package(tmp_path, monkeypatch) -> Path:
    """``<tmp>/mybaseline``, ``<tmp>/myfused`` and their YAMLs in ``<tmp>/conf/method``, importable."""
    example = readme_example()
    files = {
        "mybaseline/__init__.py": example["python"],
        "conf/method/my_sgd.yaml": example["yaml"],
        "myfused/__init__.py": textwrap.dedent(FUSED_MODULE),
        "conf/method/my_fused_sgd.yaml": textwrap.dedent(FUSED_YAML),
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def searchpath(root: Path) -> str:
    return f"hydra.searchpath=[file://{root / 'conf'}]"


def composed(root: Path, *overrides: str):
    GlobalHydra.instance().clear()
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        return compose("config", overrides=[searchpath(root), *TINY, *FAST, *overrides])


def tiny_model() -> torch.nn.Module:
    return tiny_qwen3(
        byte_tokenizer(), hidden_size=32, num_layers=2, num_heads=2, num_kv_heads=1, intermediate_size=64
    )


def suite_train(argv: list[str], monkeypatch) -> None:
    """The console entry point in-process: the command-line check, then the Hydra app."""
    monkeypatch.setattr(sys, "argv", ["suite-train", *argv])
    GlobalHydra.instance().clear()
    try:
        train.main()
    finally:
        GlobalHydra.instance().clear()


@pytest.mark.parametrize("name", ["my_sgd", "my_fused_sgd"])
def test_the_loop_builds_each_user_method_and_it_trains(user_package, name):
    cfg = composed(user_package, f"method={name}")
    method = loop.build_method(cfg, tiny_model())
    assert method.updates_in_backward == (name == "my_fused_sgd")
    batch = torch.randint(0, 256, (4, 24), generator=torch.Generator().manual_seed(0))
    losses = []
    for _ in range(5):
        loss = method.model(input_ids=batch, labels=batch).loss
        method.backward(loss)
        if not method.updates_in_backward:
            method.optimizer.step()
            method.optimizer.zero_grad(set_to_none=True)
        losses.append(loss.item())
    assert losses[-1] < losses[0]


def test_without_the_searchpath_the_method_is_unknown(user_package):
    with pytest.raises(ConfigError, match="unknown method 'my_sgd'"):
        preflight.check(["method=my_sgd"])


def test_the_documented_command_line(user_package, monkeypatch):
    """``suite-train "hydra.searchpath=[file://<pkg>/conf]" method=my_sgd``."""
    results = user_package / "results"
    argv = [searchpath(user_package), "method=my_sgd", *TINY, *FAST, "train.max_steps=3", "eval.n_examples=0"]
    suite_train([*argv, f"results_dir={results}"], monkeypatch)
    summary = json.loads((results / "default" / "my_sgd-seed0" / "summary.json").read_text())
    assert summary["status"] == "ok" and summary["method"] == "my_sgd"


def test_the_in_backward_plugin_trains_and_its_traits_refuse_the_rest(user_package, monkeypatch, capsys):
    results = user_package / "results"
    argv = [searchpath(user_package), "method=my_fused_sgd", *TINY, *FAST, "eval.n_examples=0"]
    with pytest.raises(SystemExit) as stopped:
        suite_train([*argv, "train.grad_accum=2", f"results_dir={results}"], monkeypatch)
    assert stopped.value.code == 2 and not results.exists()
    assert "method my_fused_sgd updates inside backward and cannot accumulate" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="method=my_fused_sgd cannot run under torchrun"):
        distributed.check(composed(user_package, "method=my_fused_sgd"), distributed.World(0, 2, 0))
    suite_train([*argv, "train.max_steps=3", f"results_dir={results}"], monkeypatch)
    summary = json.loads((results / "default" / "my_fused_sgd-seed0" / "summary.json").read_text())
    assert summary["status"] == "ok" and summary["update_applied_fraction_min"] > 0.5


def test_a_builder_that_contradicts_its_traits_is_refused(user_package):
    cfg = composed(user_package, "method=my_fused_sgd")
    cfg.method.traits.updates_in_backward = False
    with pytest.raises(ConfigError, match="its builder returned updates_in_backward=True but its YAML"):
        loop.build_method(cfg, tiny_model())


@pytest.mark.slow
def test_the_readme_example_is_averaged_on_two_gloo_ranks(user_package):
    """One process, then ``torchrun --nproc_per_node=2`` (gloo on CPU) with the same data on both
    ranks: DDP's mean of two equal gradients is the gradient, so the weights match."""
    results = user_package / "results"
    common = [searchpath(user_package), "method=my_sgd", *TINY, *FAST, "train.max_steps=4"]
    common += ["eval.n_examples=0", "save_checkpoint=true", "distributed.shard_data=false"]
    executable = Path(sys.executable).parent / "suite-train"
    env = os.environ | {"OMP_NUM_THREADS": "1", "PYTHONPATH": str(user_package)}
    for name, launcher in (
        ("one", []),
        ("two", [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--standalone"]),
    ):
        command = [*launcher, str(executable), *common, f"run_name={name}", f"results_dir={results}"]
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    one, two = results / "default" / "one", results / "default" / "two"
    summary = json.loads((two / "summary.json").read_text())
    assert summary["status"] == "ok" and summary["distributed"] == "ddp" and summary["world_size"] == 2
    assert summary["ranks_weights_agree"] is True
    a, b = (
        load_file(one / "checkpoint" / "model.safetensors"),
        load_file(two / "checkpoint" / "model.safetensors"),
    )
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(b[k], a[k])
