"""From decoded spectrograms to sound: the one `render` every path uses, and `--sharpen`'s power.

    spec (n, bins, frames) in [0, 1]
      --sharpen: v -> v^P (P > 1 restores the contrast a VAE blurs)-->
      --undo min-max with a dB range-->  dB (0 = clip maximum)  --10^(dB/20)-->  magnitude
      --phase: Griffin-Lim, PGHI (+ fast Griffin-Lim) or the reference's zero phase-->
      waves (n, clip_samples) at the set's sample rate
      --peak to -1 dBFS

synth, evaluate (listening files, generated clips, reconstructions), report,
train's TensorBoard previews and the examples all call `render` with the audio
settings (`dsp.Transform`) of the set the spectrograms come from.
"""

from __future__ import annotations

import numpy as np

from vaeaudio.settings import GRIFFIN_LIM_ITERS
from vaeaudio.settings.base import PHASES
from vaeaudio.sound import dsp


def render(spec: np.ndarray, db_min, db_max, transform: dsp.Transform, phase: str = PHASES[0],
           n_iter: int | None = None, seed: int | np.random.Generator = 0, sharpen: float = 1.0) -> np.ndarray:
    """Spectrograms (n, bins, frames) in [0, 1] -> peak-normalised waveforms (n, transform.clip_samples) float32.

    The one way from a spectrogram to sound: `transform` is the audio settings of
    the set the spectrograms come from (`RunConfig.transform()`,
    `SpectrogramSet.transform`), so the waves are at `transform.sample_rate` Hz.
    `db_min`/`db_max` (scalars or (n,)) undo the [0, 1] scaling. `sharpen` p > 1
    maps each bin v to v^p first: quiet bins (a VAE's blur) drop further than loud
    ones, restoring contrast. `phase` 'griffin-lim' estimates the phase by
    `n_iter` (default `GRIFFIN_LIM_ITERS`) iterations of `dsp.griffin_lim` from a
    random one; 'pghi' by Phase Gradient Heap Integration (`phase.pghi`, no
    iterations, no random draw); 'pghi+gl' by PGHI then `n_iter` (default
    `phase.GL_ITERS`) fast Griffin-Lim iterations; 'zero' is the reference
    report's inverse STFT of the magnitude alone. `seed` (used by 'griffin-lim'
    only) may be a `numpy.random.Generator` shared by calls on consecutive chunks
    of one batch: their waves are then those of one call.
    """
    spec = np.asarray(spec, dtype=np.float32)
    if spec.shape[1:] != transform.shape:
        raise ValueError(f"spectrograms of shape {spec.shape[1:]} do not match the transform's {transform.shape}")
    if sharpen != 1.0:
        spec = spec**sharpen
    mag = dsp.db_to_magnitude(dsp.denormalise(spec, db_min, db_max))
    t = transform
    if phase == "zero":
        waves = dsp.istft(mag.astype(np.complex64), t.hop_length, t.clip_samples, t.n_fft)
    elif phase == "griffin-lim":
        waves = dsp.griffin_lim(mag, n_iter=GRIFFIN_LIM_ITERS if n_iter is None else n_iter, hop_length=t.hop_length,
                                length=t.clip_samples, seed=seed, n_fft=t.n_fft)
    elif phase in ("pghi", "pghi+gl"):
        from vaeaudio.sound import phase as pghi  # numba is imported (and the heap loop loaded) only when asked for

        iters = 0 if phase == "pghi" else pghi.GL_ITERS if n_iter is None else n_iter
        waves = pghi.pghi_waves(mag, t.hop_length, t.clip_samples, t.n_fft, n_iter=iters)
    else:
        raise ValueError(f"unknown phase {phase!r}: one of {', '.join(PHASES)}")
    return dsp.peak_normalise(waves)


