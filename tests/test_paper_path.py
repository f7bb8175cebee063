"""Every arm of every paper experiment, run end to end on a stand-in model, and its notebook's table.

For each ``experiments/paper_*.yaml`` the sweep is read from the file's own ``hydra.sweeper.params``
(so a new arm is covered without touching this file) and every job of it runs in-process on the
model's stand-in (``model=standin_qwen3`` for the Qwen3 checkpoints, ``model=standin_llama`` for
the Llama ones: same family), for two steps on CPU, with the paper job's weight dtype and autocast,
method settings and lr, schedule kind, accumulation count, sequence length and gradient
checkpointing (checked against the experiment as composed). Shortened: the run (two steps instead
of the epochs; warm-up off, so both steps run at the paper's peak lr), the micro-batch (2
sequences: the accumulation count is kept, and ALIAS's grid accumulates 32), the stand-in's depth
(2 blocks: bf16 autocast on CPU costs ~15 ms per small linear layer), the data (a small
local file in the paper dataset's format instead of the hub copy) and the evaluation (two test
problems, 8 new tokens; no lm-eval task, whose data is on the hub). Then the artefact the runs'
folder feeds (``suite.papers``, what the notebook in ``analysis/`` calls) builds its table and
figure from them, and every arm must have moved at least half of its trainable coordinates per step
(the lost-update guard).
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
from helpers import gsm8k_train
from hydra import compose, initialize_config_dir
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig, OmegaConf

from suite import papers, preflight
from suite.configs import CONF_DIR
from suite.track.store import read_summaries
from suite.train import run

REPO = Path(__file__).resolve().parents[1]
PAPER_EXPERIMENTS = sorted(p.stem for p in (REPO / "experiments").glob("paper_*.yaml"))
STANDIN = {"qwen3": "standin_qwen3", "llama": "standin_llama"}  # architecture family -> stand-in
SHORTENED = [
    "train.epochs=null",
    "train.max_steps=2",
    "train.warmup_steps=0",
    "train.warmup_ratio=null",
    "train.batch_size=2",
    "model.num_layers=2",
    "train.log_every=1",
    "train.eval_every=null",
    "data.n_train=48",
    "data.n_test=2",
    "data.n_val=4",
    "eval.max_new_tokens=8",
    "eval.batch_size=2",
    "lm_eval.tasks=[]",
    "logger=none",
    "device=cpu",
]
N_LINES = 64
# What the stand-in run keeps from the paper's job, checked against the experiment file as composed.
PAPER_SETTINGS = [
    "model.dtype",
    "method",
    "train.grad_accum",
    "train.lr_scheduler",
    "train.autocast",
    "train.gradient_checkpointing",
    "data.max_length",
    "seed",
]


# ---------------------------------------------------------------- the experiment files


def composed(*overrides: str, hydra: bool = False) -> DictConfig:
    GlobalHydra.instance().clear()
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        return compose("config", overrides=list(overrides), return_hydra_config=hydra)


def sweep_jobs(name: str) -> list[list[str]]:
    """The override lists of every job ``suite-train -m experiment=<name>`` launches."""
    params = OmegaConf.to_container(composed(f"experiment={name}", hydra=True).hydra.sweeper.params)
    parsed = OverridesParser.create().parse_overrides([f"{k}={v}" for k, v in params.items()])
    axes = [
        [f"{o.key_or_group}={v}" for v in o.sweep_string_iterator()]
        if o.is_sweep_override()
        else [o.input_line]
        for o in parsed
    ]
    return [list(job) for job in itertools.product(*axes)]


def artefact_of(name: str) -> str:
    """The artefact an experiment's runs feed: its results folder without the ``paper_`` prefix.

    Read from the file (or the experiment it extends) rather than composed, so that collecting
    this module stays cheap; the first test checks it against the composed config."""
    spec = OmegaConf.load(REPO / "experiments" / f"{name}.yaml")
    if "experiment_name" in spec:
        return spec.experiment_name.removeprefix("paper_")
    parents = [d for d in spec.get("defaults", []) if isinstance(d, str) and d != "_self_"]
    assert parents, f"{name} neither sets experiment_name nor extends an experiment"
    return artefact_of(parents[0])


ARTEFACTS = sorted({artefact_of(name) for name in PAPER_EXPERIMENTS})


# ---------------------------------------------------------------- small data in the papers' formats


def _jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def _openmathinstruct2(folder: Path) -> Path:
    return _jsonl(
        folder / "openmathinstruct2.jsonl",
        [
            {
                "problem": f"What is {i} plus {2 * i}?",
                "generated_solution": f"Adding, {i} + {2 * i} = {3 * i}. The answer is \\boxed{{{3 * i}}}.",
                "expected_answer": str(3 * i),
            }
            for i in range(N_LINES)
        ],
    )


def _alpaca(folder: Path) -> Path:
    return _jsonl(
        folder / "alpaca.jsonl",
        [
            {
                "instruction": "Classify the sentiment of the sentence.",
                "input": f"The film was {'good' if i % 2 else 'bad'} in part {i}.",
                "output": "positive" if i % 2 else "negative",
            }
            for i in range(N_LINES)
        ],
    )


def _gsm8k(folder: Path) -> Path:
    """The first lines of the real GSM8K training file (the whole file costs seconds per arm)."""
    path = gsm8k_train()
    if path is None:
        pytest.skip("no GSM8K copy given: set $SUITE_GSM8K_TRAIN or pass --gsm8k PATH")
    with open(path, encoding="utf-8") as f:
        head = list(itertools.islice(f, N_LINES))
    (folder / "gsm8k.jsonl").write_text("".join(head))
    return folder / "gsm8k.jsonl"


DATA_FILES = {"openmathinstruct2": _openmathinstruct2, "alpaca": _alpaca, "gsm8k": _gsm8k}


def family(model: DictConfig) -> str:
    """A paper model's architecture family: its published config's ``model_type``, else its name's."""
    if "architecture" in model:
        return model.architecture.model_type
    return next((f for f in STANDIN if model.name.startswith(f)), model.name)


