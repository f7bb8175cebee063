"""lm-eval on the local ``suite_math`` task: it agrees with the suite's own exact match, the loop
logs it, and the ``lm_eval`` CLI loads a checkpoint that ``suite-train`` saved. No network."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
from helpers import run_job
from transformers import AutoTokenizer

from suite.data import CausalCollator, Example
from suite.data.synthetic_math import build
from suite.downstream import TASK_DIR, flat_metrics, lm_eval_on_model, summary_keys
from suite.evaluate import exact_match_accuracy
from suite.lm_eval_tasks.utils import load_docs
from suite.models import byte_tokenizer, tiny_qwen3
from suite.track.store import read_metrics

OFFLINE = {"HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    for key, value in OFFLINE.items():
        monkeypatch.setenv(key, value)


def overfit_model(examples: list[Example], steps: int = 40):
    """A tiny model trained on ``examples`` until it answers some of them right (not all)."""
    tok = byte_tokenizer()
    model = tiny_qwen3(tok, hidden_size=64, num_layers=2, num_heads=2, num_kv_heads=1, intermediate_size=128)
    batch = CausalCollator(tok, 192)(examples)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    torch.manual_seed(0)
    for _ in range(steps):
        model(**batch).loss.backward()
        opt.step()
        opt.zero_grad()
    return model, tok


@pytest.mark.slow
def test_local_task_agrees_with_our_exact_match():
    test = build(n_train=0, n_test=16).test
    model, tok = overfit_model(test[:10])  # the last six are unseen: mostly wrong
    ours = exact_match_accuracy(model, tok, test, batch_size=8, max_new_tokens=48, progress=False)
    assert 0 < ours < 1, f"a mixed score makes the comparison telling; got {ours}"
    theirs = lm_eval_on_model(model, tok, test, batch_size=8, max_gen_toks=48)
    assert theirs == {"lm_eval/suite_math/exact_match": pytest.approx(ours)}
    assert model.training  # the train/eval mode is given back


@pytest.mark.slow
def test_loop_logs_lm_eval_and_the_cli_loads_the_checkpoint(tmp_path):
    summary = run_job(
        tmp_path,
        "method=adamw",
        "save_checkpoint=true",
        "lm_eval.tasks=[suite_math]",
        "lm_eval.limit=4",
        "lm_eval.max_gen_toks=8",
    )
    run_dir = tmp_path / "default" / "adamw-seed0"
    em = summary["lm_eval_suite_math_exact_match"]
    assert 0 <= em <= 1
    assert json.loads((run_dir / "summary.json").read_text())["lm_eval_suite_math_exact_match"] == em
    rows = [r for r in read_metrics(run_dir) if "lm_eval/suite_math/exact_match" in r]
    assert rows == [{"train/step": summary["steps"], "lm_eval/suite_math/exact_match": em}]
    docs = run_dir / "lm_eval" / "suite_math.jsonl"
    assert len(docs.read_text().splitlines()) == 16  # the run's whole test split (TINY: 16)

    checkpoint = run_dir / "checkpoint"
    tok = AutoTokenizer.from_pretrained(checkpoint)
    prompt = "Question: 2 + 3?\nAnswer: "
    assert (
        tok(prompt, add_special_tokens=False)["input_ids"]
        == byte_tokenizer()(prompt, add_special_tokens=False)["input_ids"]
    )

    out = tmp_path / "lm_eval_out"
    cmd = [
        sys.executable,
        "-m",
        "lm_eval",
        "--model",
        "hf",
        "--model_args",
        f"pretrained={checkpoint},add_bos_token=False,dtype=float32",
        "--tasks",
        "suite_math",
        "--include_path",
        str(TASK_DIR),
        "--limit",
        "4",
        "--device",
        "cpu",
        "--batch_size",
        "4",
        "--gen_kwargs",
        "max_gen_toks=8",
        "--metadata",
        json.dumps({"suite_math_docs": str(docs)}),
        "--output_path",
        str(out),
    ]
    env = {**os.environ, **OFFLINE, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (results,) = out.rglob("results_*.json")
    cli = flat_metrics(json.loads(results.read_text()))
    assert cli == {"lm_eval/suite_math/exact_match": pytest.approx(em)}
    assert json.loads(results.read_text())["results"]["suite_math"]["sample_len"] == 4


def test_off_by_default(job):
    assert list(job().lm_eval.tasks) == []


def test_default_docs_are_the_default_test_split():
    docs = load_docs(pretrained="ignored")["test"]
    default = build(n_train=0, n_test=200, seed=0).test
    assert len(docs) == 200
    assert (docs[0]["prompt"], docs[0]["target"], docs[0]["answer"]) == (
        default[0].prompt,
        default[0].target,
        default[0].answer,
    )


def test_metric_names():
    results = {
        "results": {
            "suite_math": {
                "alias": "suite_math",
                "sample_len": 4,
                "exact_match,last-answer": 0.25,
                "exact_match_stderr,last-answer": 0.1,
            },
            "gsm8k": {"exact_match,strict-match": 0.5, "exact_match,flexible-extract": 0.75},
        }
    }
    flat = flat_metrics(results)
    assert flat == {
        "lm_eval/suite_math/exact_match": 0.25,
        "lm_eval/gsm8k/exact_match_strict-match": 0.5,
        "lm_eval/gsm8k/exact_match_flexible-extract": 0.75,
    }
    assert summary_keys(flat)["lm_eval_suite_math_exact_match"] == 0.25


def test_empty_test_split_is_refused():
    tok = byte_tokenizer()
    with pytest.raises(ValueError, match="test split is empty"):
        lm_eval_on_model(
            tiny_qwen3(tok, hidden_size=16, num_layers=1, num_heads=1, num_kv_heads=1, intermediate_size=16),
            tok,
            [],
        )
