"""An independent listener: which digit a speech recogniser hears in each clip.

The digit classifier of `vaeaudio.judging.classifier` is trained on the same speakers
and the same spectrograms as the VAE: it tells whether the digit is *in the
spectrogram*, and it sorts a blurred, averaged spectrogram correctly even when
it does not sound like the word. This module asks a recogniser that never saw
the corpus: pocketsphinx 5 with CMU's en-us acoustic model (shipped inside the
`pocketsphinx` wheel, so it runs offline), restricted by a JSGF grammar to one
word of

    zero | oh | one | two | three | four | five | six | seven | eight | nine | <noise> | <silence>

where "oh" counts as 0 and the two garbage words (the model's noise and
silence units) let it say that it heard no digit: white noise or a pure tone
come out as <silence>, not as a digit. A clip is fed as 16 kHz 16-bit mono
(resampled with `dsp.resample`); a clip that is digital silence at 16 bits
is not decoded (the decoder has no features to work on, and says "two").
Either way "nothing heard" is `NOTHING` (-1).

Decoding a clip is cheap next to loading the acoustic model, which each
`Recogniser` does once: keep one for many clips. What it costs:
docs/performance.md (the recogniser's cost).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from vaeaudio.sound import dsp

#: The ten digit words, index = digit; "oh" is heard as 0 too.
WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
#: Sample rate of the acoustic model, in Hz: every clip is resampled to it.
RATE = 16000
#: What `Recogniser.hear` returns for a clip in which no digit word was heard.
NOTHING = -1
#: The garbage words of the grammar and the model's filler units they stand for.
_GARBAGE = {"vaeaudio_noise": "+NSN+", "vaeaudio_silence": "SIL"}
_HEARD = {**{w: d for d, w in enumerate(WORDS)}, "oh": 0}


def _model_folder() -> Path:
    import pocketsphinx

    return Path(pocketsphinx.get_model_path()) / "en-us"


class Recogniser:
    """pocketsphinx restricted to the digit words; `hear` maps clips to digits.

    One decoder is built per instance (it loads the model); `clips` and `seconds` count the
    clips decoded and the time spent decoding them (resampling included).
    """

    def __init__(self):
        from pocketsphinx import Decoder

        folder = _model_folder()
        # bestpath off: the forward search's own best path; the lattice rescoring hears fewer of the
        # embedded FSDD recordings right.
        self._decoder = Decoder(hmm=str(folder / "en-us"), dict=str(folder / "cmudict-en-us.dict"), lm=None,
                                samprate=RATE, bestpath=False, loglevel="FATAL")
        for word, phone in _GARBAGE.items():
            self._decoder.add_word(word, phone, False)
        self._decoder.add_jsgf_string("digits", self.grammar())
        self._decoder.activate_search("digits")
        self.clips = 0
        self.seconds = 0.0

    @staticmethod
    def grammar() -> str:
        """The JSGF grammar: one digit word, or one of the garbage words."""
        words = " | ".join([WORDS[0], "oh", *WORDS[1:], *_GARBAGE])
        return f"#JSGF V1.0;\ngrammar digits;\npublic <utterance> = {words} ;\n"

    def word(self, wave: np.ndarray, sr: int) -> str:
        """The word heard in one clip (samples,) float in [-1, 1] at `sr` Hz ('' for digital silence)."""
        y = dsp.resample(np.asarray(wave, dtype=np.float32), sr, RATE) if sr != RATE else wave
        pcm = np.round(np.clip(y, -1.0, 1.0) * 32767).astype("<i2")
        if not pcm.any():
            return ""
        self._decoder.start_utt()
        self._decoder.process_raw(pcm.tobytes(), full_utt=True)
        self._decoder.end_utt()
        hyp = self._decoder.hyp()
        return hyp.hypstr if hyp is not None else ""

    def hear(self, waves: np.ndarray, sr: int) -> np.ndarray:
        """The digit heard in each clip of `waves` (n, samples) at `sr` Hz -> (n,) int, `NOTHING` (-1) for none."""
        t0 = time.perf_counter()
        heard = np.array([_HEARD.get(self.word(w, sr), NOTHING) for w in waves], dtype=int)
        self.clips += len(waves)
        self.seconds += time.perf_counter() - t0
        return heard


def scores(heard: np.ndarray, digits: np.ndarray, groups: np.ndarray | None = None) -> dict:
    """Figures of digits `heard` (n,) against the `digits` (n,) meant: `accuracy`, `nothing_heard` (share of
    clips without a digit word), `per_digit` accuracy and, given labels `groups` (n,), `per_speaker`."""
    heard, digits = np.asarray(heard), np.asarray(digits)
    if not len(heard):
        return {"clips": 0, "accuracy": None, "nothing_heard": None, "per_digit": {}}
    hit = heard == digits
    out = {"clips": int(len(heard)), "accuracy": float(hit.mean()), "nothing_heard": float((heard == NOTHING).mean()),
           "per_digit": {str(d): float(hit[digits == d].mean()) for d in range(10) if (digits == d).any()}}
    if groups is not None:
        groups = np.asarray(groups)
        out["per_speaker"] = {str(g): float(hit[groups == g].mean()) for g in sorted(set(groups.tolist()))}
    return out


def ratio(a: float | None, b: float | None) -> float | None:
    """a / b, or None when either is missing or b is 0."""
    return None if a is None or not b else float(a / b)
