"""`vaeaudio synth`: latent points -> spectrograms -> waveforms -> 16-bit WAV files.

    z (n, L)  --decoder-->  spec (n, bins, frames) in [0, 1]   ((257, 69) with the default audio settings)
              --undo min-max with the run's dB range-->  dB (0 = clip maximum)
              --10^(dB/20)-->  magnitude
              --batched Griffin-Lim (200 iterations) or zero phase-->  waveform (n, clip_samples)
              --peak to -1 dBFS-->  WAV at the run's sample rate

The audio settings (sample rate, clip length, STFT frame and hop) are those of
the spectrogram set the run was trained on, recorded in its config.json
(`RunConfig.transform()`).

The dB range is the training split's median `db_min` / `db_max` (stored in the
run's config.json): a decoded spectrogram has no range of its own, and the
median clip's is the most typical one (about -80 dB to 0 dB).
"""

from __future__ import annotations

import contextlib
import re
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from statistics import NormalDist

import numpy as np

from vaeaudio.formats import latents
from vaeaudio.formats.classes import DIGIT_CLASSES, DIGIT_WORDS
from vaeaudio.listening.sources import open_source
from vaeaudio.settings import SynthSettings
from vaeaudio.sound import dsp
from vaeaudio.sound.render import render
from vaeaudio.util import progress, resources
from vaeaudio.util.errors import Interrupted, ModelError, UsageError
from vaeaudio.util.files import replacing


def grid_points(n: int) -> np.ndarray:
    """An n x n grid (n*n, 2) over the standard normal's quantiles (i + 0.5) / n, row-major."""
    q = np.array([NormalDist().inv_cdf((i + 0.5) / n) for i in range(n)])
    return np.stack(np.meshgrid(q, q, indexing="ij"), axis=-1).reshape(-1, 2)


def _z_label(z: np.ndarray) -> str:
    return "_".join(f"{v:+.2f}" for v in z)


@dataclass
class SynthResult:
    """The files written and the latent point of each."""

    files: list[Path]
    z: np.ndarray  # (n, L)
    digits: np.ndarray | None = None  # (n,) class indices, for a conditional run
    classes: tuple[str, ...] = DIGIT_CLASSES  # the run's class names, in label order

    def summary(self) -> str:
        """One line per file: path, [digit=D or label=NAME] and z."""
        digits = [None] * len(self.files) if self.digits is None else self.digits
        key = "digit" if self.classes == DIGIT_CLASSES else "label"
        return "\n".join(f"{f}\t" + ("" if d is None else f"{key}={self.classes[d]}\t")
                         + f"z={' '.join(f'{v:.4g}' for v in z)}" for f, z, d in zip(self.files, self.z, digits))


def latent_points(settings: SynthSettings, latent_dim: int, mixture=None, classes=DIGIT_CLASSES
                  ) -> tuple[np.ndarray, list[Path]]:
    """The latent points (n, latent_dim) a synth request asks for, and their output paths; --random draws come
    from `mixture` (`vaeaudio.formats.latents`, per class of `asked_labels`) when given, else from N(0, T^2 I)."""
    if settings.z is not None:
        if len(settings.z) != latent_dim:
            raise UsageError(f"--z: the run's latent space has {latent_dim} dimension(s), "
                             f"got {len(settings.z)} value(s)")
        return np.asarray([settings.z], dtype=np.float32), [settings.out]
    if settings.grid is not None:
        if latent_dim != 2:
            raise UsageError(f"--grid needs a 2-D latent space; this run's has {latent_dim} dimensions",
                              "use --random, or train with --recipe reference (latent 2)")
        z = grid_points(settings.grid).astype(np.float32)
        n = settings.grid
        return z, [settings.out / f"grid-{i // n:02d}-{i % n:02d}_z{_z_label(p)}.wav" for i, p in enumerate(z)]
    z = latents.draw(settings.random, latent_dim, asked_labels(settings, settings.random, classes),
                     np.random.default_rng(settings.seed), mixture, settings.temperature)
    named = latent_dim <= 4
    return z, [settings.out / (f"random-{i:03d}" + (f"_z{_z_label(p)}" if named else "") + ".wav")
               for i, p in enumerate(z)]


