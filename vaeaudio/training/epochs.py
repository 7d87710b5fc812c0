"""The epoch loop of `vaeaudio.training.train`: from a position to the last epoch, and what a run writes when
its epochs are done.

Step: `VAE.step` (losses, gradients, Adam update, running means) is wrapped in
a `tf.function` (with the Adam update XLA-fused unless `--no-xla`, see
`vaeaudio.training.steps.make_steps`) and run through `strategy.run` under the strategy of
`--distribute` (`vaeaudio.training.distribute`: the default strategy on one machine,
mirrored, or multi-worker), so one loop serves all three; `model.fit` is not
used. Evaluation runs the same step with `training=False`.

After every epoch: a row of `history.csv` and TensorBoard scalars in `tb/`.
A checkpoint (`vaeaudio.training.checkpoint`, incl. optimizer and RNG state) is written
after the first and the last epoch and otherwise at most every
`--checkpoint-every` seconds (every epoch with `--checkpoint-every 0` and in
distributed runs). Ctrl-C ends the current step, checkpoints and raises
`TrainingInterrupted` (exit 130); a NaN or Inf loss raises `TrainingError` and
keeps the last checkpoint. When the epochs are done: the model file, a checkpoint that refers to it, and with
--latent-mixture where the training clips sit in latent space.
Losses are in nats per clip (`vaeaudio.models.vae`).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import math
import signal
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vaeaudio.formats import latents, runs
from vaeaudio.formats.runs import LOSSES
from vaeaudio.models import saving
from vaeaudio.settings import TrainSettings
from vaeaudio.training import checkpoint, distribute, preview
from vaeaudio.training.batches import Batches
from vaeaudio.training.steps import make_steps
from vaeaudio.util import progress
from vaeaudio.util.errors import TrainingError, environment_error

CHECKPOINTS = "checkpoints"
#: Least seconds between two epoch lines in the log (the first and the last epoch always have one).
EPOCH_LINES_S = 10.0


class TrainingInterrupted(TrainingError):
    """Ctrl-C: the run was checkpointed and can be resumed."""

    exit_code = 130


@dataclass
class TrainResult:
    """What a `train`/`resume` call did: the run, its epochs and its last history row."""

    run_dir: Path
    epochs: int
    trained: int
    seconds: float
    last: dict
    role: distribute.Role | None = None
    digest: str | None = None  # sha256 of the final weights, for distributed runs

    def summary(self) -> str:
        r = self.last
        where = f"run: {self.run_dir}"
        if self.role is not None and not self.role.chief:
            where = f"worker {self.role.index} of {len(self.role.workers)} (the chief writes {self.run_dir})"
        return (f"trained {self.trained} epoch(s) in {self.seconds:.1f} s, {self.epochs} in all; "
                f"val loss {r['val_total']:.2f} per clip (reconstruction {r['val_reconstruction']:.2f}, "
                f"KL {r['val_kl']:.3f}); {where}" + (f"; weights sha256 {self.digest[:16]}" if self.digest else ""))


class _StopOnSigint:
    """While active, the first Ctrl-C only sets `requested`; a second one aborts at once."""

    requested = False

    def __enter__(self):
        try:
            self._previous = signal.signal(signal.SIGINT, self._handle)
        except ValueError:  # not the main thread: leave SIGINT alone
            self._previous = None
        return self

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        progress.log("Ctrl-C: stopping after this step and writing a checkpoint (Ctrl-C again to abort without one)")

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


@contextlib.contextmanager
def _determinism(on: bool):
    """Enable TensorFlow op determinism inside the block (and only there)."""
    import tensorflow as tf
    from tensorflow.python.framework import config as tf_config

    was = tf_config.is_op_determinism_enabled()
    if on and not was:
        tf.config.experimental.enable_op_determinism()
    try:
        yield
    finally:
        if on and not was:
            tf_config.disable_op_determinism()



def _finite(values: dict, where: str, run: Path, last_good: int) -> dict[str, float]:
    out = {k: float(v) for k, v in values.items()}
    if not all(math.isfinite(v) for v in out.values()):
        kept = (f"the checkpoint of epoch {last_good} is kept in {run / CHECKPOINTS}" if last_good
                else "no epoch finished, so there is no checkpoint")
        raise TrainingError(f"the loss became {out['total']} at {where}; training stopped and {kept}",
                            "try a lower --lr")
    return out


def weights_digest(model) -> str:
    """SHA-256 of the model's weights (hex): equal on every worker of a distributed run."""
    h = hashlib.sha256()
    for v in model.weights:
        h.update(np.ascontiguousarray(v.numpy()))
    return h.hexdigest()


