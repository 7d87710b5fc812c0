"""Run directories (`runs/<kind>-<YYYYmmdd-HHMMSS>/`): find them, read their config and model.

A run directory holds (`docs/architecture.md`):

    config.json    `RunConfig`: every setting, the data it was trained on, versions
    history.csv    one row per epoch (`HISTORY_COLUMNS`; losses in nats per clip)
    checkpoints/   resumable state (`vaeaudio.training.checkpoint`)
    tb/            TensorBoard scalars
    model.keras    the final model (written when training ends)

`runs/latest` is a symlink to the newest run; commands that take a run use it
by default (`resolve_run(None)`). Later stages (evaluate, synth) use
`load_config` for the spectrogram shape and the dB range to undo the scaling,
and `load_model` for the model.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from vaeaudio.formats.classes import DIGIT_CLASSES
from vaeaudio.sound import dsp
from vaeaudio.util import locks, progress
from vaeaudio.util.errors import DataError, ModelError, UsageError
from vaeaudio.util.files import read_json, replacing

FORMAT = "vaeaudio-run/1"
CONFIG = "config.json"
HISTORY = "history.csv"
MODEL = "model.keras"
LATEST = "latest"
DEFAULT_ROOT = Path("runs")
#: The per-clip losses a VAE reports (nats per clip): history.csv columns, TensorBoard tags, evaluate's table.
LOSSES = ("reconstruction", "kl", "total")
HISTORY_COLUMNS = ("epoch", *(f"{split}_{k}" for split in ("train", "val") for k in LOSSES), "seconds", "samples_per_s")


class DataInfo(BaseModel):
    """The spectrogram set a run was trained on."""

    model_config = ConfigDict(allow_inf_nan=False)  # a NaN dB range would render every clip as full-scale DC
    root: str
    manifest_sha256: str  # of the manifest file, as written (runs before `identity` are matched by it)
    identity: str | None = None  # `SpectrogramSet.identity` (None: run predates it)
    shape: tuple[int, int]
    clips: dict[str, int]
    db_min: float  # median over the train split of each clip's dB minimum (to undo the [0, 1] scaling)
    db_max: float  # median over the train split of each clip's dB maximum
    mean: float | None = None  # mean [0, 1] value of the train split's spectrograms (None: run predates it)
    audio: dict | None = None  # the set's `dsp.Transform` (None: run predates it; `load_config` fills it in)
    stream: dict | None = None  # how the train split was streamed (window, block clips); None: held in memory
    classes: list[str] | None = None  # the set's class names in label order (None: run predates them; the digits)


class RunConfig(BaseModel):
    """`config.json` of a run directory."""

    format: str
    created: str
    settings: dict  # `TrainSettings` as JSON
    data: DataInfo
    model: dict  # name, parameters
    versions: dict[str, str]
    parent: dict | None = None  # with --init-from: the run it started from (path, model sha256, classes)

    def transform(self) -> dsp.Transform:
        """The audio settings of the set the run was trained on: how its spectrograms become sound."""
        return dsp.Transform.of(self.data.audio or {})

    def classes(self) -> list[str]:
        """The class names of the set the run was trained on, in label order (the digits for a run made before
        runs recorded them)."""
        return list(self.data.classes or DIGIT_CLASSES)

    def train_settings(self):
        """The run's `TrainSettings` (`label_weight` 0 for a run made before it existed)."""
        from vaeaudio.settings import TrainSettings

        return TrainSettings.model_validate({"label_weight": 0.0, **self.settings})


def new_run_dir(name: str, root: Path = DEFAULT_ROOT, now: datetime | None = None) -> Path:
    """Create and return a new empty folder `root/<name>-<YYYYmmdd-HHMMSS>` (suffixed -2, -3... if taken).

    The folder is made with one `mkdir` that fails if it exists, so two
    processes started in the same second get two folders.
    """
    base = root / f"{name}-{(now or datetime.now()):%Y%m%d-%H%M%S}"
    root.mkdir(parents=True, exist_ok=True)
    path, n = base, 1
    while True:
        try:
            path.mkdir()
            return path
        except FileExistsError:
            n += 1
            path = base.with_name(f"{base.name}-{n}")


def mark_latest(run: Path) -> None:
    """Point `run.parent/latest` at `run`, replacing any previous link atomically."""
    link = run.parent / LATEST
    if link.exists() and not link.is_symlink():
        raise ModelError(f"{link} exists and is not a symlink", "move it away so it can name the newest run")
    tmp = run.parent / f".{LATEST}.{os.getpid()}"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(run.name)
    os.replace(tmp, link)


