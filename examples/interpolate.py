"""Morph one recording into another through a model's latent space, with vaeaudio's Python API alone.

    python examples/interpolate.py MODEL A.wav B.wav OUT_DIR [--steps 8] [--digit D]

MODEL is an export (`vaeaudio export RUN`: onnxruntime, no TensorFlow needed) or a run directory. Both
recordings are encoded to their latent means, the straight line between them is decoded at `--steps` points and
written as OUT_DIR/step-NN.wav; a conditional model encodes and says digit D (default 0) throughout.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import vaeaudio


def interpolate(model: Path, a: Path, b: Path, out: Path, steps: int = 8, digit: int = 0) -> list[Path]:
    """Write `steps` WAVs from recording `a`'s latent point to `b`'s; returns their paths."""
    m = vaeaudio.load(model)  # sample_rate, latent_dim, classes, synth, encode, decode, spectrogram
    label = digit if m.conditional else None
    za, zb = m.encode([a, b], digit=label)  # latent means, (latent_dim,) each
    t = np.linspace(0.0, 1.0, steps)[:, None]
    waves = m.synth(z=(1 - t) * za + t * zb, digit=label)  # (steps, clip samples) at m.sample_rate Hz
    return [m.write_wav(out / f"step-{i:02d}.wav", w) for i, w in enumerate(waves)]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("a", type=Path)
    parser.add_argument("b", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--digit", type=int, default=0)
    args = parser.parse_args()
    for path in interpolate(args.model, args.a, args.b, args.out, args.steps, args.digit):
        print(path)
