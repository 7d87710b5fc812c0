"""vaeaudio.judging.recognise: the independent listener hears real digits, and no digit in silence or noise."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vaeaudio.judging.recognise import NOTHING, Pool, Recogniser, ratio, scores
from vaeaudio.sound import dsp

SAMPLE = Path(__file__).resolve().parents[1] / "vaeaudio" / "sample"


@pytest.fixture(scope="module")
def recogniser():
    return Recogniser()


def _read(name: str) -> tuple[np.ndarray, int]:
    return dsp.read(SAMPLE / name)


def test_real_recordings_are_heard_right(recogniser):
    names = ["1_george_0.wav", "7_theo_0.wav", "9_jackson_0.wav", "0_yweweler_0.wav", "3_theo_0.wav"]
    waves = [_read(n) for n in names]
    assert {sr for _, sr in waves} == {8000}
    heard = [int(recogniser.hear(w[None], sr)[0]) for w, sr in waves]
    assert heard == [1, 7, 9, 0, 3]
    assert recogniser.clips == 5 and 0 < recogniser.seconds < 5


def test_a_clip_at_the_training_rate_is_heard_as_at_its_own(recogniser):
    """evaluate feeds 22,050 Hz clips of 17,640 samples: resampled to 16 kHz, the word is the same."""
    y, sr = _read("7_theo_0.wav")
    clip = dsp.to_clip(y, sr, 22050, 17640)
    assert recogniser.hear(np.stack([clip, clip]), 22050).tolist() == [7, 7]


def test_silence_noise_and_a_tone_are_not_heard_as_digits(recogniser):
    rng = np.random.default_rng(0)
    t = np.arange(16000) / 16000
    clips = np.stack([
        np.zeros(16000),                            # digital silence: not decoded
        rng.standard_normal(16000) * 1e-4,          # 3 LSB of hiss
        np.clip(rng.standard_normal(16000) * 0.3, -1, 1),  # loud white noise
        0.5 * np.sin(2 * np.pi * 440 * t),           # a pure tone
    ]).astype(np.float32)
    assert recogniser.hear(clips, 16000).tolist() == [NOTHING] * 4
    assert recogniser.word(clips[0], 16000) == ""
    assert recogniser.word(clips[2], 16000) == "vaeaudio_silence"


@pytest.mark.slow  # decodes all 250 recordings
def test_most_of_the_embedded_sample_is_heard_right(recogniser):
    """The 250 embedded FSDD recordings (8 kHz, five speakers): 0.69 heard right with pocketsphinx 5.1.1."""
    names = sorted(SAMPLE.glob("*.wav"))
    heard = np.array([recogniser.hear(dsp.read(p)[0][None], 8000)[0] for p in names])
    digits = np.array([int(p.name[0]) for p in names])
    s = scores(heard, digits, np.array([p.name.split("_")[1] for p in names]))
    assert s["clips"] == 250 and 0.6 <= s["accuracy"] <= 0.8
    assert s["per_digit"]["7"] == 1.0 and s["nothing_heard"] < 0.1
    assert sorted(s["per_speaker"]) == ["george", "jackson", "nicolas", "theo", "yweweler"]


def test_scores_by_hand():
    s = scores(np.array([0, 1, NOTHING, 3]), np.array([0, 1, 2, 2]), np.array(["a", "a", "b", "b"]))
    assert s == {"clips": 4, "accuracy": 0.5, "se": 0.25, "nothing_heard": 0.25,
                 "per_digit": {"0": 1.0, "1": 1.0, "2": 0.0}, "per_speaker": {"a": 1.0, "b": 0.0}}
    # 4 clips drawn from 9: the finite-population correction sqrt((9 - 4) / 8)
    sampled = scores(np.array([0, 1, NOTHING, 3]), np.array([0, 1, 2, 2]), population=9)
    assert sampled["population"] == 9 and sampled["se"] == pytest.approx(0.25 * np.sqrt(5 / 8))
    assert scores(np.array([]), np.array([]))["accuracy"] is None
    assert ratio(0.5, 0.25) == 2.0 and ratio(None, 1.0) is None and ratio(0.5, 0.0) is None


def test_grammar_names_every_digit_word_and_oh():
    g = Recogniser.grammar()
    for word in ("zero", "oh", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"):
        assert f" {word} " in g


def test_a_pool_hears_what_one_recogniser_hears_in_the_same_order(recogniser):
    """Two worker processes, clips split between them: the classes come back in the clips' order, the same as one
    recogniser's; clips and seconds are counted as one recogniser counts them."""
    names = ["1_george_0.wav", "7_theo_0.wav", "9_jackson_0.wav", "0_yweweler_0.wav", "3_theo_0.wav"]
    clips = np.stack([dsp.to_clip(*_read(n), 8000, 8000) for n in names])
    clips = np.concatenate([clips, np.zeros((1, 8000), np.float32), clips[::-1]])  # 11 clips, one of them silent
    one = recogniser.hear(clips, 8000)
    assert one.tolist() == [1, 7, 9, 0, 3, NOTHING, 3, 0, 9, 7, 1]
    with Pool(workers=2) as pool:
        assert pool.workers == 2 and pool.description == recogniser.description
        first, second = pool.submit(clips, 8000), pool.submit(clips[:3], 8000)  # both in flight at once
        assert second.result().tolist() == one[:3].tolist() and first.result().tolist() == one.tolist()
        assert pool.hear(clips[:0], 8000).tolist() == [] and pool.clips == 14 and pool.seconds > 0
