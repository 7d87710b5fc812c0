"""Keras model files: saved atomically with their sha256 beside them, checked before loading.

A run's final model (`model.keras`) and a classifier's (`classifier.keras`) are
written by `save_model` and read after `check_model_file`; `load_model` loads a
run's VAE in Keras safe mode (its custom classes registered by `vaeaudio.models`).
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from vaeaudio.formats.runs import MODEL
from vaeaudio.util import progress
from vaeaudio.util.errors import ModelError
from vaeaudio.util.files import regular, replacing, sha256_file

#: Beside a saved model: its sha256, written by `save_model`.
DIGEST_SUFFIX = ".sha256"


def save_model(path: Path, model) -> None:
    """Save a Keras `model`'s architecture and weights, without its optimizer's state (which a run keeps in its
    checkpoint, and nothing else needs), to `path` (.keras) atomically, with its sha256 in `path.sha256` (see
    `check_model_file`).

    The old digest is removed first, so a crash part-way leaves a model without
    a digest (not checked) rather than one with a wrong digest.
    """
    digest = Path(f"{path}{DIGEST_SUFFIX}")
    digest.unlink(missing_ok=True)
    optimizer, compiled = getattr(model, "optimizer", None), getattr(model, "compiled", False)
    with replacing(path, ".tmp.keras") as tmp:  # Keras insists on the .keras suffix
        model.optimizer, model.compiled = None, False  # else Keras saves the optimizer, and loading compiles one
        try:
            with _weights_through_disk():
                model.save(tmp)
        finally:
            model.optimizer, model.compiled = optimizer, compiled
        sha = sha256_file(tmp)
    with replacing(digest) as tmp:
        tmp.write_text(sha + "\n", encoding="ascii")

@contextlib.contextmanager
def _weights_through_disk():
    """While a model is saved: Keras writes the weights through a temporary file beside it instead of into memory
    (where they are held twice while it zips them: 0.4 GiB more at the peak of a 74 M-parameter MLP's run).

    Keras 3 chooses the in-memory way whenever its `saving_lib.is_memory_sufficient` says memory allows; this makes
    it say no. A Keras without that function saves as it does."""
    from keras.src.saving import saving_lib

    sufficient = getattr(saving_lib, "is_memory_sufficient", None)
    if sufficient is None:
        yield
        return
    saving_lib.is_memory_sufficient = lambda model: False
    try:
        yield
    finally:
        saving_lib.is_memory_sufficient = sufficient

def check_model_file(path: Path, hint: str) -> None:
    """`ModelError` (with `hint`) unless `path` is a zip archive whose sha256 is the one recorded at save, if any."""
    import zipfile

    if not zipfile.is_zipfile(regular(path)):
        raise ModelError(f"{path} is not a Keras model file (not a zip archive): it is damaged or was replaced", hint)
    digest = Path(f"{path}{DIGEST_SUFFIX}")
    if digest.is_file() and regular(digest).read_bytes().decode("ascii", "replace").strip() != sha256_file(path):
        raise ModelError(f"{path} is damaged: its sha256 differs from the one recorded when it was saved", hint)

def has_whole_model(run: Path) -> bool:
    """True when the run's `model.keras` exists and passes `check_model_file`."""
    try:
        check_model_file(run / MODEL, "")
    except (ModelError, OSError):
        return False
    return True

def finished_model(run: Path) -> Path:
    """The path of run directory `run`'s final model; `ModelError` "the run has not finished" when it has none."""
    path = Path(run) / MODEL
    if not path.is_file():
        raise ModelError(f"{path} is missing: the run has not finished",
                         f"finish it with `vaeaudio train --resume {run}`")
    return path


def load_model(run: Path):
    """The final `VAE` of run directory `run`, without its optimizer, loaded in Keras safe mode after
    `check_model_file`."""
    path = finished_model(run)
    return load_file(path,
                     f"delete it and write it again from the last checkpoint with `vaeaudio train --resume {run}`")


def load_file(path: Path, again: str):
    """The Keras model in `path`, loaded in safe mode without its optimizer after `check_model_file`; `again` is
    the hint of the `ModelError` for a damaged file."""
    check_model_file(path, again)
    progress.import_tensorflow_quietly()
    import keras

    import vaeaudio.models.layouts  # noqa: F401  registers the custom classes

    try:  # compile=False: files of older runs hold an optimizer's state too, which nothing here needs
        return keras.saving.load_model(path, safe_mode=True, compile=False)
    except Exception as exc:  # noqa: BLE001 - Keras raises many kinds for a bad file
        raise ModelError(f"{path} could not be loaded ({type(exc).__name__}: {str(exc).splitlines()[0][:160]})",
                         again) from None
