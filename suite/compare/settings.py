"""The comparison's settings: ``conf/compare.yaml`` under ``compare.<key>=...`` from the command
line, each method's search space, and the runs' shared overrides; checked before any run."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig, OmegaConf

from suite.configs import CONF_DIR
from suite.errors import ConfigError
from suite.track.store import write_atomic

DEFAULTS = CONF_DIR / "compare.yaml"
PREFIX = "compare."
MIN_EVAL_SEEDS = 3
# Set by the comparison for each run: the workload, the method and its tuned settings, the seed,
# where the run goes and how an unfinished one is replaced.
SET_BY_THE_COMPARISON = ("workload", "method", "seed", "experiment_name", "run_name", "overwrite", "resume")
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


@dataclass(frozen=True)
class Space:
    """One method's search space: lr log-uniform over ``lr`` (None: the method runs once at its
    defaults, e.g. ALIAS) and ``others`` as ``search.params`` entries ({key: [low, high(, log)]})."""

    lr: tuple[float, float] | None
    others: dict[str, list]

    @property
    def tuned(self) -> bool:
        return self.lr is not None

    def search_args(self) -> list[str]:
        """The ``suite-search`` options that search this space."""
        assert self.lr is not None
        args = [f"search.lr=[{self.lr[0]!r},{self.lr[1]!r}]"]
        return args + [f"search.params.{k}=[{','.join(map(str, v))}]" for k, v in self.others.items()]


@dataclass(frozen=True)
class CompareSettings:
    """One comparison: ``methods`` on ``workloads``, each tuned with ``n_trials`` trials on
    ``tuning_seed``, then rerun with its chosen setting on ``eval_seeds``."""

    name: str
    workloads: tuple[str, ...]
    methods: tuple[str, ...]
    n_trials: int
    tuning_seed: int
    eval_seeds: tuple[int, ...]
    n_jobs: int
    sampler_seed: int
    n_resamples: int
    spaces: dict[str, Space]
    arms: dict[str, dict[str, Any]] = field(default_factory=dict)

    def method_args(self, method: str) -> list[str]:
        """The overrides that select ``method``: a method's config, or an arm's method and its
        fixed settings (e.g. Signum: ``method=signsgd method.momentum=0.9``)."""
        if method not in self.arms:
            return [f"method={method}"]
        arm = dict(self.arms[method])
        return [f"method={arm.pop('method')}", *(f"method.{k}={_value(v)}" for k, v in sorted(arm.items()))]


def _value(value: Any) -> str:
    """A setting as a Hydra override writes it."""
    return str(value).lower() if isinstance(value, bool) else repr(value)


def _arms(node: DictConfig, methods: list[str]) -> dict[str, dict[str, Any]]:
    """``compare.arms``: named variants of a method, each ``{method: <method>, <setting>: value}``;
    an arm named after its own method is that method with fixed settings (e.g. a paper's weight
    decay), reported under the method's name."""
    arms = OmegaConf.to_container(node.arms) if node.get("arms") else {}
    for name, arm in arms.items():
        if name in methods and not (isinstance(arm, dict) and arm.get("method") == name):
            raise ConfigError(
                f"compare.arms.{name}: a method has that name; name the arm otherwise "
                f"(or set compare.arms.{name}.method={name} to fix the method's own settings)"
            )
        if not isinstance(arm, dict) or arm.get("method") not in methods:
            raise ConfigError(
                f"compare.arms.{name}={arm}; allowed: "
                f"{{method: <one of {', '.join(methods)}>, <setting>: value}}"
            )
        for key, value in arm.items():
            if isinstance(value, str) and _reads_as_number(value):
                raise ConfigError(
                    f"compare.arms.{name}.{key}={value!r} is a string, not a number; "
                    f"write it as YAML reads a number (e.g. .inf, -.inf, 1e-3)"
                )
    return arms


def _reads_as_number(text: str) -> bool:
    """Whether ``float`` reads ``text`` (Hydra keeps ``inf`` and ``nan`` as strings)."""
    try:
        float(text)
    except ValueError:
        return False
    return True


