"""What training writes to TensorBoard: every epoch's scalars (`scalars`), and previews to hear and see what the
model makes every N epochs.

At each preview epoch (`TrainSettings.preview_every`, default 4 per run, and
always after the last epoch), `Preview.write` adds to RUN/tb/, at step = epoch:

    preview/reconstruction  audio: `CLIPS` fixed val clips through the model (encoder mean -> decoder)
    preview/prior           audio: fixed prior draws (one per class for a conditional run, else `DRAWS`)
    preview/spectrograms    image: the val clips (input above, reconstruction below) and the prior draws,
                            in s / Hz / dB (`vaeaudio.sound.plots`)
    preview/latent_map      image: the val clips' latent means by class (PCA beyond 2-D)

Audio is a WAV at the set's sample rate, (clips, clip_samples, 1) per summary,
phase by `render`'s default (as synth's). The
summaries are written with TensorFlow's own ops in the TensorBoard plugins'
formats (audio: [k, 2] strings of WAV and label; images: [2 + k] strings of
width, height and PNGs), so no tensorboard package is needed to write them.
"""

from __future__ import annotations

import math

import numpy as np

from vaeaudio.formats.classes import DIGIT_CLASSES
from vaeaudio.formats.runs import LOSSES
from vaeaudio.sound import plots
from vaeaudio.util.arrays import evenly

#: Val clips reconstructed in each preview.
CLIPS = 4
#: Prior draws of an unconditional run in each preview.
DRAWS = 4
#: Val clips placed on the preview's latent map.
MAP_CLIPS = 500
#: Previews per run when --preview-every is not given.
PER_RUN = 4

# SummaryMetadata.plugin_data.content of TensorBoard's audio plugin: AudioPluginData(encoding=WAV) serialised.
_AUDIO_CONTENT = b"\x10\x0b"


def every(settings) -> int:
    """Epochs between previews for `TrainSettings` (0 = none)."""
    if settings.preview_every is not None:
        return settings.preview_every
    return max(1, math.ceil(settings.epochs / PER_RUN))


def for_run(settings, transform, db_min: float, db_max: float, val: np.ndarray, val_digits: np.ndarray,
            classes: list[str]):
    """The `Preview` of a run with `TrainSettings` `settings` on a set of `classes`, or None when off (0, no val
    clips, distributed)."""
    n = every(settings)
    if not n or not len(val) or settings.distribute != "none":
        return None
    return Preview(n, settings.epochs, transform, db_min, db_max, val, val_digits, settings.conditional,
                   settings.latent_dim, settings.seed, classes)


