"""`vaeaudio train`: fit a VAE on a spectrogram set, with a run directory a user can trust.

Data: the train and val splits of the set, in memory, or the train split streamed from the set's shards when it
does not fit the memory budget, batched per epoch from (seed, epoch) (`vaeaudio.training.batches`) by one input
pipeline for all the epochs of a call, so a resumed run sees exactly the batches it would have seen
and no epoch waits for a pipeline to be built.

Step: `VAE.step` (losses, gradients, Adam update, running means) is wrapped in
a `tf.function` (with the Adam update XLA-fused unless `--no-xla`, see
`vaeaudio.training.steps.make_steps`) and run through `strategy.run` under the strategy of
`--distribute` (`vaeaudio.training.distribute`: the default strategy on one machine,
mirrored, or multi-worker), so one loop serves all three; `model.fit` is not
used. Evaluation runs the same step with `training=False`. The large Dense
products run on the kernels `--kernels` picks for this machine
(`vaeaudio.models.kernels`, chosen in `vaeaudio.training.steps.build_model`).

After every epoch: a row of `history.csv` and TensorBoard scalars in `tb/`.
A checkpoint (`vaeaudio.training.checkpoint`, incl. optimizer and RNG state) is written
after the first and the last epoch and otherwise at most every
`--checkpoint-every` seconds (every epoch with `--checkpoint-every 0` and in
distributed runs). Ctrl-C ends the current step, checkpoints and raises
`TrainingInterrupted` (exit 130); a NaN or Inf loss raises `TrainingError` and
keeps the last checkpoint.
Losses are in nats per clip (`vaeaudio.models.vae`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import math
import platform
import signal
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vaeaudio import __version__
from vaeaudio.formats import latents, runs
from vaeaudio.formats.runs import LOSSES
from vaeaudio.formats.spectrogram_set import SpectrogramSet
from vaeaudio.models import revisions, saving
from vaeaudio.settings import TrainSettings
from vaeaudio.training import checkpoint, distribute, finetune, footprint, preview
from vaeaudio.training.batches import IN_FLIGHT, Batches, Stream, plan
from vaeaudio.training.steps import build_model, make_steps
from vaeaudio.util import locks, progress
from vaeaudio.util.clock import timestamp
from vaeaudio.util.errors import DataError, TrainingError, UsageError, environment_error

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


def _versions() -> dict[str, str]:
    import h5py
    import keras
    import tensorflow as tf

    return {"vaeaudio": __version__, "tensorflow": tf.__version__, "keras": keras.__version__,
            "numpy": np.__version__, "h5py": h5py.__version__, "python": platform.python_version()}


def train(settings: TrainSettings) -> TrainResult:
    """Train a new run as `settings` say; returns when all epochs are done.

    The run directory is locked (`vaeaudio.util.locks`) until training ends.
    """
    if settings.distribute == "multi-worker" and settings.run_dir is None:
        raise UsageError("--distribute multi-worker needs --run-dir: each worker would name the run from its own clock",
                         "give every worker the same --run-dir, e.g. --run-dir runs/mlp-multi")
    spec_set = SpectrogramSet(settings.data)
    stream, said = plan(spec_set, min(settings.batch_size, max(1, spec_set.clips("train"))), settings.in_memory,
                        settings.memory_budget, settings.distribute == "multi-worker")
    asked = settings.batch_size
    settings = _fitted(settings, spec_set, stream)
    parent = finetune.check_parent(settings.init_from, settings, spec_set) if settings.init_from else None
    with contextlib.ExitStack() as held:
        return _train(settings, spec_set, stream, said, held, asked, parent)


def _say_clamped(asked: int, settings: TrainSettings) -> None:
    """Once, when the work starts: that --batch-size `asked` became the train split's size."""
    if asked != settings.batch_size:
        progress.log(f"--batch-size {asked}: the train split has {settings.batch_size} clips; using "
                     f"{settings.batch_size}")


