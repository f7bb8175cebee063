"""Every bad input stops ``suite-train`` before any compute: one line that says what was wrong and
what is allowed, exit status 2, no traceback, nothing written to the results folder.

Each case runs the console entry point in-process (``suite.train.main`` with ``sys.argv`` set), so
the path is the command line's: the check before Hydra starts, and the checks at the top of the
run for what only the running process can know (the device).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from helpers import FAST, TINY, on_cpu

from suite import loop, train

GSM8K_OK = {"question": "What is 2 + 3?", "answer": "2 + 3 = 5\n#### 5"}


def jsonl(path, *records) -> str:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records))
    return str(path)


def model_dir(tmp, *files) -> str:
    d = tmp / "ckpt"
    d.mkdir()
    for f in files:
        (d / f).write_text("{}")
    return str(d)


# (case id, overrides (a callable gets the inputs folder), the message the line must contain)
CASES = [
    ("lr-inf", ["method.lr=inf"], "method.lr=inf is out of range; allowed: null or a finite number > 0"),
    ("lr-nan", ["method.lr=nan"], "method.lr=nan is out of range"),
    ("lr-negative", ["method.lr=-1"], "method.lr=-1 is out of range"),
    (
        "weight-decay-inf",
        ["method=adamw", "method.weight_decay=inf"],
        "method.weight_decay=inf is out of range",
    ),
    ("lora-rank", ["method=lora", "method.r=1000"], "method.r=1000 exceeds the smaller dimension"),
    ("galore-rank", ["method=galore", "method.rank=1000"], "method.rank=1000 exceeds the smaller dimension"),
    ("apollo-rank", ["method=apollo", "method.rank=64"], "method.rank=64 exceeds the smaller dimension of"),
    (
        "qgalore-groups",
        ["method=qgalore", "method.rank=8", "method.quant_group_size=1000"],
        "method.quant_group_size=1000 does not divide the",
    ),
    (
        "rank-zero",
        ["method=galore", "method.rank=0"],
        "method.rank=0 is out of range; allowed: an integer >= 1",
    ),
    ("depth-bias", ["method=absignsgd", "method.depth_bias=-1"], "method.depth_bias=-1 is out of range"),
    ("fp16-cpu", ["train.autocast=fp16"], "train.autocast=fp16 needs CUDA"),
    (
        "loss-chunks-zero",
        ["train.loss_chunks=0"],
        "train.loss_chunks=0 is out of range; allowed: null or an integer",
    ),
    (
        "loss-chunks-long",
        ["train.loss_chunks=500"],
        "train.loss_chunks=500 is more than the 95 predicted tokens of data.max_length=96; allowed: 1 to 95",
    ),
    (
        "audit-step",
        ["memory.audit_step=0"],
        "memory.audit_step=0 is out of range; allowed: null or an integer",
    ),
    ("timeline-no-audit", ["memory.timeline=true"], "memory.timeline=true draws the audited step: set"),
    ("fp16-auto-no-gpu", ["train.autocast=fp16", "device=auto"], "train.autocast=fp16 needs CUDA"),
    ("cuda-no-gpu", ["device=cuda"], "device=cuda but no CUDA device is visible"),
    (
        "batch-too-big",
        ["train.batch_size=100000"],
        "train.batch_size=100000 is larger than the training split",
    ),
    ("unknown-experiment", ["experiment=nope"], "unknown experiment 'nope'; available: "),
    ("unknown-method", ["method=nope"], "unknown method 'nope'; available: "),
    ("added-train-key", ["+train.typo=1"], "unknown key train.typo; train accepts: "),
    ("added-method-key", ["+method.typo=1"], "unknown key method.typo; method accepts: "),
    (
        "trait-override",
        ["method.traits.distributed=averaged"],
        "method.traits.distributed cannot be overridden",
    ),
    ("typo-no-plus", ["train.typo=1"], "Could not override 'train.typo'"),
    ("in-backward-accum", ["method=sqmeft", "train.grad_accum=2"], "cannot accumulate gradients"),
    (
        "fused-accum",
        ["method=signsgd", "method.fused_backward=true", "train.grad_accum=2"],
        "set train.grad_accum=1",
    ),
    ("in-backward-clip", ["method=lomo", "train.max_grad_norm=1.0"], "set train.max_grad_norm=null"),
    (
        "offload-clip",
        ["method=adamw_offload", "train.max_grad_norm=1.0"],
        "method adamw_offload copies each gradient to its optimizer inside backward, so the loop cannot "
        "clip before its step; set train.max_grad_norm=null",
    ),
    (
        "offload-accum",
        ["method=adamw_offload", "method.offload_gradients=true", "train.grad_accum=2"],
        "method.offload_gradients=True cannot accumulate gradients: adamw_offload needs "
        "offload_gradients == False for train.grad_accum>1; set train.grad_accum=1",
    ),
    ("cuda-only-on-cpu", ["method=adamw_offload"], "method adamw_offload needs CUDA (torchao's"),
    (
        "own-scaler-clip",
        ["method=absignsgd", "method.fp16=true", "train.max_grad_norm=1.0"],
        "unscales its own",
    ),
    ("clip-negative", ["train.max_grad_norm=-1"], "train.max_grad_norm=-1 is out of range"),
    ("val-target-no-val", ["train.val_target_loss=1.0"], "train.val_target_loss needs the validation loss"),
    ("val-no-split", ["train.val_every=2", "data.n_val=0"], "train.val_every needs a validation split"),
    ("checkpoint-every", ["train.checkpoint_every=0"], "train.checkpoint_every=0 is out of range"),
    ("scheduler", ["train.lr_scheduler=wobbly"], "train.lr_scheduler='wobbly' is out of range"),
    ("min-lr-missing", ["train.lr_scheduler=cosine_with_min_lr"], "needs train.min_lr_ratio"),
    ("min-lr-range", ["train.min_lr_ratio=1.5"], "train.min_lr_ratio=1.5 is out of range"),
    ("scheduler-on-a-metric", ["train.lr_scheduler=reduce_lr_on_plateau"], "steps on a metric"),
    ("overwrite-and-resume", ["overwrite=true", "resume=true"], "contradict each other"),
    ("run-name-up", ["run_name=../../victim"], "run_name='../../victim' is out of range; allowed: a folder"),
    ("run-name-absolute", [lambda t: f"run_name={t.parent}/victim"], "victim' is out of range; allowed"),
    ("run-name-dots", ["run_name=.."], "run_name='..' is out of range"),
    ("run-name-long", ["run_name=" + "a" * 300], "of 1 to 120 printable characters"),
    ("run-name-control", ["run_name='a\x07b'"], "run_name='a\\x07b' is out of range"),
    ("experiment-name-up", ["experiment_name=../victim"], "experiment_name='../victim' is out of range"),
    ("experiment-name-absolute", [lambda t: f"experiment_name={t.parent}/victim"], "victim' is out of"),
    ("results-is-file", [lambda t: f"results_dir={jsonl(t / 'file', 'x')}"], "is a file, not a folder"),
    ("results-unwritable", ["results_dir=/proc/suite-results"], "cannot write in /proc"),
    ("model-missing", ["model=qwen3_8b", "model.path=./no/such/dir"], "is not a directory"),
    ("model-empty", ["model=qwen3_8b", lambda t: f"model.path={model_dir(t)}"], "has no config.json"),
    (
        "model-no-weights",
        ["model=qwen3_8b", lambda t: f"model.path={model_dir(t, 'config.json')}"],
        "has no weights (*.safetensors",
    ),
    (
        "model-no-tokenizer",
        ["model=qwen3_8b", lambda t: f"model.path={model_dir(t, 'config.json', 'model.safetensors')}"],
        "has no tokenizer (tokenizer.json",
    ),
    ("data-missing", ["data=gsm8k", "data.path=/no/such.jsonl"], "data.path=/no/such.jsonl does not exist"),
    ("data-empty", ["data=gsm8k", lambda t: f"data.path={jsonl(t / 'd.jsonl')}"], "is empty; it needs one"),
    (
        "data-malformed",
        ["data=gsm8k", lambda t: f"data.path={jsonl(t / 'd.jsonl', GSM8K_OK, GSM8K_OK, '{oops')}"],
        "d.jsonl line 3 is not valid JSON",
    ),
    (
        "data-missing-field",
        ["data=gsm8k", lambda t: f"data.path={jsonl(t / 'd.jsonl', GSM8K_OK, {'question': 'q'})}"],
        "d.jsonl line 2 lacks the field(s) answer; each record needs question, answer",
    ),
    (
        "data-no-final-answer",
        [
            "data=gsm8k",
            lambda t: f"data.path={jsonl(t / 'd.jsonl', GSM8K_OK, {'question': 'q', 'answer': '5'})}",
        ],
        "d.jsonl line 2: the answer has no final '#### <number>' line",
    ),
    (
        "val-takes-every-record",
        ["data=gsm8k", "data.n_test=1", lambda t: f"data.path={jsonl(t / 'd.jsonl', *[GSM8K_OK] * 4)}"],
        "data.n_val=200 would hold out every training record of data.path (3 after the test split); "
        "allowed: 0..2",
    ),
    ("wandb-online", ["logger=wandb", "logger.mode=online"], "logger.mode=online but no W&B credentials"),
    (
        "sweep-shares-folder",
        ["-m", "method=signsgd", "method.lr=1e-3,1e-2"],
        "2 jobs of this sweep would write",
    ),
]


@pytest.mark.parametrize("case, overrides, message", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_before_any_work(tmp_path, monkeypatch, capsys, case, overrides, message):
    inputs, results = tmp_path / "inputs", tmp_path / "results"
    inputs.mkdir()
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("HOME", str(inputs))  # no ~/.netrc with W&B credentials
    overrides = [o(inputs) if callable(o) else o for o in overrides]
    other_model = any(o.startswith("model=") for o in overrides)
    tiny = [o for o in TINY if not (other_model and o.startswith("model."))]
    argv = [*tiny, *FAST, f"results_dir={results}", *overrides]
    monkeypatch.setattr(sys, "argv", ["suite-train", *argv])
    with pytest.raises(SystemExit) as exit_:
        train.main()
    err = capsys.readouterr().err
    assert exit_.value.code == 2
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("suite-train: error: "), err
    assert message in lines[0] and "Traceback" not in err
    assert not results.exists() or not any(results.iterdir())
    assert {p.name for p in tmp_path.iterdir()} <= {"inputs", "results"}  # nothing beside the store


def test_a_finished_run_is_refused_before_any_work(tmp_path, monkeypatch, capsys):
    folder = tmp_path / "default" / "adamw-seed0"
    folder.mkdir(parents=True)
    (folder / "summary.json").write_text(json.dumps({"status": "ok"}))
    before = sorted(p.name for p in folder.iterdir())
    monkeypatch.setattr(sys, "argv", ["suite-train", *TINY, *FAST, f"results_dir={tmp_path}"])
    with pytest.raises(SystemExit):
        train.main()
    err = capsys.readouterr().err.strip()
    assert err.endswith(
        "already holds a run (status ok); pass overwrite=true to replace it, "
        "resume=true to continue it, or choose another run_name"
    )
    assert sorted(p.name for p in folder.iterdir()) == before


def test_checking_a_command_line_does_not_import_torch():
    code = "import sys; from suite import preflight; preflight.check(['method=lora']); "
    code += "print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_the_scheduler_names_are_transformers_own():
    from transformers import SchedulerType

    from suite.validate import SCHEDULERS

    assert SCHEDULERS == tuple(s.value for s in SchedulerType)


@pytest.mark.parametrize(
    "method", [on_cpu(p.stem) for p in sorted(train.preflight.CONF_DIR.glob("method/*.yaml"))]
)
@pytest.mark.parametrize("fused", [False, True])
def test_the_declared_traits_match_every_built_method(method, fused):
    """What the command-line check reads from the YAML's traits is what the builder returns."""
    from helpers import compose_job

    from suite import traits
    from suite.pretrain import tiny_base

    cfg = compose_job(f"method={method}")
    if "fused_backward" not in cfg.method and fused:
        pytest.skip("no fused_backward option")
    if fused:
        cfg.method.fused_backward = True
    model, _ = tiny_base(
        hidden_size=32, num_layers=2, num_heads=2, num_kv_heads=1, intermediate_size=64, pretrain_steps=0
    )
    built = loop.build_method(cfg, model)
    declared = traits.of(cfg.method)
    assert declared.in_backward(cfg.method) == built.updates_in_backward
    assert declared.owns_grad_scaler(cfg.method) == (built.grad_scaler is not None)


