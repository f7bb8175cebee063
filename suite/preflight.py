"""Compose every job of a command line before Hydra starts, so that a bad option or value stops
the run with one line, before any folder is made or any compute is spent."""

from __future__ import annotations

import itertools

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Glob
from hydra.errors import HydraException, MissingConfigException

from suite.configs import CONF_DIR
from suite.validate import ConfigError, validate

# Flags Hydra takes with a value; everything else that does not start with "-" is an override.
_VALUE_FLAGS = {
    "--cfg",
    "-c",
    "--package",
    "-p",
    "--config-path",
    "-cp",
    "--config-name",
    "-cn",
    "--config-dir",
    "-cd",
    "--experimental-rerun",
    "--info",
    "-i",
}
_SKIP_FLAGS = {
    "--help",
    "-h",
    "--hydra-help",
    "--cfg",
    "-c",
    "--info",
    "-i",
    "--shell-completion",
    "-sc",
    "--resolve",
    "--version",
}
MAX_JOBS_CHECKED = 256


def split_argv(argv: list[str]) -> tuple[list[str], set[str]]:
    overrides, flags = [], set()
    it = iter(argv)
    for arg in it:
        if arg.startswith("-"):
            flags.add(arg.split("=")[0])
            if arg in _VALUE_FLAGS and "=" not in arg:
                next(it, None)
        else:
            overrides.append(arg)
    return overrides, flags


def _expand(overrides: list[str], group_options) -> list[list[str]]:
    """The override lists of every job a (multi)run would launch."""
    choices = []
    for o in OverridesParser.create().parse_overrides(overrides):
        key = o.get_key_element()
        if o.is_sweep_override():
            value = o.value()
            if isinstance(value, Glob):
                names = value.filter(group_options(o.key_or_group))
            else:
                names = list(o.sweep_string_iterator())
            choices.append([f"{key}={v}" for v in names])
        else:
            choices.append([o.input_line])
    return [list(c) for c in itertools.islice(itertools.product(*choices), MAX_JOBS_CHECKED)]


def _one_line(err: Exception) -> str:
    if isinstance(err, MissingConfigException) and err.options is not None:
        group, _, name = (err.missing_cfg_file or "").rpartition("/")
        return f"unknown {group} '{name}'; available: {', '.join(sorted(err.options))}"
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    return " ".join(lines[:3])


def check(argv: list[str]) -> None:
    """Raise :class:`ConfigError` if any job of ``argv`` would not compose or validate."""
    overrides, flags = split_argv(argv)
    if flags & _SKIP_FLAGS:
        return
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
            loader = GlobalHydra.instance().config_loader()

            def group_options(group: str) -> list[str]:
                return loader.get_group_options(group)

            for job in _expand(overrides, group_options):
                validate(compose("config", overrides=job))
    except ConfigError:
        raise
    except (HydraException, ValueError, KeyError) as err:
        raise ConfigError(_one_line(err)) from err
    finally:
        GlobalHydra.instance().clear()
