"""The model and optimizer of an FSDP run as each rank's shards, written and read with PyTorch's
distributed checkpoint (``torch.distributed.checkpoint``, DCP): every rank writes the DTensor
shards it holds (``get_state_dict``) and reads them back in place (``set_state_dict``), so no rank
ever gathers the whole model.

The shards of step N go to ``resume-shards-stepN.partial/`` and are renamed to
``resume-shards-stepN/`` once every rank's file and DCP's ``.metadata`` are on disk; the step is
committed only when ``resume.pt`` (written after the rename, :func:`suite.resume.save_ranks`)
names it, and older folders go after that. A kill at any moment leaves the folder of the step
``resume.pt`` names whole.

DCP keeps its index (``.metadata``) as a pickle and non-tensor values (the optimizer's
``param_groups``) as ``torch.save`` bytes; both are read here with torch's weights-only unpickler,
so, as for ``resume.pt``, a file planted in a shared store cannot run anything.
"""

from __future__ import annotations

import io
import pickle
import shutil
import sys
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.distributed.checkpoint as dcp
from torch import nn
from torch.distributed.checkpoint._traverse import set_element
from torch.distributed.checkpoint.api import CheckpointException
from torch.distributed.checkpoint.state_dict import get_state_dict, set_state_dict

from suite.errors import ConfigError
from suite.track.store import SHARD_CHECKPOINTS

PREFIX = SHARD_CHECKPOINTS.rstrip("*")
PARTIAL = ".partial"


def folder_of(run: Path, step: int) -> Path:
    """Where the shards of ``step`` are once committed."""
    return run / f"{PREFIX}{step}"


def save(run: Path, step: int, model: nn.Module, optimizer: torch.optim.Optimizer, main: bool) -> None:
    """Every rank's shards of ``model`` and ``optimizer`` after ``step`` into the run folder ``run``,
    renamed into place by rank 0 (``main``) when whole (a collective: every rank calls it)."""
    final = folder_of(run, step)
    partial = final.with_name(final.name + PARTIAL)
    if main:  # left by a kill mid-write, or a step written but never committed
        for stale in (partial, final):
            shutil.rmtree(stale, ignore_errors=True)
    dist.barrier()
    model_state, optimizer_state = get_state_dict(model, optimizer)
    dcp.save({"model": model_state, "optimizer": optimizer_state}, checkpoint_id=partial)
    dist.barrier()  # every rank's file is written before rank 0 renames the folder
    if main:
        partial.rename(final)


def load(run: Path, step: int, model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
    """Put this rank's shards of ``step`` back into ``model`` and ``optimizer`` (a collective)."""
    where = folder_of(run, step)
    if not (where / ".metadata").exists():
        raise ConfigError(
            f"{where} is missing or incomplete: the FSDP shards of the checkpoint at step {step}"
        )
    model_state, optimizer_state = get_state_dict(model, optimizer)
    state = {"model": model_state, "optimizer": optimizer_state}
    try:
        dcp.load(state, storage_reader=_DataOnlyReader(where), planner=_DataOnlyPlanner())
    except (CheckpointException, pickle.UnpicklingError, RuntimeError, ValueError, OSError, KeyError) as err:
        raise ConfigError(
            f"{where} is not a whole checkpoint of this run's shards, or holds more than tensors and "
            f"numbers ({type(err).__name__}; nothing in it was run); remove it, or pass overwrite=true "
            f"to start the run again"
        ) from None
    set_state_dict(model, optimizer, model_state_dict=state["model"], optim_state_dict=state["optimizer"])


def remove_older(run: Path, step: int) -> None:
    """Every shards folder but the committed one of ``step`` (rank 0, after the commit)."""
    keep = folder_of(run, step)
    for old in run.glob(SHARD_CHECKPOINTS):
        if old != keep:
            shutil.rmtree(old, ignore_errors=True)


class _DataOnlyUnpickler(pickle.Unpickler):
    """Unpickles DCP's ``.metadata`` and nothing else: the globals it may name are DCP's metadata
    classes, torch's dtypes, ``torch.Size``, the layout lookup and paths (Python's pickle docs,
    "Restricting Globals"); any other is refused before it is imported."""

    def find_class(self, module: str, name: str) -> Any:
        import torch.distributed.checkpoint.metadata as meta

        found = getattr(sys.modules.get(module), name, None) if module in _MODULES else None
        allowed = (
            (module == meta.__name__ and isinstance(found, type) and found.__module__ == module)
            or (module == "torch" and (isinstance(found, torch.dtype) or found is torch.Size))
            or (module, name) in _GLOBALS
        )
        if not allowed:
            raise pickle.UnpicklingError(f"{module}.{name}")
        return found


_MODULES = (
    "torch",
    "torch.serialization",
    "torch.distributed.checkpoint.metadata",
    "torch.distributed.checkpoint.filesystem",
    "pathlib",
)
_GLOBALS = {
    ("torch.serialization", "_get_layout"),
    ("torch.distributed.checkpoint.filesystem", "_StorageInfo"),
    ("pathlib", "PosixPath"),
    ("pathlib", "WindowsPath"),
}


class _DataOnlyReader(dcp.FileSystemReader):
    """DCP's reader, its ``.metadata`` pickle read without running any code it names."""

    def read_metadata(self, *args: Any, **kwargs: Any) -> Any:
        with open(Path(self.path) / ".metadata", "rb") as f:
            metadata = _DataOnlyUnpickler(f).load()
        if getattr(metadata, "storage_meta", None) is None:
            metadata.storage_meta = dcp.metadata.StorageMeta()
        metadata.storage_meta.load_id = self.load_id
        return metadata


class _DataOnlyPlanner(dcp.DefaultLoadPlanner):
    """DCP's load planner, its non-tensor values read weights-only."""

    def load_bytes(self, read_item: Any, value: io.BytesIO) -> None:
        loaded = torch.load(value, weights_only=True)
        if self.flatten_state_dict:
            set_element(self.original_state_dict, self.mappings[read_item.dest_index.fqn], loaded)
        else:
            self.state_dict[read_item.dest_index.fqn] = loaded
