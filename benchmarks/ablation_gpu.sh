#!/usr/bin/env bash
# The architecture study's long version on one GPU, as one command (docs/ablations.md):
#   bash benchmarks/ablation_gpu.sh            # results under $OUT (default outputs/ablation_gpu)
#   SMOKE=1 bash benchmarks/ablation_gpu.sh    # the same steps on the CPU at tiny lengths and sizes
#                                              # (checks the commands run; OUT=outputs/ablation_gpu_smoke)
# 1. the memory of each skip option at 256 px, batch 8 (paper widths);
# 2. the curve of the paper's settings on the richest 64 px data (30k iterations, one seed);
# 3. every arm x 3 seeds with the quick settings on the same data (20k iterations each);
# then the tables (summary.md) and the charts. Runs share the GPU, 6 at a time plus the curve.
# Each part has its own deadline (seconds): DEADLINE_CURVE, DEADLINE_STUDY.
# Without SMOKE=1 it needs a CUDA device that torch can use: where there is none it stops at once
# (exit 1, one line saying so). It runs `pip install -e .` only where `import starganv2` fails
# (PYTHON, default python, is the interpreter used and installed into). A part that fails prints
# the end of its log here; the script then goes on with the others and exits 1 at the end.
set -uo pipefail
SMOKE=${SMOKE:-0}
if [[ "$SMOKE" == "1" ]]; then
  OUT=${OUT:-outputs/ablation_gpu_smoke}
else
  OUT=${OUT:-outputs/ablation_gpu}
fi
JOBS=${JOBS:-6}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
command -v "$PY" >/dev/null || PY=python3

show_log() {  # show_log LOG: its last lines, indented, on stderr
  if [[ -s "$1" ]]; then
    echo "  last lines of $1:" >&2
    tail -n "${TAIL_LINES:-20}" "$1" | sed 's/^/  | /' >&2
  else
    echo "  ($1 is empty or missing)" >&2
  fi
}
FAILED=""
failed() {  # failed PART LOG STATUS: say so with the log's end; the script goes on, exits 1 at the end
  echo "ablation_gpu.sh: $1 failed (exit $3)" >&2
  show_log "$2"
  FAILED+="${FAILED:+, }$1"
}

cuda_check() { "$PY" benchmarks/cuda_check.py 2>/dev/null; }  # 0: usable; 1: none (why); 2: no torch
refuse_without_cuda() {
  echo "ablation_gpu.sh: no CUDA device that torch can use ($1): this script runs the study on a" \
    "GPU; for a CPU dry run use SMOKE=1 (the CPU study itself: docs/ablations.md)" >&2
  exit 1
}
CUDA_CHECKED=0
if [[ "$SMOKE" != "1" ]]; then
  # before any install: a machine without a GPU stops here
  WHY=$(cuda_check)
  case $? in
    0) CUDA_CHECKED=1 ;;
    1) refuse_without_cuda "$WHY" ;;
  esac  # 2: torch is not there yet; checked again after the install
fi

if "$PY" -c "import starganv2" >/dev/null 2>&1; then
  echo "starganv2 imports: no install"
else
  echo "starganv2 does not import: $PY -m pip install -q -e . (log: $OUT/pip.log)"
  "$PY" -m pip install -q -e . >"$OUT/pip.log" 2>&1 && "$PY" -c "import starganv2" >>"$OUT/pip.log" 2>&1
  rc=$?
  if ((rc != 0)); then
    echo "ablation_gpu.sh: starganv2 is not installed and pip install -e . failed (exit $rc)" >&2
    show_log "$OUT/pip.log"
    exit 1
  fi
fi
if [[ "$SMOKE" != "1" && $CUDA_CHECKED == 0 ]]; then
  WHY=$(cuda_check) || refuse_without_cuda "$WHY"
fi

if [[ "$SMOKE" == "1" ]]; then
  # the same commands on the CPU: 32 px for the memory, 2 iterations per run, 2 arms, and the
  # paper curve's nets narrowed (at the paper's widths one CPU iteration took 86 s and 5 GB)
  DEVICE=cpu
  MEMORY=(--img-size 32 --batch 2 --options none,highpass)
  CURVE_ARGS=(--iters 2 --eval-every 2 --eval-images 4 --threads 1 --override model.dim_in=16
    --override model.max_conv_dim=32 --override data.batch_size=2)
  STUDY_ARGS=(--arms avgpool,blur_all --seeds 0 --iters 2 --eval-every 2 --eval-images 4
    --threads 1)
  JOBS=${SMOKE_JOBS:-1}
  : "${DEADLINE_CURVE:=600}" "${DEADLINE_STUDY:=600}"
