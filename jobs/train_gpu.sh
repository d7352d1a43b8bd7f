#!/usr/bin/env bash
# Train (or resume) the bundled prior, and optionally its colour companion beside it, on one GPU for a fixed
# wall-clock budget (issue 22: "on a GPU, when one is available, train there in resumable runs of a few minutes").
#
#   bash jobs/train_gpu.sh STATE_DIR MINUTES [WORKERS_64] [WORKERS_32]
#
# WORKERS_32 > 0 also trains ddnm-colour-32 side by side (session 12: 5 more minutes did not lower its validation
# loss, it needs more photos rather than steps, so it is off by default; it draws the photos of people 12x as
# often, jobs/people.txt, as its shipped weights were fine-tuned since session 14). Each model is small enough that one leaves
# most of a GPU idle, and cutting crops (PIL, LANCZOS; ~1,300 64-px crops/s per core) costs CPU, so two runs share
# the GPU and split the cores between their crop workers. Both resume from STATE_DIR/<name>/checkpoint when it exists, else from the shipped fp16 weights;
# exports land in STATE_DIR/<name>/export/ (copy into ddnm/weights/ only after re-measuring: docs/training.md).
# The corpus is $DDNM_CORPUS (default /work/shared/corpus). Logs: STATE_DIR/<name>.log. DEVICE=cpu (with a
# fraction of a minute and one worker each) checks the script on a machine without a GPU.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
PY="${PYTHON:-python}"
state="$1"; minutes="$2"; workers64="${3:-14}"; workers32="${4:-0}"
mkdir -p "$state"
common=(--device "${DEVICE:-cuda}" --max-minutes "$minutes" --log-every 100 --validate-every 1000 --checkpoint-every-s 120
        --state-dir "$state" --lr 3e-4)
"$PY" -m jobs.train_cli "${common[@]}" --workers "$workers64" --name ddnm-prior-64 --batch-size 128 \
  --init-weights ddnm/weights/ddnm-prior-64.safetensors >"$state/ddnm-prior-64.log" 2>&1 &
p64=$!
p32=
if (( workers32 > 0 )); then
  "$PY" -m jobs.train_cli "${common[@]}" --workers "$workers32" --name ddnm-colour-32 --batch-size 256 \
    --init-weights ddnm/weights/ddnm-colour-32.safetensors --window 32 --channel-mult 1,2,2 \
    --thumbnail-fraction 0.6 --context-fraction 0.3 --photo-weights jobs/people.txt >"$state/ddnm-colour-32.log" 2>&1 &
  p32=$!
fi
status=0
wait "$p64" || status=$?
if [[ -n "$p32" ]]; then wait "$p32" || status=$?; fi
tail -n 3 "$state"/*.log
exit "$status"
