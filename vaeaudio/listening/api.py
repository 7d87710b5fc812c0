"""The Python API: `vaeaudio.load(PATH)` -> a `Model` to make sound with from a notebook or a program.

    import vaeaudio
    m = vaeaudio.load("runs/latest/export")      # an export (no TensorFlow) or a run directory (TensorFlow)
    waves = m.synth(n=10, seed=0)                 # (10, m.clip_samples) float32 at m.sample_rate Hz
    z = m.encode(["a.wav", "b.wav"])              # (2, m.latent_dim) latent means
    spec = m.decode(z)                            # (2, bins, frames) in [0, 1]

`Model.synth` is synth's own path (`synth.rendered`): the same seed gives the
same waves as `vaeaudio synth`. Errors are the CLI's (`vaeaudio.util.errors`,
one line each); nothing is written unless `write_wav` is called.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from vaeaudio.formats import latents
from vaeaudio.listening.sources import Source, open_source
from vaeaudio.listening.synth import asked_labels, rendered
from vaeaudio.settings import SynthSettings
from vaeaudio.settings.base import PHASES
from vaeaudio.sound import dsp
from vaeaudio.util import resources
from vaeaudio.util.errors import UsageError


class Model:
    """A trained VAE from a run directory or an export folder (`load`). The model itself is loaded when first
    needed (TensorFlow for a run, onnxruntime for an export)."""

    def __init__(self, source: Source):
        self.source = source
        self.transform = source.config.transform()
        trained = source.config.train_settings()
        self.latent_dim: int = trained.latent_dim
        self.conditional: bool = trained.conditional
        self._model = None

    def __repr__(self) -> str:
        kind = "export" if self.source.export is not None else "run"
        return (f"<vaeaudio.Model {kind} {self.source.path}: latent {self.latent_dim}, "
                f"{'conditional on ' + str(len(self.classes)) + ' classes' if self.conditional else 'unconditional'}, "
                f"{self.sample_rate} Hz>")

    @property
    def path(self) -> Path:
        """The run directory or export folder."""
        return self.source.path

    @property
    def sample_rate(self) -> int:
        """Rate of every wave in and out, Hz."""
        return self.transform.sample_rate

    @property
    def clip_samples(self) -> int:
        """Samples per clip (`sample_rate` x the clip length)."""
        return self.transform.clip_samples

    @property
    def classes(self) -> list[str]:
        """The class names: label i (a conditional model's `digit`) is `classes[i]`."""
        return list(self.source.classes)

    @property
    def model(self):
        """The loaded model (`decode_all`, `encode_all`)."""
        if self._model is None:
            self._model = self.source.load()
        return self._model

    def _labels(self, digit, n: int) -> np.ndarray | None:
        """Labels (n,) of a conditional model: `digit` (one, or n), else 0, 1, ... in turn; None otherwise."""
        if not self.conditional:
            if digit is not None:
                raise UsageError(f"digit: {self.path.name} is not conditional, so it cannot be asked for a class")
            return None
        labels = np.broadcast_to(np.asarray(0 if digit is None else digit, dtype=np.int64), (n,)).copy() \
            if digit is not None else np.arange(n) % len(self.classes)
        if labels.size and not (0 <= labels.min() and labels.max() < len(self.classes)):
            raise UsageError(f"digit: labels go from 0 to {len(self.classes) - 1} ({', '.join(self.classes)})")
        return labels

    def synth(self, z=None, n: int | None = None, digit=None, seed: int = 0, temperature: float = 1.0,
              prior: str = "auto", phase: str = PHASES[0], sharpen="auto",
              griffin_lim_iters: int | None = None) -> np.ndarray:
        """Waves (n, clip_samples) float32 at `sample_rate` Hz, peak -1 dBFS: of the latent points `z` (n, L) or
        (L,), or of `n` random draws (from the run's latent mixture when it has one and `prior` is 'auto' or
        'mixture', else N(0, temperature^2 I)), seeded by `seed`. A conditional model says `digit` (a label, or
        one per point; default 0, 1, ... in turn). `phase`, `sharpen` and `griffin_lim_iters` are synth's flags.
        """
        if (z is None) == (n is None):
            raise UsageError("give either z (points) or n (random draws)")
        count = n if z is None else len(np.atleast_2d(z))
        settings = SynthSettings.build(run=self.path, random=max(1, count), seed=seed, temperature=temperature,
                                       prior=prior, phase=phase, sharpen=sharpen,
                                       griffin_lim_iters=griffin_lim_iters, out=Path("api"))
        mixture = self.source.mixture(prior)
        labels = self._labels(digit, count)
        if z is None:
            drawn = labels if labels is not None else asked_labels(settings, count, self.classes)
            points = latents.draw(count, self.latent_dim, drawn, np.random.default_rng(seed), mixture, temperature)
        else:
            points = np.atleast_2d(np.asarray(z, dtype=np.float32))
            if points.ndim != 2 or points.shape[1] != self.latent_dim or not np.isfinite(points).all():
                raise UsageError(f"z: give finite points of shape (n, {self.latent_dim}) (got {points.shape})")
        model = self.model
        power = self.source.sharpen_power(settings.sharpen, model, mixture) if settings.phase != "zero" else 1.0
        t = self.transform
        chunk = resources.chunk_clips(resources.render_bytes_per_clip(*t.shape, t.clip_samples))
        parts = [w for _, w in rendered(model, self.source.config, points, labels, settings, power, chunk)]
        return np.concatenate(parts) if parts else np.zeros((0, t.clip_samples), np.float32)

    def decode(self, z, digit=None) -> np.ndarray:
        """Spectrograms (n, bins, frames) float32 in [0, 1] of latent points z (n, L) (a conditional model: of
        `digit`, one or n labels)."""
        points = np.atleast_2d(np.asarray(z, dtype=np.float32))
        return self.model.decode_all(points, self._labels(digit, len(points)))

    def clips(self, waves: np.ndarray | Sequence[str | Path]) -> np.ndarray:
        """Clips (n, clip_samples) float32: audio files (any rate, resampled) or waves (n, samples) or (samples,)
        at `sample_rate`, cut or padded to the clip length as preprocess does."""
        if isinstance(waves, (str, Path)) or (isinstance(waves, Sequence) and waves
                                               and isinstance(waves[0], (str, Path))):
            files = [waves] if isinstance(waves, (str, Path)) else waves
            return np.stack([self.transform.to_clip(*dsp.read(f)) for f in files])
        arr = np.atleast_2d(np.asarray(waves, dtype=np.float32))
        return np.stack([self.transform.to_clip(w, self.sample_rate) for w in arr])

    def spectrogram(self, waves) -> np.ndarray:
        """Normalised spectrograms (n, bins, frames) float32 in [0, 1] of waves or files (see `clips`), as the
        model was trained on."""
        return self.transform.featurise(self.clips(waves))[0].astype(np.float32)

    def encode(self, waves, digit=None) -> np.ndarray:
        """Latent means (n, L) float32 of waves or files (see `clips`); a conditional model needs their `digit`."""
        spec = self.spectrogram(waves)
        if self.conditional and digit is None:
            raise UsageError("digit: a conditional model encodes a clip with its class: give digit=")
        return self.model.encode_all(spec, self._labels(digit, len(spec)))

    def write_wav(self, path: str | Path, wave: np.ndarray) -> Path:
        """Write one wave (samples,) at `sample_rate` as a 16-bit WAV file (atomically); returns its path."""
        return dsp.write_wav(path, np.asarray(wave, dtype=np.float32), self.sample_rate)


def load(path: str | Path | None = None) -> Model:
    """The model of a run directory (default runs/latest) or an export folder: see `Model`."""
    return Model(open_source(None if path is None else Path(path)))
