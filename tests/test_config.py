"""Every config composes; each bad command line stops with one line before any work."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from suite import preflight
from suite.errors import ConfigError

CONF = preflight.CONF_DIR


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


@pytest.mark.parametrize("group", ["method", "model", "data", "logger"])
def test_every_option_composes(group):
    GlobalHydra.instance().clear()
    with initialize_config_dir(str(CONF), version_base="1.3"):
        for name in options(group):
            cfg = compose("config", overrides=[f"{group}={name}"])
            assert (cfg[group].name if group != "logger" else cfg.logger.kind) == name


@pytest.mark.parametrize(
    "argv, message",
    [
        (["method=nope"], "unknown method 'nope'; available: "),
        (["model=qwen3_8b"], "missing required value model.path"),
        (["data=gsm8k", "data.hub_name=null"], "no data source: set data.path to a local jsonl file"),
        (["method.lr=0"], "method.lr=0 is out of range; allowed: null or a finite number > 0"),
        (["method.lr=-1e-3"], "method.lr=-0.001 is out of range"),
        (["train.batch_size=0"], "train.batch_size=0 is out of range; allowed: an integer >= 1"),
        (["train.grad_accum=0"], "train.grad_accum=0 is out of range"),
        (["train.autocast=fp8"], "train.autocast='fp8' is out of range; allowed: one of None, bf16, fp16"),
        (["train.lr_scheduler=wobbly"], "train.lr_scheduler='wobbly' is out of range"),
        (["train.warmup_ratio=1.5"], "train.warmup_ratio=1.5 is out of range; allowed: null or a number in"),
        (["train.warmup_ratio=0.1"], "train.warmup_ratio=0.1 and train.warmup_steps=10 are both set"),
        (["lm_eval.limit=0"], "lm_eval.limit=0 is out of range; allowed: null or an integer >= 1"),
        (["experiment=stosignsgd_fig1"], "is not an LLM job; run it with python -m suite.toy"),
        (["train.nonsense=1"], "Could not override 'train.nonsense'"),
        (["-m", "method=adamw,nope"], "unknown method 'nope'"),
        (["-m", "method=signsgd", "train.batch_size=1,0"], "train.batch_size=0 is out of range"),
    ],
)
def test_bad_command_line_is_one_line(argv, message):
    with pytest.raises(ConfigError) as err:
        preflight.check(argv)
    text = str(err.value)
    assert message in text
    assert "\n" not in text


def test_good_sweep_passes():
    preflight.check(
        ["-m", "method=adamw,signsgd", "train.batch_size=4,8", "run_name=${method.name}-b${train.batch_size}"]
    )


def test_warmup_ratio_is_a_fraction_of_the_run_rounded_up():
    """transformers' ``get_warmup_steps``: ceil(ratio * steps); without a ratio, warmup_steps."""
    from omegaconf import OmegaConf

    from suite.loop import warmup_steps

    assert warmup_steps(OmegaConf.create({"warmup_steps": 0, "warmup_ratio": 0.1}), 9375) == 938
    assert warmup_steps(OmegaConf.create({"warmup_steps": 0, "warmup_ratio": 0.1}), 2) == 1
    assert warmup_steps(OmegaConf.create({"warmup_steps": 7, "warmup_ratio": None}), 9375) == 7
    preflight.check(["train.warmup_ratio=0.1", "train.warmup_steps=0"])


@pytest.mark.slow
def test_cli_exits_with_one_line_and_writes_nothing(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "from suite.train import main; main()",
            "train.batch_size=0",
            f"results_dir={tmp_path}",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "suite-train: error: train.batch_size=0 is out of range; allowed: an integer >= 1"
    ]
    assert list(Path(tmp_path).iterdir()) == []


@pytest.mark.slow
def test_cli_prints_config(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "from suite.train import main; main()",
            "--cfg",
            "job",
            "method=signsgd",
            "method.lr=0.01",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "name: signsgd" in proc.stdout and "lr: 0.01" in proc.stdout
