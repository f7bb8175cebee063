"""The wheel carries the configs and every package, so ``suite-train`` works from any directory.

``conf/`` and ``experiments/`` live at the top of the repository; ``pyproject.toml`` maps
``conf/`` to the package ``suite.conf`` and setuptools follows the ``conf/experiment`` link.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from suite.configs import CONF_DIR

REPO = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())


def repo_packages() -> set[str]:
    """Every package under ``suite/`` (a folder with ``__init__.py``), dotted."""
    return {".".join(p.parent.relative_to(REPO).parts) for p in (REPO / "suite").rglob("__init__.py")}


def test_pyproject_lists_every_package_and_maps_conf():
    setuptools = PYPROJECT["tool"]["setuptools"]
    listed, found = set(setuptools["packages"]), repo_packages() | {"suite.conf"}
    assert not found - listed, f"add to [tool.setuptools] packages (pyproject.toml): {sorted(found - listed)}"
    assert not listed - found, f"no such package, listed in pyproject.toml: {sorted(listed - found)}"
    assert setuptools["package-dir"] == {"suite.conf": "conf"}
    assert setuptools["package-data"]["suite.lm_eval_tasks"] == ["*.yaml"]


def test_console_scripts():
    assert PYPROJECT["project"]["scripts"] == {
        "suite-train": "suite.train_cli:main",
        "suite-report": "suite.report:main",
        "suite-bench": "suite.bench.cli:main",
        "suite-estimate": "suite.estimate.cli:main",
        "suite-search": "suite.search:main",
        "suite-compare": "suite.compare:main",
    }


def test_checkout_configs_are_found():
    assert (CONF_DIR / "config.yaml").is_file()
    assert (CONF_DIR / "experiment" / "absignsgd_table2.yaml").is_file()


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Iterator[zipfile.ZipFile]:
    """The wheel ``pip wheel`` builds from this checkout, open for reading."""
    out = tmp_path_factory.mktemp("wheel")
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out)]
    subprocess.run([*cmd, str(REPO)], check=True, capture_output=True, timeout=600)
    (path,) = out.glob("suite-*.whl")
    with zipfile.ZipFile(path) as zf:
        yield zf


@pytest.fixture(scope="module")
def wheel_names(wheel) -> set[str]:
    return set(wheel.namelist())


def _expected(folder: str, inside: str) -> set[str]:
    return {f"{inside}/{p.name}" for p in (REPO / folder).glob("*.yaml")}


@pytest.mark.slow
def test_wheel_carries_the_configs(wheel_names):
    assert "suite/conf/config.yaml" in wheel_names
    methods = _expected("conf/method", "suite/conf/method")
    experiments = _expected("experiments", "suite/conf/experiment")
    assert len(methods) >= 16 and len(experiments) >= 20
    assert methods <= wheel_names, sorted(methods - wheel_names)
    assert experiments <= wheel_names, sorted(experiments - wheel_names)
    for group in ("model", "data", "logger"):
        assert _expected(f"conf/{group}", f"suite/conf/{group}") <= wheel_names, group


@pytest.mark.slow
def test_wheel_carries_every_package_and_the_lm_eval_tasks(wheel, wheel_names):
    for package in repo_packages():
        assert f"{package.replace('.', '/')}/__init__.py" in wheel_names, package
    assert _expected("suite/lm_eval_tasks", "suite/lm_eval_tasks") <= wheel_names
    (entry_points,) = (n for n in wheel_names if n.endswith(".dist-info/entry_points.txt"))
    scripts = wheel.read(entry_points).decode()
    for name, target in PYPROJECT["project"]["scripts"].items():
        assert f"{name} = {target}" in scripts
