#!/usr/bin/env bash
# The accuracy and convergence artefacts under the comparison protocol (suite-compare): every arm
# tuned with the same budget (3 trials of its lr, and a second setting where the paper tunes one,
# on seed 0, chosen by validation loss), then rerun on evaluation seeds 1, 2 and 3, on the
# small_math workload (conf/workload/small_math.yaml; GSM8K text too for the convergence). Runs go
# to <results>/<artefact>/compare/protocol/ (tuning trials <arm>-tuning-<n>, evaluation runs
# <arm>-eval-seed<n>); the artefact's notebook reads the evaluation runs.
#   experiments/protocol.sh                                       # all, into results/
#   experiments/protocol.sh experiment=stosignsgd_finetune        # one
#   N_JOBS=1 experiments/protocol.sh results_dir=/tmp/res         # elsewhere, 1 run at a time
# Rerunning continues a comparison and starts nothing that is done; it must keep the overrides
# below (a comparison refuses other ones). Wall-clock on 2 shared CPU cores: experiments/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."

RESULTS=results
budget=(compare.name=protocol compare.n_trials=3 "compare.eval_seeds=[1,2,3]")
small=("compare.workloads=[small_math]" "compare.n_jobs=${N_JOBS:-2}")

# AdamW, SignSGD, Signum (SignSGD with momentum 0.9: StoSignSGD's Alg. 5) and StoSignSGD, each
# lr over the same three decades (AdamW's weight decay in [0, 0.1] too), the paper file's linear
# schedule without warm-up.
stosignsgd_finetune() {
  suite-compare "${budget[@]}" "${small[@]}" "compare.methods=[adamw,signsgd,signum,stosignsgd]" \
    compare.arms.signum.method=signsgd compare.arms.signum.momentum=0.9 \
    "compare.spaces.adamw.lr=[1e-4,1e-1]" "compare.spaces.adamw.weight_decay=[0.0,0.1]" \
    "compare.spaces.signsgd.lr=[1e-4,1e-1]" "compare.spaces.signum.lr=[1e-4,1e-1]" \
    "compare.spaces.stosignsgd.lr=[1e-4,1e-1]" \
    train.lr_scheduler=linear train.warmup_steps=0 logger=none "results_dir=$RESULTS/stosignsgd_finetune"
}

# Table V's variants as arms of sqmeft; no_rms steps lr*sign(m), not lr*RMS(theta)*sign(m), so
# its lr range sits lower by about the tensors' RMS (~0.03). Constant schedule, as the paper file.
sqmeft_table5() {
  suite-compare "${budget[@]}" "${small[@]}" "compare.methods=[full,no_ema,no_rms,no_sign]" \
    compare.arms.full.method=sqmeft compare.arms.no_ema.method=sqmeft compare.arms.no_ema.beta=0.01 \
    compare.arms.no_rms.method=sqmeft compare.arms.no_rms.rms_scaled=false \
    compare.arms.no_sign.method=sqmeft compare.arms.no_sign.sign=false \
    "compare.spaces.full.lr=[1e-3,1e-1]" "compare.spaces.no_ema.lr=[1e-3,1e-1]" \
    "compare.spaces.no_rms.lr=[3e-5,3e-3]" "compare.spaces.no_sign.lr=[1e-3,1e-1]" \
    train.lr_scheduler=constant train.warmup_steps=0 logger=none "results_dir=$RESULTS/sqmeft_table5"
}

# The selection schemes of ABSignSGD (sign step), each an arm with its own lr search over three
# decades around the default 1e-3. Weight decay 0.01 and checkpointing, as the paper file.
absignsgd_ablation() {
  local arms=() spaces=()
  for scheme in depth_biased uniform cyclic; do
    arms+=("compare.arms.$scheme.method=absignsgd" "compare.arms.$scheme.selection_scheme=$scheme"
           "compare.arms.$scheme.weight_decay=0.01")
    spaces+=("compare.spaces.$scheme.lr=[1e-4,1e-1]")
  done
  suite-compare "${budget[@]}" "${small[@]}" "compare.methods=[depth_biased,uniform,cyclic]" \
    "${arms[@]}" "${spaces[@]}" train.gradient_checkpointing=true eval.n_examples=0 logger=none \
    "results_dir=$RESULTS/absignsgd_ablation"
}

