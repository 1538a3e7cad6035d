#!/usr/bin/env bash
# Reproduces the bundled default model (imitator/weights/default) from this repository, in two stages:
#   1. the synthetic corpus (about 3 min) and a model trained on it (17 min on an idle 2-core machine):
#      exact closures and many voices, kept as benchmarks/checkpoints/synthetic_only for comparison;
#   2. real tracked people: a dataset built from ../shared/data/real (build-dataset: tracking, transcripts, lip
#      labels, contact-true targets; 26 min; train people only are trained on, val/test people per the split
#      file), then stage 1 fine-tuned on synthetic + real at once (about 10 min) -> the bundled model.
#   Then the presets (the corpus's held-out identities adapted to it) and the training curve.
# Usage: bash scripts/train_default_model.sh [WORKDIR] [REAL_VIDEOS]     (REAL_VIDEOS: ../shared/data/real)
#        bash scripts/train_default_model.sh WORKDIR --synthetic-only   (stage 1 only: no real videos needed)
# Everything runs on 1 thread per process: on a busy 2-core machine 2 OpenMP threads were 40x slower.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
WORK=${1:-runs/default_model}
REAL=${2:-../shared/data/real}
PY=.venv/bin/python
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
mkdir -p "$WORK"
[ -f "$WORK/corpus/index.json" ] || $PY -m imitator make-corpus --out "$WORK/corpus" --seed 0
[ -f "$WORK/synthetic/best/model.safetensors" ] || $PY -m imitator train "$WORK/corpus" --out "$WORK/synthetic" \
  --epochs 90 --batch-size 8 --lr 5e-4 --lip-weight 30 --lip-region lips --seed 0
mkdir -p benchmarks/checkpoints/synthetic_only
cp "$WORK/synthetic/best/model.safetensors" "$WORK/synthetic/best/config.json" benchmarks/checkpoints/synthetic_only/
FINAL="$WORK/synthetic/best"

if [ "$REAL" != "--synthetic-only" ]; then
  [ -d "$REAL/train" ] || { echo "no real videos at $REAL (stage 2 needs ../shared/data/real; or --synthetic-only)"; exit 2; }
  $PY -m imitator.data.grid "$REAL/train" "$REAL/eval" > "$WORK/grid_transcripts.tsv"
  $PY -m imitator build-dataset "$REAL/eval" "$REAL/train" --out "$WORK/real" \
    --split-file imitator/data/splits/real_people.json --transcripts "$WORK/grid_transcripts.tsv" \
    --max-per-person 150 --workers 2
  # RECIPE (chosen on the validation people, docs/model.md "Real people"): audio context +-6 frames grown onto
  # stage 1, degraded audio heard half the time, rest-true targets in pauses of 0.5 s or more; the LAST epoch.
  $PY -m imitator train "$WORK/corpus" "$WORK/real" --out "$WORK/model" --init "$WORK/synthetic/best" \
    --generic-from "$WORK/real" --closed-rest-lips --mix 1,2 --identity-balance 0.5 --max-frames 120 --mirror 0.5 \
    --audio-context 6 --augment-audio 0.5 --rest-in-pauses 0.5 \
    --epochs 30 --epoch-size 400 --batch-size 8 --lr 1e-3 --lip-weight 30 --lip-region lips --seed 0
  FINAL="$WORK/model/last"
  # The closure detector beside the weights (imitator/closures.py): lips closed on the m/b/p it hears; linear,
  # +-6 frames, threshold 0.7, chosen on the validation people (docs/model.md "Closure detector"). 1 minute.
  $PY -m imitator fit-closures "$FINAL" "$WORK/corpus" "$WORK/real" --context 6 --hidden 0 --threshold 0.7
fi

rm -rf imitator/weights/default && mkdir -p imitator/weights/default
cp "$FINAL/model.safetensors" "$FINAL/config.json" imitator/weights/default/
[ -f "$FINAL/closures.safetensors" ] && cp "$FINAL/closures.safetensors" "$FINAL/closures.json" imitator/weights/default/
$PY scripts/plot_training.py "$WORK/synthetic" docs/images/training_curve.png --label "stage 1: synthetic (lip loss x30 on the lips)"
$PY scripts/make_presets.py --data "$WORK/corpus" --out imitator/presets
echo "bundled model and presets written; evaluate with: $PY -m benchmarks.quality --data $WORK/corpus" \
  "and $PY -m benchmarks.real_people --data $WORK/real --split test --model imitator/weights/default"
