#!/usr/bin/env bash
# Runs every benchmark on a CUDA machine that has torch but not this project's venv.
# pyiqa (reference implementation) travels as a wheel in .whl/ (see benchmarks/README.md).
set -uo pipefail
out=${OUT:-/tmp/bench}
mkdir -p "$out"
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=src${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/device.txt"
python3 -c "import torch; print('torch', torch.__version__)" | tee -a "$out/device.txt"
for b in ${BENCHES:-sr_inference train_step metrics imresize}; do
  echo "=== $b" | tee -a "$out/all.log"
  case $b in
    train_step) python3 benchmarks/train_step.py --device cuda ${TRAIN_ARGS:-} ;;
    *) python3 benchmarks/$b.py --device cuda ;;
  esac 2>&1 | tee "$out/$b.log" | tee -a "$out/all.log" | tail -40
done