def asked_labels(settings: SynthSettings, n: int, classes=DIGIT_CLASSES) -> np.ndarray:
    """The class index of each of n outputs of a conditional run on `classes` (n,): --label (by name), --digit (a
    digit run's short form), else every class in turn."""
    classes = tuple(classes)
    if settings.label is not None:
        if settings.label not in classes:
            asked = settings.label.lower()
            same = [c for c in classes if c.lower() == asked]  # the class, spelt in another case
            hint = f"--label {same[0]}" if same else f"--digit {DIGIT_WORDS.index(asked)}" \
                if classes == DIGIT_CLASSES and asked in DIGIT_WORDS else None
            raise UsageError(f"--label {settings.label!r}: the run's classes are {', '.join(classes)}",
                             f"ask with {hint}" if hint else None)
        return np.full(n, classes.index(settings.label))
    if settings.digit is not None:
        if classes != DIGIT_CLASSES:
            raise UsageError(f"--digit: the run's classes are names ({', '.join(classes[:4])}, ...), not digits",
                             f"ask with --label, e.g. --label {classes[0]}")
        return np.full(n, settings.digit)
    return np.arange(n) % len(classes)


def _digits(settings: SynthSettings, conditional: bool, run: Path, files: list[Path], classes=DIGIT_CLASSES
            ) -> tuple[np.ndarray | None, list[Path]]:
    """The class of each output for a conditional run (--label or --digit, else every class in turn; a --grid
    needs one), with it in the file names (`_digit7_`, or the class name)."""
    asked = "--label" if settings.label is not None else "--digit" if settings.digit is not None else None
    if not conditional:
        if asked:
            raise UsageError(f"{asked}: run {run.name} is not conditional, so it cannot be asked for a class",
                             f"train one with `vaeaudio train mlp --conditional`, or leave {asked} out")
        return None, files
    if settings.grid is not None and asked is None:
        raise UsageError("--grid on a conditional run needs --digit D or --label NAME: the grid shows one class "
                         "varying over the latent space",
                         f"e.g. vaeaudio synth --run {run} --grid {settings.grid} --digit 3 OUTDIR")
    digits = asked_labels(settings, len(files), classes)
    if settings.z is not None:
        return digits, files
    tags = [f"digit{d}" if tuple(classes) == DIGIT_CLASSES else re.sub(r"[^\w-]", "-", classes[d]) for d in digits]
    named = [f.with_name(f.name.replace("-", f"-{t}-", 1) if f.name.startswith("grid-")
                         else f.name.replace("_", f"_{t}_", 1) if "_" in f.name else f"{f.stem}_{t}.wav")
             for f, t in zip(files, tags)]
    return digits, named


def check_out(settings: SynthSettings) -> None:
    """`UsageError` when OUT cannot be what the request writes: a folder where --z writes one file, a file where
    --random / --grid write a folder, or a file in the way of its folder."""
    out = settings.out
    if settings.z is not None and out.is_dir():
        raise UsageError(f"OUT {out} is a folder, and --z writes one file", "give a new file name ending in .wav")
    if settings.z is None and out.exists() and not out.is_dir():
        raise UsageError(f"OUTDIR {out} exists and is not a folder", "give a folder (new, or one to add WAVs to)")
    parent = out.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise UsageError(f"{parent} is a file, so {out} cannot be written under it", "choose another path")


def _finite(waves: np.ndarray, files: list[Path], run: Path) -> None:
    """`ModelError` naming the first clip of `waves` (n, samples) that is not finite: nothing is written for it."""
    bad = np.flatnonzero(~np.isfinite(waves).all(axis=1))
    if len(bad):
        raise ModelError(f"run {run.name} decoded {len(bad)} clip(s) to NaN or Inf ({files[bad[0]].name} the first); "
                         "no WAV was written for them", "check the latent values (or the run's latents.npz)")