def split_argv(argv: list[str]) -> tuple[list[str], list[str]]:
    """``compare.<key>=value`` arguments (prefix removed) and the rest: every run's overrides."""
    return [a.removeprefix(PREFIX) for a in argv if a.startswith(PREFIX)], [
        a for a in argv if not a.startswith(PREFIX)
    ]


def check_overrides(overrides: list[str]) -> None:
    """Plain overrides shared by every run: no flags, no sweep, nothing the comparison sets."""
    for arg in overrides:
        if arg.startswith("-"):
            raise ConfigError(f"suite-compare takes overrides only, not {arg}")
    for o in OverridesParser.create().parse_overrides(overrides):
        if o.is_sweep_override():
            raise ConfigError(f"{o.input_line} is a sweep; every run of a comparison shares one value")
        key = o.key_or_group
        if key in SET_BY_THE_COMPARISON or key.startswith("method.") or key.startswith("search."):
            raise ConfigError(
                f"{o.input_line}: {key.split('.')[0]} is set by the comparison for each run "
                f"(compare.methods, compare.workloads, compare.spaces, compare.eval_seeds)"
            )


def _names(node: Any, key: str, available: list[str]) -> tuple[str, ...]:
    names = list(node) if OmegaConf.is_list(node) else [node]
    if not names or len(set(names)) != len(names):
        raise ConfigError(f"compare.{key}={names} must name at least one, each once")
    for name in names:
        if name not in available:
            raise ConfigError(
                f"compare.{key}: unknown {key[:-1]} '{name}'; available: {', '.join(available)}"
            )
    return tuple(names)


def _int(node: DictConfig, key: str, low: int) -> int:
    value = node[key]
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise ConfigError(f"compare.{key}={value!r} is out of range; allowed: an integer >= {low}")
    return value


def _seeds(node: DictConfig, tuning_seed: int) -> tuple[int, ...]:
    seeds = list(node.eval_seeds) if OmegaConf.is_list(node.eval_seeds) else [node.eval_seeds]
    ok = all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds)
    if not ok or len(set(seeds)) != len(seeds) or len(seeds) < MIN_EVAL_SEEDS:
        raise ConfigError(
            f"compare.eval_seeds={seeds}; allowed: at least {MIN_EVAL_SEEDS} distinct integers >= 0"
        )
    if tuning_seed in seeds:
        raise ConfigError(
            f"compare.eval_seeds={seeds} holds the tuning seed {tuning_seed}; "
            "evaluation seeds must be disjoint from it"
        )
    return tuple(seeds)


def space(method: str, declared: DictConfig | None, lr_ranges: DictConfig) -> Space:
    """The method's declared space, else its lr over ``lr_ranges``, else none (one run)."""
    if declared is None:
        given = lr_ranges.get(method)
        return Space(None if given is None else (float(given[0]), float(given[1])), {})
    others = {k: list(v) for k, v in declared.items() if k != "lr"}
    if "lr" not in declared:
        if others:
            raise ConfigError(
                f"compare.spaces.{method} searches {', '.join(others)} but no lr; add lr: [low, high]"
            )
        return Space(None, {})
    low, high = declared.lr
    if not 0 < low < high:
        raise ConfigError(
            f"compare.spaces.{method}.lr=[{low}, {high}]; allowed: [low, high] with 0 < low < high"
        )
    return Space((float(low), float(high)), others)


def _available(folder: str) -> list[str]:
    return sorted(p.stem for p in (CONF_DIR / folder).glob("*.yaml"))


