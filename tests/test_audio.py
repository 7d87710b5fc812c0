"""vaeaudio.sound.dsp: the reference transform, its inverse, and the trim rule."""

import librosa
import numpy as np
import pytest
from conftest import FSDD

from vaeaudio.sound import dsp


def reference_features(path):
    """The reference pipeline written plainly with librosa, one clip at a time."""
    y, _ = librosa.load(path, sr=22050)
    excess = len(y) - 17640
    if excess > 0:
        y = y[excess // 2 : len(y) - (excess - excess // 2)]
    else:
        y = np.pad(y, (0, -excess))
    db = librosa.amplitude_to_db(np.abs(librosa.stft(y, n_fft=512, hop_length=256, window="hann", center=True)),
                                 ref=np.max)
    return (db - db.min()) / (db.max() - db.min()), db.min(), db.max()


@pytest.mark.parametrize("name", ["3_theo_4.wav", "0_george_0.wav", "9_yweweler_3.wav"])
def test_matches_plain_librosa(name):
    ref, ref_min, ref_max = reference_features(FSDD / name)
    y, sr = dsp.read(FSDD / name)
    wave = dsp.fix_length(dsp.resample(y, sr))
    spec, db_min, db_max = dsp.featurise(wave[None])
    assert spec.shape == (1, 257, 69) and spec.dtype == np.float32
    assert np.abs(spec[0] - ref).max() < 1e-5
    assert db_min[0] == pytest.approx(ref_min, abs=1e-3) and db_max[0] == 0.0


def test_resample_length_matches_librosa():
    y, sr = dsp.read(FSDD / "5_jackson_3.wav")
    ours = dsp.resample(y, sr, 22050)
    theirs = librosa.resample(y, orig_sr=sr, target_sr=22050)
    assert len(ours) == len(theirs) == dsp.resampled_length(len(y), sr)
    assert np.abs(ours - theirs).max() < 1e-6


@pytest.mark.parametrize("n,front", [(17640, 0), (17641, 0), (17642, 1), (17645, 2), (20000, 1180)])
def test_trim_removes_floor_front_ceil_back(n, front):
    y = np.arange(n, dtype=np.float32)
    out = dsp.fix_length(y)
    assert len(out) == 17640
    assert out[0] == front and out[-1] == front + 17639
    assert n - 1 - out[-1] == (n - 17640) - front  # the back loses ceil(excess / 2)


def test_short_clip_is_zero_padded_at_the_end():
    out = dsp.fix_length(np.ones(100, dtype=np.float32), 17640)
    assert len(out) == 17640 and out[:100].sum() == 100 and not out[100:].any()


def test_db_scaling_round_trip():
    rng = np.random.default_rng(0)
    mag = rng.random((4, 257, 69)).astype(np.float32) ** 4
    db = dsp.to_db(mag)
    assert db.max() == 0.0 and db.min() >= -80.0
    spec, db_min, db_max = dsp.normalise(db)
    assert spec.min() == 0.0 and spec.max() == 1.0
    back = dsp.denormalise(spec, db_min, db_max)
    assert np.abs(back - db).max() < 1e-4
    # magnitudes above the -80 dB floor come back exactly (up to float32)
    above = db > -80
    recovered = dsp.db_to_magnitude(back) * mag.max(axis=(1, 2), keepdims=True)
    assert np.allclose(recovered[above], mag[above], rtol=1e-3)


def test_flat_spectrogram_normalises_to_zeros():
    spec, db_min, db_max = dsp.normalise(np.full((1, 257, 69), -80.0, dtype=np.float32))
    assert not spec.any() and db_min[0] == db_max[0] == -80.0


def test_stft_of_a_sine_peaks_at_its_bin():
    t = np.arange(17640) / 22050
    bin_hz = 22050 / 512
    y = np.sin(2 * np.pi * 40 * bin_hz * t).astype(np.float32)
    mag = np.abs(dsp.stft(y))
    assert mag.shape == (257, 69) == dsp.spectrogram_shape()
    assert (mag[:, 5:-5].argmax(axis=0) == 40).all()


def _chirp(n=17640, sr=22050):
    t = np.arange(n) / sr
    return (0.5 * np.sin(2 * np.pi * (200 * t + 1500 * t**2))).astype(np.float32)


def test_istft_inverts_stft():
    y = np.stack([_chirp(), np.random.default_rng(0).normal(0, 0.1, 17640).astype(np.float32)])
    assert np.abs(dsp.istft(dsp.stft(y)) - y).max() < 1e-5


def spectral_convergence(mag, wave):
    return np.linalg.norm(np.abs(dsp.stft(wave)) - mag) / np.linalg.norm(mag)


def test_griffin_lim_recovers_a_chirp_and_a_real_clip():
    y, sr = dsp.read(FSDD / "7_nicolas_3.wav")
    waves = np.stack([_chirp(), dsp.fix_length(dsp.resample(y, sr))])
    mag = np.abs(dsp.stft(waves)).astype(np.float32)
    out = dsp.griffin_lim(mag, n_iter=64)
    assert out.shape == (2, 17640) and out.dtype == np.float32
    sc = [spectral_convergence(mag[i], out[i]) for i in range(2)]
    zero_phase = [spectral_convergence(mag[i], dsp.istft(mag[i])) for i in range(2)]
    assert max(sc) < 0.1, sc  # measured 0.02-0.04
    assert all(s < z / 3 for s, z in zip(sc, zero_phase)), (sc, zero_phase)
    # more iterations do not make it worse; same seed, same result
    assert spectral_convergence(mag[0], dsp.griffin_lim(mag[:1], n_iter=8)[0]) > sc[0]
    assert np.array_equal(dsp.griffin_lim(mag[:1], n_iter=4), dsp.griffin_lim(mag[:1], n_iter=4))


def test_wav_written_at_minus_1_dbfs(tmp_path):
    y = dsp.peak_normalise(np.stack([_chirp() * 0.01, np.zeros(17640, np.float32)]))
    assert np.abs(y[0]).max() == pytest.approx(0.891, abs=1e-3) and not y[1].any()
    path = dsp.write_wav(tmp_path / "sub" / "a.wav", y[0])
    info = __import__("soundfile").info(path)
    assert (info.samplerate, info.frames, info.channels, info.subtype) == (22050, 17640, 1, "PCM_16")
    back, _ = dsp.read(path)
    assert np.abs(back).max() == pytest.approx(0.891, abs=1e-3)
