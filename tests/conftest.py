"""Shared fixtures: small real corpora copied from the FSDD sample embedded in the package, and sets built from them.

Nothing here reads outside the repository: `vaeaudio/sample/` holds 250 real
recordings (5 speakers x 10 digits x takes 0-4, 8 kHz).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from vaeaudio.demo import SAMPLE as FSDD

# The kernel choice's per-machine cache (`vaeaudio.models.kernels`) of this test session, not the user's ~/.cache.
os.environ["VAEAUDIO_CACHE"] = tempfile.mkdtemp(prefix="vaeaudio-test-cache-")

SPEAKERS = ("george", "jackson", "nicolas", "theo", "yweweler")
TAKES = range(5)  # the takes the sample holds


def copy_fsdd(dest: Path, takes: range = range(2), speakers=SPEAKERS, digits=range(10)) -> Path:
    """Copy `len(speakers) x len(digits) x len(takes)` sample recordings (takes 0-4) into `dest/recordings/`."""
    rec = dest / "recordings"
    rec.mkdir(parents=True, exist_ok=True)
    for s in speakers:
        for d in digits:
            for t in takes:
                shutil.copy(FSDD / f"{d}_{s}_{t}.wav", rec / f"{d}_{s}_{t}.wav")
    return dest


@pytest.fixture(scope="session")
def fsdd_small(tmp_path_factory) -> Path:
    """100 real recordings: 5 speakers x 10 digits x 2 takes (read-only: copy before changing)."""
    return copy_fsdd(tmp_path_factory.mktemp("fsdd_small"))


@pytest.fixture(scope="session")
def spec_small(tmp_path_factory, fsdd_small) -> Path:
    """A spectrogram set of `fsdd_small` (all lengths kept, split by take), built once per session."""
    from vaeaudio.corpus.preprocess import preprocess
    from vaeaudio.settings import PreprocessSettings

    out = tmp_path_factory.mktemp("spec_small") / "spectrograms"
    preprocess(PreprocessSettings(src=fsdd_small, out=out, length_percentiles=(0, 100), workers=1))
    return out


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory, spec_small) -> Path:
    """A finished 3-epoch run of a small MLP-VAE (latent 2) on `spec_small` (read-only)."""
    from vaeaudio.settings import TrainSettings
    from vaeaudio.training.train import train

    run = tmp_path_factory.mktemp("runs") / "mlp-tiny"
    train(TrainSettings(kind="mlp", data=spec_small, run_dir=run, hidden=(64, 32), latent_dim=2, epochs=3,
                        batch_size=32, seed=1))
    return run


@pytest.fixture(scope="session")
def tiny_cond_run(tmp_path_factory, spec_small) -> Path:
    """A finished 2-epoch run of a small conditional MLP-VAE (latent 2) on `spec_small` (read-only)."""
    from vaeaudio.settings import TrainSettings
    from vaeaudio.training.train import train

    run = tmp_path_factory.mktemp("runs") / "mlp-cond-tiny"
    train(TrainSettings(kind="mlp", conditional=True, data=spec_small, run_dir=run, hidden=(64, 32), latent_dim=2,
                        epochs=2, batch_size=32, seed=1))
    return run
