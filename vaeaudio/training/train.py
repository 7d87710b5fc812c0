"""`vaeaudio train`: fit a VAE on a spectrogram set, with a run directory a user can trust.

Data: the train and val splits of the set, in memory, or the train split streamed from the set's shards when it
does not fit the memory budget, batched per epoch from (seed, epoch) (`vaeaudio.training.batches`) by one input
pipeline for all the epochs of a call, so a resumed run sees exactly the batches it would have seen
and no epoch waits for a pipeline to be built.

The model is built and compiled for the run (`vaeaudio.training.steps.build_model`: the large Dense products on
the kernels `--kernels` picks for this machine, `vaeaudio.models.kernels`), and the epochs run in
`vaeaudio.training.epochs` (the step, history, checkpoints, Ctrl-C, and what a finished run writes).
Losses are in nats per clip (`vaeaudio.models.vae`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import platform
from pathlib import Path

import numpy as np

from vaeaudio import __version__
from vaeaudio.formats import runs
from vaeaudio.formats.spectrogram_set import SpectrogramSet
from vaeaudio.models import revisions, saving
from vaeaudio.settings import TrainSettings
from vaeaudio.training import checkpoint, distribute, finetune, footprint, preview
from vaeaudio.training.batches import Batches
from vaeaudio.training.epochs import CHECKPOINTS, TrainResult, complete, finish, fit, store_latents
from vaeaudio.training.split_plan import IN_FLIGHT, Stream, plan
from vaeaudio.training.steps import build_model
from vaeaudio.util import locks, progress
from vaeaudio.util.clock import timestamp
from vaeaudio.util.errors import DataError, UsageError


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
    in the memory available (`vaeaudio.training.footprint`) with the clips held: the train split, or with `stream` the
    stream's window and its batches in flight, and the val split's batches in flight (it is read, not held)."""
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
    footprint.require(settings, spec_set.shape, held + IN_FLIGHT * settings.batch_size, len(spec_set.classes))
    return settings


def _train(settings: TrainSettings, spec_set: SpectrogramSet, stream: Stream | None, said: str,
           held: contextlib.ExitStack, asked: int, parent: tuple[Path, runs.RunConfig] | None) -> TrainResult:
    """`stream`, `said`: `split_plan.plan`'s choice and its line; `asked`: the --batch-size given; `parent`: the run
    `--init-from` names and its config."""
    progress.import_tensorflow_quietly()
    with distribute.joining(settings.distribute, settings.connect_timeout) as (strategy, role):
        progress.hush_float16_notice()
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
    return fit(settings, run, data, model, checkpoint.Position(0), [], strategy, role, previews)


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
        progress.hush_float16_notice()
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
    if position.epoch >= settings.epochs and role.chief and history and not complete(run, settings):
        if not saving.has_whole_model(run):
            finish(run, model, position)
            progress.log(f"wrote the missing {run / runs.MODEL} from the checkpoint of epoch {position.epoch}")
        store_latents(run, model, settings, data)
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
    return fit(settings, run, data, model, position, history, strategy, role, previews)


