#!/usr/bin/env bash
# Every GPU figure of the README in one command (prepared and smoke-tested on the CPU):
#   bash benchmarks/gpu_figures.sh OUT_DIR          # on a GPU machine, from the repository root
#   SMOKE=1 bash benchmarks/gpu_figures.sh /tmp/x   # tiny sizes on the CPU: checks the commands run
# Writes OUT_DIR/<figure>.txt (each benchmark prints its table) and OUT_DIR/env.txt. Each step has
# its own deadline (a step that runs out leaves what it printed and the next step starts).
set -uo pipefail
OUT=${1:?give an output folder}
mkdir -p "$OUT"
cd "$(dirname "$0")/.."
python -m pip install -q -e . >"$OUT/install.txt" 2>&1 || { echo "pip install failed"; exit 1; }
{ date -u; nvidia-smi 2>/dev/null || echo "no nvidia-smi"; python -c "import torch; print(torch.__version__)"; } >"$OUT/env.txt"

if [[ "${SMOKE:-0}" == "1" ]]; then
  TRAIN="--img-size 32 --batch 2 --dim-in 16 --max-conv-dim 32 --hidden-dim 32 --style-dim 8 --rounds 1 --iters 1 --warmup 1"
  VARIANTS="original,eager,plain"
  INFER="--img-size 32 --batch 4 --dim-in 16 --max-conv-dim 32 --rounds 1"
  DATA="--img-size 32 --batch-size 4 --workers 1 --batches 5 --warmup 1 --jpeg-count 8 --jpeg-size 64"
  BATCH="--device cpu --img-size 32 --dim-in 16 --max-conv-dim 32 --caps-gb 1 --max-batch 2"
  LIMIT=300
else
  TRAIN="--img-size 256 --batch 8 --rounds 3 --iters 10 --warmup 3"
  VARIANTS="original,eager,plain,channels_last,bf16,bf16+channels_last,bf16+channels_last+compile"
  INFER="--img-size 256 --batch 32 --rounds 3"
  DATA="--img-size 256 --batch-size 8 --workers 8 --batches 100 --warmup 10"
  BATCH="--img-size 256 --caps-gb 24,40,80"
  LIMIT=240
fi

step() {  # step NAME SECONDS COMMAND...
  local name=$1 limit=$2; shift 2
  echo "== $name: $*" | tee -a "$OUT/steps.txt"
  timeout "$limit" "$@" >"$OUT/$name.txt" 2>&1
  echo "   exit $? after ${SECONDS}s" | tee -a "$OUT/steps.txt"
}

# shellcheck disable=SC2086
step train_speed "$LIMIT" python benchmarks/train_speed.py $TRAIN --variants "$VARIANTS"
# shellcheck disable=SC2086
step infer_speed 150 python benchmarks/infer_speed.py $INFER --styles 4 --variants fp32,channels_last,bf16,bf16+channels_last
# shellcheck disable=SC2086
step data_speed 120 python benchmarks/data_speed.py --make-jpeg /tmp/starganv2_photos $DATA
# shellcheck disable=SC2086
step max_batch_fp32 150 python benchmarks/max_batch.py $BATCH
# shellcheck disable=SC2086
step max_batch_bf16 150 python benchmarks/max_batch.py $BATCH --bf16 --channels-last