# Table 2's methods (AdamW is not one) at the Table 2 files' settings on the synthetic workload
# and, as a second comparison in the same folder (each resumes on its own), with a GSM8K file at
# GSM8K_PATH, on GSM8K text. One run at a time (N_JOBS is ignored): the claim is a time to a
# validation loss. Every lr over the same three decades.
absignsgd_convergence() {
  local methods=(absignsgd lora galore_layerwise badam apollo_layerwise) spaces=()
  for m in "${methods[@]}"; do spaces+=("compare.spaces.$m.lr=[1e-4,1e-1]"); done
  local table2=("compare.methods=[$(IFS=,; echo "${methods[*]}")]" "${spaces[@]}"
    compare.arms.absignsgd.method=absignsgd compare.arms.absignsgd.weight_decay=0.01
    compare.arms.galore_layerwise.method=galore_layerwise compare.arms.galore_layerwise.rank=4
    compare.arms.galore_layerwise.scale=2.0 compare.arms.galore_layerwise.update_proj_gap=200
    compare.arms.badam.method=badam compare.arms.badam.switch_block_every=8
    compare.arms.badam.switch_mode=random
    compare.arms.apollo_layerwise.method=apollo_layerwise compare.arms.apollo_layerwise.rank=4
    compare.arms.apollo_layerwise.scale=32.0 compare.arms.apollo_layerwise.scale_type=channel
    train.gradient_checkpointing=true eval.n_examples=0 logger=none
    "results_dir=$RESULTS/absignsgd_convergence")
  suite-compare "${budget[@]}" compare.n_jobs=1 "compare.workloads=[small_math]" "${table2[@]}"
  if [[ -n ${GSM8K_PATH:-} && -f $GSM8K_PATH ]]; then
    SUITE_GSM8K_TRAIN=$GSM8K_PATH suite-compare compare.name=protocol_gsm8k compare.n_trials=3 \
      "compare.eval_seeds=[1,2,3]" compare.n_jobs=1 "compare.workloads=[gsm8k_text]" "${table2[@]}"
  else
    echo "protocol.sh: no GSM8K file at GSM8K_PATH: absignsgd_convergence runs on small_math only" >&2
  fi
}

# ALIAS (with AdamW on the output layer, as the authors' script) has no lr: one run at its
# defaults is its trial; its clamp-free and heavy-ball variants likewise. SignSGD's lr over three
# decades and its weight decay in [0, 0.01]. The official cosine to 0.1 x lr, checkpointing.
alias_vs_tuned() {
  local arms=()
  for variant in alias_adam alias_no_clamp alias_heavy_ball; do
    arms+=("compare.arms.$variant.method=alias_adam" "compare.arms.$variant.warmup_steps=10")
  done
  suite-compare "${budget[@]}" "${small[@]}" "compare.methods=[alias_adam,alias_no_clamp,alias_heavy_ball,signsgd]" \
    "${arms[@]}" "compare.arms.alias_no_clamp.clamp_level=.inf" compare.arms.alias_heavy_ball.heavy_ball=true \
    "compare.spaces.signsgd.lr=[1e-4,1e-1]" "compare.spaces.signsgd.weight_decay=[0.0,0.01]" \
    train.lr_scheduler=cosine_with_min_lr train.min_lr_ratio=0.1 train.max_grad_norm=null \
    train.gradient_checkpointing=true eval.n_examples=0 logger=none "results_dir=$RESULTS/alias_vs_tuned"
}

# The baselines on small_math, lr only: each method's three trials are its YAML's lr and one decade
# either side (a centred Latin hypercube over [lr / 10^1.5, lr * 10^1.5]), so every method gets
# the same budget around its own default. Not a paper artefact: the suite's baselines table.
baselines() {
  local defaults=(adamw=1e-3 signsgd=1e-3 lora=1e-3 galore=1e-3 apollo=1e-3 badam=1e-3 lomo=0.1
    muon=0.02 adafactor=1e-2 adamw8bit=1e-3 lion=1e-4 schedulefree=2.5e-3 adam_mini=1e-3
    adamw8bit_bnb=1e-3 galore8bit=1e-3 qgalore=1e-3)
  local methods=() spaces=()
  for pair in "${defaults[@]}"; do
    local m=${pair%=*} lr=${pair#*=}
    methods+=("$m")
    spaces+=("compare.spaces.$m.lr=[$(python3 -c "print(f'{$lr / 10**1.5:.4g},{$lr * 10**1.5:.4g}')")]")
  done
  suite-compare "${budget[@]}" "${small[@]}" "compare.methods=[$(IFS=,; echo "${methods[*]}")]" \
    "${spaces[@]}" logger=none "results_dir=$RESULTS/baselines"
}

all=(stosignsgd_finetune sqmeft_table5 absignsgd_ablation absignsgd_convergence alias_vs_tuned baselines)
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
