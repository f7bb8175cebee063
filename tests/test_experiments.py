"""Every experiment file composes, validates every job of its sweep, and runs one step on CPU.

Tiny experiments run in-process with the TINY/FAST overrides of the test helpers, ``train.max_steps=1``
and no eval: every method of a ``method`` sweep, the first value of every other sweep
parameter. Paper-scale experiments (``paper_*``) compose and validate with placeholder paths.
One sweep goes through the real ``suite-train -m`` command line, and the toy through its own.
"""

from __future__ import annotations

import functools
import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import FAST, TINY, gsm8k_train
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig, OmegaConf

from suite import preflight
from suite.configs import CONF_DIR
from suite.toy import run_toy
from suite.train import run

REPO = Path(__file__).resolve().parents[1]
EXPERIMENTS = sorted(p.stem for p in (REPO / "experiments").glob("*.yaml"))
TINY_EXPERIMENTS = [e for e in EXPERIMENTS if not e.startswith("paper_")]
PAPER_EXPERIMENTS = [e for e in EXPERIMENTS if e.startswith("paper_")]
GSM8K = gsm8k_train()
ONE_STEP = ["train.max_steps=1", "eval.n_examples=0"]


def needed(name: str) -> list[str]:
    """Values the user must give on the command line (placeholders here)."""
    extra = []
    if name.startswith("paper_"):
        # a hub id (org/name) for the checkpoint: preflight does not look for it on disk
        extra += ["model.path=example-org/checkpoint", "data.path=/nonexistent/train.jsonl"]
    if name.endswith("_gsm8k"):
        extra += [f"data.path={GSM8K or '/nonexistent/gsm8k/train.jsonl'}"]
    return extra


