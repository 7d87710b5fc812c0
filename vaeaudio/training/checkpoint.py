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

from vaeaudio.util.errors import ModelError
from vaeaudio.util.files import replacing

FORMAT = "vaeaudio-checkpoint/1"
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


def save(folder: Path, model, position: Position) -> Path:
    """Write `folder/state.h5` atomically with the state of `model` (and its optimizer) at `position`.

    On any failure (a full disk, a read-only folder) the temporary file is
    removed and the previous checkpoint stays as it was.
    """
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / NAME
    with replacing(path) as tmp, h5py.File(tmp, "w") as f:
        f.attrs.update({"format": FORMAT, "epoch": position.epoch, "step": position.step,
                        "seconds": position.seconds})
        h = hashlib.sha256()
        for group, variables in _groups(model).items():
            g = f.create_group(group)
            for i, v in enumerate(variables):
                data = np.asarray(v.numpy())
                h.update(np.ascontiguousarray(data).tobytes())
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
            if f.attrs.get("format") != FORMAT:
                raise ModelError(f"{path} is not a {FORMAT} file")
            h = hashlib.sha256()
            for group, variables in _groups(model).items():
                stored = f[group]
                if len(stored) != len(variables):
                    raise ModelError(f"{path} holds {len(stored)} {group} variables, the model has {len(variables)}",
                                     "the run's settings or vaeaudio version changed")
                for i, v in enumerate(variables):
                    data = stored[f"{i:05d}"]
                    if tuple(data.shape) != tuple(v.shape):
                        raise ModelError(f"{path}: {group} variable {i} has shape {data.shape}, expected {tuple(v.shape)}")
                    value = data[()]
                    h.update(np.ascontiguousarray(value).tobytes())
                    v.assign(value)
            if "sha256" in f.attrs and f.attrs["sha256"] != h.hexdigest():
                raise ModelError(f"{path} is damaged: its variables differ from the sha256 recorded when it was written",
                                 "the run cannot be resumed from it; start it again")
            return Position(int(f.attrs["epoch"]), int(f.attrs["step"]), float(f.attrs["seconds"]))
    except (OSError, KeyError, RuntimeError, ValueError, TypeError) as exc:  # h5py's kinds for a damaged file
        raise ModelError(f"{path} is damaged or unreadable ({type(exc).__name__}: {str(exc).splitlines()[0][:120]})",
                         "the run cannot be resumed from it; start it again") from None
