#!/usr/bin/env bash
# The accuracy artefacts under the comparison protocol (suite-compare): every arm
# tuned with the same budget (3 trials of its lr, and AdamW's weight decay, on seed 0, chosen by
# validation loss), then rerun on evaluation seeds 1, 2 and 3, on the micro_math workload. Runs go
# to <results>/<artefact>/compare/protocol/ (tuning trials <arm>-tuning-<n>, evaluation runs
# <arm>-eval-seed<n>); the artefact's notebook reads the evaluation runs.
#   experiments/protocol.sh                                       # both, into results/
#   experiments/protocol.sh experiment=stosignsgd_finetune        # one
#   N_JOBS=2 experiments/protocol.sh results_dir=/tmp/res         # elsewhere, 2 runs at once
# Rerunning continues a comparison and starts nothing that is done; it must keep the overrides
# below (a comparison refuses other ones). Wall-clock on 2 shared CPU cores: experiments/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."

RESULTS=results
budget=(compare.name=protocol "compare.workloads=[micro_math]" compare.n_trials=3
        "compare.eval_seeds=[1,2,3]" "compare.n_jobs=${N_JOBS:-3}")

# AdamW, SignSGD, Signum (SignSGD with momentum 0.9: StoSignSGD's Alg. 5) and StoSignSGD, each
# lr over the same three decades (AdamW's weight decay in [0, 0.1] too), the paper file's linear
# schedule without warm-up.
stosignsgd_finetune() {
  suite-compare "${budget[@]}" "compare.methods=[adamw,signsgd,signum,stosignsgd]" \
    compare.arms.signum.method=signsgd compare.arms.signum.momentum=0.9 \
    "compare.spaces.adamw.lr=[1e-4,1e-1]" "compare.spaces.adamw.weight_decay=[0.0,0.1]" \
    "compare.spaces.signsgd.lr=[1e-4,1e-1]" "compare.spaces.signum.lr=[1e-4,1e-1]" \
    "compare.spaces.stosignsgd.lr=[1e-4,1e-1]" \
    train.lr_scheduler=linear train.warmup_steps=0 logger=none "results_dir=$RESULTS/stosignsgd_finetune"
}

# Table V's variants as arms of sqmeft; no_rms steps lr*sign(m), not lr*RMS(theta)*sign(m), so
# its lr range sits lower by about the tensors' RMS (~0.03). Constant schedule, as the paper file.
sqmeft_table5() {
  suite-compare "${budget[@]}" "compare.methods=[full,no_ema,no_rms,no_sign]" \
    compare.arms.full.method=sqmeft compare.arms.no_ema.method=sqmeft compare.arms.no_ema.beta=0.01 \
    compare.arms.no_rms.method=sqmeft compare.arms.no_rms.rms_scaled=false \
    compare.arms.no_sign.method=sqmeft compare.arms.no_sign.sign=false \
    "compare.spaces.full.lr=[1e-3,1e-1]" "compare.spaces.no_ema.lr=[1e-3,1e-1]" \
    "compare.spaces.no_rms.lr=[3e-5,3e-3]" "compare.spaces.no_sign.lr=[1e-3,1e-1]" \
    train.lr_scheduler=constant train.warmup_steps=0 logger=none "results_dir=$RESULTS/sqmeft_table5"
}

all=(stosignsgd_finetune sqmeft_table5)
chosen=()
for arg in "$@"; do
  case $arg in
    results_dir=*) RESULTS=${arg#results_dir=} ;;
    experiment=*) chosen+=("${arg#experiment=}") ;;
    *) echo "protocol.sh: unknown argument '$arg'; allowed: experiment=<one of: ${all[*]}>, results_dir=<dir>" >&2
       exit 2 ;;
  esac
done
for name in "${chosen[@]:-${all[@]}}"; do
  if [[ ! " ${all[*]} " == *" $name "* ]]; then
    echo "protocol.sh: unknown experiment '$name'; allowed: ${all[*]}" >&2
    exit 2
  fi
done
for name in "${chosen[@]:-${all[@]}}"; do
  "$name"
done