else
  DEVICE=cuda
  MEMORY=(--img-size 256 --batch 8)
  CURVE_ARGS=(--eval-every 2000 --threads 2)
  STUDY_ARGS=(--seeds 0,1,2 --eval-every 1000 --threads 2)
fi
{
  date -u
  echo "smoke: $SMOKE; device: $DEVICE${WHY:+ ($WHY)}"
  nvidia-smi 2>&1 || echo "no nvidia-smi"
} >"$OUT/nvidia-smi.txt"

run_failures() {  # run_failures LOG RUN_DIR: the runs ablation.py reported as failed
  local lines
  lines=$(grep -E "^run .* failed \(rc" "$1") || return 0
  # runs the deadline stopped are not failures (ablation.py says "stopped at the deadline")
  grep "^deadline of .* reached" "$1" | sed "s|^|ablation_gpu.sh: $1: |" >&2
  echo "ablation_gpu.sh: runs that failed, from $1:" >&2
  sed 's/^/  /' <<<"$lines" >&2
  # the first failed run's log: "run ('arm', seed) failed" -> RUN_DIR/arm_seed<seed>.log
  local arm seed
  arm=$(sed -nE "1s/^run \('([^']+)', ([0-9]+)\).*/\1/p" <<<"$lines")
  seed=$(sed -nE "1s/^run \('([^']+)', ([0-9]+)\).*/\2/p" <<<"$lines")
  [[ -n "$arm" ]] && show_log "$2/${arm}_seed${seed}.log"
  return 1
}
study_failures() {  # study_failures PART LOG RUN_DIR STATUS: ablation.py finishes the other runs
  # and its summary after a failed run, then exits 1: its failed runs, else its own failure
  if ! run_failures "$2" "$3"; then
    FAILED+="${FAILED:+, }$1 runs"
  elif (($4 != 0)); then
    failed "$1" "$2" "$4"
  fi
}

echo "1/3 arch_memory ($DEVICE): $OUT/arch_memory.txt"
"$PY" benchmarks/arch_memory.py "${MEMORY[@]}" --device "$DEVICE" --json "$OUT/arch_memory.json" \
  >"$OUT/arch_memory.txt" 2>&1 || failed arch_memory "$OUT/arch_memory.txt" $?

echo "2/3 paper_curve, in the background: $OUT/paper_curve.log"
"$PY" benchmarks/ablation.py --experiment ablation_paper --arms avgpool --seeds 0 --device "$DEVICE" \
  --jobs 1 "${CURVE_ARGS[@]}" --deadline-s "${DEADLINE_CURVE:-20000}" \
  --out "$OUT/paper_curve" >"$OUT/paper_curve.log" 2>&1 &
CURVE=$!
# the curve (and its training run) goes on if this script is interrupted: say so and stop
trap 'echo "ablation_gpu.sh: interrupted; the paper curve (pid $CURVE) and its run may still be" \
  "running: see $OUT/paper_curve.log" >&2; exit 130' INT TERM

echo "3/3 study ($JOBS at a time): $OUT/study.log"
"$PY" benchmarks/ablation.py --experiment ablation "${STUDY_ARGS[@]}" --device "$DEVICE" \
  --jobs "$JOBS" --deadline-s "${DEADLINE_STUDY:-30000}" --out "$OUT/study" \
  --plots "$OUT/plots" >"$OUT/study.log" 2>&1
study_failures study "$OUT/study.log" "$OUT/study" $?

echo "waiting for the paper curve (pid $CURVE)"
wait "$CURVE"
study_failures paper_curve "$OUT/paper_curve.log" "$OUT/paper_curve" $?
"$PY" benchmarks/ablation.py --summary-only --out "$OUT/paper_curve" --plots "$OUT/plots" \
  >>"$OUT/paper_curve.log" 2>&1 || failed "paper_curve summary" "$OUT/paper_curve.log" $?
trap - INT TERM

for summary in "$OUT/study/summary.md" "$OUT/paper_curve/summary.md"; do
  if [[ -s "$summary" ]]; then
    cat "$summary"
  else
    echo "ablation_gpu.sh: no $summary" >&2
    FAILED+="${FAILED:+, }${summary#"$OUT"/}"
  fi
done
if [[ -n "$FAILED" ]]; then
  echo "ablation_gpu.sh: done, with failures ($FAILED): $OUT" >&2
  exit 1
fi
echo "ablation_gpu.sh: done: $OUT"