class Preview:
    """Fixed inputs of the previews of one run, and the writer of each preview."""

    def __init__(self, every: int, last: int, transform, db_min: float, db_max: float, val: np.ndarray,
                 val_digits: np.ndarray, conditional: bool, latent_dim: int, seed: int, classes: list[str]):
        """`val` (n, bins, frames) in [0, 1] with labels (n,) into `classes`; `db_min`/`db_max`: the run's median dB
        range."""
        self.classes = list(classes)
        # what a label is called on the previews: 'digit 7', or 'class bell'
        self.names = [f"{'digit' if tuple(classes) == DIGIT_CLASSES else 'class'} {c}" for c in classes]
        self.every, self.last, self.transform = every, last, transform
        self.db = (db_min, db_max)
        self.val, self.val_digits = val[:MAP_CLIPS], np.asarray(val_digits[:MAP_CLIPS], np.int32)
        self.pick = evenly(len(self.val), CLIPS)
        n = len(classes) if conditional else DRAWS
        self.z = np.random.default_rng([seed, 7]).standard_normal((n, latent_dim)).astype(np.float32)
        self.digits = np.arange(n, dtype=np.int32) if conditional else None
        self.seed = seed

    def due(self, epoch: int) -> bool:
        """Whether epoch `epoch` (1-based, just finished) gets a preview."""
        return self.every > 0 and (epoch % self.every == 0 or epoch == self.last)

    def write(self, writer, model, epoch: int) -> None:
        """Decode, render and write this epoch's audio and image summaries."""
        from vaeaudio.sound.render import render

        digits = self.val_digits
        z_mean = model.encode_all(self.val, digits)
        recon = np.asarray(model.decode(z_mean[self.pick], digits[self.pick]), np.float32)
        prior = np.asarray(model.decode_all(self.z, self.digits), np.float32)
        waves = render(np.concatenate([recon, prior]), *self.db, self.transform, seed=self.seed)
        sr = self.transform.sample_rate
        heard = [f"val clip {i}, {self.names[digits[i]]}" for i in self.pick]
        drawn = ([self.names[d] for d in self.digits] if self.digits is not None
                 else [f"draw {i}" for i in range(len(prior))])
        with writer.as_default():
            _audio("preview/reconstruction", waves[: len(recon)], sr, heard, epoch)
            _audio("preview/prior", waves[len(recon):], sr, drawn, epoch)
            _image("preview/spectrograms", self._spectrograms(recon, prior, epoch), epoch)
            _image("preview/latent_map", self._latent_map(z_mean, epoch), epoch)
        writer.flush()

    def _spectrograms(self, recon: np.ndarray, prior: np.ndarray, epoch: int) -> np.ndarray:
        """One picture: val inputs, their reconstructions, then the prior draws, with one dB colour bar."""
        plt = plots.pyplot()
        cols = max(len(recon), math.ceil(len(prior) / 2))
        names = ([self.names[d] for d in self.digits] if self.digits is not None
                 else [f"prior {i}" for i in range(len(prior))])
        panels = {(0, i): (self.val[p], f"val {i} input") for i, p in enumerate(self.pick)}
        panels |= {(1, i): (r, f"val {i} model") for i, r in enumerate(recon)}
        panels |= {(2 + i // cols, i % cols): (p, names[i]) for i, p in enumerate(prior)}
        rows = 2 + math.ceil(len(prior) / cols)
        fig, ax = plt.subplots(figsize=(1.7 * cols + 1.2, 1.6 * rows + 0.6), dpi=72)
        image = plots.draw_grid(ax, panels, rows, cols, *self.db, self.transform)
        bar = fig.colorbar(image, ax=ax, pad=0.02)
        bar.set_label("dB", fontsize=7)
        bar.ax.tick_params(labelsize=6)
        ax.set_title(f"epoch {epoch}", fontsize=9, pad=12)
        fig.tight_layout()
        return _pixels(fig, plt)

    def _latent_map(self, z_mean: np.ndarray, epoch: int) -> np.ndarray:
        plt = plots.pyplot()
        proj, (x_name, y_name), _ = plots.latent_projection(z_mean)
        fig, ax = plt.subplots(figsize=(4.5, 4), dpi=72)
        k = len(self.names)
        points = ax.scatter(proj[:, 0], proj[:, 1], c=self.val_digits, cmap="tab10" if k <= 10 else "nipy_spectral",
                            vmin=-0.5, vmax=k - 0.5, s=8)
        bar = fig.colorbar(points, ax=ax, ticks=range(k), label="class")
        bar.ax.set_yticklabels(self.classes, fontsize=6 if k > 10 else 8)
        ax.set_xlabel(x_name)
        ax.set_ylabel(y_name)
        ax.set_title(f"val latent means, epoch {epoch}", fontsize=9)
        fig.tight_layout()
        return _pixels(fig, plt)


def _pixels(fig, plt) -> np.ndarray:
    """The figure as RGB pixels (height, width, 3) uint8; the figure is closed."""
    fig.canvas.draw()
    rgb = np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
    plt.close(fig)
    return rgb


def scalars(writer, row: dict) -> None:
    """An epoch's losses (`formats.runs.LOSSES`, train and val), clips/s and seconds of a history row as
    TensorBoard scalars at step = epoch."""
    import tensorflow as tf

    tags = {f"{split}/{k}": f"{split}_{k}" for split in ("train", "val") for k in LOSSES}
    with writer.as_default():
        for tag, key in {**tags, "samples_per_s": "samples_per_s", "seconds": "seconds"}.items():
            tf.summary.write(tag, tf.constant(row[key], tf.float32), step=row["epoch"], metadata=_metadata("scalars"))
    writer.flush()


def _metadata(plugin: str, content: bytes = b""):
    from tensorflow.core.framework import summary_pb2

    return summary_pb2.SummaryMetadata(plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name=plugin,
                                                                                         content=content))


def _audio(tag: str, waves: np.ndarray, sample_rate: int, labels: list[str], step: int) -> None:
    """An audio summary as TensorBoard's audio plugin writes it: [k, 2] strings (WAV bytes, label)."""
    import tensorflow as tf

    wavs = [tf.audio.encode_wav(tf.constant(w[:, None], tf.float32), sample_rate) for w in np.clip(waves, -1, 1)]
    tensor = tf.stack([tf.stack([w, tf.constant(label)]) for w, label in zip(wavs, labels)])
    tf.summary.write(tag, tensor, step=step, metadata=_metadata("audio", _AUDIO_CONTENT))


def _image(tag: str, rgb: np.ndarray, step: int) -> None:
    """An image summary as TensorBoard's images plugin writes it: [width, height, PNG] strings."""
    import tensorflow as tf

    height, width = rgb.shape[:2]
    tensor = tf.stack([tf.constant(str(width)), tf.constant(str(height)), tf.image.encode_png(rgb)])
    tf.summary.write(tag, tensor, step=step, metadata=_metadata("images"))
