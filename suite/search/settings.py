"""The search's settings: ``conf/search.yaml``, then an experiment's ``search:`` node, then
``search.<key>=...`` from the command line; checked before any trial runs."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from omegaconf import DictConfig, OmegaConf

from suite.configs import CONF_DIR
from suite.errors import ConfigError

DEFAULTS = CONF_DIR / "search.yaml"
# The metric (a RunSummary field) and the direction Optuna optimises it in.
METRICS = {"final_train_loss": "minimize", "final_val_loss": "minimize", "eval_exact_match": "maximize"}
STARTUPS = ("random", "latin")  # how the first startup_trials trials are drawn
PREFIX = "search."


@dataclass(frozen=True)
class Param:
    """A method setting searched beside the lr: ``method.<name>`` drawn from [low, high],
    uniformly or (``log``) log-uniformly."""

    name: str
    low: float
    high: float
    log: bool = False


@dataclass(frozen=True)
class SearchSettings:
    """One search: ``n_trials`` runs of ``method`` with lr drawn log-uniformly from [lr_low, lr_high]
    (and each of ``params`` from its range)."""

    method: str
    n_trials: int
    metric: str
    lr_low: float
    lr_high: float
    sampler_seed: int
    startup_trials: int
    n_jobs: int
    study_name: str
    params: tuple[Param, ...] = ()
    startup: str = "random"

    @property
    def direction(self) -> str:
        return METRICS[self.metric]

    def stored(self) -> dict[str, Any]:
        """What a continued study must share with the one on disk (the budget may grow)."""
        d = asdict(self)
        for key in ("n_trials", "n_jobs"):
            d.pop(key)
        if self.startup == "random":  # as studies stored before the Latin hypercube existed
            d.pop("startup")
        if not self.params:  # a search over the lr alone, as studies stored before params existed
            d.pop("params")
        else:
            d["params"] = [asdict(p) for p in self.params]
        return d


def split_argv(argv: list[str]) -> tuple[list[str], list[str]]:
    """``search.<key>=value`` arguments (prefix removed) and the rest, the trials' overrides."""
    search = [a.removeprefix(PREFIX) for a in argv if a.startswith(PREFIX)]
    return search, [a for a in argv if not a.startswith(PREFIX)]


def merged(cfg: DictConfig, search_args: list[str]) -> DictConfig:
    """The defaults, under the composed job's ``search:`` node, under the command line's values."""
    defaults = OmegaConf.load(DEFAULTS)
    known = set(defaults)
    for arg in search_args:
        key = arg.split("=", 1)[0]
        if "=" not in arg or key.split(".")[0] not in known:
            allowed = ", ".join(sorted(known))
            raise ConfigError(f"unknown search option search.{arg}; allowed: search.<{allowed}>=...")
    job_node = cfg.get("search") or {}
    return OmegaConf.merge(defaults, job_node, OmegaConf.from_dotlist(search_args))


def _int_option(node: DictConfig, key: str, low: int) -> int:
    value = node[key]
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise ConfigError(f"search.{key}={value!r} is out of range; allowed: an integer >= {low}")
    return value


def lr_range(node: DictConfig, method: str) -> tuple[float, float]:
    """``search.lr``, else the method's row of ``lr_ranges``; a non-empty positive interval."""
    given = node.lr if node.lr is not None else node.lr_ranges.get(method)
    if given is None:
        raise ConfigError(
            f"no lr range for method {method}: set search.lr=[low,high] "
            f"(methods with a range: {', '.join(sorted(node.lr_ranges))})"
        )
    bounds = list(given) if OmegaConf.is_list(given) or isinstance(given, list) else [given]
    ok = len(bounds) == 2 and all(isinstance(b, (int, float)) and not isinstance(b, bool) for b in bounds)
    if not ok or not (0 < bounds[0] < bounds[1] and math.isfinite(bounds[1])):
        raise ConfigError(
            f"search.lr={bounds} is an empty or invalid range; allowed: [low,high] with 0 < low < high"
        )
    return float(bounds[0]), float(bounds[1])


def _bounds(key: str, given: Any) -> list:
    bounds = list(given) if OmegaConf.is_list(given) or isinstance(given, list) else [given]
    numbers = len(bounds) >= 2 and all(
        isinstance(b, (int, float)) and not isinstance(b, bool) for b in bounds[:2]
    )
    ordered = numbers and len(bounds) in (2, 3) and bounds[0] < bounds[1]
    if not ordered or bounds[2:] not in ([], ["log"]):
        raise ConfigError(
            f"search.params.{key}={bounds} is an invalid range; allowed: [low,high] (uniform) or "
            "[low,high,log] (log-uniform, low > 0) with low < high"
        )
    return bounds


def params(node: DictConfig, cfg: DictConfig) -> tuple[Param, ...]:
    """``search.params``: method settings searched beside the lr, each one the method has."""
    found = []
    for key, given in (node.get("params") or {}).items():
        if key == "lr" or key not in cfg.method:
            have = ", ".join(k for k in cfg.method if k not in ("_target_", "name", "lr"))
            raise ConfigError(
                f"search.params.{key}: method {cfg.method.name} has no such setting; it has {have}"
            )
        low, high, *log = _bounds(key, given)
        if log and low <= 0:
            raise ConfigError(f"search.params.{key}: a log-uniform range needs low > 0, got {low}")
        found.append(Param(key, float(low), float(high), bool(log)))
    return tuple(found)


def settings(cfg: DictConfig, search_args: list[str]) -> SearchSettings:
    """The checked settings of a search over the composed job ``cfg``."""
    node = merged(cfg, search_args)
    method = cfg.method.name
    if "lr" not in cfg.method:
        raise ConfigError(f"method {method} has no learning rate (method.lr) to search")
    if node.metric not in METRICS:
        raise ConfigError(f"search.metric={node.metric} is unknown; allowed: one of {', '.join(METRICS)}")
    if node.metric == "eval_exact_match" and cfg.eval.n_examples == 0:
        raise ConfigError("search.metric=eval_exact_match needs eval.n_examples >= 1")
    if node.metric == "final_val_loss" and not cfg.train.get("val_every"):
        raise ConfigError(
            "search.metric=final_val_loss needs the validation loss: set train.val_every=<steps>"
        )
    low, high = lr_range(node, method)
    if node.startup not in STARTUPS:
        raise ConfigError(
            f"search.startup={node.startup!r} is unknown; allowed: one of {', '.join(STARTUPS)}"
        )
    return SearchSettings(
        method=method,
        n_trials=_int_option(node, "n_trials", 1),
        metric=node.metric,
        lr_low=low,
        lr_high=high,
        sampler_seed=_int_option(node, "sampler_seed", 0),
        startup_trials=_int_option(node, "startup_trials", 1),
        n_jobs=_int_option(node, "n_jobs", 1),
        study_name=node.study_name or f"{cfg.run_name}-lrsearch",
        params=params(node, cfg),
        startup=node.startup,
    )
