"""``suite-estimate``: suite-train's config (plus ``conf/estimate/default.yaml``), estimated on meta.

``suite-estimate model=qwen3_8b method=absignsgd train.batch_size=8 data.max_length=1024`` prints
one row; ``suite-estimate -m model=qwen3_8b 'method=glob(*)'`` one per method, then the table.
``--budget 24GiB`` (``estimate.budget=24GiB``) prints instead, per method, the largest micro-batch
that fits the budget (``suite.estimate.fit``).
"""

from __future__ import annotations

import sys
from dataclasses import asdict
from pathlib import Path

import hydra
import pandas as pd
from omegaconf import DictConfig

from suite import preflight
from suite.configs import CONF_DIR
from suite.errors import ConfigError
from suite.estimate import table
from suite.estimate.fit import Fit, fit
from suite.estimate.run import Estimate, estimate

ROWS: list[Estimate] = []
FITS: list[Fit] = []
ADD_DEFAULTS = "+estimate=default"


@hydra.main(config_path=str(CONF_DIR), config_name="config", version_base="1.3")
def _hydra_main(cfg: DictConfig) -> None:
    try:
        if cfg.estimate.get("budget") is not None:
            FITS.append(fit(cfg))
            lines = fits_markdown(FITS).splitlines()
            print("\n".join(lines if len(FITS) == 1 else lines[-1:]), flush=True)
            return
        row = estimate(cfg)
    except ConfigError as err:
        print(f"suite-estimate: error: {err}", file=sys.stderr)
        sys.exit(2)
    lines = table.markdown([row]).splitlines()
    print("\n".join(lines if not ROWS else lines[-1:]), flush=True)
    ROWS.append(row)
    if cfg.estimate.out:
        table.write(ROWS, Path(cfg.estimate.out))


def fits_markdown(fits: list[Fit]) -> str:
    """One row per method: the largest micro-batch within the budget (blank: not even one)."""
    df = pd.DataFrame([asdict(f) | {"grad_accum": f.accumulation} for f in fits])
    df = df.astype({"micro_batch": "Int64", "grad_accum": "Int64"})  # blank, not nan, where none fits
    df = df.rename(
        columns={"micro_batch": "largest micro-batch", "total_gib": "its GiB", "budget_gib": "budget GiB"}
    )
    return df.to_markdown(index=False, floatfmt=".2f")


def budget_option(argv: list[str]) -> list[str]:
    """``--budget X`` (or ``--budget=X``) as the override ``estimate.budget=X``."""
    out, args = [], iter(argv)
    for arg in args:
        if arg == "--budget":
            out.append(f"estimate.budget={next(args, '')}")
        elif arg.startswith("--budget="):
            out.append(f"estimate.budget={arg.removeprefix('--budget=')}")
        else:
            out.append(arg)
    return out


def main() -> None:
    """Console entry point: add the estimator's config group, run the job(s), print the table."""
    sys.argv[1:] = budget_option(sys.argv[1:])
    if not any(arg.startswith(("+estimate=", "estimate=")) for arg in sys.argv[1:]):
        sys.argv.append(ADD_DEFAULTS)
    preflight.check_command_line(sys.argv[1:], "suite-estimate", compose_only=True)
    _hydra_main()
    if len(ROWS) > 1:
        print("\n" + table.markdown(ROWS))
    if len(FITS) > 1:
        print("\n" + fits_markdown(FITS))
