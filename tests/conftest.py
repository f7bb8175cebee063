"""Fixtures: the pretrained tiny bases cached once per session, the tiny job, the GSM8K copy."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
from helpers import COLLECTED, COMPAT, GSM8K_ENV, compat_declarations, compose_job, gsm8k_train

torch.set_num_threads(1)


def pytest_addoption(parser):
    parser.addoption(
        "--gsm8k", metavar="PATH", help=f"GSM8K train.jsonl for the tests on real text (or ${GSM8K_ENV})"
    )
    parser.addoption(
        "--compat-out",
        metavar="PATH",
        help="write the tests' compat declarations as JSON (python -m suite.compat)",
    )


def pytest_configure(config):
    if config.getoption("--gsm8k"):
        os.environ[GSM8K_ENV] = str(Path(config.getoption("--gsm8k")).resolve())
    config.addinivalue_line("markers", "slow: trains or launches processes; deselect with -m 'not slow'")
    config.addinivalue_line(
        "markers",
        "compat(*features, checks, methods=None, refused=False): the compatibility cells the test proves "
        "(suite/compat.py)",
    )


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Every test's compat declarations, before -m or -k deselect any (tests/test_compat.py)."""
    config.stash[COMPAT] = compat_declarations(items)
    config.stash[COLLECTED] = {Path(item.path) for item in items}
    out = config.getoption("--compat-out")
    if out:
        Path(out).write_text(json.dumps(config.stash[COMPAT], indent=1))


@pytest.fixture(scope="session", autouse=True)
def suite_cache(tmp_path_factory):
    """Pretrained bases go to one folder per test session (set SUITE_CACHE to reuse one)."""
    if "SUITE_CACHE" not in os.environ:
        os.environ["SUITE_CACHE"] = str(tmp_path_factory.mktemp("suite-cache"))
    yield Path(os.environ["SUITE_CACHE"])


@pytest.fixture
def job():
    return compose_job


@pytest.fixture
def gsm8k_file() -> Path:
    """The local GSM8K training file; the test skips when none is given."""
    path = gsm8k_train()
    if path is None:
        pytest.skip(f"no GSM8K copy given: set ${GSM8K_ENV} or pass --gsm8k PATH")
    if not path.is_file():
        pytest.fail(f"${GSM8K_ENV}={path} is not a file")
    return path