@functools.cache
def composed(*overrides: str):
    """The config of ``overrides`` with Hydra's section, composed once per session (the tests here
    ask for the same ones many times) and read-only, so no test changes what another reads."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        cfg = compose("config", overrides=list(overrides), return_hydra_config=True)
    OmegaConf.set_readonly(cfg, True)
    return cfg


def sweep_params(name: str) -> dict[str, str]:
    cfg = composed(f"experiment={name}", *needed(name))
    return {k: str(v) for k, v in OmegaConf.to_container(cfg.hydra.sweeper.params).items()}


def one_step_jobs(name: str) -> list[list[str]]:
    """Overrides of the jobs to run: every method of the sweep, the first value of the rest."""
    params = sweep_params(name)
    firsts = [f"{k}={v.split(',')[0]}" for k, v in params.items() if k != "method"]
    methods = params["method"].split(",") if "method" in params else [None]
    return [[*firsts, *([f"method={m}"] if m else [])] for m in methods]


def test_every_experiment_names_its_results_folder_and_sweep():
    for name in EXPERIMENTS:
        cfg = composed(f"experiment={name}", *needed(name))
        assert name.startswith(cfg.experiment_name), name  # companions share the artefact's folder
        assert cfg.hydra.sweeper.params, f"{name} has no hydra.sweeper.params"
        assert cfg.hydra.sweep.dir == f"results/{cfg.experiment_name}"


@pytest.mark.parametrize("whole", [False, pytest.param(True, marks=pytest.mark.slow)])
@pytest.mark.parametrize("name", EXPERIMENTS)
def test_every_job_of_the_sweep_validates(name, whole, tmp_path):
    """The command ``suite-train -m experiment=<name>`` would check: every job of the sweep (into
    an empty results folder, so committed runs do not refuse it); not ``whole``: every arm, the
    SCALED axes (seeds, lr grids, sizes) at their first value."""
    params = sweep_params(name)
    if not whole:
        params = {k: v.split(",")[0] if k.startswith(SCALED) else v for k, v in params.items()}
    sweep = [f"{k}={v}" for k, v in params.items()]
    if name == "stosignsgd_fig1":  # not an LLM job; its own app reads the `toy` section
        assert composed(f"experiment={name}").toy.optimizer in ("signsgd", "stosignsgd")
        return
    data = tmp_path / "train.jsonl"  # preflight reads a local data file: one fit for every format
    fields = ("problem", "generated_solution", "expected_answer", "instruction", "input", "output")
    fields += ("question",)
    record = json.dumps(dict.fromkeys(fields, "1") | {"answer": "1\n#### 1"})
    data.write_text((record + "\n") * 2400)  # more than any paper test split plus a batch
    given = [f"data.path={data}" if o.startswith("data.path=/nonexistent/") else o for o in needed(name)]
    preflight.check([f"experiment={name}", *given, *sweep, f"results_dir={tmp_path}"])


@pytest.mark.slow
@pytest.mark.parametrize("name", [e for e in TINY_EXPERIMENTS if e != "stosignsgd_fig1"])
def test_tiny_experiment_runs_one_step(name, tmp_path):
    if name.endswith("_gsm8k") and GSM8K is None:
        pytest.skip("no GSM8K copy given: set $SUITE_GSM8K_TRAIN or pass --gsm8k PATH")
    for job in one_step_jobs(name):
        GlobalHydra.instance().clear()
        with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
            cfg = compose(
                "config",
                overrides=[
                    *TINY,
                    *FAST,
                    f"experiment={name}",
                    *needed(name),
                    *job,
                    *ONE_STEP,
                    f"results_dir={tmp_path}",
                ],
            )
        if "rank" in cfg.method:  # TINY's k_proj is 16 wide; the YAMLs' rank 32 is refused on it
            cfg.method.rank = min(cfg.method.rank, 8)
        summary = run(cfg)
        assert summary["status"] == "ok", (name, job, summary.get("error"))
        assert (tmp_path / cfg.experiment_name / cfg.run_name / "summary.json").exists()


def tiny_twin(name: str) -> str | None:
    """The tiny experiment a paper one mirrors: ``paper_<x>`` -> ``<x>``."""
    twin = name.removeprefix("paper_")
    return twin if twin in TINY_EXPERIMENTS else None


def precision_text(name: str) -> str:
    """The text of an experiment file and of the paper files it extends."""
    text = (REPO / "experiments" / f"{name}.yaml").read_text()
    defaults = OmegaConf.load(REPO / "experiments" / f"{name}.yaml").get("defaults", [])
    bases = [d for d in defaults if isinstance(d, str) and d.startswith("paper_")]
    return text + "".join(precision_text(base) for base in bases)


# What a tiny twin keeps from its paper experiment, arm by arm. Sizes, lrs, lengths and the batch
# are scaled to the tiny model and the CPU (each tiny file says how); so is the accumulation count,
# which at paper scale builds the paper's batch from micro-batches a GPU holds (ALIAS: 32 x 16
# sequences). An arm is the method plus every value of the sweep but those of the SCALED axes
# (seeds, sizes or lr grids of one scale, and a paper recipe's precision: tiny arms run fp32
# weights). Its lr is compared as the grouping of the file's arms of one method by lr (which arms
# share an lr), which scaling keeps; its downstream tasks as their number (lm-eval's hub tasks at
# paper scale stand as the synthetic task at tiny scale).
SAME_STRUCTURE = ["train.gradient_checkpointing", "train.lr_scheduler"]
SCALED = ("seed", "method.lr", "model.", "precision")


def sweep_jobs(name: str, *extra: str) -> list[list[str]]:
    """The jobs of ``name``'s sweep that make its arms, as override lists: the product Hydra's
    basic sweeper launches, at the first value of each SCALED axis (seeds, sizes and lr grids do
    not make arms)."""
    params = OmegaConf.to_container(
        composed(f"experiment={name}", *needed(name), *extra).hydra.sweeper.params
    )
    axes = [
        [f"{k}={v}" for v in str(values).split(",")[: 1 if k.startswith(SCALED) else None]]
        for k, values in params.items()
    ]
    return [list(job) for job in itertools.product(*axes)]


def arm_configs(name: str, *extra: str) -> list[tuple[list[str], DictConfig]]:
    """Every job of :func:`sweep_jobs` with its config."""
    return [
        (job, composed(f"experiment={name}", *needed(name), *extra, *job)) for job in sweep_jobs(name, *extra)
    ]


@functools.cache
def arms(name: str, *extra: str) -> dict[tuple, dict]:
    """``name``'s arms: (method, sweep values) -> the SAME_STRUCTURE values (and the number of
    lm-eval tasks) and the arm's lrs."""
    out: dict[tuple, dict] = {}
    for job, cfg in arm_configs(name, *extra):
        kept = tuple(o for o in job if not o.startswith(SCALED) and not o.startswith("method="))
        arm = out.setdefault((cfg.method.name, *kept), {"structure": set(), "lr": set()})
        structure = [OmegaConf.select(cfg, key) for key in SAME_STRUCTURE]
        arm["structure"].add((*structure, len(cfg.lm_eval.tasks)))
        arm["lr"].add(OmegaConf.select(cfg, "method.lr"))
    return out


