#!/usr/bin/env bash
# The reference report's results table on AudioMNIST, then one table of every run.
#   bash examples/reproduce_report.sh [WORKDIR]
# Needs about 1 GB of disk for the corpus and 2 GB for the spectrograms; the CNN
# rows need about 17 GiB of RAM and many hours on CPU (see the README's figures).
set -euo pipefail
WORK=${1:-report}
mkdir -p "$WORK"
cd "$WORK"

vaeaudio download --dest AudioMNIST   # resumable: run it again after an interruption
vaeaudio preprocess --src AudioMNIST/data --out spectrograms   # the report's split: 22,840 / 2,538 / 2,820

vaeaudio train mlp --recipe reference --data spectrograms --epochs 50 --run-dir runs/mlp-50
vaeaudio train mlp --recipe reference --data spectrograms --epochs 100 --run-dir runs/mlp-100
vaeaudio train mlp --recipe reference --data spectrograms --epochs 100 --dropout 0.3 --run-dir runs/mlp-100-dropout
vaeaudio train cnn --arch reference --recipe reference --data spectrograms --epochs 50 --run-dir runs/cnn-50
vaeaudio train cnn --arch reference --recipe reference --data spectrograms --epochs 50 --regularize --run-dir runs/cnn-50-reg

vaeaudio evaluate runs/mlp-50 runs/mlp-100 runs/mlp-100-dropout runs/cnn-50 runs/cnn-50-reg
