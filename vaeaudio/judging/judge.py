"""A small CNN classifier of a set's classes (the digits, or any others): the judge of generated audio (as SC09
papers use one).

    x (B, 257, 69) in [0, 1]
      -> NoiseFloor: a random noise floor, renormalised (training only)
      -> (B, 257, 69, 1) -> RandomTranslation in time, up to 10 % each way (training only)
      -> (B, 69, 257): time-major, the frequency bins are the channels
      -> 4 x [Conv1D along time, stride 2, 128 channels (width 5, 3, 3, 3) + BatchNorm + ReLU] -> (B, 5, 128)
      -> average over time (a word is what its spectra are, wherever it starts) -> (B, 128)
      -> Dense 128 ReLU  = features (B, 128)
      -> Dropout 0.3 -> Dense C softmax   = p(class | x) (B, C), C = the set's classes (10 digits)

Convolving along time with the bins as channels, not in 2-D over a one-channel image: 2-D convolutions of 16-64
channels ran at about 23 GFLOP/s on a CPU, and the classifier's training was most of `evaluate` at AudioMNIST's size.
On FSDD by take (1,903 train clips) the 1-D classifier trains in 40 s against 166 s, test accuracy 0.991 against
0.987 (235 clips); by speaker 0.916 against 0.835-0.879 (docs/performance.md, evaluate at full size).

The noise floor matters for a judge of generated audio: FSDD's 8 kHz recordings
are silent above 4 kHz and in their pauses (most of a spectrogram's bins sit
exactly at the -80 dB floor), so a classifier trained on them alone is thrown by
the faint noise that Griffin-Lim leaves there, inaudible as it is: it misjudges
generated clips that it judges right once that band is zeroed. Trained with the
noise floor, it hears what a listener hears. It is early-stopped on validation
accuracy, not loss: with a single validation speaker the loss rises while the
accuracy still climbs, and training would stop too soon. Its accuracies, by
speaker and by take: docs/intelligibility.md (the digit classifier).

Trained with Keras `fit` on the train split (batched by `vaeaudio.batches` as the
VAEs are: one input pipeline for all epochs; an epoch of a large split is
`--epoch-clips` of its clips, the next going on where it stopped, so a set of
AudioMNIST's size costs minutes, not twenty), early-stopped on validation
accuracy (best weights kept), saved as `classifier.keras` (safe-mode loadable) with
`config.json` (data manifest sha256, preprocess settings, classes, accuracies, seconds
and val accuracy of every epoch).
`Judge.predict` gives probabilities and features of spectrograms or WAV files
(featurised exactly as `vaeaudio preprocess` does), for `vaeaudio.metrics`.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from vaeaudio.formats import runs
from vaeaudio.formats.classes import DIGIT_CLASSES
from vaeaudio.formats.spectrogram_set import SpectrogramSet
from vaeaudio.models import saving
from vaeaudio.settings import ClassifierSettings
from vaeaudio.sound import dsp
from vaeaudio.util import locks, progress
from vaeaudio.util.arrays import evenly
from vaeaudio.util.clock import timestamp
from vaeaudio.util.errors import DataError, ModelError
from vaeaudio.util.files import read_json

MODEL = "classifier.keras"
CONFIG = "config.json"
FORMAT = "vaeaudio-classifier/1"


def build(shape: tuple[int, int], seed: int = 0, noise_floor: float = 0.3, classes: int = len(DIGIT_CLASSES)):
    """The classifier: x (B, bins, frames) -> p(class) (B, classes) (10 for digits); its layer `features` is
    (B, 128)."""
    import keras
    from keras import layers

    keras.utils.set_random_seed(seed)
    x_in = keras.Input(shape, name="spectrogram")
    x = _noise_floor_layer()(noise_floor, seed=seed)(x_in)
    x = layers.Reshape((*shape, 1))(x)
    x = layers.RandomTranslation(0.0, 0.1, fill_mode="constant", seed=seed)(x)  # clips start at different times
    x = layers.Permute((2, 1))(layers.Reshape(shape)(x))  # (B, frames, bins): the bins are the channels
    for filters, width in ((128, 5), (128, 3), (128, 3), (128, 3)):
        x = layers.Conv1D(filters, width, strides=2, padding="same", use_bias=False)(x)
        x = layers.ReLU()(layers.BatchNormalization(momentum=0.9)(x))  # short trainings: 0.99 lags
    x = layers.GlobalAveragePooling1D()(x)  # over time: a word is what its spectra are, wherever it starts
    features = layers.Dense(128, activation="relu", name="features")(x)
    probs = layers.Dense(classes, activation="softmax", name="digit")(layers.Dropout(0.3)(features))
    return keras.Model(x_in, probs, name="digit_classifier")


#: What the learning rate falls to by the last epoch, as a fraction of `--lr` (a cosine schedule).
LR_FLOOR = 0.05

_NOISE_FLOOR = None


def _noise_floor_layer():
    """The `NoiseFloor` Keras layer class (defined and registered on first use, so importing vaeaudio stays light)."""
    global _NOISE_FLOOR
    if _NOISE_FLOOR is not None:
        return _NOISE_FLOOR
    import keras
    from keras import ops

    @keras.saving.register_keras_serializable("vaeaudio")
    class NoiseFloor(keras.layers.Layer):
        """Training only: x (B, bins, frames) in [0, 1] -> max(x, noise) min-max rescaled to [0, 1] per clip.

        noise = u + 0.07 N(0, 1) per bin, u ~ U(0, level) per clip: in the dB domain the
        louder of signal and noise dominates their sum, and 0.07 of the 80 dB range
        (5.6 dB) is the spread of a noise STFT's log-magnitude. level 0.3 puts the
        floor up to 24 dB above -80 dB. At inference it passes x through.
        """

        def __init__(self, level: float = 0.3, seed: int = 0, **kwargs):
            super().__init__(**kwargs)
            self.level, self.seed = float(level), int(seed)
            self.generator = keras.random.SeedGenerator(seed)

        def call(self, x, training=False):
            if not training or self.level <= 0:
                return x
            u = keras.random.uniform((ops.shape(x)[0], 1, 1), 0.0, self.level, seed=self.generator)
            y = ops.maximum(x, u + 0.07 * keras.random.normal(ops.shape(x), seed=self.generator))
            lo, hi = ops.min(y, axis=(1, 2), keepdims=True), ops.max(y, axis=(1, 2), keepdims=True)
            return (y - lo) / ops.maximum(hi - lo, 1e-6)

        def get_config(self):
            return {**super().get_config(), "level": self.level, "seed": self.seed}

    _NOISE_FLOOR = NoiseFloor
    return NoiseFloor


class Judge:
    """A trained classifier: probabilities and features of spectrograms or WAV files."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        path = self.folder / MODEL
        cfg = self.folder / CONFIG
        if not path.is_file() or not cfg.is_file():
            raise ModelError(f"no classifier in {self.folder} ({MODEL} or {CONFIG} missing)",
                             "train one with `vaeaudio classifier train`")
        try:
            self.config = read_json(cfg)
            if not isinstance(self.config, dict) or self.config.get("format") != FORMAT:
                raise ValueError(f"format {self.config.get('format') if isinstance(self.config, dict) else None!r}")
            missing = [k for k in ("data", "preprocess", "settings", "accuracy")
                       if not isinstance(self.config.get(k), dict)]
            if missing or "manifest_sha256" not in self.config["data"]:
                raise ValueError(f"no {(missing or ['data.manifest_sha256'])[0]}")
        except (OSError, ValueError) as exc:
            raise ModelError(f"{cfg} is not a {FORMAT} config ({exc})") from None
        progress.import_tensorflow_quietly()
        _noise_floor_layer()  # registered before loading a model that holds one
        model = saving.load_file(path, "train it again with `vaeaudio classifier train`")
        import keras
        import tensorflow as tf

        self.model = keras.Model(model.input, [model.output, model.get_layer("features").output])
        # Compiled once per batch shape: a traced call predicts more clips a second than the eager one, which
        # dispatches every layer's ops one by one.
        self._call = tf.function(lambda x: self.model(x, training=False), reduce_retracing=True, autograph=False)

    @property
    def classes(self) -> list[str]:
        """The class names of the set it was trained on, in label order (the digits for a classifier made before
        classifiers recorded them)."""
        return list(self.config.get("classes") or DIGIT_CLASSES)

    def predict(self, spec: np.ndarray, batch: int = 256) -> tuple[np.ndarray, np.ndarray]:
        """Spectrograms (n, bins, frames) -> (probabilities (n, C) over the C classes, features (n, 128))."""
        probs, feats = [], []
        for s in range(0, len(spec), batch):
            p, f = self._call(np.asarray(spec[s : s + batch], np.float32))
            probs.append(np.asarray(p))
            feats.append(np.asarray(f))
        if not probs:
            return np.zeros((0, len(self.classes)), np.float32), np.zeros((0, 128), np.float32)
        return np.concatenate(probs), np.concatenate(feats)

    @property
    def transform(self) -> dsp.Transform:
        """The audio settings of the set the classifier was trained on: what its input spectrograms mean."""
        return dsp.Transform.of(self.config["preprocess"])

    def featurise_waves(self, waves: np.ndarray, sample_rate: int) -> np.ndarray:
        """Waveforms (n, samples) at `sample_rate` Hz -> spectrograms (n, bins, frames) as preprocess makes them
        with the judge's own audio settings (resampled and cut to its clip length first)."""
        t = self.transform
        if not len(waves):
            return np.zeros((0, *t.shape), np.float32)
        return t.featurise(np.stack([t.to_clip(w, sample_rate) for w in waves]))[0]

    def featurise_files(self, paths: list[Path]) -> np.ndarray:
        """WAV files -> spectrograms (n, bins, frames), exactly as `vaeaudio preprocess` featurises."""
        t = self.transform
        waves = []
        for p in paths:
            try:
                y, sr = dsp.read(p)
            except Exception as exc:  # noqa: BLE001 - soundfile raises several kinds
                raise DataError(f"cannot read {p}: {str(exc).splitlines()[0][:120]}") from None
            if y.size == 0 or not np.isfinite(y).all():
                raise DataError(f"{p} is empty or holds NaN/Inf samples")
            waves.append(t.to_clip(y, sr))
        return t.featurise(np.stack(waves))[0]


