"""Downstream evaluation with lm-eval on the in-memory trained model.

``suite_math`` is the run's own test split as a local lm-eval task (``suite/lm_eval_tasks``):
greedy generation, exact match on the number after the last ``####``. At paper scale the same
function takes lm-eval's own tasks (``gsm8k``, ``minerva_math``, ``hendrycks_math``), which
download their data from the Hugging Face hub.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Sequence
from pathlib import Path

from omegaconf import DictConfig
from torch import nn
from transformers import PreTrainedTokenizerBase

from suite.data import Example
from suite.lm_eval_tasks.utils import DOCS_KEY, write_docs

TASK_DIR = Path(__file__).parent / "lm_eval_tasks"
LOCAL_TASKS = ("suite_math",)

log = logging.getLogger(__name__)


def flat_metrics(results: dict, prefix: str = "lm_eval") -> dict[str, float]:
    """lm-eval's ``results["results"]`` as ``{"<prefix>/<task>/<metric>": value}``.

    Metric keys come as "exact_match,<filter>"; the filter name is dropped when a task has one
    filter, kept ("exact_match_<filter>") otherwise. Standard errors and aliases are left out.
    """
    flat = {}
    for task, row in results["results"].items():
        metrics = {
            k: v for k, v in row.items() if "," in k and "_stderr," not in k and isinstance(v, (int, float))
        }
        filters = {k.split(",", 1)[1] for k in metrics}
        for key, value in metrics.items():
            name, flt = key.split(",", 1)
            name = name if len(filters) == 1 else f"{name}_{flt}"
            flat[f"{prefix}/{task}/{name}"] = float(value)
    return flat


def lm_eval_on_model(
    model: nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    test_examples: Sequence[Example],
    tasks: Sequence[str] = LOCAL_TASKS,
    limit: int | None = None,
    batch_size: int = 16,
    max_gen_toks: int = 64,
    workdir: Path | None = None,
) -> dict[str, float]:
    """Run lm-eval ``tasks`` on ``model`` as it is in memory; returns flat metrics, e.g.
    ``{"lm_eval/suite_math/exact_match": 0.12}``.

    ``suite_math`` reads ``test_examples`` (written as ``<workdir>/suite_math.jsonl``, a temporary
    folder when ``workdir`` is None); ``limit`` keeps the first ``limit`` docs of every task.
    Prompts are encoded without special tokens (``add_bos_token=False``: ByT5 would append its
    eos), as the suite's own exact-match evaluation encodes them.
    """
    from lm_eval import simple_evaluate
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    if not tasks:
        raise ValueError("lm_eval_on_model: give at least one task, e.g. tasks=['suite_math']")
    if "suite_math" in tasks and not test_examples:
        raise ValueError("lm_eval_on_model: suite_math needs test examples; the test split is empty")
    if hasattr(model, "get_base_model"):  # peft: lm-eval wants the transformers model
        model = model.get_base_model()
    was_training = model.training
    model.eval()
    with tempfile.TemporaryDirectory() as tmp:
        docs = write_docs(list(test_examples), Path(workdir or tmp) / "suite_math.jsonl")
        lm = HFLM(
            pretrained=model,
            tokenizer=tokenizer,
            batch_size=batch_size,
            max_gen_toks=max_gen_toks,
            add_bos_token=False,
        )
        manager = TaskManager(
            include_path=str(TASK_DIR),
            metadata={DOCS_KEY: str(docs)},
            include_defaults=not set(tasks) <= set(LOCAL_TASKS),
        )
        results = simple_evaluate(
            model=lm,
            tasks=list(tasks),
            task_manager=manager,
            limit=limit,
            gen_kwargs={"max_gen_toks": max_gen_toks},
            log_samples=False,
            bootstrap_iters=0,
        )
    model.train(was_training)
    metrics = flat_metrics(results)
    log.info("lm-eval: %s", metrics)
    return metrics


def summary_keys(metrics: dict[str, float]) -> dict[str, float]:
    """``{"lm_eval/suite_math/exact_match": x}`` -> ``{"lm_eval_suite_math_exact_match": x}``."""
    return {key.replace("/", "_"): value for key, value in metrics.items()}


def evaluate_and_log(
    cfg: DictConfig,
    model: nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    test_examples: Sequence[Example],
    step: int,
    record,
    tracker,
) -> dict[str, float]:
    """The loop's hook (``cfg`` is the ``lm_eval:`` block): run the tasks, log the metrics to the
    results store and W&B at ``step``, return them as flat summary keys. Docs of ``suite_math``
    go to ``<run dir>/lm_eval/suite_math.jsonl``."""
    metrics = lm_eval_on_model(
        model,
        tokenizer,
        test_examples,
        tasks=list(cfg.tasks),
        limit=cfg.limit,
        batch_size=cfg.batch_size,
        max_gen_toks=cfg.max_gen_toks,
        workdir=record.folder / "lm_eval",
    )
    row = {"train/step": step, **metrics}
    record.log(row)
    tracker.log(row)
    return summary_keys(metrics)