def lr_groups(arms_: dict[tuple, dict]) -> set[frozenset]:
    """The arms of each method grouped by the lr(s) they run at: which arms share an lr."""
    groups: dict[tuple, set] = {}
    for arm, seen in arms_.items():
        groups.setdefault((arm[0], tuple(sorted(seen["lr"], key=str))), set()).add(arm)
    return {frozenset(g) for g in groups.values()}


def arm_mismatches(paper: dict[tuple, dict], tiny: dict[tuple, dict]) -> list[str]:
    """Every difference between a paper file's arms and its twin's, one line each."""
    found = [f"arm {a} only in the paper file" for a in sorted(set(paper) - set(tiny))]
    found += [f"arm {a} only in the tiny twin" for a in sorted(set(tiny) - set(paper))]
    for arm in sorted(set(paper) & set(tiny)):
        if paper[arm]["structure"] != tiny[arm]["structure"]:
            found.append(f"arm {arm}: {SAME_STRUCTURE} {paper[arm]['structure']} vs {tiny[arm]['structure']}")
    if not found and lr_groups(paper) != lr_groups(tiny):
        found.append(
            f"arms sharing an lr: {sorted(map(sorted, lr_groups(paper)))} vs tiny "
            f"{sorted(map(sorted, lr_groups(tiny)))}"
        )
    return found


# Paper files whose tiny-scale arms are not a file of their own, with the arm that stands for them
# in the tiny artefact's comparison (experiments/protocol.sh).
ARMS_OF_A_COMPARISON = {
    "paper_stosignsgd_finetune_signum": "compare.arms.signum.method=signsgd",
    "paper_absignsgd_convergence_galore": "compare.arms.galore_layerwise.method=galore_layerwise",
    "paper_absignsgd_convergence_badam": "compare.arms.badam.method=badam",
    "paper_absignsgd_convergence_apollo": "compare.arms.apollo_layerwise.method=apollo_layerwise",
    "paper_alias_vs_tuned_grid": '"compare.spaces.signsgd.weight_decay=[0.0,0.01]"',
}


@pytest.mark.parametrize("name", PAPER_EXPERIMENTS)
def test_tiny_twins_have_the_paper_experiments_structure(name):
    """Same results folder; the same arms (method plus sweep values), each with the paper file's
    checkpointing and schedule kind, and the same arms sharing an lr."""
    if name in ARMS_OF_A_COMPARISON:
        assert ARMS_OF_A_COMPARISON[name] in (REPO / "experiments" / "protocol.sh").read_text()
        return
    twin = tiny_twin(name)
    assert twin is not None, f"{name} has no tiny twin experiments/{name.removeprefix('paper_')}.yaml"
    assert arm_mismatches(arms(name), arms(twin)) == [], (name, twin)
    folder = composed(f"experiment={name}", *needed(name)).experiment_name
    assert folder.removeprefix("paper_") == composed(f"experiment={twin}", *needed(twin)).experiment_name


