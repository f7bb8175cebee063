"""The same config, history and summary sent to Weights & Biases.

``logger=wandb`` runs offline by default (``wandb sync <run dir>/wandb/offline-run-*`` uploads it
later); ``logger=none`` logs nothing. Memory peaks are ``summary="max"`` metrics. W&B's own debug
logs go to ``<run dir>/wandb/cache`` (its ``WANDB_CACHE_DIR``, unless you set one), not ``~/.cache``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from suite.track.record import MetricsRow

USER_CACHE_DIR = os.environ.get("WANDB_CACHE_DIR")


class WandbRun:
    def __init__(self, cfg: DictConfig, folder: str, name: str, group: str):
        import wandb

        self._wandb = wandb
        self._own_cache = USER_CACHE_DIR is None
        if self._own_cache:  # the W&B service reads it when it starts, once per run (see finish)
            os.environ["WANDB_CACHE_DIR"] = str(Path(folder) / "wandb" / "cache")
        self.run = wandb.init(
            project=cfg.logger.project,
            entity=cfg.logger.get("entity"),
            mode=cfg.logger.mode,
            dir=folder,
            name=name,
            group=group,
            tags=list(cfg.logger.get("tags") or []),
            config=OmegaConf.to_container(cfg, resolve=True),
            reinit="finish_previous",
        )
        self.run.define_metric("train/step")
        self.run.define_metric("*", step_metric="train/step")
        for key in MetricsRow.keys().values():
            if key.startswith("mem/"):  # peaks so far
                self.run.define_metric(key, summary="max")

    def log(self, row: dict[str, Any]) -> None:
        self.run.log(row)

    def finish(self, summary: dict[str, Any], exit_code: int) -> None:
        self.run.summary.update({k: v for k, v in summary.items() if v is not None})
        self.run.finish(exit_code=exit_code)
        if self._own_cache:  # the next run of this process starts a service logging in its own folder
            self._wandb.teardown()


class NoRun:
    """``logger=none``: nothing leaves the machine."""

    def log(self, row: dict[str, Any]) -> None:
        pass

    def finish(self, summary: dict[str, Any], exit_code: int) -> None:
        pass


def start(cfg: DictConfig, folder: str, name: str, group: str) -> WandbRun | NoRun:
    if cfg.logger.kind == "none":
        return NoRun()
    return WandbRun(cfg, folder, name, group)
