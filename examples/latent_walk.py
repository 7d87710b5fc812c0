"""Walk a straight line through a run's latent space and write one WAV per step.

    python examples/latent_walk.py RUN OUT_DIR [--steps 8] [--digit D]

z goes from -2 to +2 along the first latent axis (the others stay 0); a
conditional run says digit D (default 0) at every step. Uses vaeaudio as a
library: `vaeaudio.models.saving` to load, the model's `decode`, `vaeaudio.sound.render` with the run's audio settings,
`dsp.write_wav` for the files.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from vaeaudio.formats.runs import load_config, resolve_run
from vaeaudio.models.saving import load_model
from vaeaudio.models.sharpen import sharpen_power
from vaeaudio.sound import dsp
from vaeaudio.sound.render import render


def walk(run: Path, out: Path, steps: int = 8, digit: int = 0) -> list[Path]:
    """Decode `steps` points from z0 = -2 to z0 = +2 and write them as out/step-NN.wav."""
    run = resolve_run(run)
    config, model = load_config(run), load_model(run)
    z = np.zeros((steps, model.latent_dim), np.float32)
    z[:, 0] = np.linspace(-2.0, 2.0, steps)
    digits = np.full(steps, digit) if model.conditional else None
    spec = model.decode_all(z, digits)  # (steps, bins, frames) in [0, 1]
    power = sharpen_power("auto", model, config)  # the contrast of the training clips
    transform = config.transform()  # the audio settings of the set the run was trained on
    waves = render(spec, config.data.db_min, config.data.db_max, transform, sharpen=power)  # (steps, clip_samples)
    return [dsp.write_wav(out / f"step-{i:02d}_z0{z[i, 0]:+.2f}.wav", w, transform.sample_rate)
            for i, w in enumerate(waves)]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--digit", type=int, default=0)
    args = parser.parse_args()
    for path in walk(args.run, args.out, args.steps, args.digit):
        print(path)