def _fitted(settings: TrainSettings, spec_set: SpectrogramSet, stream: Stream | None) -> TrainSettings:
    """`settings` checked against the set before any work: a mixture per class needs a training clip of each class
    (without one, the default mixture is left out, a --latent-mixture given is refused), a batch is at most the train
    split (clamped, `_say_clamped`: a larger one only costs memory), and the model must fit
    in the memory available (`vaeaudio.training.footprint`) with the clips held: the splits, or with `stream` the val
    split, the stream's window and its batches in flight."""
    counts = spec_set.manifest.splits["train"].digits if "train" in spec_set.manifest.splits else {}
    missing = [c for c in spec_set.classes if not counts.get(c)]
    kind = "digit" if spec_set.digit_classes else "class"
    if settings.latent_mixture and missing and "latent_mixture" not in settings.model_fields_set:
        progress.log(f"no latent mixture: the train split has no clip of {kind} {', '.join(missing)} (the run draws "
                     "from N(0, I))")
        settings = settings.model_copy(update={"latent_mixture": 0})
    if settings.latent_mixture and missing:
        raise DataError(f"--latent-mixture fits a mixture per {kind}, but the train split of "
                        f"{spec_set.root} has no clip of {kind} {', '.join(missing)}",
                        f"train on a set that holds every {kind}, or leave out --latent-mixture")
    n_train = spec_set.clips("train")
    if 0 < n_train < settings.batch_size:
        settings = settings.model_copy(update={"batch_size": n_train})
    held = n_train if stream is None else min(n_train, stream.window + IN_FLIGHT * settings.batch_size)
    footprint.require(settings, spec_set.shape, held + spec_set.clips("val"))
    return settings


def _train(settings: TrainSettings, spec_set: SpectrogramSet, stream: Stream | None, said: str,
           held: contextlib.ExitStack, asked: int, parent: tuple[Path, runs.RunConfig] | None) -> TrainResult:
    """`stream`, `said`: `batches.plan`'s choice and its line; `asked`: the --batch-size given; `parent`: the run
    `--init-from` names and its config."""
    progress.import_tensorflow_quietly()
    with distribute.joining(settings.distribute, settings.connect_timeout) as (strategy, role):
        run = settings.run_dir or runs.new_run_dir(settings.run_name())
        if role.chief:
            runs.lock_new_run(run, held)
        progress.log(said)
        data, stats = Batches.load(spec_set, settings.batch_size, settings.seed, stream)
        settings = settings.model_copy(update={"run_dir": run, "data": settings.data.resolve()})
        with strategy.scope():
            # the first collective: every worker is up after it
            model = build_model(settings, spec_set.shape, len(spec_set.classes))
        lineage = finetune.init_from(model, *parent, spec_set.classes) if parent else None
    if role.chief:
        run.mkdir(parents=True, exist_ok=True)
        n_train, n_val = data.sizes
        runs.write_json(run / runs.CONFIG, {
            "format": runs.FORMAT,
            "created": timestamp(),
            "settings": settings.model_dump(mode="json"),
            "data": {"root": str(settings.data), "manifest_sha256": spec_set.sha256(),
                     "identity": spec_set.identity(), "shape": list(spec_set.shape),
                     "clips": {"train": n_train, "val": n_val}, **stats,
                     "audio": spec_set.transform.as_dict(), "stream": stream and dataclasses.asdict(stream),
                     "classes": spec_set.classes},
            "model": {"name": settings.run_name(), "parameters": int(model.count_params()),
                      "layout": revisions.revision(settings)},
            "versions": _versions(),
            "parent": lineage,
        })
        runs.mark_latest(run)
    previews = preview.for_run(settings, spec_set.transform, stats["db_min"], stats["db_max"],
                               *data.val_arrays(preview.MAP_CLIPS), spec_set.classes)
    _say_clamped(asked, settings)
    return _fit(settings, run, data, model, checkpoint.Position(0), [], strategy, role, previews)


def resume(run_path: Path | None, epochs: int | None = None, distribute_: str = "none",
           connect_timeout: float = 300.0) -> TrainResult:
    """Continue the run at `run_path` (default runs/latest) from its checkpoint to `epochs` in total.

    `distribute_` and `connect_timeout` say how this continuation runs (as
    `--distribute`): a run from several workers can go on on one machine and back.
    A run whose first epoch never ended (no checkpoint) starts again from its first epoch; a
    run whose epochs are all done but whose `model.keras` is missing or damaged
    (the final save failed) gets it written from the last checkpoint.
    The run directory is locked while this runs.
    """
    run = runs.resolve_run(run_path)
    with contextlib.ExitStack() as held:
        return _resume(run, epochs, distribute_, connect_timeout, held)


