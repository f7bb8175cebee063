#!/usr/bin/env bash
# Run every tiny (CPU) experiment, then every notebook, from the repository root:
#   experiments/run_all.sh                       # results/<artefact>/: runs, table.md, table.tex, figure.png,
#                                                # verdicts.md; results/verdicts.md and the READMEs' summary
#   RESULTS=/tmp/res experiments/run_all.sh      # somewhere else
#   GSM8K_PATH=/data/gsm8k/train.jsonl experiments/run_all.sh
#   NOTEBOOKS_ONLY=1 experiments/run_all.sh      # rebuild the tables and figures only
# Extra arguments are passed to every suite-train command (e.g. device=cpu).
# ~25 minutes on 2 shared CPU cores, plus ~10 minutes once to pretrain the tiny base
# (cached under $SUITE_CACHE, default ~/.cache/suite).
set -euo pipefail
cd "$(dirname "$0")/.."

RESULTS=${RESULTS:-results}
GSM8K_PATH=${GSM8K_PATH:-gsm8k/train.jsonl}
common=(logger=none overwrite=true "results_dir=$RESULTS" "$@")  # reruns replace the committed runs

if [[ -z "${NOTEBOOKS_ONLY:-}" ]]; then
  for experiment in absignsgd_table2 absignsgd_table2_galore absignsgd_table2_badam absignsgd_table2_apollo \
                    absignsgd_convergence absignsgd_convergence_galore absignsgd_convergence_badam \
                    absignsgd_convergence_apollo absignsgd_memory absignsgd_ablation alias_vs_tuned alias_vs_tuned_grid \
                    sqmeft_table4 sqmeft_table4_sqmeft sqmeft_table4_masters sqmeft_table4_sgdm; do
    suite-train -m "experiment=$experiment" "${common[@]}"
  done
  experiments/protocol.sh "results_dir=$RESULTS"  # tuned alike, rerun on evaluation seeds (suite-compare)
  if [[ -f "$GSM8K_PATH" ]]; then
    suite-train -m experiment=absignsgd_convergence_gsm8k "data.path=$GSM8K_PATH" "${common[@]}"
    for arm in galore badam apollo; do  # the GSM8K file's data settings
      suite-train -m "experiment=absignsgd_convergence_$arm" data=gsm8k "data.path=$GSM8K_PATH" \
        data.n_train=2000 data.n_test=50 data.max_length=256 "${common[@]}"
    done
  else
    echo "run_all: no GSM8K file at $GSM8K_PATH (set GSM8K_PATH): skipping the GSM8K half" >&2
  fi
  python -m suite.toy -m experiment=stosignsgd_fig1 "results_dir=$RESULTS"
  suite-train -m experiment=alias_vs_tuned experiment_name=alias_vs_search "${common[@]}"
  suite-search experiment=alias_vs_search logger=none "results_dir=$RESULTS" "$@"
fi

for notebook in analysis/*.py; do
  echo "== $notebook"
  SUITE_RESULTS="$RESULTS" MPLBACKEND=Agg python "$notebook"
done
python -m suite.search.table "$RESULTS/alias_vs_search"
python -m suite.papers "$RESULTS"  # every claim's verdict: $RESULTS/verdicts.md, verdicts_summary.md
if [[ "$RESULTS" == results ]]; then
  python -m suite.readme results/README.md && python -m suite.readme README.md
fi