def standin_overrides(name: str, folder: Path) -> list[str]:
    """The stand-in model and a local data file in the format of the experiment's dataset."""
    cfg = composed(f"experiment={name}")
    kind = family(cfg.model)
    assert kind in STANDIN, f"{name}: no stand-in for model={cfg.model.name} ({kind}); add one to STANDIN"
    assert cfg.data.name in DATA_FILES, f"{name}: no test file for data={cfg.data.name}; add one"
    n_examples = min(cfg.eval.n_examples, 2)
    data = DATA_FILES[cfg.data.name](folder)
    return [f"model={STANDIN[kind]}", f"data.path={data}", f"eval.n_examples={n_examples}"]


# ---------------------------------------------------------------- the runs


def unresolved(cfg: DictConfig, key: str):
    """``key``'s value in ``cfg`` with interpolations as written (so ALIAS's ``${train.warmup_steps}``
    stays itself when the stand-in run turns warm-up off)."""
    parent, _, leaf = key.rpartition(".")
    node = OmegaConf.select(cfg, parent) if parent else cfg
    return OmegaConf.to_container(node, resolve=False).get(leaf)


def wide_enough_for_the_rank(cfg: DictConfig) -> list[str]:
    """A wider stand-in for an arm whose method projects onto ``method.rank`` dimensions (GaLore and
    APOLLO at their recipes' rank 128): every projection at least ``rank`` wide (hidden = rank, one
    key/value head per head), else the stand-in as configured."""
    rank, model = OmegaConf.select(cfg, "method.rank"), cfg.model
    if not rank or rank <= model.hidden_size // model.num_heads * model.num_kv_heads:
        return []
    width = max(rank, model.hidden_size)
    ratio = model.intermediate_size // model.hidden_size
    return [
        f"model.hidden_size={width}",
        f"model.num_kv_heads={model.num_heads}",
        f"model.intermediate_size={ratio * width}",
    ]


