"""Resumable training state in one HDF5 file, replaced atomically: `RUN/checkpoints/state.h5`.

Layout (float32 unless noted):

| group / attr       | holds                                                                  |
|--------------------|------------------------------------------------------------------------|
| `model/NNNNN`      | every model variable in `model.variables` order: weights, and the      |
|                    | seed-generator states of `Sampling` and `Dropout` (the RNG state)      |
| `optimizer/NNNNN`  | every optimizer variable: iteration count, learning rate, Adam slots  |
| `metrics/NNNNN`    | the running loss sums and counts of an epoch stopped part-way          |
| attrs              | `format`, `epoch` (epochs completed), `step` (steps done in the next   |
|                    | epoch, > 0 only after Ctrl-C), `seconds` (time spent in that epoch),  |
|                    | `sha256` (of every variable's bytes in order: checked on restore)      |

A finished run's checkpoint (`vaeaudio-checkpoint/2`) leaves the model's weights
out of the `model` group (its RNG states stay): they are those of the run's
`model.keras`, saved at the same moment (attr `model_file`, relative to the run),
so the run stores its weights once; the sha256 still covers them, so a model
file that changed is refused.

Variables are matched by position and checked by shape, since Keras names
variables with process-wide counters. Arrays are written and read one
variable at a time, so saving the 582 M-parameter reference CNN needs at most
one extra variable's worth of memory. The file is written as `state.h5.tmp`,
flushed to disk and renamed over `state.h5`, so a crash at any moment leaves
the previous checkpoint whole.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from vaeaudio.models.saving import load_file
from vaeaudio.util.errors import ModelError
from vaeaudio.util.files import replacing

FORMAT = "vaeaudio-checkpoint/1"
#: A finished run's checkpoint: the model's variables are in the run's model file (attr `model_file`).
SLIM = "vaeaudio-checkpoint/2"
NAME = "state.h5"


@dataclass(frozen=True)
class Position:
    """Where training stands: `epoch` epochs done, `step` steps into the next one, `seconds` spent on it."""

    epoch: int
    step: int = 0
    seconds: float = 0.0


def _groups(model) -> dict[str, list]:
    return {
        "model": list(model.variables),
        "optimizer": list(model.optimizer.variables),
        "metrics": [v for m in model.metrics for v in m.variables],
    }


def save(folder: Path, model, position: Position, model_file: str | None = None) -> Path:
    """Write `folder/state.h5` atomically with the state of `model` (and its optimizer) at `position`; with
    `model_file` (the name, in `folder`'s parent, of the model file just saved from `model`) without the model's
    variables, which that file holds.

    On any failure (a full disk, a read-only folder) the temporary file is
    removed and the previous checkpoint stays as it was.
    """
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / NAME
    with replacing(path) as tmp, h5py.File(tmp, "w") as f:
        f.attrs.update({"format": SLIM if model_file else FORMAT, "epoch": position.epoch, "step": position.step,
                        "seconds": position.seconds})
        if model_file:
            f.attrs["model_file"] = model_file
        in_model_file = {id(w) for w in model.weights} if model_file else set()
        h = hashlib.sha256()
        for group, variables in _groups(model).items():
            g = f.create_group(group)
            for i, v in enumerate(variables):
                data = np.asarray(v.numpy())
                h.update(np.ascontiguousarray(data))  # the buffer itself: `tobytes` would copy it
                if not (group == "model" and id(v) in in_model_file):
                    g.create_dataset(f"{i:05d}", data=data)
        f.attrs["sha256"] = h.hexdigest()
    return path


def exists(folder: Path) -> bool:
    """True when `folder` holds a checkpoint."""
    return (folder / NAME).is_file()


def restore(folder: Path, model) -> Position:
    """Load `folder/state.h5` into `model` (whose optimizer must be built); return its position."""
    path = folder / NAME
    if not path.is_file():
        raise ModelError(f"no checkpoint at {path}", "the run stopped before its first epoch ended; start it again")
    try:
        with h5py.File(path, "r") as f:
            if f.attrs.get("format") not in (FORMAT, SLIM):
                raise ModelError(f"{path} is not a {FORMAT} file")
            sources = {group: dict(f[group].items()) for group in ("model", "optimizer", "metrics")}
            if f.attrs["format"] == SLIM:  # the model's weights are those of the run's model file
                loaded = load_file(folder.parent / str(f.attrs["model_file"]),
                                   "the run cannot be resumed from it; start it again")
                position = {id(v): i for i, v in enumerate(model.variables)}
                if len(loaded.weights) != len(model.weights):
                    raise ModelError(f"{f.attrs['model_file']} holds {len(loaded.weights)} weights, the model has "
                                     f"{len(model.weights)}", "the run's settings or vaeaudio version changed")
                for w, value in zip(model.weights, loaded.weights):
                    sources["model"][f"{position[id(w)]:05d}"] = np.asarray(value.numpy())
            h = hashlib.sha256()
            for group, variables in _groups(model).items():
                stored = sources[group]
                if len(stored) != len(variables):
                    raise ModelError(f"{path} holds {len(stored)} {group} variables, the model has {len(variables)}",
                                     "the run's settings or vaeaudio version changed")
                for i, v in enumerate(variables):
                    data = stored[f"{i:05d}"]
                    if tuple(data.shape) != tuple(v.shape):
                        raise ModelError(f"{path}: {group} variable {i} has shape {data.shape}, "
                                         f"expected {tuple(v.shape)}")
                    value = data[()] if isinstance(data, h5py.Dataset) else data
                    h.update(np.ascontiguousarray(value))
                    v.assign(value)
            if "sha256" in f.attrs and f.attrs["sha256"] != h.hexdigest():
                raise ModelError(f"{path} is damaged: its variables differ from the sha256 recorded when it was "
                                 "written",
                                 "the run cannot be resumed from it; start it again")
            return Position(int(f.attrs["epoch"]), int(f.attrs["step"]), float(f.attrs["seconds"]))
    except (OSError, KeyError, RuntimeError, ValueError, TypeError) as exc:  # h5py's kinds for a damaged file
        raise ModelError(f"{path} is damaged or unreadable ({type(exc).__name__}: {str(exc).splitlines()[0][:120]})",
                         "the run cannot be resumed from it; start it again") from None