def fit(settings: TrainSettings, run: Path, data: Batches, model, start, history: list[dict], strategy,
         role: distribute.Role, previews: preview.Preview | None = None) -> TrainResult:
    """Train from `start` to `settings.epochs`; the chief writes to `run`, other workers to a scratch folder.

    `previews`: TensorBoard audio and images every few epochs (`vaeaudio.training.preview`), written by the chief."""
    try:
        return _epochs(settings, run, role.run_dir(run), data, model, start, history, strategy, role,
                       previews if role.chief else None)
    except OSError as exc:  # a full disk or a read-only folder: say how to go on once it is fixed
        problem = environment_error(exc, then=f"continue the run with `vaeaudio train --resume {run}`")
        if problem is None:
            raise
        raise problem from None
    finally:
        role.clean_up()


def _epochs(settings, run, out, data, model, start, history, strategy, role, previews) -> TrainResult:
    import tensorflow as tf

    with strategy.scope():
        train_step, eval_step = make_steps(model, settings.xla)
    writer = tf.summary.create_file_writer(str(out / "tb"))
    n_train, _ = data.sizes
    n_steps, bs = data.steps(), settings.batch_size
    again = f"resume with `vaeaudio train --resume {run} --epochs {settings.epochs}`"
    began, first = time.perf_counter(), start.epoch
    saved_epoch, saved_at = start.epoch, None  # the checkpoint on disk; None: none written in this process yet
    said_at = None  # when an epoch's line was last logged
    # Several workers must all save or all skip (reading metric state may be a collective): a clock is not shared.
    every = settings.checkpoint_every if settings.distribute == "none" else 0.0
    # One pipeline for every epoch of this call (one built per epoch would hold up each epoch's start), read
    # n_steps an epoch.
    batches = iter(strategy.distribute_datasets_from_function(functools.partial(
        data.train_batches, start.epoch, start.step, epochs=settings.epochs - start.epoch)))  # gets the InputContext
    val_batches = strategy.distribute_datasets_from_function(data.val_batches)
    with _determinism(settings.deterministic), _StopOnSigint() as stop:
        for epoch in range(start.epoch, settings.epochs):
            resumed = epoch == start.epoch and start.step > 0
            skip, spent = (start.step, start.seconds) if resumed else (0, 0.0)
            if not resumed:
                model.reset_metrics()
            t0 = time.perf_counter()
            with progress.bar(n_train, f"epoch {epoch + 1}/{settings.epochs}", unit="clips") as bar:
                bar.advance(min(skip * bs, n_train))
                for step in range(skip + 1, n_steps + 1):
                    x, digits = next(batches)
                    out_m = _finite(train_step(x, digits), f"epoch {epoch + 1}, step {step} of {n_steps}", out,
                                    saved_epoch)
                    done = min(step * bs, n_train) - skip * bs
                    bar.advance(min(step * bs, n_train) - (step - 1) * bs, step=f"{step}/{n_steps}",
                                loss=round(out_m["total"], 2), clips_per_s=round(done / (time.perf_counter() - t0), 1))
                    if stop.requested and step < n_steps:
                        checkpoint.save(out / CHECKPOINTS, model,
                                        checkpoint.Position(epoch, step, spent + time.perf_counter() - t0))
                        raise TrainingInterrupted(f"interrupted at epoch {epoch + 1}, step {step} of {n_steps}; "
                                                  "checkpoint written", again)
            train_s = spent + time.perf_counter() - t0
            model.reset_metrics()
            for x, digits in val_batches:
                val_out = eval_step(x, digits)
            val_m = _finite(val_out, f"epoch {epoch + 1}, validation", out, saved_epoch)
            row = {"epoch": epoch + 1, **{f"train_{k}": out_m[k] for k in LOSSES},
                   **{f"val_{k}": val_m[k] for k in LOSSES},
                   "seconds": spent + time.perf_counter() - t0, "samples_per_s": n_train / train_s}
            history.append(row)
            preview.scalars(writer, row)
            if said_at is None or epoch + 1 == settings.epochs or time.perf_counter() - said_at >= EPOCH_LINES_S:
                progress.log(_epoch_line(row, settings.epochs))
                said_at = time.perf_counter()
            else:  # short epochs: a line every EPOCH_LINES_S, every one with --verbose
                progress.detail(_epoch_line(row, settings.epochs))
            if previews is not None and previews.due(epoch + 1):
                previews.write(writer, model, epoch + 1)
            runs.write_history(out, history)
            interrupted = stop.requested and epoch + 1 < settings.epochs
            if epoch + 1 < settings.epochs and (interrupted or saved_at is None
                                                or time.perf_counter() - saved_at >= every):
                checkpoint.save(out / CHECKPOINTS, model, checkpoint.Position(epoch + 1))
                saved_epoch, saved_at = epoch + 1, time.perf_counter()
            if interrupted:
                raise TrainingInterrupted(f"interrupted after epoch {epoch + 1}; checkpoint written", again)
    finish(out, model, checkpoint.Position(settings.epochs))
    store_latents(out, model, settings, data)
    digest = weights_digest(model) if settings.distribute != "none" else None
    return TrainResult(run, settings.epochs, settings.epochs - first, time.perf_counter() - began, history[-1],
                       role, digest)