def test_a_run_folder_linked_outside_the_store_is_refused(tmp_path, monkeypatch, capsys):
    results, outside = tmp_path / "results", tmp_path / "outside"
    (results / "default").mkdir(parents=True)
    outside.mkdir()
    (results / "default" / "linked").symlink_to(outside)
    argv = [*TINY, *FAST, f"results_dir={results}", "run_name=linked"]
    monkeypatch.setattr(sys, "argv", ["suite-train", *argv])
    with pytest.raises(SystemExit) as exit_:
        train.main()
    lines = capsys.readouterr().err.strip().splitlines()
    assert exit_.value.code == 2 and len(lines) == 1
    assert f"resolves to {outside}, outside results_dir {results}" in lines[0]
    from helpers import run_job

    with pytest.raises(train.ConfigError, match="outside results_dir"):  # the run's own check
        run_job(results, "run_name=linked")
    assert not any(outside.iterdir())


def test_a_refused_command_is_one_line_without_loading_torch():
    code = textwrap.dedent("""
        import sys
        sys.argv = ["suite-train", "method.lr=-1"]
        from suite.train_cli import main
        try:
            main()
        except SystemExit as e:
            print(e.code, [m for m in ("torch", "transformers", "peft") if m in sys.modules])
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "2 []"
    assert proc.stderr.splitlines() == [
        "suite-train: error: method.lr=-1 is out of range; allowed: null or a finite number > 0"
    ]


@pytest.mark.slow
def test_loading_the_libraries_prints_no_hub_kernel_notice():
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    code = "import suite, peft, galore_torch"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert "kernels-community" not in proc.stderr, proc.stderr


def test_a_length_that_cuts_every_target_is_refused_and_leaves_nothing(tmp_path):
    from helpers import run_job

    with pytest.raises(
        train.ConfigError, match=r"data.max_length=8 leaves no supervised token: the shortest"
    ):
        run_job(tmp_path, "data.max_length=8")
    assert not [p for p in tmp_path.rglob("*") if not p.is_dir()]  # no config, summary or lock


@pytest.mark.slow
@pytest.mark.parametrize(
    "command",
    [
        [str(Path(sys.executable).with_name("suite-estimate")), "model=nope"],
        [sys.executable, "-m", "suite.toy", "experiment=nope"],
    ],
    ids=["suite-estimate", "toy"],
)
def test_an_unknown_name_is_one_line_in_every_command(command, tmp_path):
    proc = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and "unknown" in lines[0], proc.stderr[-2000:]
