#!/usr/bin/env bash
# Every GPU figure of the README in one command that ends within a time budget (prepared and
# smoke-tested on the CPU):
#   bash benchmarks/gpu_figures.sh OUT_DIR          # on a GPU machine, from anywhere in the repository
#   BUDGET=480 bash benchmarks/gpu_figures.sh OUT   # the whole run's seconds (default 480: 8 minutes)
#   SMOKE=1 bash benchmarks/gpu_figures.sh /tmp/x   # tiny sizes on the CPU: checks the commands run
# Without SMOKE=1 it needs a CUDA device that torch can use: where there is none it stops at once
# (exit 1, one line saying so) rather than run the 256 px benchmarks on the CPU (10 GB resident).
# Writes OUT_DIR/<figure>.txt (each benchmark prints its table as it goes), OUT_DIR/steps.txt (each
# step's command, exit status and end time) and OUT_DIR/env.txt. Steps run in order of need; each
# gets its own deadline, cut to what is left of BUDGET less 15 s (kill grace, packing), and a step
# that would get under 20 s is skipped (steps.txt says so: the seconds left, or that the budget is
# used up): the largest-batch sweep comes last and runs only if time is left. The last line of
# steps.txt counts the steps that ran, those that did not exit 0, and those skipped; the exit
# status is 1 when one that ran did not exit 0. A step
# still running GRACE s (10) after its deadline is killed: on the first H200 run the compile
# step did not end on SIGTERM and the run overran its lease (Lightning's SIGTERM handler lets the
# iteration in progress end first, and the compile warm-up happens inside an iteration: on the
# CPU a SIGTERM 20 s into it ended train_speed.py 74 s later).
# PACK=FILE.tgz: after every step, pack OUT_DIR into FILE.tgz (written whole, then renamed), so a
# machine that returns few files, or a call cut short, still brings back every finished table:
#   PACK=$OUT/gf.tgz bash benchmarks/gpu_figures.sh /tmp/gf
# JPEG_DIR: where data_speed.py writes its photo-like JPEG dataset (default under /tmp).
#
# Offline machines: the benchmarks need torch, torchvision, lightning and torchmetrics only. If
# `import starganv2` fails and those four import, the script runs the code from src/
# (PYTHONPATH), without pip; only if one of them is missing does it try `pip install -e .`.
set -uo pipefail
OUT=${1:?give an output folder}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
if [[ -n "${PACK:-}" ]]; then
  PACK=$(realpath -m "$PACK")
  [[ "$PACK" == "$OUT"/* ]] && { echo "PACK=$PACK is inside $OUT: give a path outside it"; exit 2; }
fi
pack() {  # OUT as PACK (a .tgz), replaced whole: a reader never sees half an archive
  [[ -n "${PACK:-}" ]] || return 0
  tar -czf "$PACK.part" -C "$(dirname "$OUT")" "$(basename "$OUT")" && mv -f "$PACK.part" "$PACK"
}
cd "$(dirname "$0")/.."
BUDGET=${BUDGET:-480}
PY=${PYTHON:-python3}
command -v "$PY" >/dev/null || PY=python
: >"$OUT/steps.txt"

cuda_check() { "$PY" benchmarks/cuda_check.py 2>/dev/null; }  # 0: usable; 1: none (why); 2: no torch
refuse_without_cuda() {  # refuse_without_cuda WHY: the one line, in steps.txt too; exit 1
  echo "gpu_figures.sh: no CUDA device that torch can use ($1): this script measures GPU figures;" \
    "for a CPU dry run use SMOKE=1" | tee -a "$OUT/steps.txt" >&2
  pack
  exit 1
}
CUDA_CHECKED=0
if [[ "${SMOKE:-0}" != "1" ]]; then
  # before any install: a machine without a GPU stops here, not after pip or in a 256 px step
  WHY=$(cuda_check)
  case $? in
    0) CUDA_CHECKED=1 ;;
    1) refuse_without_cuda "$WHY" ;;
  esac  # 2: torch is not there yet; checked again once the install step has run
fi

if "$PY" -c "import starganv2" >/dev/null 2>&1; then
  HOW="installed starganv2"
elif "$PY" -c "import torch, torchvision, lightning, torchmetrics" >/dev/null 2>&1; then
  # what the benchmarks import is there: run the code from src/, no pip (no index needed)
  export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
  HOW="src/ on PYTHONPATH"
  "$PY" -c "import starganv2" >"$OUT/install.txt" 2>&1 ||
    { echo "starganv2 cannot be imported from src/: see $OUT/install.txt" | tee -a "$OUT/steps.txt"
      tail -n 20 "$OUT/install.txt" | sed 's/^/  | /' >&2; pack; exit 1; }
elif "$PY" -m pip install -q -e . >"$OUT/install.txt" 2>&1 &&
  "$PY" -c "import starganv2" >>"$OUT/install.txt" 2>&1; then
  HOW="pip install -e ."
else
  echo "starganv2 is not installed and pip install -e . failed: see $OUT/install.txt" | tee -a "$OUT/steps.txt"
  tail -n 20 "$OUT/install.txt" | sed 's/^/  | /' >&2
  pack
  exit 1
fi
if [[ "${SMOKE:-0}" != "1" && $CUDA_CHECKED == 0 ]]; then
  WHY=$(cuda_check) || refuse_without_cuda "$WHY"
fi
{
  date -u
  echo "starganv2 from: $HOW; budget ${BUDGET} s"
  [[ -n "${WHY:-}" ]] && echo "CUDA check: $WHY"
  nvidia-smi 2>/dev/null || echo "no nvidia-smi"
  "$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)"
} >"$OUT/env.txt"

if [[ "${SMOKE:-0}" == "1" ]]; then
  TRAIN="--img-size 32 --batch 2 --dim-in 16 --max-conv-dim 32 --hidden-dim 32 --style-dim 8 --rounds 1 --iters 1 --warmup 1"
  VARIANTS="original,eager,plain,plain+cudnn_benchmark"
  PROFILE="$TRAIN"
  COMPILE_BASE="eager"
  COMPILED="channels_last"  # the step's command shape only: no compile warm-up on the CPU
  INFER="--img-size 32 --batch 4 --dim-in 16 --max-conv-dim 32 --rounds 1"
  DATA="--img-size 32 --batch-size 4 --workers 1 --batches 5 --warmup 1 --jpeg-count 8 --jpeg-size 64"
  BATCH="--device cpu --img-size 32 --dim-in 16 --max-conv-dim 32 --caps-gb 1 --max-batch 2"
  JPEG_DIR=${JPEG_DIR:-/tmp/starganv2_photos_smoke}
else
  # 256 px, batch 8, the paper's widths (train_speed.py's defaults)
  TRAIN="--img-size 256 --batch 8 --rounds 3 --iters 5 --warmup 2"
  # plain+torchlayers: do the fused resampling convs pay on this GPU? cudnn_benchmark: does
  # trainer.benchmark=true?
  VARIANTS="original,eager,plain,plain+torchlayers,channels_last,bf16,bf16+channels_last"
  VARIANTS+=",eager+cudnn_benchmark,bf16+channels_last+cudnn_benchmark"
  PROFILE="--img-size 256 --batch 8 --rounds 1 --iters 2 --warmup 1"
  COMPILE_BASE="bf16+channels_last"
  COMPILED="bf16+channels_last+compile"
  INFER="--img-size 256 --batch 32 --rounds 3"
  DATA="--img-size 256 --batch-size 8 --workers 8 --batches 100 --warmup 10"
  BATCH="--img-size 256 --caps-gb 24,40,80"
  JPEG_DIR=${JPEG_DIR:-/tmp/starganv2_photos}
fi

GRACE=10
KEEP=$((GRACE + 5))  # seconds of the budget kept back from each step: its kill grace, packing
NOT_ZERO=0 NOT_ZERO_LIST=""  # steps that did not exit 0 (deadline, killed, failed): the last line
RAN=0 SKIPPED=0 STEP=
stop_step() {  # on SIGTERM/SIGINT: end the running step (timeout passes the signal on), then exit
  echo "gpu_figures.sh: stopped by a signal after ${SECONDS} s" | tee -a "$OUT/steps.txt" >&2
  [[ -n $STEP ]] && kill -TERM "$STEP" 2>/dev/null && wait "$STEP"
  pack
  exit 143
}
trap stop_step TERM INT
step() {  # step NAME SECONDS COMMAND...: run with min(SECONDS, what is left of BUDGET - KEEP)
  local name=$1 limit=$2 left rc
  shift 2
  left=$((BUDGET - SECONDS))
  ((left - KEEP < limit)) && limit=$((left - KEEP))
  if ((limit < 20)); then
    SKIPPED=$((SKIPPED + 1))
    if ((left <= 0)); then
      echo "== $name: skipped, the budget (${BUDGET} s) is used up" | tee -a "$OUT/steps.txt"
    else
      echo "== $name: skipped, ${left} s of the budget left and a step needs $((20 + KEEP)) s" \
        "(20 s to run, ${KEEP} s kept for its kill grace and packing)" | tee -a "$OUT/steps.txt"
    fi
    return
  fi
  echo "== $name (at most ${limit} s): $*" | tee -a "$OUT/steps.txt"
  # SIGTERM at the deadline, SIGKILL GRACE s later (to the step's whole process group); in the
  # background and waited for, so that a SIGTERM or Ctrl-C to this script reaches the step too
  # (timeout runs in a process group of its own, which a signal to this script's group misses)
  timeout -k "$GRACE" "$limit" "$@" >"$OUT/$name.txt" 2>&1 &
  STEP=$!
  wait "$STEP"
  rc=$?
  STEP=
  RAN=$((RAN + 1))
  local why=""
  ((rc == 124)) && why=" (deadline)"
  ((rc == 137)) && why=" (killed: still running ${GRACE} s after the deadline)"
  echo "   exit $rc after ${SECONDS} s$why" | tee -a "$OUT/steps.txt"
  if ((rc != 0)); then
    NOT_ZERO=$((NOT_ZERO + 1))
    NOT_ZERO_LIST+="${NOT_ZERO_LIST:+, }$name: exit $rc"
  fi
  pack
}

# shellcheck disable=SC2086
step train_speed 200 "$PY" benchmarks/train_speed.py $TRAIN --variants "$VARIANTS"
# where the GPU's time goes: per-operator self device time of the comparator, the plain loop and
# the plain loop under bf16 (on the first H200 run bf16 was slower than fp32); the table's
# "all operators" row, against the s/iter above it, says how busy the GPU is; --count, the
# FLOP rate reached
# shellcheck disable=SC2086
step train_profile 90 "$PY" benchmarks/train_speed.py $PROFILE --variants original,plain,plain_bf16 --profile 30 --count
# shellcheck disable=SC2086
step infer_speed 60 "$PY" benchmarks/infer_speed.py $INFER --styles 4 --variants fp32,channels_last,bf16,bf16+channels_last
# shellcheck disable=SC2086
step data_speed 60 "$PY" benchmarks/data_speed.py --make-jpeg "$JPEG_DIR" $DATA
# compile apart, after the others: its warm-up is not timed, and one that runs out of time
# leaves the figures above whole. Its ratio is to the same setting without compile.
# shellcheck disable=SC2086
step train_compile 120 "$PY" benchmarks/train_speed.py $TRAIN --baseline "$COMPILE_BASE" \
  --variants "$COMPILE_BASE,$COMPILED"
# shellcheck disable=SC2086
step max_batch_fp32 60 "$PY" benchmarks/max_batch.py $BATCH
# shellcheck disable=SC2086
step max_batch_bf16 60 "$PY" benchmarks/max_batch.py $BATCH --bf16 --channels-last
SUMMARY="$RAN step(s) ran, $NOT_ZERO of them did not exit 0${NOT_ZERO_LIST:+ ($NOT_ZERO_LIST)}"
((SKIPPED)) && SUMMARY+=", $SKIPPED skipped (budget)"
echo "done in ${SECONDS} s (budget ${BUDGET} s): $SUMMARY: $OUT" | tee -a "$OUT/steps.txt"
pack
# exit status 1 when a step that ran did not exit 0 (a skipped one does not count), as a wrapper
# or a CI job reads it: it was 0 whatever the steps did
((NOT_ZERO == 0)) || exit 1
