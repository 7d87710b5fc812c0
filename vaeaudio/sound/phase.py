"""Phase from STFT magnitude alone: Phase Gradient Heap Integration, and fast Griffin-Lim started from a given phase.

PGHI (Průša, Balazs, Søndergaard, "A Noniterative Method for Reconstruction of
Phase From STFT Magnitude", IEEE/ACM TASLP 2017) reads the phase's time and
frequency derivatives off the log-magnitude's frequency and time derivatives
(exact for a Gaussian window, close for a Hann one with the Gaussian of the
same time-frequency spread, gamma = 0.25645 x n_fft^2 samples^2) and integrates
them outwards from the loudest coefficient, always extending from the loudest
one already reached (a max-heap), so that the integration follows ridges and
skips the unreliable valleys between them.

Everything here uses `dsp.stft`'s conventions: periodic Hann window of n_fft
samples, centred frames every `hop_length` samples, phase relative to each
frame's first sample; magnitudes are (n, bins, frames) with bins = n_fft//2 + 1.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from vaeaudio.sound import dsp

#: gamma / window length^2 of the Gaussian that matches a Hann window (the paper; LTFAT's `pghi`).
HANN_GAMMA = 0.25645
#: Relative magnitude (to each clip's maximum) below which a coefficient is left out of the integration.
TOL = 1e-5
#: Magnitude tolerances of the integration passes: coefficients within 20 dB of the peak first, so that separate
#: loud regions start their own integration instead of being reached through quiet valleys, then the rest down to TOL.
TOLS = (1e-1, TOL)
#: Fast Griffin-Lim iterations after PGHI in `render(phase='pghi+gl')`.
GL_ITERS = 2
#: Clips handled at once: bounds the temporaries whatever the batch, and a chunk's STFTs stay in cache.
_CHUNK = 16


def phase_gradients(mag: np.ndarray, n_fft: int, hop_length: int, tol: float = TOL) -> tuple[np.ndarray, np.ndarray]:
    """Estimated phase steps from magnitudes (n, bins, frames), radians.

    Returns (time step, frequency step), each (n, bins, frames) float64: the
    phase change from one frame to the next at each bin, and from one bin to the
    next within a frame, in the time-invariant convention (phase relative to the
    window's centre). The log-magnitude is floored at `tol` x each clip's maximum.
    """
    mag = np.asarray(mag, dtype=np.float64)
    peak = mag.max(axis=(-2, -1), keepdims=True)
    logs = np.log(np.maximum(mag, np.maximum(peak * tol, np.finfo(np.float64).tiny)))
    gamma = HANN_GAMMA * n_fft**2
    bins, frames = mag.shape[-2:]
    # frequency derivative of log|c| (per bin) -> instantaneous frequency -> phase advance per hop
    d_bin = np.gradient(logs, axis=-2) if bins > 1 else np.zeros_like(logs)
    d_bin[..., 0, :] = 0.0  # |c| is symmetric about DC (and about Nyquist for even n_fft): the derivative is 0
    if n_fft % 2 == 0:
        d_bin[..., -1, :] = 0.0
    k = np.arange(bins, dtype=np.float64)[:, None]
    time_step = (hop_length * n_fft / gamma) * d_bin + 2 * np.pi * hop_length * k / n_fft
    # time derivative of log|c| (per frame) -> local group delay -> phase change per bin
    d_frame = np.gradient(logs, axis=-1) if frames > 1 else np.zeros_like(logs)
    freq_step = (-gamma / (hop_length * n_fft)) * d_frame
    return time_step, freq_step


@numba.njit(cache=True, nogil=True)
def _push(key, idx, size, k, i):  # pragma: no cover - compiled
    """Add item i with key k to the max-heap (key, idx) of `size` items; returns the new size."""
    pos = size
    while pos > 0:
        parent = (pos - 1) >> 1
        if key[parent] >= k:
            break
        key[pos] = key[parent]
        idx[pos] = idx[parent]
        pos = parent
    key[pos] = k
    idx[pos] = i
    return size + 1


@numba.njit(cache=True, nogil=True)
def _pop(key, idx, size):  # pragma: no cover - compiled
    """Remove the top item of the max-heap; returns (its index, the new size)."""
    top = idx[0]
    size -= 1
    k = key[size]
    i = idx[size]
    pos = 0
    while True:
        child = 2 * pos + 1
        if child >= size:
            break
        if child + 1 < size and key[child + 1] > key[child]:
            child += 1
        if key[child] <= k:
            break
        key[pos] = key[child]
        idx[pos] = idx[child]
        pos = child
    key[pos] = k
    idx[pos] = i
    return top, size


@numba.njit(cache=True, nogil=True)
def _grow(m, ts, fs, ph, done, key, idx, size, bins, frames, threshold):  # pragma: no cover - compiled
    """From the heap's coefficients into their neighbours above `threshold`, loudest first, until the heap is empty."""
    while size > 0:
        i, size = _pop(key, idx, size)
        b = i // frames
        t = i - b * frames
        if t + 1 < frames:
            j = i + 1
            if not done[j] and m[j] > threshold:
                ph[j] = ph[i] + 0.5 * (ts[i] + ts[j])
                done[j] = True
                size = _push(key, idx, size, m[j], j)
        if t > 0:
            j = i - 1
            if not done[j] and m[j] > threshold:
                ph[j] = ph[i] - 0.5 * (ts[i] + ts[j])
                done[j] = True
                size = _push(key, idx, size, m[j], j)
        if b + 1 < bins:
            j = i + frames
            if not done[j] and m[j] > threshold:
                ph[j] = ph[i] + 0.5 * (fs[i] + fs[j])
                done[j] = True
                size = _push(key, idx, size, m[j], j)
        if b > 0:
            j = i - frames
            if not done[j] and m[j] > threshold:
                ph[j] = ph[i] - 0.5 * (fs[i] + fs[j])
                done[j] = True
                size = _push(key, idx, size, m[j], j)
    return size


@numba.njit(cache=True, nogil=True)
def _integrate(mag, time_step, freq_step, tols, phase):  # pragma: no cover - compiled
    """Heap-integrate the phase steps of one clip (bins, frames) into `phase` (bins, frames), in place.

    One pass per tolerance (descending): the coefficients reached so far grow
    into those above tol x the clip's maximum; each one still unreached then
    starts a new integration at phase 0, loudest first. Coefficients never
    above the last threshold keep phase 0.
    """
    bins, frames = mag.shape
    n = bins * frames
    m = mag.ravel()
    ts = time_step.ravel()
    fs = freq_step.ravel()
    ph = phase.ravel()
    done = np.zeros(n, np.bool_)
    key = np.empty(n, np.float64)
    idx = np.empty(n, np.int64)
    start_key = np.empty(n, np.float64)
    start_idx = np.empty(n, np.int64)
    peak = 0.0
    for i in range(n):
        peak = max(peak, m[i])
    for tol in tols:
        threshold = peak * tol
        size = 0
        for i in range(n):  # the border of what earlier passes reached
            if done[i]:
                b = i // frames
                t = i - b * frames
                if ((t + 1 < frames and not done[i + 1] and m[i + 1] > threshold)
                        or (t > 0 and not done[i - 1] and m[i - 1] > threshold)
                        or (b + 1 < bins and not done[i + frames] and m[i + frames] > threshold)
                        or (b > 0 and not done[i - frames] and m[i - frames] > threshold)):
                    size = _push(key, idx, size, m[i], i)
        size = _grow(m, ts, fs, ph, done, key, idx, size, bins, frames, threshold)
        waiting = 0  # the unreached, loudest on top: a heap of these alone, not a sort of all, keeps it fast
        for i in range(n):
            if not done[i] and m[i] > threshold:
                waiting = _push(start_key, start_idx, waiting, m[i], i)
        while waiting > 0:
            i, waiting = _pop(start_key, start_idx, waiting)
            if not done[i]:
                ph[i] = 0.0
                done[i] = True
                size = _push(key, idx, 0, m[i], i)
                size = _grow(m, ts, fs, ph, done, key, idx, size, bins, frames, threshold)


@numba.njit(cache=True, nogil=True)
def _pghi_all(mag, time_step, freq_step, tols, out):  # pragma: no cover - compiled
    """Integrate each clip of (n, bins, frames) and write mag x e^(i phase) to `out`, in `dsp.stft`'s convention."""
    bins, frames = mag.shape[1:]
    phase = np.empty((bins, frames), np.float64)
    for c in range(mag.shape[0]):
        phase[:] = 0.0
        _integrate(mag[c], time_step[c], freq_step[c], tols, phase)
        for b in range(bins):  # window-centred phase -> phase of the frame's first sample: + pi per bin
            for t in range(frames):
                angle = phase[b, t] + math.pi * (b % 2)
                out[c, b, t] = complex(mag[c, b, t] * math.cos(angle), mag[c, b, t] * math.sin(angle))


def pghi(mag: np.ndarray, hop_length: int = dsp.HOP_LENGTH, n_fft: int | None = None,
         tols: tuple[float, ...] = TOLS) -> np.ndarray:
    """Phase Gradient Heap Integration: magnitudes (n, bins, frames) -> complex STFT (n, bins, frames) complex64.

    The result has `mag`'s magnitudes and a phase in `dsp.stft`'s convention, so
    `dsp.istft` turns it into waves. `n_fft` defaults to 2 x (bins - 1) (an odd
    frame length must be given). Each clip is integrated on its own; coefficients
    not above min(`tols`) x the clip's maximum magnitude get phase 0, so silence
    stays silent and the result is deterministic.
    """
    mag = np.asarray(mag)
    if mag.ndim != 3:
        raise ValueError(f"magnitudes must be (n, bins, frames), not {mag.shape}")
    n_fft = n_fft or 2 * (mag.shape[-2] - 1)
    if n_fft // 2 + 1 != mag.shape[-2]:
        raise ValueError(f"{mag.shape[-2]} bins do not come from an n_fft of {n_fft}")
    tols = np.asarray(sorted(tols, reverse=True), np.float64)
    out = np.empty(mag.shape, np.complex64)
    for i in range(0, len(mag), _CHUNK):  # float64 temporaries for a chunk of clips at a time, not the whole batch
        m = np.ascontiguousarray(mag[i : i + _CHUNK], dtype=np.float64)
        time_step, freq_step = phase_gradients(m, n_fft, hop_length, tols[-1])
        _pghi_all(m, time_step, freq_step, tols, out[i : i + _CHUNK])
    return out


def fast_griffin_lim(spec: np.ndarray, n_iter: int, hop_length: int = dsp.HOP_LENGTH,
                     length: int = dsp.CLIP_SAMPLES, n_fft: int | None = None, momentum: float = 0.99) -> np.ndarray:
    """Fast Griffin-Lim from a given complex STFT (n, bins, frames) -> waveforms (n, length) float32.

    Keeps `spec`'s magnitudes and refines its phase for `n_iter` iterations
    (`dsp.griffin_lim` started from its phase); `n_iter` 0 just inverts it.
    Deterministic: no random draw. `n_fft` defaults to 2 x (bins - 1).
    """
    spec = np.asarray(spec)
    return dsp.griffin_lim(np.abs(spec), n_iter, hop_length, length, momentum, n_fft=n_fft, start=spec)


def pghi_waves(mag: np.ndarray, hop_length: int = dsp.HOP_LENGTH, length: int = dsp.CLIP_SAMPLES,
               n_fft: int | None = None, n_iter: int = 0, momentum: float = 0.99) -> np.ndarray:
    """Magnitudes (n, bins, frames) -> waveforms (n, length) float32: PGHI then `n_iter` fast Griffin-Lim iterations."""
    out = np.empty((len(mag), length), np.float32)
    for i in range(0, len(mag), _CHUNK):
        out[i : i + _CHUNK] = fast_griffin_lim(pghi(mag[i : i + _CHUNK], hop_length, n_fft), n_iter, hop_length, length,
                                               n_fft, momentum)
    return out
