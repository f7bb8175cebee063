"""Docs of the ``suite_math`` lm-eval task: the run's own test split, or the default one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import datasets

from suite.data import Example
from suite.data.synthetic_math import build

DOCS_KEY = "suite_math_docs"  # metadata key: path of a jsonl of {"prompt", "target", "answer"}


def write_docs(examples: list[Example], path: Path) -> Path:
    """``examples`` as the jsonl that :func:`load_docs` reads."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = (json.dumps({"prompt": ex.prompt, "target": ex.target, "answer": ex.answer}) for ex in examples)
    path.write_text("".join(f"{line}\n" for line in lines))
    return path


def load_docs(**metadata: Any) -> datasets.DatasetDict:
    """lm-eval's ``custom_dataset`` hook: the jsonl at ``metadata["suite_math_docs"]``, else the
    test split of the default ``data=synthetic_math`` (200 problems, seed 0). Other metadata
    (lm-eval passes the model args too) is ignored."""
    path = metadata.get(DOCS_KEY)
    if path:
        rows = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
    else:
        rows = [
            {"prompt": ex.prompt, "target": ex.target, "answer": ex.answer}
            for ex in build(n_train=0, n_test=200, seed=0).test
        ]
    return datasets.DatasetDict({"test": datasets.Dataset.from_list(rows)})
