#!/usr/bin/env bash
# GPU check + benchmark of the logit-layer kernels.  Installs nothing.
#
#   bash benchmarks/gpu.sh               # on a CUDA machine: kernel tests (fp32 + fp16/bf16), then benchmarks
#   bash benchmarks/gpu.sh --cpu-smoke   # same script end to end on CPU, Triton interpreter, tiny sizes
#
# CSV goes to $OUT if set, else benchmarks/results/.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ -n "${PYTHON:-}" ]]; then PY="$PYTHON"
elif [[ -x .venv/bin/python ]]; then PY=.venv/bin/python
else PY=python; fi
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"

if [[ "${1:-}" == "--cpu-smoke" ]]; then
  export TRITON_INTERPRET=1
  exec "$PY" benchmarks/bench_gpu.py --cpu-smoke "${@:2}"
fi

command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv || true
"$PY" - <<'PY'
import torch, sys
if not torch.cuda.is_available():
    sys.exit("gpu.sh: no CUDA device visible (use --cpu-smoke on CPU)")
print("device:", torch.cuda.get_device_name(), "torch", torch.__version__)
PY
# Correctness: every kernel test on the GPU (fp32 vs reference) plus the fp16/bf16 ones.
"$PY" -m pytest tests/kernels -q -m "gpu or not gpu" -p no:cacheprovider
# Correctness again at benchmark-like sizes (fp32 and bf16), then speed.
"$PY" benchmarks/bench_gpu.py "$@"
