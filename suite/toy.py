"""StoSignSGD Figure 1: SignSGD vs StoSignSGD on the convex non-smooth f(x) = |x1 + x2| + 2|x1 − x2|.

Not an LLM run, but recorded like one (``summary.json`` + ``metrics.jsonl`` under
``results/<experiment_name>/<run_name>/``) so the analysis notebooks read it like the rest:
``train/loss`` is f(x_t). SignSGD's steps are ±(1, −1)·η from any point off the diagonal, so
x1 + x2 never changes and f stalls at ≈ |x1 + x2| (1.3 from (1.0, 0.3)); StoSignSGD moves by
g/G in expectation and reaches the minimum 0.

    python -m suite.toy -m experiment=stosignsgd_fig1      # the sweep (optimizers x seeds)
    python -m suite.toy experiment=stosignsgd_fig1 toy.optimizer=signsgd
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import hydra
import torch
from omegaconf import DictConfig

from suite import preflight
from suite.configs import CONF_DIR
from suite.errors import ConfigError
from suite.optim import SignSGD, StoSignSGD
from suite.track.record import MetricsRow, RunSummary
from suite.track.store import RunFolder

OPTIMIZERS = ("signsgd", "stosignsgd")


def fig1_value(x: torch.Tensor) -> float:
    """f(x1, x2) = |x1 + x2| + 2|x1 − x2| (StoSignSGD Fig. 1); minimum 0 at the origin."""
    return float((x[0] + x[1]).abs() + 2 * (x[0] - x[1]).abs())


def fig1_subgradient(x: torch.Tensor) -> torch.Tensor:
    """An exact subgradient of f: sign(x1 + x2)·(1, 1) + 2·sign(x1 − x2)·(1, −1)."""
    s, d = torch.sign(x[0] + x[1]), torch.sign(x[0] - x[1])
    return torch.stack([s + 2 * d, s - 2 * d])


def run_toy(
    folder: str | Path,
    optimizer: str = "stosignsgd",
    lr: float = 0.01,
    steps: int = 1500,
    x0: tuple[float, float] = (1.0, 0.3),
    beta1: float = 0.0,
    seed: int = 0,
    log_every: int = 10,
    tail: int = 100,
    experiment: str = "stosignsgd_fig1",
    run_name: str | None = None,
) -> dict[str, Any]:
    """Run one optimizer on f from ``x0``; write the run's store files under ``folder``.

    ``final_train_loss`` is the mean of f over the last ``tail`` iterates (the sign methods
    oscillate at the scale of η, so the last iterate alone is noisy).
    """
    if optimizer not in OPTIMIZERS:
        raise ConfigError(f"toy.optimizer={optimizer!r} is not known; allowed: {', '.join(OPTIMIZERS)}")
    x = torch.nn.Parameter(torch.tensor(list(x0), dtype=torch.float64))
    opt = (
        SignSGD([x], lr=lr, momentum=beta1)
        if optimizer == "signsgd"
        else StoSignSGD([x], lr=lr, betas=(beta1, 1.0), seed=seed)
    )
    record = RunFolder(folder)
    values, elapsed = descend(opt, x, steps, log_every, record)
    summary = RunSummary(
        method=optimizer,
        model="toy_fig1",
        data="none",
        seed=seed,
        experiment=experiment,
        run_name=run_name or f"{optimizer}-seed{seed}",
        status="ok",
        device="cpu",
        torch_version=torch.__version__,
        steps=steps,
        final_train_loss=sum(values[-tail:]) / len(values[-tail:]),
        wall_clock_s=elapsed,
        step_time_median_s=elapsed / steps,
        n_params=2,
        n_trainable_params=2,
        extra={"last_value": values[-1], "initial_value": values[0], "lr": lr, "beta1": beta1},
    )
    record.close_metrics()
    record.write_summary(summary)
    return summary.to_json()


def descend(
    opt: torch.optim.Optimizer, x: torch.nn.Parameter, steps: int, log_every: int, record: RunFolder
) -> tuple[list[float], float]:
    """``steps`` optimizer steps on f with exact subgradients; returns f(x_t) for every t and the seconds."""
    values, start = [], time.perf_counter()
    for step in range(1, steps + 1):
        with torch.no_grad():
            values.append(fig1_value(x))
            x.grad = fig1_subgradient(x)
        opt.step()
        if step % log_every == 0 or step == steps:
            row = MetricsRow(step=step, loss=values[-1], wall_clock_s=time.perf_counter() - start).to_json()
            record.log(row | {"toy/x1": float(x[0].detach()), "toy/x2": float(x[1].detach())})
    return values, time.perf_counter() - start


PROG = "python -m suite.toy"


@hydra.main(config_path=str(CONF_DIR), config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> float:
    if "toy" not in cfg:
        print(
            f"{PROG}: error: it needs an experiment with a `toy:` section, e.g. experiment=stosignsgd_fig1",
            file=sys.stderr,
        )
        sys.exit(2)
    folder = Path(cfg.results_dir) / cfg.experiment_name / cfg.run_name
    t = cfg.toy
    RunFolder(folder).write_config(cfg)
    summary = run_toy(
        folder,
        optimizer=t.optimizer,
        lr=t.lr,
        steps=t.steps,
        x0=tuple(t.x0),
        beta1=t.beta1,
        seed=cfg.seed,
        log_every=t.log_every,
        tail=t.tail,
        experiment=cfg.experiment_name,
        run_name=cfg.run_name,
    )
    print(
        f"{summary['method']} seed {summary['seed']}: f {summary['initial_value']:.3f} -> "
        f"{summary['final_train_loss']:.4f} (mean of the last {t.tail}); results: {folder}"
    )
    return summary["final_train_loss"]


if __name__ == "__main__":
    preflight.check_command_line(sys.argv[1:], PROG, compose_only=True)
    main()
