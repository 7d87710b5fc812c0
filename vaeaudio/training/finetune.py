"""`train --init-from RUN`: start a new run from a finished run's weights (fine-tuning on another set).

What must match, checked before any weight is read (one line each when not):
the audio settings and spectrogram shape of the two sets, and the model flags
that shape the weights (`ARCH_FIELDS`). What may differ: the set (other voices,
other recordings) and, for a conditional model, its classes. A conditional
model's label enters as one-hot columns joined last (`vaeaudio.models.vae.with_digit`),
so each layer that takes it has one kernel row per class at the end of its
kernel: a class of the same name keeps its row; when no name is shared and the
count is the same (e.g. "0".."9" -> "zero".."nine") rows go by position;
any other class keeps its fresh initial row. Every other weight is copied
as it is; the optimizer starts fresh.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vaeaudio.formats import runs
from vaeaudio.formats.spectrogram_set import SpectrogramSet
from vaeaudio.models import revisions, saving
from vaeaudio.util import progress
from vaeaudio.util.errors import DataError, UsageError
from vaeaudio.util.files import sha256_file

#: The `TrainSettings` fields that decide the shapes of a model's weights.
ARCH_FIELDS = ("kind", "arch", "hidden", "filters", "latent_dim", "conditional")


def check_parent(run: Path | None, settings, spec_set: SpectrogramSet) -> tuple[Path, runs.RunConfig]:
    """The parent run directory and its config; `UsageError`/`DataError`/`ModelError` in one line when it cannot
    seed a run of `settings` on `spec_set` (not finished, other audio settings, another model)."""
    parent = runs.resolve_run(run)
    saving.finished_model(parent)
    config = runs.load_config(parent)
    if config.transform() != spec_set.transform or tuple(config.data.shape) != spec_set.shape:
        raise DataError(f"--init-from {parent.name}: its set's audio settings ({config.transform()}, spectrograms "
                        f"{tuple(config.data.shape)}) differ from {spec_set.root}'s ({spec_set.transform}, "
                        f"{spec_set.shape})", "preprocess the new set with the parent's audio settings")
    mine, theirs = settings.model_dump(mode="json"), config.settings
    differ = [f for f in ARCH_FIELDS if mine.get(f) != theirs.get(f)]
    if differ:
        said = ", ".join(f"{f} {theirs.get(f)} (asked: {mine.get(f)})" for f in differ)
        raise UsageError(f"--init-from {parent.name}: it was trained with {said}",
                         "give the same model flags as the parent run")
    revisions.require_current(config.model, settings, f"start from run {parent.name} (--init-from)")
    return parent, config


def label_rows(parent_classes: list[str], classes: list[str]) -> dict[int, int]:
    """{new class index: parent class index} of the label rows carried over (see the module docstring)."""
    shared = {j: parent_classes.index(c) for j, c in enumerate(classes) if c in parent_classes}
    if not shared and len(parent_classes) == len(classes):
        return {j: j for j in range(len(classes))}
    return shared


def init_from(model, parent: Path, config: runs.RunConfig, classes: list[str]) -> dict:
    """Copy the weights of `parent`'s model into `model` (a built VAE for a set of `classes`); the record of the
    parent kept in the new run's config.json."""
    source = saving.load_model(parent)
    # the label head of `--label-weight` (a training aid: the decoder never sees it) starts fresh
    theirs, mine = ([w for w in m.weights if not w.path.startswith("label_head/")] for m in (source, model))
    if len(theirs) != len(mine):
        raise UsageError(f"--init-from {parent.name}: its model has {len(theirs)} weight tensors, this one "
                         f"{len(mine)}", "give the same model flags as the parent run")
    rows = label_rows(config.classes(), classes) if model.conditional else {}
    n_old, n_new = source.classes, model.classes
    for old, new in zip(theirs, mine):
        value = np.asarray(old.numpy())
        if tuple(value.shape) == tuple(new.shape):
            new.assign(value)
            continue
        # a kernel taking the label: the features' rows, then one row per class
        target = np.array(new.numpy())
        features = value.shape[0] - n_old
        if value.shape[1:] != tuple(new.shape[1:]) or target.shape[0] - n_new != features:
            raise UsageError(f"--init-from {parent.name}: weight {new.path} is {tuple(new.shape)} here, "
                             f"{tuple(value.shape)} there", "give the same model flags as the parent run")
        target[:features] = value[:features]
        for j, i in rows.items():
            target[features + j] = value[features + i]
        new.assign(target)
    carried = len(rows) if model.conditional else 0
    if model.conditional and carried < len(classes):
        progress.log(f"--init-from {parent.name}: {carried} of {len(classes)} classes keep a learned label row; "
                     f"{len(classes) - carried} start fresh")
    return {"run": str(parent), "model_sha256": sha256_file(saving.finished_model(parent)), "classes": config.classes(),
            "label_rows": {classes[j]: config.classes()[i] for j, i in rows.items()}}
