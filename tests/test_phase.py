"""Phase from magnitude alone (`vaeaudio.sound.phase`): PGHI, PGHI + fast Griffin-Lim, and `render`'s phase choices.

Quality is the spectral convergence ||S(x') - S(x)||_F / ||S(x)||_F of the
rebuilt wave x' against the original x (S: `dsp.stft` magnitude).
"""

from __future__ import annotations

import numpy as np
import pytest

from vaeaudio.sound import dsp, phase
from vaeaudio.sound.render import PHASES, render

DEFAULT = dsp.Transform()  # 22,050 Hz, n_fft 512, hop 256: redundancy 2
FINE = dsp.Transform(n_fft=1024, hop_length=128)  # redundancy 8
FINE_16K = dsp.Transform(sample_rate=16000, clip_samples=12800, n_fft=1024, hop_length=128)
# Measured spectral convergence on `signals` (chirp, tones): PGHI 0.049, 0.037 at 512/256 (redundancy 2); 0.014, 0.017
# at 1024/128 and 0.004, 0.022 at 1024/128 16 kHz (redundancy 8). PGHI + 2 fast Griffin-Lim iterations (GL_ITERS)
# 0.002-0.023, + 16 iterations 0.001-0.011. Zero phase 0.79-0.99.
#: Largest spectral convergence allowed of PGHI alone, per transform.
PGHI_BOUND = {DEFAULT: 0.06, FINE: 0.03, FINE_16K: 0.03}


def signals(t: dsp.Transform) -> np.ndarray:
    """(2, clip_samples) float32: a rising chirp (200 Hz to 14% of the rate, Hann-faded) and a sum of three tones."""
    n, sr = t.clip_samples, t.sample_rate
    s = np.arange(n) / sr
    chirp = 0.5 * np.sin(2 * np.pi * (200 * s + 0.5 * (0.14 * sr - 200) / s[-1] * s**2)) * np.hanning(n)
    tones = sum(a * np.sin(2 * np.pi * f * s + p) for a, f, p in [(0.5, 440, 0), (0.3, 1250, 1), (0.2, 3100, 2)])
    return np.stack([chirp, tones]).astype(np.float32)


def convergence(waves: np.ndarray, reference: np.ndarray, t: dsp.Transform) -> np.ndarray:
    """Spectral convergence of each wave (n, samples) against its reference: (n,)."""
    s = np.abs(dsp.stft(reference, t.n_fft, t.hop_length))
    x = np.abs(dsp.stft(waves, t.n_fft, t.hop_length))
    return np.linalg.norm(x - s, axis=(-2, -1)) / np.linalg.norm(s, axis=(-2, -1))


@pytest.mark.parametrize("t", [DEFAULT, FINE, FINE_16K], ids=["512-256", "1024-128", "1024-128-16k"])
def test_pghi_rebuilds_true_magnitudes(t):
    x = signals(t)
    mag = np.abs(dsp.stft(x, t.n_fft, t.hop_length))
    spec = phase.pghi(mag, t.hop_length, t.n_fft)
    assert spec.shape == mag.shape and spec.dtype == np.complex64
    np.testing.assert_allclose(np.abs(spec), mag, rtol=1e-5, atol=1e-6)  # magnitudes kept, only the phase is new
    plain = convergence(dsp.istft(spec, t.hop_length, t.clip_samples, t.n_fft), x, t)
    refined, longer = (convergence(phase.pghi_waves(mag, t.hop_length, t.clip_samples, t.n_fft, n_iter=n), x, t)
                       for n in (phase.GL_ITERS, 16))
    zero = convergence(dsp.istft(mag.astype(np.complex64), t.hop_length, t.clip_samples, t.n_fft), x, t)
    assert (plain < PGHI_BOUND[t]).all(), plain
    assert (plain < zero / 10).all(), (plain, zero)
    assert (refined <= plain).all() and (refined < 0.03).all(), (refined, plain)
    assert (longer <= refined).all() and (longer < 0.015).all(), (longer, refined)


