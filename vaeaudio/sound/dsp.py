"""Audio <-> normalised spectrogram, exactly as the reference pipeline does it, batched.

Forward (per clip, the reference pipeline's steps 1-6, `docs/reference.md`):
    waveform (n,) float32 at any rate
    -> `resample` to 22,050 Hz (soxr HQ, as `librosa.load(sr=22050)`)
    -> `fix_length` to 17,640 samples (trim symmetrically about the centre, or zero-pad at the end)
    -> `stft_magnitude`: n_fft 512, hop 256, periodic Hann, centred frames -> (257, 69)
    -> `to_db`: dB relative to the clip's own maximum, floored at max - 80 dB
    -> `normalise`: min-max to [0, 1], keeping (db_min, db_max) so it can be undone.

Backward (`denormalise`, `db_to_magnitude`) undoes the last two steps; phase
reconstruction lives with synthesis. Every function takes a leading batch
axis where it makes sense, so thousands of clips are transformed with a few
vectorised numpy calls instead of a Python loop.
"""

from __future__ import annotations

import io
import math
import re
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import scipy.fft
import soundfile as sf
import soxr

from vaeaudio.settings import CLIP_SAMPLES, HOP_LENGTH, N_FFT, SAMPLE_RATE, TOP_DB  # the defaults' one home
from vaeaudio.util.files import regular, replacing

#: Smallest amplitude before taking the log (librosa's `amplitude_to_db` default).
AMIN = 1e-5


