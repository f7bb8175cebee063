"""The resumable training state of a run: written whole or not at all, read back exactly.

One file, ``<run>/resume.pt``, replaced atomically (temporary file, fsync, ``os.replace``), so a
kill at any moment leaves the previous complete checkpoint. It holds everything the next step
depends on: model and optimizer state (block schedules, generators, quantized buffers, step
counters live in the optimizer's ``state_dict``), LR scheduler, loss scaler, data position,
every RNG, and the clock and meters, so wall-clock and memory peaks carry across the pieces.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from suite.track.store import replaced_whole


def save(path: Path, state: dict[str, Any]) -> None:
    """Write ``state`` to ``path`` so that readers find the old checkpoint or the new one."""
    with replaced_whole(path, "wb") as f:
        torch.save(state, f)


def load(path: Path) -> dict[str, Any]:
    # Optimizer states hold objects (GaLore's projectors, torchao's 4-bit tensors), so this is a
    # full unpickle: only resume from run folders you wrote.
    return torch.load(path, map_location="cpu", weights_only=False)


def rng_states() -> dict[str, Any]:
    states = {"torch": torch.get_rng_state(), "python": random.getstate(), "numpy": np.random.get_state()}
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def set_rng_states(states: dict[str, Any]) -> None:
    torch.set_rng_state(states["torch"])
    random.setstate(states["python"])
    np.random.set_state(states["numpy"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])
