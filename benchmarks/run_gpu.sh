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
# Issue targets: metrics (NIQE batched >= 10x), rankdata (paper-scale labelling < 30 min),
# ranker_step (>= 3x the authors' loop at batch 16 x 296), precision_ab (bf16 vs fp32 within
# noise), dag_planning (CPU, <= 10 s). One script, so a lent device is spent in one call.
for b in ${BENCHES:-metrics rankdata ranker_step sr_inference train_step precision_ab imresize dag_planning}; do
  echo "=== $b" | tee -a "$out/all.log"
  case $b in
    train_step) python3 benchmarks/train_step.py --device cuda ${TRAIN_ARGS:-} ;;
    ranker_step) python3 benchmarks/ranker_step.py --device cuda --batch 16 --patch 296 ;;
    precision_ab) python3 benchmarks/precision_ab.py --device cuda --gpu ${PRECISION_ARGS:-} ;;
    dag_planning) python3 benchmarks/dag_planning.py ;;
    *) python3 benchmarks/$b.py --device cuda ;;
  esac 2>&1 | tee "$out/$b.log" | tee -a "$out/all.log" | tail -40
done
