"""HDF5 spectrogram shards: `{split}-{NNNNN}.h5`, written atomically, read as numpy arrays.

Each shard holds n clips:

| dataset          | shape / type            | meaning                                      |
|------------------|-------------------------|----------------------------------------------|
| `spec`           | (n, bins, frames) f32   | dB spectrogram min-max scaled to [0, 1]       |
| `db_min, db_max` | (n,) float32            | the clip's dB range before scaling            |
| `digit`          | (n,) int8               | the spoken digit                              |
| `speaker`        | (n,) utf-8 string       | speaker id as in the source                   |
| `path`           | (n,) utf-8 string       | source file, relative to the source root      |

Attributes: `format`, `plan` (id of the preprocess plan that wrote it), `clips`.
Shards are written to `NAME.tmp` and renamed when complete, so a file with the
final name is always whole. Object timestamps are off, so the same content
gives byte-identical files (and the same sha256).
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import h5py
import numpy as np

from vaeaudio.util.errors import DataError
from vaeaudio.util.files import replacing, sha256_file

SHARD_FORMAT = "vaeaudio-shard/1"
_STR = h5py.string_dtype("utf-8")
_FIELDS = ("spec", "db_min", "db_max", "digit", "speaker", "path")


class ShardWriter:
    """Write one shard of `n` clips under a temporary name (`files.replacing`), renamed into place when the `with`
    block ends without an exception; then `sha256` and `bytes` describe it. On an exception the temporary file is
    removed and no file with the final name appears.
    """

    def __init__(self, path: Path, n: int, shape: tuple[int, int], plan_id: str):
        self.path, self.n, self.shape, self.plan_id = Path(path), n, shape, plan_id
        self.sha256: str | None = None
        self.bytes = 0

    def __enter__(self) -> ShardWriter:
        with contextlib.ExitStack() as stack:
            self.tmp = stack.enter_context(replacing(self.path))
            stack.push(self._measure)  # runs after the HDF5 file is closed, before the rename
            self.f = stack.enter_context(h5py.File(self.tmp, "w", libver="earliest", track_order=False))
            self.f.attrs["format"] = SHARD_FORMAT
            self.f.attrs["plan"] = self.plan_id
            self.f.attrs["clips"] = self.n
            opts = {"track_times": False}
            self.f.create_dataset("spec", (self.n, *self.shape), dtype="f4", **opts)  # contiguous: fastest to write
            for name in ("db_min", "db_max"):
                self.f.create_dataset(name, (self.n,), dtype="f4", **opts)
            self.f.create_dataset("digit", (self.n,), dtype="i1", **opts)
            for name in ("speaker", "path"):
                self.f.create_dataset(name, (self.n,), dtype=_STR, **opts)
            self._stack = stack.pop_all()
        return self

    def _measure(self, exc_type, exc, tb) -> bool:
        if exc_type is None:
            self.sha256 = sha256_file(self.tmp)
            self.bytes = self.tmp.stat().st_size
        return False

    def __exit__(self, exc_type, exc, tb) -> bool:
        return self._stack.__exit__(exc_type, exc, tb)

    def write_labels(self, digit, speaker, path) -> None:
        """Labels for all n clips: digits (int), speaker ids and source paths (str)."""
        self.f["digit"][:] = np.asarray(digit, dtype=np.int8)
        self.f["speaker"][:] = np.asarray(speaker, dtype=object)
        self.f["path"][:] = np.asarray(path, dtype=object)

    def write(self, start: int, spec: np.ndarray, db_min: np.ndarray, db_max: np.ndarray) -> None:
        """Spectrograms (k, bins, frames) and their dB ranges (k,) for clips start..start+k."""
        end = start + len(spec)
        self.f["spec"][start:end] = spec
        self.f["db_min"][start:end] = db_min
        self.f["db_max"][start:end] = db_max


def read_plan_id(path: Path) -> str | None:
    """The plan id stored in a complete shard, or None when the file is missing or unreadable."""
    try:
        with h5py.File(path, "r") as f:
            return str(f.attrs.get("plan"))
    except (OSError, KeyError):
        return None


@contextlib.contextmanager
def _opened(path: Path):
    """The shard at `path` open for reading, its format checked; `DataError` naming the file when it is not a
    readable shard of this format."""
    hint = f"re-run `vaeaudio preprocess --out {Path(path).parent}`: it rewrites damaged shards"
    try:
        with h5py.File(path, "r") as f:
            if f.attrs.get("format") != SHARD_FORMAT:
                raise DataError(f"shard {path} is not a {SHARD_FORMAT} file (format: {f.attrs.get('format')!r})", hint)
            yield f
    except (OSError, KeyError, RuntimeError, ValueError) as exc:
        raise DataError(f"shard {path} is damaged ({type(exc).__name__}: {str(exc).splitlines()[0][:120]})",
                        hint) from None


def _checked(path: Path, arrays: dict[str, np.ndarray], classes: int | None = None) -> None:
    problem = check_values(arrays, classes)
    if problem:
        raise DataError(f"shard {path} is damaged: {problem}",
                        f"re-run `vaeaudio preprocess --out {Path(path).parent}`: it rewrites damaged shards")


def read_shard(path: Path, fields: tuple[str, ...] = _FIELDS, classes: int | None = None) -> dict[str, np.ndarray]:
    """Read a shard's datasets as numpy arrays (strings as str arrays), checked by `check_values`.

    Raises `DataError` naming the file when it is not a readable shard of this
    format or its values are out of range (labels: below `classes`, the set's class count, when given).
    """
    with _opened(path) as f:
        out = {}
        for name in fields:
            ds = f[name]
            out[name] = np.asarray(ds.asstr()[...], dtype=str) if ds.dtype == _STR else ds[...]
    _checked(path, out, classes)
    return out


def read_spec(path: Path, out: np.ndarray, rows: list[tuple[int, int, int]]) -> None:
    """Read spectrograms of the shard at `path` into `out` (k, bins, frames), C-contiguous: for each (first, stop,
    at) of `rows`, clips first..stop-1 into out[at : at + stop - first]; each part checked by `check_values`.
    float32 `out` is read straight into (no copy in between); float16 through a float32 copy of the part, rounded by
    numpy (HDF5's own conversion truncates values below float16's normal range). Raises `DataError` as
    `read_shard`."""
    with _opened(path) as f:
        ds = f["spec"]
        for first, stop, at in rows:
            if stop <= first:
                continue
            if out.dtype == np.float32:
                ds.read_direct(out, source_sel=np.s_[first:stop], dest_sel=np.s_[at : at + stop - first])
            else:
                part = ds[first:stop]
                _checked(path, {"spec": part})  # before rounding: NaN and out-of-range values as stored
                out[at : at + stop - first] = part
    for first, stop, at in rows:
        if out.dtype == np.float32:
            _checked(path, {"spec": out[at : at + stop - first]})


def check_values(arrays: dict[str, np.ndarray], classes: int | None = None) -> str | None:
    """What is wrong with a shard's arrays, or None: `spec` finite in [0, 1], dB ranges finite, labels in
    0..classes-1 (only >= 0 when `classes` is None)."""
    spec = arrays.get("spec")
    if spec is not None and spec.size:
        lo, hi = float(spec.min()), float(spec.max())  # NaN propagates into min/max
        if not (0.0 <= lo and hi <= 1.0):
            return f"spectrogram values span {lo:g}..{hi:g}, outside [0, 1]"
    for name in ("db_min", "db_max"):
        if name in arrays and not np.isfinite(arrays[name]).all():
            return f"{name} holds NaN or Inf"
    digit = arrays.get("digit")
    top = (classes or 128) - 1
    if digit is not None and digit.size and not ((digit >= 0) & (digit <= top)).all():
        return f"a label is outside 0-{top}" + (f" (the set has {classes} classes)" if classes else "")
    return None