def _resume(run: Path, epochs: int | None, distribute_: str, connect_timeout: float,
            held: contextlib.ExitStack) -> TrainResult:
    config = runs.load_config(run)
    settings = config.train_settings()
    settings = TrainSettings.build(**{**settings.model_dump(), "epochs": epochs or settings.epochs,
                                      "distribute": distribute_, "connect_timeout": connect_timeout})
    revisions.require_current(config.model, settings, f"resume run {run.name}")
    spec_set = SpectrogramSet(config.data.root)
    if not spec_set.same_as(config.data.identity, config.data.manifest_sha256):
        raise DataError(f"the spectrogram set at {config.data.root} changed since run {run.name} started",
                        "a run resumes only on its own data; start a new run instead")
    stream = Stream.of(config.data.stream)
    asked, settings = settings.batch_size, _fitted(settings, spec_set, stream)
    progress.import_tensorflow_quietly()
    with distribute.joining(settings.distribute, settings.connect_timeout) as (strategy, role):
        if role.chief:
            held.enter_context(locks.hold(run, "run directory"))
        if stream:
            progress.log(stream.resumed())
        data, _ = Batches.load(spec_set, settings.batch_size, settings.seed, stream)
        with strategy.scope():
            model = build_model(settings, spec_set.shape, len(config.classes()))
            if checkpoint.exists(run / CHECKPOINTS):
                position = checkpoint.restore(run / CHECKPOINTS, model)
            else:
                progress.log(f"{run.name} has no checkpoint (its first epoch never ended): starting from epoch 1")
                position = checkpoint.Position(0)
    history = [row for row in runs.read_history(run) if row["epoch"] <= position.epoch]
    if position.epoch >= settings.epochs and role.chief and history and not _complete(run, settings):
        if not saving.has_whole_model(run):
            _finish(run, model, position)
            progress.log(f"wrote the missing {run / runs.MODEL} from the checkpoint of epoch {position.epoch}")
        _store_latents(run, model, settings, data)
        return TrainResult(run, position.epoch, 0, 0.0, history[-1], role)
    if position.epoch >= settings.epochs:
        raise UsageError(f"--epochs {settings.epochs}: run {run.name} already has {position.epoch} epochs",
                         f"ask for more, e.g. --epochs {position.epoch + 10}")
    if role.chief:
        runs.write_json(run / runs.CONFIG, {**config.model_dump(mode="json"),
                                            "settings": settings.model_dump(mode="json")})
        runs.mark_latest(run)
    previews = preview.for_run(settings, spec_set.transform, config.data.db_min, config.data.db_max,
                               *data.val_arrays(preview.MAP_CLIPS), config.classes())
    _say_clamped(asked, settings)
    return _fit(settings, run, data, model, position, history, strategy, role, previews)


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


def _fit(settings: TrainSettings, run: Path, data: Batches, model, start, history: list[dict], strategy,
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
    _finish(out, model, checkpoint.Position(settings.epochs))
    _store_latents(out, model, settings, data)
    digest = weights_digest(model) if settings.distribute != "none" else None
    return TrainResult(run, settings.epochs, settings.epochs - first, time.perf_counter() - began, history[-1],
                       role, digest)


def _finish(out: Path, model, position: checkpoint.Position) -> None:
    """The final model file, then a checkpoint that refers to it for the weights (so a finished run keeps them
    once, and can still go on with --resume); if the model file cannot be written, a whole checkpoint."""
    try:
        saving.save_model(out / runs.MODEL, model)
    except BaseException:
        checkpoint.save(out / CHECKPOINTS, model, position)
        raise
    checkpoint.save(out / CHECKPOINTS, model, position, model_file=runs.MODEL)


def _complete(run: Path, settings: TrainSettings) -> bool:
    """Whether a run whose epochs are all done has every file a finished run has (its model, its latent mixture)."""
    return saving.has_whole_model(run) and (not settings.latent_mixture or (run / latents.FILE).is_file())


def _store_latents(out: Path, model, settings: TrainSettings, data: Batches) -> None:
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