def run_arms(name: str, tmp_path: Path) -> list[dict]:
    """Every job of ``name``'s sweep on its stand-in; returns their summaries."""
    fixed = standin_overrides(name, tmp_path)
    summaries = []
    for job in sweep_jobs(name):
        overrides = [f"experiment={name}", *job, *fixed, *SHORTENED, f"results_dir={tmp_path / 'runs'}"]
        cfg = composed(*overrides)
        overrides += wide_enough_for_the_rank(cfg)
        preflight.check(overrides)  # what suite-train checks before it runs the job
        cfg = composed(*overrides)
        paper = composed(f"experiment={name}", *job)
        for key in PAPER_SETTINGS:
            assert unresolved(cfg, key) == unresolved(paper, key), (name, job, key)
        summary = run(cfg)
        assert summary["status"] == "ok", (name, job, summary.get("error"))
        summaries.append({**summary, "job": job, "cfg": cfg})
    return summaries


# Methods whose optimizer steps an fp32 master copy and writes its rounding back to the weights:
# a bf16 weight that stays put has lost nothing (the master keeps the update), so the guard's
# fraction of changed weights is not asked of them.
KEEPS_FP32_MASTERS = {"badam"}  # the active block's master copy (suite/methods/badam.py)


def lost_updates(summary: dict) -> str | None:
    """Why an arm stands still (a step moved under half of its trainable coordinates), or None.

    Not asked of runs with stochastic rounding (a step below half a unit in the last place moves a
    coordinate with probability |update| / ulp, unbiased: few coordinates move per step and
    nothing is lost in expectation), of :data:`KEEPS_FP32_MASTERS`, nor of an arm whose file
    states ``known_lost_updates`` (a recipe's pure bf16 kept as the paper ran it; the file also
    runs the arm at fp32 masters, which the guard does check)."""
    cfg = summary["cfg"]
    if cfg.method.get("stochastic_rounding") or summary["method"] in KEEPS_FP32_MASTERS:
        return None
    if cfg.get("known_lost_updates"):  # a recipe's precision, as the paper ran it, stated
        return None
    fraction = summary["update_applied_fraction_min"]
    if fraction is not None and fraction >= 0.5:
        return None
    lr = OmegaConf.select(cfg, "method.lr")
    return f"{' '.join(summary['job']) or cfg.run_name}: {fraction} (lr {lr}, {cfg.model.dtype} weights)"


@pytest.mark.slow
def test_sweeps_are_the_jobs_hydra_launches():
    """The expansion here is Hydra's basic sweeper's (what ``suite-train -m`` runs), for every file."""
    for name in PAPER_EXPERIMENTS:
        params = OmegaConf.to_container(composed(f"experiment={name}", hydra=True).hydra.sweeper.params)
        parsed = OverridesParser.create().parse_overrides([f"{k}={v}" for k, v in params.items()])
        (launched,) = BasicSweeper.split_arguments(parsed, max_batch_size=None)
        assert sweep_jobs(name) == launched, name
        assert artefact_of(name) == composed(f"experiment={name}").experiment_name.removeprefix("paper_")
    assert set(ARTEFACTS) <= set(papers.ARTEFACTS), "every paper experiment feeds a registered artefact"


@pytest.mark.slow
@pytest.mark.parametrize("artefact", ARTEFACTS)
def test_every_arm_runs_on_the_standin_and_the_notebook_builds(artefact, tmp_path):
    names = [n for n in PAPER_EXPERIMENTS if artefact_of(n) == artefact]
    summaries = [s for name in names for s in run_arms(name, tmp_path)]
    for s in summaries:
        assert s["model"].startswith("standin_") and s["steps"] == 2, s["job"]
    folder = tmp_path / "runs" / f"paper_{artefact}"
    assert len(read_summaries(folder)) == len({s["run_name"] for s in summaries}) == len(summaries)
    table, figure = papers.get(artefact).build(folder)
    assert len(table) >= 1, artefact
    assert papers.write(artefact, folder, table, figure).exists()
    lost = [lost_updates(s) for s in summaries if lost_updates(s)]
    assert not lost, f"{artefact}: arms that lose most of their updates at the paper's lr: " + "; ".join(lost)
