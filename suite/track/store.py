"""The results store: one folder per run holding ``config.yaml``, ``metrics.jsonl`` and
``summary.json``.

Every file is written whole to a temporary file in the same folder, flushed to disk and then
renamed over the old one (``os.replace`` is atomic on POSIX and Windows), so a crash leaves a
complete older file or none, never half a file.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import math
import os
import secrets
import shutil
from collections.abc import Iterator
from dataclasses import fields
from pathlib import Path
from typing import IO, Any

from omegaconf import DictConfig, OmegaConf

from suite.errors import ConfigError
from suite.measure.breakdown import MemoryBreakdown
from suite.track.record import RunSummary

log = logging.getLogger(__name__)

CONFIG, METRICS, SUMMARY, CHECKPOINT, LOCK = (
    "config.yaml",
    "metrics.jsonl",
    "summary.json",
    "resume.pt",
    ".lock",
)
RANK_CHECKPOINTS = "resume-rank*-step*.pt"  # under torchrun, what each rank but 0 keeps of its own
SHARD_CHECKPOINTS = "resume-shards-step*"  # under FSDP, the ranks' shards of model and optimizer
FINISHED = ("ok", "diverged", "collapsed")  # ended by itself: ``resume=true`` leaves it as it is


@contextlib.contextmanager
def replaced_whole(path: Path, mode: str = "w") -> Iterator[IO]:
    """A file to write that takes ``path``'s place only once complete (temporary file in the same
    folder, fsync, ``os.replace``): readers see the old file or the new one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # Created as open() creates a file (0o666 less the umask), not mkstemp's 0o600: a file keeps
    # one mode whether it was appended to or replaced (metrics.jsonl is both).
    tmp = path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` whole or not at all (see :func:`replaced_whole`)."""
    with replaced_whole(path) as f:
        f.write(text)


def strict_json(record: dict[str, Any]) -> dict[str, Any]:
    """``record`` with every non-finite float replaced by null and named in ``nonfinite`` (strict
    JSON readers reject bare ``NaN``/``Infinity``)."""
    bad = {k: str(v) for k, v in record.items() if isinstance(v, float) and not math.isfinite(v)}
    if not bad:
        return record
    return {k: (None if k in bad else v) for k, v in record.items()} | {"nonfinite": bad}


def dumps(record: dict[str, Any], **kw) -> str:
    return json.dumps(strict_json(record), allow_nan=False, **kw)


def run_folder(cfg: DictConfig) -> Path:
    """``<results_dir>/<experiment_name>/<run_name>``: where a job's files go."""
    return Path(cfg.results_dir) / cfg.experiment_name / cfg.run_name


class RunFolder:
    """The files of one run under ``folder``, owned by one process at a time.

    ``claim`` takes an exclusive lock (released when the process ends, however it ends) and
    refuses a folder that already holds a run unless the run asks to overwrite or resume it, so
    ``config.yaml``, ``metrics.jsonl`` and ``summary.json`` always describe the same run.
    Metrics rows are appended and flushed as they are logged.
    """

    def __init__(self, folder: str | Path, root: str | Path | None = None):
        self.folder = Path(folder)
        self.root = root  # the results store the folder must lie in (None: not checked)
        self._lock = None
        self._metrics = None

    def previous(self) -> dict[str, Any] | None:
        """The summary a run left here (``{}`` for metrics without a summary), or None."""
        path = self.folder / SUMMARY
        if path.exists():
            try:
                return json.loads(path.read_text())
            except (OSError, ValueError):
                return {"status": "unreadable"}
        return {} if (self.folder / METRICS).exists() else None

    def in_use(self) -> bool:
        """Whether a live process holds the folder's lock (probed without creating anything)."""
        if not (self.folder / LOCK).exists():
            return False
        with open(self.folder / LOCK, "a") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(f, fcntl.LOCK_UN)
        return False

    def claim(self, *, overwrite: bool, resume: bool) -> None:
        """Lock the folder for this run, then refuse, clear or keep what an earlier run left."""
        if self.root is not None and (outside := outside_store(self.folder, self.root)):
            raise ConfigError(outside)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._lock = open(self.folder / LOCK, "a")  # noqa: SIM115 (held for the run's lifetime)
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock.close()
            self._lock = None
            raise ConfigError(
                f"{self.folder} is in use by another run; give this one another run_name"
            ) from None
        self._lock.truncate(0)  # the lock file names its owner
        self._lock.write(f"{os.getpid()}\n")
        self._lock.flush()
        refusal = refuse_reason(self.folder, self.previous(), overwrite=overwrite, resume=resume)
        if refusal:
            self.release()
            raise ConfigError(refusal)
        for stale in self.folder.glob(".*.tmp"):  # a write killed before its rename; nobody else writes here
            stale.unlink()
        if overwrite:
            self.clear()

    def clear(self) -> None:
        """Remove what an earlier run left (the caller holds the folder)."""
        self.close_metrics()
        for name in (CONFIG, METRICS, SUMMARY, CHECKPOINT):
            (self.folder / name).unlink(missing_ok=True)
        for path in self.folder.glob(RANK_CHECKPOINTS):
            path.unlink()
        for path in self.folder.glob(SHARD_CHECKPOINTS):
            shutil.rmtree(path)

    def mark_killed(self, why: str, fallback: RunSummary) -> None:
        """Record that the process running here died without writing its end (a signal it cannot
        catch): ``summary.json`` says ``killed`` and why (``fallback`` where it wrote no summary).
        A folder a live process holds, or whose run ended, is left as it is."""
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.folder / LOCK, "a") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return
            previous = self.previous()
            if previous and previous.get("status", "running") != "running":
                return
            record = RunSummary.from_json(previous) if previous else fallback
            record.status, record.error = "killed", why
            self.write_summary(record)

    def abandon(self, fresh: bool) -> None:
        """Hand back a folder in which the run was refused: what it wrote goes if the folder held
        no earlier run (``fresh``), then the lock, and the folder if nothing else is in it."""
        if fresh:
            self.clear()
        self.release()
        if self.folder.is_dir() and [p.name for p in self.folder.iterdir()] == [LOCK]:
            (self.folder / LOCK).unlink()
            self.folder.rmdir()

    def release(self) -> None:
        self.close_metrics()
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def write_config(self, cfg: DictConfig) -> None:
        write_atomic(self.folder / CONFIG, OmegaConf.to_yaml(cfg, resolve=True))

    def log(self, row: dict[str, Any]) -> None:
        """Append one metrics row and flush it, so a killed run keeps every row logged so far."""
        if self._metrics is None:
            self.folder.mkdir(parents=True, exist_ok=True)
            self._metrics = open(self.folder / METRICS, "a")  # noqa: SIM115
        self._metrics.write(dumps(row) + "\n")
        self._metrics.flush()

    def close_metrics(self) -> None:
        if self._metrics is not None:
            self._metrics.flush()
            os.fsync(self._metrics.fileno())
            self._metrics.close()
            self._metrics = None

    def keep_metrics_through(self, step: int) -> None:
        """Drop the rows a resumed run will log again (those after ``step``), and any torn last line."""
        self.close_metrics()
        path = self.folder / METRICS
        if path.exists():
            rows = [json.loads(line) for line in whole_lines(path)]
            write_atomic(path, "".join(dumps(r) + "\n" for r in rows if r.get("train/step", 0) <= step))

    def write_summary(self, summary: RunSummary) -> None:
        write_atomic(self.folder / SUMMARY, dumps(summary.to_json(), indent=2) + "\n")


def outside_store(folder: Path, root: str | Path) -> str | None:
    """Why ``folder`` may not hold a run of the store ``root`` (None: it may): resolved, through
    any link, it lies outside the store."""
    real, store = Path(folder).resolve(), Path(root).resolve()
    if store in real.parents:
        return None
    return f"{folder} resolves to {real}, outside results_dir {store}; a run folder must lie inside the store"


def refuse_reason(
    folder: Path, previous: dict[str, Any] | None, *, overwrite: bool, resume: bool
) -> str | None:
    """Why a run may not take ``folder`` (None: it may). ``resume=true`` takes any folder: it
    continues the run from its checkpoint, starts it again without one, or leaves a finished run
    as it is, so a requeued job or sweep needs no other command."""
    if overwrite and resume:
        return "overwrite=true and resume=true contradict each other; pass one of them"
    if previous is None or overwrite or resume:
        return None
    status = previous.get("status", "unknown")
    if status == "running":
        return (
            f"{folder} holds a run that stopped at step {previous.get('steps') or 0} without finishing; "
            f"pass resume=true to continue it or overwrite=true to replace it"
        )
    return (
        f"{folder} already holds a run (status {status}); pass overwrite=true to replace it, "
        f"resume=true to continue it, or choose another run_name"
    )


def whole_lines(path: Path) -> list[str]:
    """The complete lines of a file that a killed writer may have left with a torn last line."""
    text = path.read_text()
    lines = text.split("\n")
    return [line for line in lines[:-1] if line]


def scan_summaries(root: str | Path) -> tuple[list[dict[str, Any]], list[tuple[Path, str]]]:
    """Every readable ``summary.json`` below ``root`` (see :func:`read_summaries`), and the
    unreadable ones with the reason: not JSON (a truncated write by an old version or another
    tool), not an object, or without a method or status."""
    rows, skipped = [], []
    for path in sorted(Path(root).rglob(SUMMARY)):
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as err:
            skipped.append((path, f"not valid JSON ({err})"))
            continue
        if not isinstance(data, dict) or not data.get("method") or not data.get("status"):
            skipped.append((path, "no method or status: not a run's summary"))
            continue
        wrong = wrong_type(data)
        if wrong:
            skipped.append((path, wrong))
            continue
        row = RunSummary.from_json(data).to_json()
        row["run_dir"] = str(path.parent)
        rows.append(row)
    return rows, skipped


def wrong_type(data: dict[str, Any]) -> str | None:
    """The first :class:`RunSummary` field whose value is not of the field's kind (a number, a
    string), or None: a reader that computes with the fields can trust them."""
    kinds = {f.name: str(f.type).split(" ")[0] for f in fields(RunSummary)}
    kinds |= dict.fromkeys(MemoryBreakdown.labels(), "int")  # the breakdown is written flat
    for name, kind in kinds.items():
        value = data.get(name)
        if value is None:
            continue
        if kind in ("int", "float") and (isinstance(value, bool) or not isinstance(value, (int, float))):
            return f"{name}={value!r} is not a number"
        if kind == "str" and not isinstance(value, str):
            return f"{name}={value!r} is not a string"
    return None


def read_summaries(root: str | Path) -> list[dict[str, Any]]:
    """Every ``summary.json`` below ``root`` as a flat dict with every :class:`RunSummary` field
    (None where a run did not record it) and ``run_dir`` added; an unreadable one is skipped
    with a warning that names it."""
    rows, skipped = scan_summaries(root)
    for path, why in skipped:
        log.warning("skipped %s: %s", path, why)
    return rows


def read_metrics(run_dir: str | Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in whole_lines(Path(run_dir) / METRICS)]
