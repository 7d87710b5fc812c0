"""An independent listener: which digit (or which word class) a speech recogniser hears in each clip.

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

A set whose classes are other words (Speech Commands' "yes", "left", ...) gets a
grammar of its class names instead, when pocketsphinx's dictionary knows every one
(`for_classes`); for any other classes (dog_bark, chirp) the recogniser is off,
with one line saying why.

Decoding a clip is cheap next to loading the acoustic model, which each
`Recogniser` does once: keep one for many clips. What it costs:
docs/performance.md (the recogniser's cost).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from vaeaudio.formats.classes import DIGIT_CLASSES, DIGIT_WORDS
from vaeaudio.sound import dsp
from vaeaudio.util import progress

#: Sample rate of the acoustic model, in Hz: every clip is resampled to it.
RATE = 16000
#: What `Recogniser.hear` returns for a clip in which no word of the grammar was heard.
NOTHING = -1
#: The garbage words of the grammar and the model's filler units they stand for.
_GARBAGE = {"vaeaudio_noise": "+NSN+", "vaeaudio_silence": "SIL"}
#: Each word of the digit grammar and the digit it means, in the grammar's order: "oh" is heard as 0 too.
_HEARD = {DIGIT_WORDS[0]: 0, "oh": 0, **{w: d for d, w in enumerate(DIGIT_WORDS) if d}}


def _model_folder() -> Path:
    import pocketsphinx

    return Path(pocketsphinx.get_model_path()) / "en-us"


def class_words(classes) -> tuple[dict[str, int] | None, str]:
    """({word: class index} of the grammar for a set of `classes` (names in label order), or None, and why): the
    digit words for the digits "0".."9", else each class name (lower-cased) when pocketsphinx's en-us dictionary
    knows every one."""
    if tuple(classes) == DIGIT_CLASSES:
        return dict(_HEARD), "one digit word (zero|oh|one..nine) or noise/silence"
    words = [c.lower() for c in classes]
    with open(_model_folder() / "cmudict-en-us.dict", encoding="utf-8") as f:
        known = {line.split(" ", 1)[0] for line in f}
    unknown = [c for c, w in zip(classes, words) if w not in known or not w.replace("'", "").isalpha()]
    if unknown:
        return None, (f"{len(unknown)} of the {len(classes)} class names are not words of its en-us dictionary "
                      f"({', '.join(unknown[:3])}{', ...' if len(unknown) > 3 else ''})")
    return {w: i for i, w in enumerate(words)}, f"one of the {len(words)} class words or noise/silence"


def for_classes(classes, workers: int = 1) -> Recogniser | Pool | None:
    """A `Recogniser` for a set of `classes` (a `Pool` of `workers` of them when more than one), or None (said in one
    line) when its names are not words it knows."""
    words, why = class_words(classes)
    if words is None:
        progress.log(f"recogniser off: {why}")
        return None
    return Pool(words, why, workers) if workers > 1 else Recogniser(words, why)


class Recogniser:
    """pocketsphinx restricted to a few words (the digit words by default); `hear` maps clips to class indices.

    One decoder is built per instance (it loads the model); `clips` and `seconds` count the
    clips decoded and the time spent decoding them (resampling included).
    """

    def __init__(self, words: dict[str, int] | None = None, description: str | None = None):
        """`words`: {word: class index} (default: the digit words, "oh" as 0); `description`: what it listens for."""
        from pocketsphinx import Decoder

        self.words = dict(_HEARD) if words is None else words
        self.description = "pocketsphinx en-us, " + (description or class_words(DIGIT_CLASSES)[1])
        folder = _model_folder()
        # bestpath off: the forward search's own best path; the lattice rescoring hears fewer of the
        # embedded FSDD recordings right.
        self._decoder = Decoder(hmm=str(folder / "en-us"), dict=str(folder / "cmudict-en-us.dict"), lm=None,
                                samprate=RATE, bestpath=False, loglevel="FATAL")
        for word, phone in _GARBAGE.items():
            self._decoder.add_word(word, phone, False)
        self._decoder.add_jsgf_string("digits", self.grammar(self.words))
        self._decoder.activate_search("digits")
        self.clips = 0
        self.seconds = 0.0

    @staticmethod
    def grammar(words=_HEARD) -> str:
        """The JSGF grammar: one of `words` (the digit words by default), or one of the garbage words."""
        alternatives = " | ".join([*words, *_GARBAGE])
        return f"#JSGF V1.0;\ngrammar digits;\npublic <utterance> = {alternatives} ;\n"

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
        """The class heard in each clip of `waves` (n, samples) at `sr` Hz -> (n,) int, `NOTHING` (-1) for none."""
        t0 = time.perf_counter()
        heard = np.array([self.words.get(self.word(w, sr), NOTHING) for w in waves], dtype=int)
        self.clips += len(waves)
        self.seconds += time.perf_counter() - t0
        return heard

    def submit(self, waves: np.ndarray, sr: int) -> Heard:
        """`hear` as `Pool.submit` has it: done at once."""
        return Heard([self.hear(waves, sr)])

    def close(self) -> None:
        """Nothing to release (as `Pool.close`)."""


class Heard:
    """The classes heard in clips handed to `submit`, once `result()` is asked for (in the clips' order)."""

    def __init__(self, parts: list, pool: Pool | None = None):
        self._parts, self._pool = parts, pool

    def result(self) -> np.ndarray:
        """(n,) int: the class heard in each clip, `NOTHING` (-1) for none."""
        if self._pool is not None:
            done = [f.result() for f in self._parts]
            self._parts, pool, self._pool = [h for h, _ in done], self._pool, None
            pool.seconds += sum(t for _, t in done)
        return np.concatenate(self._parts) if self._parts else np.zeros(0, int)


_WORKER: Recogniser | None = None  # a pool worker's own recogniser


def _start_worker(words: dict[str, int], description: str) -> None:
    global _WORKER
    _WORKER = Recogniser(words, description)


def _hear_in_worker(waves: np.ndarray, sr: int) -> tuple[np.ndarray, float]:
    seconds = _WORKER.seconds
    return _WORKER.hear(waves, sr), _WORKER.seconds - seconds


class Pool:
    """`workers` `Recogniser`s in their own processes (default `resources.usable_cores`; started as
    `resources.process_context` says), heard as one: `hear` gives what a single `Recogniser` gives, in the clips'
    order; `submit` hands clips over and returns at once, so the caller makes the next clips while these are
    decoded. `clips` and `seconds` count as a `Recogniser`'s (`seconds`: decoding time summed over the workers).
    Close it (or use it in `with`)."""

    def __init__(self, words: dict[str, int] | None = None, description: str | None = None, workers: int | None = None):
        from concurrent.futures import ProcessPoolExecutor

        from vaeaudio.util import resources

        words = dict(_HEARD) if words is None else words
        self.words = words
        self.description = "pocketsphinx en-us, " + (description or class_words(DIGIT_CLASSES)[1])
        self.workers = workers or resources.usable_cores()
        self._executor = ProcessPoolExecutor(self.workers, mp_context=resources.process_context(),
                                             initializer=_start_worker, initargs=(words, description))
        self.clips = 0
        self.seconds = 0.0

    def submit(self, waves: np.ndarray, sr: int) -> Heard:
        """Hand `waves` (n, samples) at `sr` Hz to the workers, in about two parts each; `.result()` waits."""
        waves = np.asarray(waves)
        parts = np.array_split(np.arange(len(waves)), min(len(waves), 2 * self.workers)) if len(waves) else []
        self.clips += len(waves)
        return Heard([self._executor.submit(_hear_in_worker, waves[p[0] : p[-1] + 1], sr) for p in parts], self)

    def hear(self, waves: np.ndarray, sr: int) -> np.ndarray:
        """As `Recogniser.hear`, decoded by every worker at once."""
        return self.submit(waves, sr).result()

    def close(self) -> None:
        """Stop the workers."""
        self._executor.shutdown(cancel_futures=True)

    def __enter__(self) -> Pool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def scores(heard: np.ndarray, digits: np.ndarray, groups: np.ndarray | None = None, classes=DIGIT_CLASSES,
           population: int | None = None) -> dict:
    """Figures of classes `heard` (n,) against the classes (n,) meant (`digits`, indices into `classes`): `accuracy`
    with its standard error `se` (binomial, sqrt(p (1 - p) / n); for clips drawn at random without replacement from
    `population` clips, times the finite-population correction sqrt((N - n) / (N - 1)), and `population` given),
    `nothing_heard` (share of clips without a word), `per_digit` accuracy (keyed by class name; the name predates
    classes) and, given labels `groups` (n,), `per_speaker`."""
    heard, digits = np.asarray(heard), np.asarray(digits)
    if not len(heard):
        return {"clips": 0, "accuracy": None, "se": None, "nothing_heard": None, "per_digit": {}}
    hit = heard == digits
    p, n = float(hit.mean()), len(heard)
    fpc = np.sqrt((population - n) / (population - 1)) if population and population > 1 else 1.0
    out = {"clips": int(n), "accuracy": p, "se": float(np.sqrt(p * (1 - p) / n) * fpc),
           "nothing_heard": float((heard == NOTHING).mean()),
           "per_digit": {classes[d]: float(hit[digits == d].mean()) for d in range(len(classes))
                         if (digits == d).any()}}
    if population is not None:
        out["population"] = int(population)
    if groups is not None:
        groups = np.asarray(groups)
        out["per_speaker"] = {str(g): float(hit[groups == g].mean()) for g in sorted(set(groups.tolist()))}
    return out


def ratio(a: float | None, b: float | None) -> float | None:
    """a / b, or None when either is missing or b is 0."""
    return None if a is None or not b else float(a / b)
