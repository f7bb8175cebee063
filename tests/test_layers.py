"""Imports only go down: the contracts in ``pyproject.toml`` ([tool.importlinter]) hold for the
package, every top-level module is placed in a layer, and a planted uphill import breaks them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINT = Path(sys.executable).parent / "lint-imports"


def lint(root: Path) -> subprocess.CompletedProcess:
    """``lint-imports`` over the ``suite`` package found under ``root``, with ``root``'s contracts."""
    env = os.environ | {"PYTHONPATH": str(root)}
    return subprocess.run(
        [str(LINT), "--no-cache", str(root / "pyproject.toml")],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_package_keeps_its_import_contracts():
    proc = lint(ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 broken" in proc.stdout


def test_every_top_level_module_has_a_layer():
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    layers = next(c for c in contracts if c["id"] == "layers")["layers"]
    placed = {name.strip() for layer in layers for name in layer.replace("|", ":").split(":")}
    package = ROOT / "suite"
    modules = {f"suite.{p.stem}" for p in package.glob("*.py") if p.stem != "__init__"}
    modules |= {f"suite.{p.parent.name}" for p in package.glob("*/__init__.py")}
    assert modules - placed == set(), "place these modules in a layer of pyproject.toml's import contract"


def test_a_planted_uphill_import_breaks_the_contract(tmp_path):
    shutil.copytree(ROOT / "suite", tmp_path / "suite", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    assert lint(tmp_path).returncode == 0
    optimizer = tmp_path / "suite" / "optim" / "signsgd.py"
    optimizer.write_text(optimizer.read_text() + "\nimport suite.train  # noqa\n")
    proc = lint(tmp_path)
    assert proc.returncode != 0
    assert "imports only go down BROKEN" in proc.stdout
    assert "suite.optim.signsgd -> suite.train" in proc.stdout
    assert "import torch, never transformers, Hydra or W&B BROKEN" in proc.stdout
