"""The resumable training state of a run: written whole or not at all, read back exactly.

One file, ``<run>/resume.pt``, replaced atomically (temporary file, fsync, ``os.replace``), so a
kill at any moment leaves the previous complete checkpoint. It holds everything the next step
depends on: model and optimizer state (block schedules, generators, quantized buffers, step
counters live in the optimizer's ``state_dict``), LR scheduler, loss scaler, data position,
every RNG, and the clock and meters, so wall-clock and memory peaks carry across the pieces.

It is data, never code: tensors, numbers, strings and containers of them, read back with
``torch.load(weights_only=True)``, so a file planted in a shared store cannot run anything; one
that holds anything else, or is truncated, is refused with one line naming it.
"""

from __future__ import annotations

import pickle
import random
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from suite.errors import ConfigError
from suite.track.store import replaced_whole


def save(path: Path, state: dict[str, Any]) -> None:
    """Write ``state`` to ``path`` so that readers find the old checkpoint or the new one."""
    with replaced_whole(path, "wb") as f:
        torch.save(state, f)


def load(path: Path) -> dict[str, Any]:
    """The state :func:`save` wrote; :class:`ConfigError` for a file that holds anything but data
    (its code never runs) or is not a whole checkpoint."""
    try:
        with torch.serialization.safe_globals(state_types()):
            state = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, zipfile.BadZipFile, ValueError) as err:
        found = str(err).partition("Unsupported global: GLOBAL ")[2].split(" was not")[0]
        if found:
            raise ConfigError(
                f"{path} holds {found}, not only tensors and numbers: it was not written by this suite "
                f"and is not loaded; remove it, or pass overwrite=true to start the run again"
            ) from None
        raise ConfigError(
            f"{path} is truncated or not a checkpoint ({type(err).__name__}); "
            f"remove it, or pass overwrite=true to start the run again"
        ) from None
    if not isinstance(state, dict) or "step" not in state:
        raise ConfigError(f"{path} is not a checkpoint of this suite (no training step in it)")
    return state


def state_types() -> list[type]:
    """The objects methods keep in their optimizer state besides tensors: GaLore's, APOLLO's and
    Q-GaLore's projectors, plain objects of tensors, numbers and lists of numbers (no
    ``__setstate__``: loading runs nothing)."""
    from apollo_torch.random_projector import GradientProjector
    from galore_torch.galore_projector import GaLoreProjector
    from q_galore_torch.q_galore_projector import GaLoreProjector as QGaLoreProjector

    return [GaLoreProjector, GradientProjector, QGaLoreProjector]


def rng_states() -> dict[str, Any]:
    """Every generator's state as tensors and numbers (numpy's key as a tensor)."""
    numpy = np.random.get_state(legacy=False)
    numpy["state"]["key"] = torch.from_numpy(numpy["state"]["key"].astype(np.int64))
    states = {"torch": torch.get_rng_state(), "python": random.getstate(), "numpy": numpy}
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def set_rng_states(states: dict[str, Any]) -> None:
    torch.set_rng_state(states["torch"])
    random.setstate(states["python"])
    numpy = dict(states["numpy"])
    numpy["state"] = dict(numpy["state"], key=numpy["state"]["key"].numpy().astype(np.uint32))
    np.random.set_state(numpy)
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])
