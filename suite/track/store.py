"""The results store: one folder per run holding ``config.yaml``, ``metrics.jsonl`` and
``summary.json``.

Every file is written whole to a temporary file in the same folder, flushed to disk and then
renamed over the old one (``os.replace`` is atomic on POSIX and Windows), so a crash leaves a
complete older file or none, never half a file.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from suite.track.record import RunSummary


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that readers see the old file or the new one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


class RunFolder:
    """The files of one run under ``folder``."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.metrics: list[dict[str, Any]] = []

    def write_config(self, cfg: DictConfig) -> None:
        write_atomic(self.folder / "config.yaml", OmegaConf.to_yaml(cfg, resolve=True))

    def log(self, row: dict[str, Any]) -> None:
        self.metrics.append(row)

    def flush_metrics(self) -> None:
        text = "".join(json.dumps(row) + "\n" for row in self.metrics)
        write_atomic(self.folder / "metrics.jsonl", text)

    def write_summary(self, summary: RunSummary) -> None:
        write_atomic(self.folder / "summary.json", json.dumps(summary.to_json(), indent=2) + "\n")


def read_summaries(root: str | Path) -> list[dict[str, Any]]:
    """Every ``summary.json`` below ``root`` as a flat dict with every :class:`RunSummary` field
    (None where a run did not record it) and ``run_dir`` added."""
    rows = []
    for path in sorted(Path(root).rglob("summary.json")):
        row = RunSummary.from_json(json.loads(path.read_text())).to_json()
        row["run_dir"] = str(path.parent)
        rows.append(row)
    return rows


def read_metrics(run_dir: str | Path) -> list[dict[str, Any]]:
    path = Path(run_dir) / "metrics.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line]