def _accuracy(predict, x: np.ndarray, y: np.ndarray, batch: int = 256) -> float | None:
    """Share of the clips x (n, bins, frames) whose most probable class under `predict` (x -> (B, C)) is y (n,)."""
    if not len(x):
        return None
    hits = sum(int((np.asarray(predict(x[s : s + batch])).argmax(1) == y[s : s + batch]).sum())
               for s in range(0, len(x), batch))
    return hits / len(x)


def epoch_plan(settings: ClassifierSettings, split_steps: int, val_clips: int) -> tuple[int, np.ndarray | None]:
    """(training steps per epoch, the val clips (k,) an epoch is checked on, None: all of them) for a train split of
    `split_steps` batches and a val split of `val_clips`: an epoch of a larger split is `settings.epoch_clips` of its
    clips (Keras keeps the iterator, so the next epoch goes on where this one stopped), checked on as many val
    clips spread evenly."""
    if not settings.epoch_clips:
        return split_steps, None
    steps = min(split_steps, -(-settings.epoch_clips // settings.batch_size))
    return steps, evenly(val_clips, settings.epoch_clips) if val_clips > settings.epoch_clips else None


def fit(settings: ClassifierSettings, data: SpectrogramSet, arrays: dict, out: Path) -> dict:
    """Train the classifier on `arrays['train']` (spec, digit: the label) of `data`, early-stopped on val accuracy;
    writes
    `out/classifier.keras` and `out/config.json` and returns the config. The caller holds the lock of `out`."""
    import keras
    import tensorflow as tf

    from vaeaudio.training.batches import Batches

    train, val = arrays["train"], arrays["val"]
    model = build(data.shape, settings.seed, settings.noise_floor, len(data.classes))
    has_val = len(val["spec"]) > 0
    # Batched as `train` batches: one pipeline for every epoch (Keras keeps its iterator when told the steps of an
    # epoch), each epoch's order from (seed, epoch); Keras's own from numpy arrays started a pipeline per epoch.
    batches = Batches(train["spec"], val["spec"], settings.batch_size, settings.seed, train["digit"], val["digit"])
    steps, check = epoch_plan(settings, batches.steps(), len(val["spec"]))
    # The rate falls along a cosine to LR_FLOOR of itself by the last epoch: at a constant rate the val accuracy of
    # short epochs swung by several points from one epoch to the next.
    lr = keras.optimizers.schedules.CosineDecay(settings.lr, settings.epochs * steps, alpha=LR_FLOOR)
    model.compile(optimizer=keras.optimizers.Adam(lr), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    val_spec, val_digit = (val["spec"], val["digit"]) if check is None else (val["spec"][check], val["digit"][check])
    # Validation by a compiled call at each epoch's end, not fit's validation_data: that held some epochs up before
    # it began, for a good share of a short epoch.
    predict = tf.function(lambda x: model(x, training=False), reduce_retracing=True, autograph=False)
    marks: list[float] = []
    checked: list[float | None] = []  # val accuracy after each epoch
    t0 = time.perf_counter()
    # Early stopping on val accuracy, the best weights kept; on a tie the later epoch's (trained longer at a lower
    # rate: a small set's val accuracy reaches 1.0 while the training one still climbs), and a tie is no progress.
    best = {"accuracy": -1.0, "weights": None, "epoch": -1}
    with progress.bar(settings.epochs, "classifier", unit="epochs") as bar:
        def epoch_end(epoch, logs):
            if has_val:
                logs["val_accuracy"] = accuracy = _accuracy(predict, val_spec, val_digit)
                if accuracy >= best["accuracy"]:
                    if accuracy > best["accuracy"]:
                        best["epoch"] = epoch
                    best.update(accuracy=accuracy, weights=model.get_weights())
                model.stop_training = epoch - best["epoch"] >= settings.patience
            marks.append(time.perf_counter())
            checked.append(logs.get("val_accuracy"))
            bar.advance(1, loss=float(logs["loss"]), val_acc=float(logs.get("val_accuracy", float("nan"))))
        history = model.fit(batches.train_batches(0, epochs=settings.epochs), steps_per_epoch=steps,
                            epochs=settings.epochs, shuffle=False, verbose=0,
                            callbacks=[keras.callbacks.LambdaCallback(on_epoch_end=epoch_end)])
    if best["weights"] is not None:
        model.set_weights(best["weights"])
    config = {
        "format": FORMAT,
        "created": timestamp(),
        "data": {"root": str(data.root.resolve()), "manifest_sha256": data.sha256(),
                 "identity": data.identity(), "split_by": data.manifest.split_by},
        "preprocess": data.manifest.settings,
        "shape": list(data.shape),
        "classes": data.classes,
        "epochs": len(history.history["loss"]),
        "seconds": time.perf_counter() - t0,
        "epoch_seconds": np.diff([t0, *marks]).round(3).tolist(),
        "epoch_val_accuracy": checked,
        "settings": settings.model_dump(mode="json"),
        "accuracy": {s: _accuracy(predict, arrays[s]["spec"], arrays[s]["digit"]) for s in ("train", "val", "test")},
    }
    saving.save_model(out / MODEL, model)
    runs.write_json(out / CONFIG, config)
    return config


def train(settings: ClassifierSettings, out: Path, data: SpectrogramSet | None = None,
          arrays: dict | None = None) -> dict:
    """Train a classifier of `settings.data`'s classes on its train split into folder `out` (locked meanwhile); the
    config. `data` and its `arrays` ({split: {"spec", "digit"}}), when the caller holds them already, are not read
    again."""
    data = data or SpectrogramSet(settings.data)
    arrays = arrays or {s: data.arrays(s, ("spec", "digit")) for s in ("train", "val", "test")}
    if len(set(arrays["train"]["digit"].tolist())) < 2:
        raise DataError(f"{data.root} has fewer than two classes in its train split; nothing to classify")
    with locks.hold(out, "classifier folder"):
        progress.import_tensorflow_quietly()
        return fit(settings, data, arrays, out)