def finish(out: Path, model, position: checkpoint.Position) -> None:
    """The final model file, then a checkpoint that refers to it for the weights (so a finished run keeps them
    once, and can still go on with --resume); if the model file cannot be written, a whole checkpoint."""
    try:
        saving.save_model(out / runs.MODEL, model)
    except BaseException:
        checkpoint.save(out / CHECKPOINTS, model, position)
        raise
    checkpoint.save(out / CHECKPOINTS, model, position, model_file=runs.MODEL)


def complete(run: Path, settings: TrainSettings) -> bool:
    """Whether a run whose epochs are all done has every file a finished run has (its model, its latent mixture)."""
    return saving.has_whole_model(run) and (not settings.latent_mixture or (run / latents.FILE).is_file())


def store_latents(out: Path, model, settings: TrainSettings, data: Batches) -> None:
    """With --latent-mixture: where the training clips sit in latent space (what synth and evaluate draw from)."""
    if settings.latent_mixture:  # one mixture per class, conditional run or not: the set has labels
        z = np.concatenate([model.encode_all(x, d if settings.conditional else None) for x, d in data.train_chunks()])
        labels = data.train_digits.numpy()
        # every class has a training clip (`_fitted` checked it before the first step): the labels name them all
        classes = model.classes if settings.conditional else int(labels.max()) + 1
        latents.store(out, z, labels, settings.latent_mixture, settings.seed, classes)


def _epoch_line(row: dict, epochs: int) -> str:
    """An epoch's losses (nats per clip), time and speed in one line."""
    return (f"epoch {row['epoch']}/{epochs}: train {row['train_total']:.2f} "
            f"(rec {row['train_reconstruction']:.2f}, KL {row['train_kl']:.3f}), "
            f"val {row['val_total']:.2f} (rec {row['val_reconstruction']:.2f}, KL {row['val_kl']:.3f}), "
            f"{row['seconds']:.1f} s, {row['samples_per_s']:.0f} clips/s")