@contextlib.contextmanager
def _terminate_as_interrupt():
    """Inside the block, SIGTERM stops the work as Ctrl-C does (so what was written is listed)."""
    try:
        previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    except ValueError:  # not the main thread
        previous = None
    try:
        yield
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _write_table(table: Path, z: np.ndarray, digits: np.ndarray | None) -> None:
    """z.csv: one row per WAV file (digit, then z0, z1, ...)."""
    values, header = z, [f"z{i}" for i in range(z.shape[1])]
    if digits is not None:
        values, header = np.column_stack([digits, z]), ["digit", *header]
    with replacing(table, fsync=False) as tmp:
        np.savetxt(tmp, values, delimiter=",", fmt="%.6g", header=",".join(header), comments="")


def rendered(model, config, z: np.ndarray, digits: np.ndarray | None, settings: SynthSettings, power: float,
             chunk: int) -> Iterator[tuple[slice, np.ndarray]]:
    """(part, waves (len(part), clip_samples) float32) of latent points z (n, L) [and digits (n,)], `chunk` at a
    time: decoded by `model` (a run's or an export's), rendered with the run's audio settings and dB range as
    `settings` (phase, iterations, seed) and `power` say. One phase stream for all chunks, so chunking does not
    change the waves. The one path from latent points to sound of synth and the API (`vaeaudio.load`)."""
    rng = np.random.default_rng(settings.seed)
    for s in range(0, len(z), chunk):
        part = slice(s, s + chunk)
        spec = model.decode_all(z[part], None if digits is None else digits[part])
        yield part, render(spec, config.data.db_min, config.data.db_max, config.transform(), settings.phase,
                           settings.griffin_lim_iters, rng, sharpen=power)


def synth(settings: SynthSettings) -> SynthResult:
    """Decode the requested latent points of a run and write one WAV each.

    Works a chunk of `resources.chunk_clips` clips at a time (decode, render,
    write), so memory stays flat however many clips are asked for; the waves
    are the same whatever the chunk size. Every check that needs no model (the
    run, the latent points, the digits, the disk space) is made before the model
    and TensorFlow are loaded. Says when it replaces existing files.
    """
    check_out(settings)
    source = open_source(settings.run)  # a run directory (Keras) or an export (onnxruntime, no TensorFlow)
    run, config = source.path, source.config
    trained = config.train_settings()
    mixture = source.mixture(settings.prior)
    if mixture is not None and settings.random is not None:
        progress.log(f"--prior {settings.prior}: drawing from {source.name}'s latent mixture ({source.mixture_file})")
    classes = tuple(source.classes)
    z, files = latent_points(settings, trained.latent_dim, mixture, classes)
    digits, files = _digits(settings, trained.conditional, run, files, classes)
    transform = config.transform()
    resources.require_disk(settings.out.parent if settings.z is not None else settings.out,
                           len(files) * (2 * transform.clip_samples + 44) + 64 * len(files),
                           f"{len(files):,} WAV files of {transform.seconds:g} s")
    model = source.load()
    power = source.sharpen_power(settings.sharpen, model, mixture) if settings.phase != "zero" else 1.0
    if settings.sharpen == "auto" and settings.phase != "zero":
        progress.detail(f"--sharpen auto: power {power:g} for {run.name}")
    table = settings.out / "z.csv" if settings.z is None else None
    existing = sum(f.exists() for f in files) + bool(table and table.exists())
    if existing:
        progress.log(f"replacing {existing:,} existing file(s) in {files[0].parent}")
    chunk = resources.chunk_clips(resources.render_bytes_per_clip(*transform.shape, transform.clip_samples))
    written = 0
    try:
        with _terminate_as_interrupt(), progress.bar(len(files), "synth", unit="clips") as bar:
            for part, waves in rendered(model, config, z, digits, settings, power, chunk):
                _finite(waves, files[part], run)
                for f, wave in zip(files[part], waves):
                    dsp.write_wav(f, wave, transform.sample_rate)
                    written += 1
                bar.advance(len(waves))
    except KeyboardInterrupt:
        done = SynthResult(files[:written], z[:written], None if digits is None else digits[:written])
        if table is not None and written:
            _write_table(table, done.z, done.digits)
        raise Interrupted(f"synth interrupted: {written:,} of {len(files):,} WAV file(s) written"
                          + (f", listed in {table}" if table is not None and written else ""),
                          "run the same command again for all of them", output=done.summary() or None) from None
    if table is not None:
        _write_table(table, z, digits)
    return SynthResult(files, z, digits, classes)
