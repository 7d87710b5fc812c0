"""Run directories (`runs/<kind>-<YYYYmmdd-HHMMSS>/`): find them, read their config and model.

A run directory holds (`docs/architecture.md`):

    config.json    `RunConfig`: every setting, the data it was trained on, versions
    history.csv    one row per epoch (`HISTORY_COLUMNS`; losses in nats per clip)
    checkpoints/   resumable state (`vaeaudio.checkpoint`)
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

from pydantic import BaseModel, ValidationError

from . import audio, locks, progress
from .errors import DataError, ModelError, UsageError
from .files import replacing, sha256_file
from .settings import LOSSES

FORMAT = "vaeaudio-run/1"
CONFIG = "config.json"
HISTORY = "history.csv"
MODEL = "model.keras"
#: Beside a saved model: its sha256, written by `save_model`.
DIGEST_SUFFIX = ".sha256"
LATEST = "latest"
DEFAULT_ROOT = Path("runs")
HISTORY_COLUMNS = ("epoch", *(f"{split}_{k}" for split in ("train", "val") for k in LOSSES), "seconds", "samples_per_s")


class DataInfo(BaseModel):
    """The spectrogram set a run was trained on."""

    root: str
    manifest_sha256: str
    shape: tuple[int, int]
    clips: dict[str, int]
    db_min: float  # median over the train split of each clip's dB minimum (to undo the [0, 1] scaling)
    db_max: float  # median over the train split of each clip's dB maximum
    mean: float | None = None  # mean [0, 1] value of the train split's spectrograms (None: run predates it)
    audio: dict | None = None  # the set's `audio.Transform` (None: run predates it; `load_config` fills it in)


class RunConfig(BaseModel):
    """`config.json` of a run directory."""

    format: str
    created: str
    settings: dict  # `TrainSettings` as JSON
    data: DataInfo
    model: dict  # name, parameters
    versions: dict[str, str]

    def transform(self) -> audio.Transform:
        """The audio settings of the set the run was trained on: how its spectrograms become sound."""
        return audio.Transform.of(self.data.audio or {})

    def train_settings(self):
        """The run's `TrainSettings`."""
        from .settings import TrainSettings

        return TrainSettings.model_validate(self.settings)


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


def resolve_run(path: str | Path | None) -> Path:
    """The run directory `path` (default `runs/latest`), resolved; `ModelError` if it is not one."""
    given = Path(path) if path is not None else DEFAULT_ROOT / LATEST
    if not given.exists():
        hint = "train one with `vaeaudio train mlp`" if path is None else "pass a run directory such as runs/mlp-20250101-120000"
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
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"{path} is unreadable ({exc})") from None
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise ModelError(f"{path} is not a {FORMAT} config", "was the run written by another vaeaudio version?")
    try:
        config = RunConfig.model_validate(raw)
    except ValidationError as exc:
        raise ModelError(f"{path} is damaged: {exc.errors()[0]['loc']} {exc.errors()[0]['msg']}") from None
    if config.data.audio is None:
        config.data.audio = _older_run_audio(Path(run), config)
    return config


def _older_run_audio(run: Path, config: RunConfig) -> dict:
    """The audio settings of a run made before runs recorded them: those of its spectrogram set when that set
    is still there unchanged, else the defaults that every verb then assumed. Said once per run and process."""
    from .data import SpectrogramSet

    found = audio.Transform()
    how = f"the defaults of that time ({found})"
    try:
        spec_set = SpectrogramSet(config.data.root)
        if spec_set.sha256() == config.data.manifest_sha256:
            found, how = spec_set.transform, f"those of its set {spec_set.root}"
    except (OSError, DataError):  # the set is gone or unreadable: the defaults
        pass
    if run not in _SAID:
        _SAID.add(run)
        progress.log(f"note: run {run.name} predates recorded audio settings; using {how}")
    return found.as_dict()


_SAID: set[Path] = set()


def save_model(path: Path, model) -> None:
    """Save a Keras `model` to `path` (.keras) atomically, with its sha256 in `path.sha256` (see `check_model_file`).

    The old digest is removed first, so a crash part-way leaves a model without
    a digest (not checked) rather than one with a wrong digest.
    """
    digest = Path(f"{path}{DIGEST_SUFFIX}")
    digest.unlink(missing_ok=True)
    with replacing(path, ".tmp.keras") as tmp:  # Keras insists on the .keras suffix
        model.save(tmp)
        sha = sha256_file(tmp)
    with replacing(digest) as tmp:
        tmp.write_text(sha + "\n", encoding="ascii")


def check_model_file(path: Path, hint: str) -> None:
    """`ModelError` (with `hint`) unless `path` is a zip archive whose sha256 is the one recorded at save, if any."""
    import zipfile

    if not zipfile.is_zipfile(path):
        raise ModelError(f"{path} is not a Keras model file (not a zip archive): it is damaged or was replaced", hint)
    digest = Path(f"{path}{DIGEST_SUFFIX}")
    if digest.is_file() and digest.read_text(encoding="ascii").strip() != sha256_file(path):
        raise ModelError(f"{path} is damaged: its sha256 differs from the one recorded when it was saved", hint)


def has_whole_model(run: Path) -> bool:
    """True when the run's `model.keras` exists and passes `check_model_file`."""
    try:
        check_model_file(run / MODEL, "")
    except (ModelError, OSError):
        return False
    return True


def load_model(run: Path):
    """The final `VAE` of run directory `run`, without its optimizer, loaded in Keras safe mode after `check_model_file`."""
    path = Path(run) / MODEL
    again = f"delete it and write it again from the last checkpoint with `vaeaudio train --resume {run}`"
    if not path.is_file():
        raise ModelError(f"{path} is missing: the run has not finished",
                         f"finish it with `vaeaudio train --resume {run}`")
    check_model_file(path, again)
    import keras

    from . import models  # noqa: F401  registers the custom classes

    try:  # compile=False: the optimizer state saved with the model is not needed to decode or evaluate (resume
        # reads the checkpoint), and skipping it lowers the peak memory of loading the reference MLP by 190 MB
        return keras.saving.load_model(path, safe_mode=True, compile=False)
    except Exception as exc:  # noqa: BLE001 - Keras raises many kinds for a bad file
        raise ModelError(f"{path} could not be loaded ({type(exc).__name__}: {str(exc).splitlines()[0][:160]})",
                         again) from None


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