@pytest.mark.parametrize(
    "paper, twin, planted, expected",
    [
        # an arm's lr moved away from the lr its paper arms share
        (
            "paper_sqmeft_table5",
            "sqmeft_table5",
            ["+variants.no_rms.lr=3e-4", "method.lr='${oc.select:variants.${variant}.lr,1e-2}'"],
            "arms sharing an lr",
        ),
        # an arm the paper file runs and the twin does not (the ablation's gradient step, as it was)
        (
            "paper_absignsgd_ablation",
            "absignsgd_ablation",
            ["hydra.sweeper.params.update=sign"],
            "only in the paper file",
        ),
        # an arm's schedule kind
        ("paper_stosignsgd_finetune", "stosignsgd_finetune", ["train.lr_scheduler=cosine"], "vs"),
    ],
)
def test_the_twin_comparison_finds_a_planted_arm_level_mismatch(paper, twin, planted, expected):
    """The comparison above sees a mismatch of one arm planted in a twin that agrees."""
    assert arm_mismatches(arms(paper), arms(twin)) == []
    found = arm_mismatches(arms(paper), arms(twin, *planted))
    assert found and expected in " ".join(found), found


@pytest.mark.parametrize("name", PAPER_EXPERIMENTS)
def test_paper_experiments_are_paper_scale_at_a_stated_precision(name):
    """Paper model and data; pure 16-bit weights (bf16, or fp16 where the method's own recipe
    trains in it: LOMO), or fp32 weights under bf16 autocast (mixed precision: the experiment file
    says which and why), in every arm (every method)."""
    for job, cfg in arm_configs(name):
        assert cfg.model.name != "tiny" and cfg.data.name != "synthetic_math", name
        assert cfg.experiment_name.startswith("paper_"), name
        precision = (cfg.model.dtype, cfg.train.autocast)
        pure_16_bit = [("bfloat16", None), ("float16", None)]
        assert precision in {*pure_16_bit, ("float32", "bf16")}, (name, job, precision)
    assert "Precision" in precision_text(name), f"{name} (or the paper file it extends) says no Precision"


def test_toy_experiment_runs(tmp_path):
    t = composed("experiment=stosignsgd_fig1").toy
    s = run_toy(tmp_path / "run", optimizer="signsgd", lr=t.lr, steps=50, x0=tuple(t.x0), beta1=t.beta1)
    assert s["status"] == "ok" and (tmp_path / "run" / "metrics.jsonl").exists()


def _cli(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "HYDRA_FULL_ERROR": "1"}
    proc = subprocess.run(
        [sys.executable, *args, f"results_dir={tmp_path}"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


@pytest.mark.slow
def test_multirun_command_line_runs_the_whole_sweep(tmp_path):
    """``suite-train -m experiment=absignsgd_ablation`` launches the file's own sweep."""
    _cli(
        [
            "-c",
            "from suite.train import main; main()",
            "-m",
            "experiment=absignsgd_ablation",
            *TINY,
            *FAST,
            *ONE_STEP,
        ],
        tmp_path,
    )
    runs = sorted(p.parent.name for p in (tmp_path / "absignsgd_ablation").glob("*/summary.json"))
    assert runs == [
        f"{s}-{u}-seed{k}"
        for s in ("cyclic", "depth_biased", "uniform")
        for u in ("gradient", "sign")
        for k in (0, 1)
    ]


@pytest.mark.slow
def test_toy_command_line_runs_the_whole_sweep(tmp_path):
    _cli(["-m", "suite.toy", "-m", "experiment=stosignsgd_fig1", "toy.steps=30"], tmp_path)
    runs = sorted((tmp_path / "stosignsgd_fig1").glob("*/summary.json"))
    assert len(runs) == 6
    assert {json.loads(p.read_text())["method"] for p in runs} == {"signsgd", "stosignsgd"}
