"""`vaeaudio classifier train` and `vaeaudio classifier predict`: the digit classifier as verbs
(`vaeaudio.judging.judge`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vaeaudio.formats import runs
from vaeaudio.formats.spectrogram_set import CLASSIFIER_CACHE
from vaeaudio.judging import judge
from vaeaudio.judging.judge import MODEL, Judge
from vaeaudio.settings import ClassifierSettings, PredictSettings
from vaeaudio.util.errors import DataError, ModelError


@dataclass
class ClassifierResult:
    """Where the classifier is and how well it does."""

    folder: Path
    config: dict

    def summary(self) -> str:
        acc = self.config["accuracy"]
        parts = ", ".join(f"{k} {v:.3f}" for k, v in acc.items() if v is not None)
        return (f"classifier: {self.folder} ({self.config['epochs']} epochs, {self.config['seconds']:.0f} s); "
                f"accuracy {parts}")


def train(settings: ClassifierSettings) -> ClassifierResult:
    """Train a digit classifier on `settings.data`'s train split; writes `out/classifier.keras` + config.

    Without `settings.out` the folder is a new `runs/classifier-<YYYYmmdd-HHMMSS>[-N]` (`runs.new_run_dir`).
    """
    out = settings.out or runs.new_run_dir("classifier")
    return ClassifierResult(out, judge.train(settings, out))


def newest(root: Path = runs.DEFAULT_ROOT) -> Path:
    """The newest `root/classifier-*` folder holding a classifier."""
    found = sorted(p for p in root.glob("classifier-*") if (p / MODEL).is_file())
    if not found:
        raise ModelError(f"no classifier under {root}/", "train one with `vaeaudio classifier train`, or pass --model "
                         f"DIR; evaluate keeps one in each set it judges: --model SET/{CLASSIFIER_CACHE}")
    return found[-1]


@dataclass
class Prediction:
    """Predicted classes of WAV files."""

    paths: list[Path]
    probs: np.ndarray  # (n, C)
    classes: list[str]  # the classifier's class names, in label order

    def summary(self) -> str:
        return "\n".join(f"{p}\t{self.classes[int(pr.argmax())]}\t{pr.max():.3f}"
                         for p, pr in zip(self.paths, self.probs))


def predict(settings: PredictSettings) -> Prediction:
    """The class (the digit, for a digit classifier) and its probability for each WAV of `settings.wavs`; when some
    cannot be read, a `DataError` naming them that carries the predictions of the others (printed first)."""
    judge = Judge(settings.model or newest())
    good, failed = [], []
    for path in settings.wavs:
        try:
            judge.featurise_files([path])
            good.append(path)
        except DataError as exc:
            if len(settings.wavs) == 1:
                raise
            failed.append(str(exc))
    done = Prediction(good, judge.predict(judge.featurise_files(good))[0] if good else
                      np.zeros((0, len(judge.classes))), judge.classes)
    if failed:
        raise DataError(f"{len(failed)} of {len(settings.wavs)} file(s) could not be classified: {failed[0]}"
                        + (f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""),
                        "the others' digits are printed above" if good else None, output=done.summary() or None)
    return done
