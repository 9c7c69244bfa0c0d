#!/usr/bin/env bash
# The architecture study's long version on one GPU, as one command (docs/ablations.md):
#   bash benchmarks/ablation_gpu.sh            # results under $OUT (default outputs/ablation_gpu)
# 1. the memory of each skip option at 256 px, batch 8 (paper widths);
# 2. the curve of the paper's settings on the richest 64 px data (30k iterations, one seed);
# 3. every arm x 3 seeds with the quick settings on the same data (20k iterations each);
# then the tables (summary.md) and the charts. Runs share the GPU, 6 at a time plus the curve.
# Each part has its own deadline (seconds): DEADLINE_CURVE, DEADLINE_STUDY.
set -euo pipefail
OUT=${OUT:-outputs/ablation_gpu}
JOBS=${JOBS:-6}
mkdir -p "$OUT"
pip install -q -e . >"$OUT/pip.log" 2>&1
nvidia-smi >"$OUT/nvidia-smi.txt" 2>&1 || true
python benchmarks/arch_memory.py --img-size 256 --batch 8 --device cuda --json "$OUT/arch_memory.json" \
  >"$OUT/arch_memory.txt" 2>&1 || echo "arch_memory failed, see $OUT/arch_memory.txt"
python benchmarks/ablation.py --experiment ablation_paper --arms avgpool --seeds 0 --device cuda \
  --jobs 1 --threads 2 --eval-every 2000 --deadline-s "${DEADLINE_CURVE:-20000}" \
  --out "$OUT/paper_curve" >"$OUT/paper_curve.log" 2>&1 &
CURVE=$!
python benchmarks/ablation.py --experiment ablation --seeds 0,1,2 --device cuda --jobs "$JOBS" \
  --threads 2 --eval-every 1000 --deadline-s "${DEADLINE_STUDY:-30000}" --out "$OUT/study" \
  --plots "$OUT/plots" >"$OUT/study.log" 2>&1
wait "$CURVE" || true
python benchmarks/ablation.py --summary-only --out "$OUT/paper_curve" --plots "$OUT/plots" \
  >>"$OUT/paper_curve.log" 2>&1
cat "$OUT/study/summary.md" "$OUT/paper_curve/summary.md"
