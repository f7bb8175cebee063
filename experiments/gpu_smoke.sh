#!/usr/bin/env bash
# The suite on a CUDA GPU, checked in minutes before booking days: every method for a few steps
# on a 0.49B-parameter bf16 Qwen3 stand-in (model=standin_qwen3 widened: hidden 1536, 18 blocks,
# 12:3 heads), the exact meter and the CUDA allocator's peaks recorded, the estimator's
# breakdown of the same setting printed beside them.
#   bash experiments/gpu_smoke.sh [OUT [OVERRIDE...]]   (OUT defaults to results/gpu_smoke)
# SMOKE_DEVICE=cpu runs the same commands on CPU (add smaller model.* overrides to try it there).
# Batches are full length (synthetic problems are >= 94 byte tokens, cut at 94; prompts that fill
# them leave their row without labels, the others carry the loss), so the estimate
# and the run have the same shapes; 5 steps in both (block methods then train the same blocks),
# no evaluation, no W&B.
set -euo pipefail
OUT=${1:-results/gpu_smoke}
shift || true
DEVICE=${SMOKE_DEVICE:-cuda}
COMMON=(
  model=standin_qwen3 model.hidden_size=1536 model.num_layers=18 model.num_heads=12
  model.num_kv_heads=3 model.intermediate_size=4608
  data=synthetic_math data.max_length=94 train.batch_size=16
  "method=glob(*)" "$@"
)
if [ "$DEVICE" = cuda ]; then
  python -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'gpu_smoke: no CUDA device')"
fi
suite-train -m "${COMMON[@]}" "device=$DEVICE" logger=none train.max_steps=5 train.warmup_steps=0 \
  eval.n_examples=0 experiment_name=gpu_smoke "results_dir=$OUT" overwrite=true
suite-estimate -m "${COMMON[@]}" "estimate.device=$DEVICE" estimate.steps=5 "estimate.out=$OUT/estimates" "results_dir=$OUT"
python -m suite.estimate.compare "$OUT/gpu_smoke" "$OUT/estimates/estimates.json" | tee "$OUT/side_by_side.md"
# The tests only a GPU runs (the CUDA-only method's update against torch's AdamW, its host bytes,
# its bitwise resume); skipped on CPU.
if [ "$DEVICE" = cuda ]; then
  pytest -q -p no:cacheprovider tests/test_offload.py > "$OUT/cuda_only_tests.txt" 2>&1 \
    || echo "gpu_smoke: a CUDA-only test failed; see $OUT/cuda_only_tests.txt" >&2
fi
