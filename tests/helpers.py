"""Helpers the test modules share: a tiny job that runs in seconds, and the GSM8K copy for tests
that read real text.

The GSM8K training file (``train.jsonl`` of ``openai/gsm8k``, one JSON object per line with
``question`` and ``answer``) is found through ``$SUITE_GSM8K_TRAIN`` or ``pytest --gsm8k PATH``;
tests that need it skip, saying so, when neither is given.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

from suite.configs import CONF_DIR

GSM8K_ENV = "SUITE_GSM8K_TRAIN"
# What every collected test declares with ``@pytest.mark.compat`` (suite/compat.py), and the test
# files the session collected, stashed before ``-m``/``-k`` deselect anything.
COMPAT = pytest.StashKey[list[dict]]()
COLLECTED = pytest.StashKey[set[Path]]()

# The default tiny model, made smaller still, with a short pretraining.
TINY = [
    "model.hidden_size=32",
    "model.num_layers=2",
    "model.num_heads=2",
    "model.num_kv_heads=1",
    "model.intermediate_size=64",
    "model.pretrain_steps=30",
    "model.pretrain_batch_size=16",
    "data.n_train=256",
    "data.n_test=16",
    "data.max_length=96",
]
# TINY's narrowest projection (k_proj) is 16 wide; a YAML's rank above it (32) is refused on it
NARROW = {
    path.stem: ["method.rank=8"]
    for path in sorted((CONF_DIR / "method").glob("*.yaml"))
    if OmegaConf.load(path).get("rank", 0) > 16
}


def needs_cuda(method: str) -> str | None:
    """Why the suite method runs on CUDA only (its ``traits.needs_cuda_because``), or None."""
    return OmegaConf.load(CONF_DIR / "method" / f"{method}.yaml").get("traits", {}).get("needs_cuda_because")


def on_cpu(method: str, *marks) -> object:
    """``method`` as a pytest param of a test that builds it on the CPU: a CUDA-only method is
    skipped, saying why (the suite refuses it there: tests/test_compat.py checks that line)."""
    why = needs_cuda(method)
    skip = [pytest.mark.skip(reason=f"{method} needs CUDA ({why}); this test builds it on the CPU")]
    return pytest.param(method, marks=[*marks, *(skip if why else [])], id=method)


FAST = [
    "logger=none",
    "train.max_steps=8",
    "train.warmup_steps=0",
    "train.batch_size=8",
    "train.log_every=1",
    "eval.n_examples=4",
    "eval.max_new_tokens=8",
    "device=cpu",
    "memory.audit_step=null",  # the audit profiles a step (seconds): tests/test_memory_audit.py runs it
]


def gsm8k_train() -> Path | None:
    """The local GSM8K training file named by ``$SUITE_GSM8K_TRAIN``, or None when unset."""
    path = os.environ.get(GSM8K_ENV)
    return Path(path) if path else None


def compose_job(*overrides: str, results_dir: Path | None = None):
    """The config ``suite-train`` would run for these overrides (tiny and fast by default)."""
    extra = [f"results_dir={results_dir}"] if results_dir is not None else []
    GlobalHydra.instance().clear()
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        return compose("config", overrides=[*TINY, *FAST, *extra, *overrides])


def run_job(tmp_path: Path, *overrides: str) -> dict:
    """Run one tiny job in-process; returns its summary (also written under ``tmp_path``)."""
    from suite.train import run

    return run(compose_job(*overrides, results_dir=tmp_path))


def train_losses(run_dir: Path) -> list[float]:
    rows = [json.loads(line) for line in (Path(run_dir) / "metrics.jsonl").read_text().splitlines()]
    return [r["train/loss"] for r in rows if "train/loss" in r]


def loss_fell(run_dir: Path) -> bool:
    """The mean training loss of the last third of the steps is below that of the first third."""
    curve = train_losses(run_dir)
    third = max(1, len(curve) // 3)
    return sum(curve[-third:]) / third < sum(curve[:third]) / third


def compat_declarations(items) -> list[dict]:
    """The cells the tests declare: each ``compat(feature, ..., checks=..., methods=..., refused=...)``
    marker, for its ``methods`` or else the item's ``method`` (or ``name``) parameter."""
    found = []
    for item in items:
        for mark in item.iter_markers("compat"):
            params = getattr(item, "callspec", None)
            params = params.params if params else {}
            methods = mark.kwargs.get("methods") or [params.get("method", params.get("name"))]
            if None in methods or "checks" not in mark.kwargs:
                raise pytest.UsageError(
                    f"{item.nodeid}: compat(feature, checks=...) needs methods=[...] or a method parameter"
                )
            refused = mark.kwargs.get("refused", False)
            found += [
                {
                    "test": item.nodeid,
                    "method": m,
                    "feature": f,
                    "checks": mark.kwargs["checks"],
                    "refused": refused,
                }
                for f in mark.args
                for m in methods
            ]
    return found
