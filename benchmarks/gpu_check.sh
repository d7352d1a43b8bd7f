#!/usr/bin/env bash
# The GPU fast path measured by one command (issue 20), in <= 8 minutes on one GPU:
#   1. benchmarks/engine_speed.py: ADM-256 with random weights, colorize and SR x4, 100 steps; the reference-like mode
#      (fp16, batch 1, eager) against the fast path (bf16 autocast + channels_last + torch.compile) at batch 8 and 32;
#   2. benchmarks/pipeline_throughput.py: the whole Ray pipeline against the engine alone, on the same GPU.
# Each appends its rows to benchmarks/results.jsonl with the device's name; the chart goes to docs/img/.
#
#   bash benchmarks/gpu_check.sh            # on a GPU machine
#   bash benchmarks/gpu_check.sh --tiny     # anywhere, on the CPU, in about a minute: proves the script works
#
# Environment: PYTHON (default: python), GPU_CHECK_SKIP_PIPELINE=1 skips step 2 (Ray's start-up on a loaded CPU).
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
PY="${PYTHON:-python}"

if [[ "${1:-}" == "--tiny" ]]; then
  "$PY" -m benchmarks.engine_speed --tiny --device cpu --threads 1 --plot "${GPU_CHECK_PLOT:-/tmp/engine_speed_tiny.png}"
  if [[ "${GPU_CHECK_SKIP_PIPELINE:-0}" != 1 ]]; then
    "$PY" -m benchmarks.pipeline_throughput --device cpu --images 2 --steps 1 --batch-size 2
  fi
  exit 0
fi

"$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'gpu_check: no CUDA device visible; run with --tiny on a CPU')"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
# Budget: engine ~5 min (two compiles, 2 x (2 reference images + 32 + 32 images) at 100 steps), pipeline ~2 min.
timeout 330 "$PY" -m benchmarks.engine_speed --device cuda --steps 100 --batches 8,32 --compile default \
  --plot docs/img/engine_speed_gpu.png
if [[ "${GPU_CHECK_SKIP_PIPELINE:-0}" != 1 ]]; then
  timeout 140 "$PY" -m benchmarks.pipeline_throughput --device cuda --images 256 --steps 100 --batch-size 32
fi
