"""Where the Hydra configs are: ``CONF_DIR``, the folder ``suite-train`` composes from.

The repository keeps them at its top level (``conf/``, with ``conf/experiment`` linking to
``experiments/``); a wheel carries that folder as ``suite/conf`` (``package-dir`` in
``pyproject.toml``), the experiments inside it as ``suite/conf/experiment``. So the configs are
found in the installed package first and, for a source checkout or an editable install (where
``suite/`` is the checkout's folder), beside the package.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def find_conf_dir() -> Path:
    """The folder holding ``config.yaml``: ``suite/conf`` in a wheel, else the checkout's ``conf/``."""
    package = Path(str(resources.files("suite")))
    for candidate in (package / "conf", package.parent / "conf"):
        if (candidate / "config.yaml").is_file():
            return candidate
    raise FileNotFoundError(
        f"no config.yaml in {package / 'conf'} (installed package) or {package.parent / 'conf'} "
        f"(source checkout); reinstall the suite with `pip install .` or `pip install -e .`"
    )


CONF_DIR = find_conf_dir()
