"""The seed of a method's own random generator: the run's, unless the method is given one.

The loop seeds torch from the run's ``seed`` (``transformers.set_seed``) before it builds the
method, so ``torch.initial_seed()`` is that seed; a method YAML's ``seed: null`` therefore
follows ``suite-train seed=...`` (a sweep over seeds draws different noise), and an explicit
``method.seed=...`` wins.
"""

from __future__ import annotations

import os

import numpy as np
import torch


def method_seed(seed: int | None) -> int:
    """``seed`` if given, else the run's seed (``torch.initial_seed()``, which is the run's seed
    after the loop's ``set_seed``; reduced below 2**32 for a caller that never seeded torch, whose
    initial seed is a random 64-bit number that generators derived from it would overflow)."""
    return int(seed) if seed is not None else torch.initial_seed() % 2**32


def rank_seed(seed: int, rank: int) -> int:
    """Rank ``rank``'s seed under torchrun: rank 0 keeps ``seed`` (it draws what one process
    draws), rank r > 0 takes the 32-bit state of ``numpy.random.SeedSequence(seed, spawn_key=(r,))``,
    NumPy's independent child streams (a torch CPU generator keeps only a seed's low 32 bits, so
    ``seed + r * 2**32`` would repeat rank 0's)."""
    if rank == 0:
        return seed
    return int(np.random.SeedSequence(seed, spawn_key=(rank,)).generate_state(1)[0])


def env_rank() -> int:
    """This process's rank as torchrun sets it (``RANK``; 0 in one process)."""
    return int(os.environ.get("RANK", 0))
