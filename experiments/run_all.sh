#!/usr/bin/env bash
# Run every tiny (CPU) experiment, then every notebook, from the repository root:
#   experiments/run_all.sh                       # results/<artefact>/: runs, table.md, table.tex, figure.png,
#                                                # verdicts.md; results/verdicts.md and the READMEs' summary
#   RESULTS=/tmp/res experiments/run_all.sh      # somewhere else
#   GSM8K_PATH=/data/gsm8k/train.jsonl experiments/run_all.sh
#   NOTEBOOKS_ONLY=1 experiments/run_all.sh      # rebuild the tables and figures only
# Extra arguments are passed to every sweep (e.g. device=cpu).
# ~25 minutes on 2 shared CPU cores, the two comparisons (experiments/protocol.sh) ~50 more, plus
# ~10 minutes once to pretrain the tiny base
# (cached under $SUITE_CACHE, default ~/.cache/suite).
# The sweeps are generated from the artefacts' registrations (`@artefact(..., experiments=[...])`
# in suite/papers/): `python -m suite.readme` rewrites them, and a test fails when they are stale.
set -euo pipefail
cd "$(dirname "$0")/.."

RESULTS=${RESULTS:-results}
GSM8K_PATH=${GSM8K_PATH:-gsm8k/train.jsonl}
extra=("$@")

sweep() {  # one sweep into $RESULTS; reruns replace the committed runs (suite-search continues its study)
  case $1 in
    suite-search) "$@" logger=none "results_dir=$RESULTS" "${extra[@]}" ;;
    experiments/protocol.sh) "$@" "results_dir=$RESULTS" ;;  # a comparison continues, its overrides fixed
    *) "$@" logger=none overwrite=true "results_dir=$RESULTS" "${extra[@]}" ;;
  esac
}

needs() {  # needs VAR: $VAR names a local data file, else the sweep after it is skipped
  [[ -f "${!1}" ]] || { echo "run_all: no file at ${!1} (set $1): skipping a sweep that reads it" >&2; return 1; }
}

if [[ -z "${NOTEBOOKS_ONLY:-}" ]]; then
# <!-- generated from registry:run_all -->
# absignsgd_table2
sweep suite-train -m experiment=absignsgd_table2
sweep suite-train -m experiment=absignsgd_table2_galore
sweep suite-train -m experiment=absignsgd_table2_badam
sweep suite-train -m experiment=absignsgd_table2_apollo
# absignsgd_convergence
sweep experiments/protocol.sh experiment=absignsgd_convergence
# absignsgd_memory
sweep suite-train -m experiment=absignsgd_memory
# absignsgd_ablation
sweep experiments/protocol.sh experiment=absignsgd_ablation
# alias_vs_tuned
sweep experiments/protocol.sh experiment=alias_vs_tuned
# sqmeft_table4
sweep suite-train -m experiment=sqmeft_table4
sweep suite-train -m experiment=sqmeft_table4_sqmeft
sweep suite-train -m experiment=sqmeft_table4_masters
sweep suite-train -m experiment=sqmeft_table4_sgdm
# sqmeft_table5
sweep experiments/protocol.sh experiment=sqmeft_table5
# stosignsgd_fig1
sweep python -m suite.toy -m experiment=stosignsgd_fig1
# stosignsgd_finetune
sweep experiments/protocol.sh experiment=stosignsgd_finetune
# <!-- end generated -->
fi

for notebook in analysis/*.py; do
  echo "== $notebook"
  SUITE_RESULTS="$RESULTS" MPLBACKEND=Agg python "$notebook"
done
python -m suite.papers "$RESULTS"  # every claim's verdict: $RESULTS/verdicts.md, verdicts_summary.md
if [[ "$RESULTS" == results ]]; then
  python -m suite.readme  # the generated blocks: the verdicts' summaries in README.md and results/README.md
fi
