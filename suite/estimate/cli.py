"""``suite-estimate``: suite-train's config (plus ``conf/estimate/default.yaml``), estimated on meta.

``suite-estimate model=qwen3_8b method=absignsgd train.batch_size=8 data.max_length=1024`` prints
one row; ``suite-estimate -m model=qwen3_8b 'method=glob(*)'`` one per method, then the table.
"""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

from suite import preflight
from suite.configs import CONF_DIR
from suite.errors import ConfigError
from suite.estimate import table
from suite.estimate.run import Estimate, estimate

ROWS: list[Estimate] = []
ADD_DEFAULTS = "+estimate=default"


@hydra.main(config_path=str(CONF_DIR), config_name="config", version_base="1.3")
def _hydra_main(cfg: DictConfig) -> None:
    try:
        row = estimate(cfg)
    except ConfigError as err:
        print(f"suite-estimate: error: {err}", file=sys.stderr)
        sys.exit(2)
    lines = table.markdown([row]).splitlines()
    print("\n".join(lines if not ROWS else lines[-1:]), flush=True)
    ROWS.append(row)
    if cfg.estimate.out:
        table.write(ROWS, Path(cfg.estimate.out))


def main() -> None:
    """Console entry point: add the estimator's config group, run the job(s), print the table."""
    if not any(arg.startswith(("+estimate=", "estimate=")) for arg in sys.argv[1:]):
        sys.argv.append(ADD_DEFAULTS)
    preflight.check_command_line(sys.argv[1:], "suite-estimate", compose_only=True)
    _hydra_main()
    if len(ROWS) > 1:
        print("\n" + table.markdown(ROWS))