def test_batched_equals_one_at_a_time():
    t = DEFAULT
    x = np.concatenate([signals(t), np.zeros((1, t.clip_samples), np.float32)] * 10)  # 30 clips: two chunks
    mag = np.abs(dsp.stft(x, t.n_fft, t.hop_length))
    batch = phase.pghi(mag)
    np.testing.assert_array_equal(batch, np.concatenate([phase.pghi(m[None]) for m in mag]))
    waves = phase.pghi_waves(mag, n_iter=4)
    np.testing.assert_allclose(waves, np.concatenate([phase.pghi_waves(m[None], n_iter=4) for m in mag]), atol=1e-6)


def test_silence_stays_silent():
    t = FINE
    mag = np.zeros((2, *t.shape), np.float32)
    assert not phase.pghi(mag, t.hop_length).any()
    for n_iter in (0, 3):
        waves = phase.pghi_waves(mag, t.hop_length, t.clip_samples, n_iter=n_iter)
        assert waves.shape == (2, t.clip_samples) and np.isfinite(waves).all() and not waves.any()


def test_gradients_of_a_tone():
    """A stationary tone advances its phase by 2 pi f hop / rate per frame at its peak bin."""
    t = FINE
    f = 64.3 * t.sample_rate / t.n_fft  # between bins 64 and 65
    x = np.sin(2 * np.pi * f * np.arange(t.clip_samples) / t.sample_rate).astype(np.float32)
    mag = np.abs(dsp.stft(x[None], t.n_fft, t.hop_length))
    time_step, freq_step = phase.phase_gradients(mag, t.n_fft, t.hop_length)
    true = 2 * np.pi * f * t.hop_length / t.sample_rate
    middle = slice(10, -10)  # away from the clip's ends
    assert np.abs(time_step[0, 64, middle] - true).max() < 0.05 * (2 * np.pi * t.hop_length / t.n_fft)
    assert np.abs(freq_step[0, 64, middle]).max() < 1e-3  # a constant level: no group delay


@pytest.mark.parametrize("how", ["pghi", "pghi+gl"])
def test_render_pghi(how):
    t = dsp.Transform(sample_rate=16000, clip_samples=8000, n_fft=512, hop_length=128)
    spec, lo, hi = t.featurise(signals(t))
    waves = render(spec, lo, hi, t, phase=how)
    assert waves.shape == (2, t.clip_samples) and waves.dtype == np.float32
    np.testing.assert_allclose(np.abs(waves).max(axis=1), dsp.PEAK, rtol=1e-5)
    np.testing.assert_array_equal(waves, render(spec, lo, hi, t, phase=how, seed=0))  # same seed, same waves
    np.testing.assert_array_equal(waves, render(spec, lo, hi, t, phase=how, seed=np.random.default_rng(5)))
    mag = dsp.db_to_magnitude(dsp.denormalise(spec, lo, hi))
    n_iter = 0 if how == "pghi" else phase.GL_ITERS
    direct = dsp.peak_normalise(phase.pghi_waves(mag, t.hop_length, t.clip_samples, t.n_fft, n_iter=n_iter))
    np.testing.assert_array_equal(waves, direct)


def test_render_keeps_griffin_lim_and_rejects_unknown_phases():
    t = dsp.Transform(sample_rate=8000, clip_samples=4000, n_fft=256, hop_length=64)
    spec, lo, hi = t.featurise(signals(t))
    mag = dsp.db_to_magnitude(dsp.denormalise(spec, lo, hi))
    expected = dsp.peak_normalise(dsp.griffin_lim(mag, 3, t.hop_length, t.clip_samples, seed=2, n_fft=t.n_fft))
    np.testing.assert_array_equal(render(spec, lo, hi, t, phase="griffin-lim", n_iter=3, seed=2), expected)
    assert set(PHASES) == {"griffin-lim", "pghi", "pghi+gl", "zero"}
    with pytest.raises(ValueError, match="unknown phase"):
        render(spec, lo, hi, t, phase="pghl")
