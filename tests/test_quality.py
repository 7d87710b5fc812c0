"""STOI of clips joined per speaker (`vaeaudio.judging.quality`) on signals whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest

from vaeaudio.judging.quality import stoi_by_group

SR = 8000


def _speechlike(n: int, seed: int) -> np.ndarray:
    """n one-second clips (n, 8000) of a pitched, syllable-modulated harmonic tone: energy that comes and goes like
    speech, in the bands STOI measures."""
    rng = np.random.default_rng(seed)
    t = np.arange(SR) / SR
    clips = []
    for _ in range(n):
        f0 = rng.uniform(100, 200)
        tone = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 20))
        envelope = np.clip(np.sin(2 * np.pi * rng.uniform(3, 6) * t), 0, None) ** 2
        clips.append(tone * envelope)
    return np.array(clips, np.float32)


def test_a_clip_against_itself_scores_one_and_noise_scores_far_less():
    ref = _speechlike(6, 0)
    groups = np.array(["a"] * 3 + ["b"] * 3)
    same = stoi_by_group(ref, ref * 0.5, groups, SR)  # a gain changes nothing
    assert same["mean"] == pytest.approx(1.0, abs=1e-6) and same["groups"] == 2 and same["clips"] == 6
    assert same["se"] == pytest.approx(0.0, abs=1e-6) and set(same["per_group"]) == {"a", "b"}
    rng = np.random.default_rng(1)
    noisy = ref + rng.standard_normal(ref.shape).astype(np.float32) * ref.std() * 3  # about -10 dB SNR
    low = stoi_by_group(ref, noisy, groups, SR)
    assert low["mean"] < 0.75 and low["se"] > 0
    quieter = ref + rng.standard_normal(ref.shape).astype(np.float32) * ref.std() * 0.3  # about +10 dB SNR
    assert low["mean"] < stoi_by_group(ref, quieter, groups, SR)["mean"] < 1.0  # less noise, closer to 1


def test_a_speaker_with_too_little_audio_is_left_out_and_shapes_are_checked():
    ref = _speechlike(3, 2)
    got = stoi_by_group(ref, ref, np.array(["a", "a", "b"]), SR)  # b has 1 s < MIN_SECONDS
    assert got["groups"] == 1 and got["clips"] == 2 and got["se"] is None and list(got["per_group"]) == ["a"]
    none = stoi_by_group(ref[:1], ref[:1], np.array(["a"]), SR)
    assert none["mean"] is None and none["groups"] == 0
    with pytest.raises(ValueError, match="differ"):
        stoi_by_group(ref, ref[:2], np.array(["a"] * 3), SR)