@dataclass(frozen=True)
class Transform:
    """The audio settings of a spectrogram set: how a recording became a spectrogram, and how one goes back.

    A spectrogram set records them in its manifest (`preprocess`), a run and a
    classifier copy them from the set they were trained on; every path from a
    spectrogram back to sound (synth, evaluate, the judges, the examples) takes
    them from there, so a set made with `--sample-rate 16000 --hop-length 128`
    is heard at 16 kHz with 128-sample hops.
    """

    sample_rate: int = SAMPLE_RATE  # Hz
    clip_samples: int = CLIP_SAMPLES  # samples per clip at sample_rate
    n_fft: int = N_FFT  # STFT frame length, samples
    hop_length: int = HOP_LENGTH  # STFT hop, samples
    top_db: float = TOP_DB  # dynamic range kept below each clip's maximum, dB

    @classmethod
    def of(cls, mapping: dict) -> Transform:
        """The transform named by a mapping holding these fields (e.g. a manifest's settings); other keys are
        ignored."""
        return cls(**{f.name: mapping[f.name] for f in fields(cls) if f.name in mapping})

    @classmethod
    def checked(cls, mapping: dict) -> Transform:
        """`of`, refusing values no `preprocess` accepts (the bounds of `PreprocessSettings`: a sample rate of 0, an
        STFT frame of 7): `ValueError` naming the first."""
        from pydantic import ValidationError

        from vaeaudio.settings import PreprocessSettings

        try:
            PreprocessSettings(**{f.name: mapping[f.name] for f in fields(cls) if f.name in mapping})
        except ValidationError as exc:
            first = exc.errors()[0]
            raise ValueError(f"{'.'.join(map(str, first['loc'])) or 'audio settings'}: {first['msg']}") from None
        return cls.of(mapping)

    def as_dict(self) -> dict:
        return asdict(self)

    @property
    def shape(self) -> tuple[int, int]:
        """(frequency bins, frames) of a spectrogram: (257, 69) for the defaults."""
        return spectrogram_shape(self.clip_samples, self.n_fft, self.hop_length)

    @property
    def seconds(self) -> float:
        """Duration of a clip in seconds (0.8 for the defaults)."""
        return self.clip_samples / self.sample_rate

    def to_clip(self, y: np.ndarray, sr: int) -> np.ndarray:
        """A recording (samples,) at `sr` Hz -> a clip (clip_samples,) at `sample_rate` (`to_clip`)."""
        return to_clip(y, sr, self.sample_rate, self.clip_samples)

    def featurise(self, waves: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Clips (n, clip_samples) -> (spec (n, bins, frames) in [0, 1], db_min (n,), db_max (n,)) (`featurise`)."""
        return featurise(waves, self.n_fft, self.hop_length, self.top_db)


def spectrogram_shape(clip_samples: int = CLIP_SAMPLES, n_fft: int = N_FFT,
                      hop_length: int = HOP_LENGTH) -> tuple[int, int]:
    """(frequency bins, frames) of a centred STFT: (257, 69) for the defaults."""
    return n_fft // 2 + 1, 1 + clip_samples // hop_length


def decode(data: bytes) -> tuple[np.ndarray, int]:
    """Decode audio file bytes to a mono float32 waveform in [-1, 1] and its rate in Hz.

    Multi-channel audio is averaged to mono (as librosa does). Raises
    `ValueError` with soundfile's reason (e.g. "Format not recognised.") for unreadable data.
    """
    try:
        y, sr = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except Exception as exc:  # noqa: BLE001 - libsndfile raises several kinds; its text names a BytesIO object
        raise ValueError(re.sub(r"^Error opening <_io\.BytesIO object at 0x[0-9a-fA-F]+>: ?", "", str(exc)) or
                         type(exc).__name__) from None
    return (y.mean(axis=1, dtype=np.float32) if y.shape[1] > 1 else y[:, 0]), int(sr)


def seconds_of(path: str | Path) -> float | None:
    """Duration in seconds of the regular audio file `path` from its header alone (nothing decoded); None when
    the header cannot be read (the decoder then says why)."""
    path = regular(path)
    try:
        info = sf.info(str(path))
    except Exception:  # noqa: BLE001 - libsndfile raises several kinds for what it cannot read
        return None
    return info.frames / info.samplerate if info.samplerate > 0 else None


def read(path: str | Path) -> tuple[np.ndarray, int]:
    """Read an audio file as a mono float32 waveform (samples,) and its rate in Hz."""
    return decode(regular(path).read_bytes())


def resampled_length(n: int, sr: int, target_sr: int = SAMPLE_RATE) -> int:
    """Length in samples of `n` samples at `sr` Hz after `resample` to `target_sr` Hz."""
    return n if sr == target_sr else int(math.ceil(n * target_sr / sr))


def resample(y: np.ndarray, sr: int, target_sr: int = SAMPLE_RATE) -> np.ndarray:
    """Resample a mono waveform (n,) from `sr` to `target_sr` Hz like `librosa.resample(res_type='soxr_hq')`.

    The output has exactly `resampled_length(n, sr, target_sr)` samples (float32).
    """
    if sr == target_sr:
        return np.asarray(y, dtype=np.float32)
    out = soxr.resample(y, sr, target_sr, quality="HQ")
    return fix_end(np.asarray(out, dtype=np.float32), resampled_length(len(y), sr, target_sr))


def fix_end(y: np.ndarray, n: int) -> np.ndarray:
    """Cut or zero-pad `y` (samples,) at the end to exactly `n` samples."""
    if len(y) >= n:
        return y[:n]
    return np.pad(y, (0, n - len(y)))


def fix_length(y: np.ndarray, n: int = CLIP_SAMPLES) -> np.ndarray:
    """Trim or pad a waveform (samples,) to `n` samples, the reference's way.

    Longer clips lose floor(excess / 2) samples at the front and ceil(excess / 2)
    at the back; shorter ones are zero-padded at the end.
    """
    excess = len(y) - n
    if excess <= 0:
        return fix_end(y, n)
    front = excess // 2
    return y[front : front + n]


def to_clip(y: np.ndarray, sr: int, target_sr: int = SAMPLE_RATE, n: int = CLIP_SAMPLES) -> np.ndarray:
    """A recording (samples,) at `sr` Hz -> the clip the pipeline uses: `resample`d to `target_sr`, `fix_length` to
    `n`."""
    return fix_length(resample(y, sr, target_sr), n)


def hann(n_fft: int = N_FFT) -> np.ndarray:
    """Periodic Hann window (n_fft,) float64, as `scipy.signal.get_window('hann', n_fft)`."""
    return 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)


def stft(y: np.ndarray, n_fft: int = N_FFT, hop_length: int = HOP_LENGTH, dtype=np.float64) -> np.ndarray:
    """Centred STFT of waveforms (..., samples) -> complex (..., n_fft//2+1, 1 + samples//hop).

    Frames are zero-padded by n_fft//2 at both ends (librosa's `center=True`,
    `pad_mode='constant'`) and weighted by a periodic Hann window. The FFT runs
    in `dtype`: float64 by default, as librosa's does (bins 60-80 dB below a
    clip's peak lose precision in float32); float32 is enough for phase estimation.
    """
    y = np.asarray(y, dtype=np.float32)
    pad = [(0, 0)] * (y.ndim - 1) + [(n_fft // 2, n_fft // 2)]
    frames = np.lib.stride_tricks.sliding_window_view(np.pad(y, pad), n_fft, axis=-1)[..., ::hop_length, :]
    spec = scipy.fft.rfft(frames * hann(n_fft).astype(dtype), axis=-1)  # (..., frames, bins); faster than numpy's
    return np.swapaxes(spec, -1, -2)


def to_db(magnitude: np.ndarray, top_db: float = TOP_DB) -> np.ndarray:
    """Magnitudes (..., bins, frames) -> dB relative to each clip's maximum, floored at -top_db.

    Same as `librosa.amplitude_to_db(m, ref=np.max, top_db=top_db)` per clip:
    the loudest bin of every clip is 0 dB.
    """
    power_db = 20.0 * np.log10(np.maximum(AMIN, magnitude))
    peak = power_db.max(axis=(-2, -1), keepdims=True)
    db = power_db - peak
    return np.maximum(db, -top_db).astype(np.float32)


def normalise(db: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Min-max scale each clip's dB spectrogram (n, bins, frames) to [0, 1].

    Returns (spec in [0, 1] float32, db_min (n,), db_max (n,)). A clip with a
    flat spectrogram (db_max == db_min) maps to all zeros.
    """
    db_min = db.min(axis=(-2, -1))
    db_max = db.max(axis=(-2, -1))
    scale = db_max - db_min
    safe = np.where(scale > 0, scale, 1.0)
    spec = (db - db_min[..., None, None]) / safe[..., None, None]
    return spec.astype(np.float32), db_min.astype(np.float32), db_max.astype(np.float32)


def denormalise(spec: np.ndarray, db_min: np.ndarray | float, db_max: np.ndarray | float) -> np.ndarray:
    """Undo `normalise`: [0, 1] spectrograms (..., bins, frames) -> dB (float32)."""
    db_min = np.asarray(db_min, dtype=np.float32)[..., None, None]
    db_max = np.asarray(db_max, dtype=np.float32)[..., None, None]
    return (spec * (db_max - db_min) + db_min).astype(np.float32)


def db_to_magnitude(db: np.ndarray) -> np.ndarray:
    """dB (relative, 0 = clip maximum) -> linear magnitude, as `librosa.db_to_amplitude`."""
    return np.power(10.0, db / 20.0, dtype=np.float32)


def featurise(
    waves: np.ndarray,
    n_fft: int = N_FFT,
    hop_length: int = HOP_LENGTH,
    top_db: float = TOP_DB,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fixed-length waveforms (n, samples) -> (spec (n, bins, frames) in [0, 1], db_min (n,), db_max (n,))."""
    return normalise(to_db(np.abs(stft(waves, n_fft, hop_length)).astype(np.float32), top_db))


# --------------------------------------------------------------------------- synthesis
#: Peak level of written WAV files: -1 dBFS.
PEAK = 10 ** (-1 / 20)


def istft(spec: np.ndarray, hop_length: int = HOP_LENGTH, length: int = CLIP_SAMPLES, n_fft: int | None = None
          ) -> np.ndarray:
    """Inverse of `stft`: complex (..., bins, frames) -> waveforms (..., length) float32.

    Windowed overlap-add with the squared-window normalisation of `librosa.istft`,
    vectorised over the batch; the centre padding is removed. `n_fft` defaults to
    2 x (bins - 1); an odd frame length must be given.
    """
    n_fft = n_fft or 2 * (spec.shape[-2] - 1)
    window = hann(n_fft).astype(np.float32)
    frames = scipy.fft.irfft(np.swapaxes(spec, -1, -2), n=n_fft, axis=-1).astype(np.float32) * window
    out = _overlap_add(frames, hop_length)
    wsum = _overlap_add(np.broadcast_to(window**2, (frames.shape[-2], n_fft)), hop_length)
    out /= np.where(wsum > 1e-8, wsum, 1.0)
    start = n_fft // 2
    return fix_end_batch(out[..., start : start + length], length)


def _overlap_add(frames: np.ndarray, hop_length: int) -> np.ndarray:
    """Sum frames (..., n_frames, n_fft) placed every `hop_length` samples -> (..., n_fft + hop x (n_frames - 1))."""
    n_frames, n_fft = frames.shape[-2:]
    total = n_fft + hop_length * (n_frames - 1)
    out = np.zeros((*frames.shape[:-2], total), dtype=np.float32)
    if n_fft % hop_length == 0:  # n_fft/hop shifted block adds (2 for 512/256) instead of one per frame
        blocks = out.reshape(*out.shape[:-1], -1, hop_length)
        parts = frames.reshape(*frames.shape[:-1], n_fft // hop_length, hop_length)
        for j in range(n_fft // hop_length):
            blocks[..., j : j + n_frames, :] += parts[..., j, :]
    else:
        for k in range(n_frames):
            out[..., k * hop_length : k * hop_length + n_fft] += frames[..., k, :]
    return out


def fix_end_batch(y: np.ndarray, n: int) -> np.ndarray:
    """Cut or zero-pad the last axis of `y` to `n` samples."""
    if y.shape[-1] >= n:
        return y[..., :n]
    return np.pad(y, [(0, 0)] * (y.ndim - 1) + [(0, n - y.shape[-1])])


_GL_CHUNK = 16


def griffin_lim(
    magnitude: np.ndarray,
    n_iter: int = 64,
    hop_length: int = HOP_LENGTH,
    length: int = CLIP_SAMPLES,
    momentum: float = 0.99,
    seed: int | np.random.Generator = 0,
    n_fft: int | None = None,
    start: np.ndarray | None = None,
) -> np.ndarray:
    """Estimate waveforms (n, length) from magnitudes (n, bins, frames) by fast Griffin-Lim.

    Same algorithm as `librosa.griffinlim` (Perraudin et al. 2013: random initial
    phase, `momentum` 0.99), run 16 clips at a time in float32 and in frame-major
    layout (n, frames, bins), so that no iteration copies a transpose. `seed` is
    an int or a `numpy.random.Generator`: passing one Generator to successive
    calls on consecutive chunks of a batch gives exactly the waves of one call on
    the whole batch (what `vaeaudio.listening.synth` relies on to work in bounded memory).
    `n_fft` defaults to 2 x (bins - 1); an odd frame length must be given. `start`, a
    complex STFT (n, bins, frames), gives the initial phase instead of a random one
    (`vaeaudio.sound.phase` refines PGHI's so); `n_iter` 0 then inverts it as it is.
    """
    mag = np.ascontiguousarray(np.swapaxes(np.asarray(magnitude, dtype=np.float32), -1, -2))  # (n, F, bins)
    n_fft = n_fft or 2 * (mag.shape[-1] - 1)
    window = hann(n_fft).astype(np.float32)
    n_frames = mag.shape[-2]
    wsum = _overlap_add(np.broadcast_to(window**2, (n_frames, n_fft)), hop_length)
    inv_wsum = np.where(wsum > 1e-8, 1.0 / np.maximum(wsum, 1e-8), 1.0).astype(np.float32)
    pad = n_fft // 2

    def to_wave(spec):  # (n, F, bins) complex -> (n, length)
        frames = scipy.fft.irfft(spec, n=n_fft, axis=-1) * window
        return fix_end_batch((_overlap_add(frames, hop_length) * inv_wsum)[..., pad : pad + length], length)

    def to_spec(wave):  # (n, length) -> (n, F, bins) complex64
        padded = np.pad(wave, [(0, 0)] * (wave.ndim - 1) + [(pad, pad)])
        frames = (np.lib.stride_tricks.sliding_window_view(padded, n_fft, axis=-1)
                  [..., ::hop_length, :][..., :n_frames, :])
        return scipy.fft.rfft(frames * window, axis=-1)

    def run(m, angles):
        rebuilt = np.zeros_like(angles)
        for _ in range(n_iter):
            previous = rebuilt
            rebuilt = to_spec(to_wave(m * angles))
            angles = rebuilt - (momentum / (1 + momentum)) * previous
            angles *= 1.0 / (np.abs(angles) + 1e-16)
        return to_wave(m * angles).astype(np.float32)

    rng = np.random.default_rng(seed)  # a Generator passed as `seed` is used (and advanced) as it is
    out = np.empty((len(mag), length), np.float32)
    with scipy.fft.set_workers(-1):  # FFTs on every core; 16 clips at a time stay in cache
        for i in range(0, len(mag), _GL_CHUNK):  # the phases drawn block by block are those of one draw for all
            m = mag[i : i + _GL_CHUNK]
            if start is None:
                angles = np.exp(2j * np.pi * rng.random(m.shape, dtype=np.float32)).astype(np.complex64)
            else:
                s = np.swapaxes(start[i : i + _GL_CHUNK], -1, -2)
                angles = (s / (np.abs(s) + 1e-16)).astype(np.complex64)
            out[i : i + len(m)] = run(m, angles)
    return out


def peak_normalise(y: np.ndarray, peak: float = PEAK) -> np.ndarray:
    """Scale each waveform (..., samples) so its absolute peak is `peak` (silence stays silent)."""
    top = np.abs(y).max(axis=-1, keepdims=True)
    return (y * (peak / np.where(top > 0, top, 1.0))).astype(np.float32)


def write_wav(path: str | Path, y: np.ndarray, sr: int = SAMPLE_RATE) -> Path:
    """Write a mono waveform (samples,) in [-1, 1] as 16-bit PCM WAV; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Encoded in memory, written by Python: a full disk or a read-only folder is then an OSError naming the file
    # (libsndfile's own errors name no errno).
    data = io.BytesIO()
    sf.write(data, np.clip(y, -1.0, 1.0), sr, subtype="PCM_16", format="WAV")
    with replacing(path, fsync=False) as tmp:  # a full disk leaves the old file or none, never half a WAV
        tmp.write_bytes(data.getvalue())
    return path
