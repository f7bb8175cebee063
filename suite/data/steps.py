"""The stream of optimizer steps' micro-batches, resumable at any step boundary."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

from torch.utils.data import DataLoader


class StepBatches:
    """Endless groups of ``grad_accum`` micro-batches, epoch after epoch, that can say where they
    are: the shuffle generator's state at the epoch's start and the batches taken from the epoch,
    at a step boundary. Restarting from that state yields the same groups bitwise."""

    def __init__(self, loader: DataLoader, grad_accum: int):
        self.loader, self.grad_accum = loader, grad_accum
        self.epoch_start = loader.generator.get_state()
        self.taken = 0

    def state_dict(self) -> dict[str, Any]:
        return {"epoch_start": self.epoch_start.clone(), "taken": self.taken}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.epoch_start, self.taken = state["epoch_start"], state["taken"]

    def __iter__(self) -> Iterator[list[dict]]:
        generator, skip, group = self.loader.generator, self.taken, []
        generator.set_state(self.epoch_start)
        while True:
            self.epoch_start, self.taken = generator.get_state(), skip
            # iter() draws the epoch's permutation from the generator, so the state comes first
            for batch in itertools.islice(iter(self.loader), skip, None):
                self.taken += 1
                group.append(batch)
                if len(group) == self.grad_accum:
                    yield group
                    group = []
            skip = 0