def lock_new_run(run: Path, held: contextlib.ExitStack) -> None:
    """Take the lock of the new run directory `run` into `held`; `UsageError` if it is in use or not empty.

    A folder that is neither empty nor a vaeaudio run is refused without
    writing into it; a run being trained is refused naming its process.
    """
    refuse = UsageError(f"--run-dir {run} already exists and is not empty",
                        f"choose a new folder, or continue that run with `vaeaudio train --resume {run}`")
    if run.exists() and not run.is_dir():
        raise refuse
    if run.is_dir() and not (run / CONFIG).exists() and any(p.name != locks.LOCK for p in run.iterdir()):
        raise refuse
    held.enter_context(locks.hold(run, "run directory"))
    if any(p.name != locks.LOCK for p in run.iterdir()):
        raise refuse


def runs_using(set_root: Path) -> list[Path]:
    """The run directories under `runs/` (of the current folder, and beside the set) trained on the spectrogram set
    at `set_root`, as far as they can be found."""
    target, found = Path(set_root).resolve(), set()
    for root in {DEFAULT_ROOT.resolve(), target.parent / DEFAULT_ROOT}:
        for cfg in sorted(root.glob(f"*/{CONFIG}")) if root.is_dir() else ():
            try:
                data = read_json(cfg).get("data") or {}
                if Path(data.get("root", "")).resolve() == target:
                    found.add(cfg.parent)
            except (OSError, ValueError, AttributeError, RecursionError):
                continue
    return sorted(found)


def resolve_run(path: str | Path | None) -> Path:
    """The run directory `path` (default `runs/latest`), resolved; `ModelError` if it is not one."""
    given = Path(path) if path is not None else DEFAULT_ROOT / LATEST
    if not given.exists():
        hint = ("train one with `vaeaudio train mlp`" if path is None
                else "pass a run directory such as runs/mlp-20250101-120000")
        raise ModelError(f"no training run at {given}", hint)
    run = given.resolve()
    if not (run / CONFIG).is_file():
        raise ModelError(f"{given} is not a vaeaudio run directory ({CONFIG} is missing)",
                         "pass a folder written by `vaeaudio train`")
    return run


def write_json(path: Path, data: dict) -> None:
    """Write `data` as indented JSON to `path` atomically."""
    with replacing(path) as tmp:
        tmp.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")


def load_config(run: Path) -> RunConfig:
    """The validated `config.json` of run directory `run`."""
    path = Path(run) / CONFIG
    try:
        raw = read_json(path)
    except (OSError, ValueError) as exc:
        raise ModelError(f"{path} is unreadable ({exc})") from None
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise ModelError(f"{path} is not a {FORMAT} config", "was the run written by another vaeaudio version?")
    try:
        config = RunConfig.model_validate(raw)
    except ValidationError as exc:
        raise ModelError(f"{path} is damaged: {exc.errors()[0]['loc']} {exc.errors()[0]['msg']}") from None
    if config.data.db_min >= config.data.db_max:
        raise ModelError(f"{path} is damaged: its dB range {config.data.db_min:g} to {config.data.db_max:g} is empty")
    try:
        if config.data.audio is not None:
            dsp.Transform.checked(config.data.audio)
    except ValueError as exc:
        raise ModelError(f"{path} is damaged: its audio settings are out of range ({exc})") from None
    if config.data.audio is None:
        config.data.audio = _older_run_audio(Path(run), config)
    return config


def _older_run_audio(run: Path, config: RunConfig) -> dict:
    """The audio settings of a run made before runs recorded them: those of its spectrogram set when that set
    is still there unchanged, else the defaults that every verb then assumed. Said once per run and process."""
    from vaeaudio.formats.spectrogram_set import SpectrogramSet

    found = dsp.Transform()
    how = f"the defaults of that time ({found})"
    try:
        spec_set = SpectrogramSet(config.data.root)
        if spec_set.same_as(config.data.identity, config.data.manifest_sha256):
            found, how = spec_set.transform, f"those of its set {spec_set.root}"
    except (OSError, DataError):  # the set is gone or unreadable: the defaults
        pass
    if run not in _SAID:
        _SAID.add(run)
        progress.log(f"note: run {run.name} predates recorded audio settings; using {how}")
    return found.as_dict()


_SAID: set[Path] = set()


def read_history(run: Path) -> list[dict[str, float]]:
    """Rows of `history.csv` (empty if absent), values as floats and `epoch` as int."""
    path = Path(run) / HISTORY
    if not path.is_file():
        return []
    with open(path, newline="", encoding="utf-8") as f:
        return [{k: (int(v) if k == "epoch" else float(v)) for k, v in row.items()} for row in csv.DictReader(f)]


def write_history(run: Path, rows: list[dict[str, float]]) -> None:
    """Write all `rows` to `history.csv` atomically."""
    with replacing(Path(run) / HISTORY) as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=HISTORY_COLUMNS)
        w.writeheader()
        for row in rows:
            w.writerow({k: (row[k] if k == "epoch" else f"{row[k]:.9g}") for k in HISTORY_COLUMNS})
