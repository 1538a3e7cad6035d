#!/usr/bin/env bash
# Reproduces the bundled default model (imitator/weights/default) from nothing but this repository:
#   synthetic corpus (about 2-3 min) -> training with Whisper tiny.en features (about 12-20 min on 2 CPU cores)
#   -> checkpoint, training curve, presets. Usage: bash scripts/train_default_model.sh [WORKDIR]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
WORK=${1:-runs/default_model}
PY=.venv/bin/python
mkdir -p "$WORK"
[ -f "$WORK/corpus/index.json" ] || $PY -m imitator make-corpus --out "$WORK/corpus" --seed 0
OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} $PY -m imitator train "$WORK/corpus" --out "$WORK/model" \
  --epochs 90 --batch-size 8 --lr 5e-4 --lip-weight 30 --lip-region lips --seed 0
rm -rf imitator/weights/default && mkdir -p imitator/weights/default
cp "$WORK/model/best/model.safetensors" "$WORK/model/best/config.json" imitator/weights/default/
$PY scripts/plot_training.py "$WORK/model" docs/images/training_curve.png --label "bundled (lip loss x30 on the lips)"
$PY scripts/make_presets.py --data "$WORK/corpus" --out imitator/presets
echo "bundled model and presets written; evaluate with: $PY -m benchmarks.quality --data $WORK/corpus"
