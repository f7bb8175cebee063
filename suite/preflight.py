"""Compose every job of a command line before Hydra starts, so that a bad option or value stops
the run with one line, before any folder is made or any compute is spent."""

from __future__ import annotations

import itertools
import os
import sys
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Glob
from hydra.errors import HydraException, MissingConfigException
from omegaconf import OmegaConf

from suite.checks import check_job
from suite.configs import CONF_DIR
from suite.errors import ConfigError
from suite.track.store import RunFolder, outside_store, refuse_reason, run_folder
from suite.validate import validate

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


def check(argv: list[str], compose_only: bool = False) -> None:
    """Raise :class:`ConfigError` if any job of ``argv`` would not compose, validate, find what it
    names, or have its run folder to itself (``compose_only``: if it would not compose, for the
    commands that take suite-train's options but train nothing)."""
    overrides, flags = split_argv(argv)
    if flags & _SKIP_FLAGS:
        return
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
            loader = GlobalHydra.instance().config_loader()

            def group_options(group: str) -> list[str]:
                return loader.get_group_options(group)

            folders: dict[Path, list[tuple[bool, bool]]] = {}
            for job in _expand(overrides, group_options):
                _check_experiment(job, group_options("experiment"))
                _check_traits_kept(job)
                cfg = compose("config", overrides=job)
                if compose_only:
                    continue
                _check_added_keys(job, cfg)
                validate(cfg)
                check_job(cfg)
                outside = outside_store(run_folder(cfg), cfg.results_dir)
                if outside:
                    raise ConfigError(outside)
                folders.setdefault(run_folder(cfg), []).append((cfg.overwrite, cfg.resume))
            _check_folders(folders)
    except ConfigError:
        raise
    except (HydraException, ValueError, KeyError) as err:
        raise ConfigError(_one_line(err)) from err
    finally:
        GlobalHydra.instance().clear()


def _check_experiment(job: list[str], available: list[str]) -> None:
    for o in job:
        key, _, name = o.partition("=")
        if key == "experiment" and name not in available:
            raise ConfigError(f"unknown experiment '{name}'; available: {', '.join(sorted(available))}")


def _check_traits_kept(job: list[str]) -> None:
    """A method's ``traits`` describe its code (suite/traits.py), so the command line may not change
    them; the hyperparameters they name (e.g. ``method.fused_backward``) are what to override."""
    for o in job:
        key = o.lstrip("+~").partition("=")[0]
        if key == "method.traits" or key.startswith("method.traits."):
            raise ConfigError(
                f"{key} cannot be overridden: a method's traits describe its code; "
                f"edit the traits block of its YAML, or override the hyperparameter a trait names"
            )


def _check_added_keys(job: list[str], cfg) -> None:
    """``+key=value`` may only add a key the group already has (Hydra lets ``+`` add anything)."""
    added = [o for o in job if o.startswith("+")]
    if not added:
        return
    base = compose("config", overrides=[o for o in job if not o.startswith("+")])
    for o in added:
        key = o.lstrip("+").partition("=")[0]
        if OmegaConf.select(base, key, default="__absent__") == "__absent__":
            parent = key.rpartition(".")[0]
            node = OmegaConf.select(base, parent) if parent else base
            known = ", ".join(sorted(node.keys())) if hasattr(node, "keys") else "none"
            raise ConfigError(f"unknown key {key}; {parent or 'the config'} accepts: {known}")


def _check_folders(folders: dict[Path, list[tuple[bool, bool]]]) -> None:
    """Every job writes its own folder, and no folder holds a run it would replace without asking
    (the values are each job's ``overwrite`` and ``resume``)."""
    for folder, modes in folders.items():
        if len(modes) > 1:
            raise ConfigError(
                f"{len(modes)} jobs of this sweep would write the same folder {folder}; "
                f"set run_name to tell them apart, e.g. run_name='${{method.name}}-lr${{method.lr}}'"
            )
        store = RunFolder(folder)
        if store.in_use():
            raise ConfigError(f"{folder} is in use by another run; give this one another run_name")
        ((overwrite, resume),) = modes
        refusal = refuse_reason(folder, store.previous(), overwrite=overwrite, resume=resume)
        if refusal:
            raise ConfigError(refusal)


def check_command_line(argv: list[str], prog: str = "suite-train", compose_only: bool = False) -> None:
    """:func:`check` for a console entry: a refused command prints its one line and exits with
    status 2. Under torchrun rank 0 checks alone (the others would find the run folders it has
    just claimed)."""
    if int(os.environ.get("RANK", 0)) != 0:
        return
    try:
        check(argv, compose_only)
    except ConfigError as err:
        print(f"{prog}: error: {err}", file=sys.stderr)
        sys.exit(2)