def settings(compare_args: list[str]) -> CompareSettings:
    """The checked settings: the defaults under ``compare.<key>=...``."""
    defaults = OmegaConf.load(DEFAULTS)
    for arg in compare_args:
        if "=" not in arg or arg.split("=", 1)[0].split(".")[0] not in defaults:
            allowed = ", ".join(sorted(defaults))
            raise ConfigError(f"unknown comparison option compare.{arg}; allowed: compare.<{allowed}>=...")
    node = OmegaConf.merge(defaults, OmegaConf.from_dotlist(compare_args))
    if not isinstance(node.name, str) or not NAME.fullmatch(node.name):
        raise ConfigError(f"compare.name={node.name!r}; allowed: letters, digits, '_', '-', '.'")
    arms = _arms(node, _available("method"))
    methods = _names(node.methods, "methods", _available("method") + sorted(arms))
    tuning_seed = _int(node, "tuning_seed", 0)
    lr_ranges = OmegaConf.load(CONF_DIR / "search.yaml").lr_ranges
    # An arm searches its own declared space, else its method's lr range.
    inherited = {a: lr_ranges[v["method"]] for a, v in arms.items() if v["method"] in lr_ranges}
    ranges = OmegaConf.merge(lr_ranges, inherited)
    unknown = set(node.spaces) - set(_available("method")) - set(arms)
    if unknown:
        raise ConfigError(f"compare.spaces names unknown methods: {', '.join(sorted(unknown))}")
    return CompareSettings(
        name=node.name,
        workloads=_names(node.workloads, "workloads", _available("workload")),
        methods=methods,
        n_trials=_int(node, "n_trials", 1),
        tuning_seed=tuning_seed,
        eval_seeds=_seeds(node, tuning_seed),
        n_jobs=_int(node, "n_jobs", 1),
        sampler_seed=_int(node, "sampler_seed", 0),
        n_resamples=_int(node, "n_resamples", 100),
        spaces={m: space(m, node.spaces.get(m), ranges) for m in methods},
        arms={a: arms[a] for a in methods if a in arms},
    )


def folder(results_dir: str | Path, s: CompareSettings) -> Path:
    """``<results_dir>/compare/<name>``: the comparison's table and figures, a folder per workload."""
    return Path(results_dir) / "compare" / s.name


RECORD = "comparison.yaml"  # the settings and overrides a comparison was started with


def record(s: CompareSettings, shared: list[str]) -> dict[str, Any]:
    """What a comparison's folder records of it (``n_jobs`` changes nothing a run computes)."""
    d = asdict(s)
    d.pop("n_jobs")
    d["spaces"] = {
        m: {"lr": None if sp.lr is None else list(sp.lr), **sp.others} for m, sp in s.spaces.items()
    }
    return json.loads(json.dumps({"settings": d, "overrides": list(shared)}))  # lists, not tuples


def from_record(d: dict[str, Any]) -> tuple[CompareSettings, list[str]]:
    """The settings and shared overrides of a recorded comparison (``n_jobs`` 1)."""
    given = dict(d["settings"])
    spaces = {
        m: Space(None if sp["lr"] is None else tuple(sp["lr"]), {k: v for k, v in sp.items() if k != "lr"})
        for m, sp in given.pop("spaces").items()
    }
    tuples = {k: tuple(given.pop(k)) for k in ("workloads", "methods", "eval_seeds")}
    return CompareSettings(**given, **tuples, n_jobs=1, spaces=spaces), list(d["overrides"])


PER_METHOD = ("spaces", "arms")  # settings keyed by method


def adds_methods(before: dict[str, Any], now: dict[str, Any]) -> bool:
    """Whether ``now`` is ``before`` with methods appended: each method is tuned and evaluated on
    its own, so a method added later gets the runs it would have had from the start."""
    b, n = before["settings"], now["settings"]
    old = b["methods"]
    same = all(b[k] == n[k] for k in b if k not in ("methods", *PER_METHOD))
    kept = all({m: v for m, v in n[k].items() if m in old} == b[k] for k in PER_METHOD)
    return same and kept and n["methods"][: len(old)] == old and before["overrides"] == now["overrides"]


def keep_record(where: Path, s: CompareSettings, shared: list[str]) -> None:
    """Write the record on the first run; a rerun must match it (else another compare.name), or
    append methods to it (:func:`adds_methods`)."""
    path = where / RECORD
    now = record(s, shared)
    if path.is_file():
        before = OmegaConf.to_container(OmegaConf.load(path))
        if before == now:
            return
        if not adds_methods(before, now):
            part = "settings" if before["settings"] != now["settings"] else "overrides"
            raise ConfigError(
                f"the comparison in {where} was started with other {part} ({before[part]}); rerun it "
                f"with its own (new methods may be appended to compare.methods), or start another "
                f"with compare.name=<name>"
            )
    where.mkdir(parents=True, exist_ok=True)
    write_atomic(path, OmegaConf.to_yaml(OmegaConf.create(now)))
