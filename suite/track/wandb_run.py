"""The same config, history and summary sent to Weights & Biases.

``logger=wandb`` runs offline by default (``wandb sync <run dir>/wandb/offline-run-*`` uploads it
later); ``logger=none`` logs nothing. Memory peaks are ``summary="max"`` metrics.
"""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig, OmegaConf

from suite.track.record import MetricsRow


class WandbRun:
    def __init__(self, cfg: DictConfig, folder: str, name: str, group: str):
        import wandb

        self._wandb = wandb
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
