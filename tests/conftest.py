"""Shared fixtures: small real corpora copied from the FSDD sample embedded in the package, sets built from them,
and runs trained on those; and the `slow` marker of every test that trains a model or drives a browser.

Nothing here reads outside the repository: `vaeaudio/sample/` holds 250 real
recordings (5 speakers x 10 digits x takes 0-4, 8 kHz).

`pytest -m "not slow"` is the fast path: a fixture made with `slow_fixture` (one that trains a model or starts
a browser) marks every test that uses it, directly or through another fixture, as `slow`; a test that trains
by itself, starts TensorFlow in another process or works through a full-size input carries `@pytest.mark.slow`.
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

#: Names of the fixtures made with `slow_fixture`.
SLOW_FIXTURES: set[str] = set()


def slow_fixture(*args, **kwargs):
    """`pytest.fixture(*args, **kwargs)` for a fixture that trains a model or starts a browser: every test that
    uses it, directly or through other fixtures, is marked `slow`."""
    def make(func):
        SLOW_FIXTURES.add(func.__name__)
        return pytest.fixture(*args, **kwargs)(func)
    return make


def pytest_collection_modifyitems(config, items):
    """Mark `slow` every test whose fixtures (its own and theirs, at any depth) include a `slow_fixture`."""
    for item in items:
        if SLOW_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


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


@slow_fixture(scope="session")
def tiny_run(tmp_path_factory, spec_small) -> Path:
    """A finished 3-epoch run of a small MLP-VAE (latent 2) on `spec_small` (read-only), without a latent mixture:
    it draws from N(0, I), as the reference."""
    from vaeaudio.settings import TrainSettings
    from vaeaudio.training.train import train

    run = tmp_path_factory.mktemp("runs") / "mlp-tiny"
    train(TrainSettings(kind="mlp", data=spec_small, run_dir=run, hidden=(64, 32), latent_dim=2, epochs=3,
                        batch_size=32, seed=1, latent_mixture=0, label_weight=0))
    return run


@slow_fixture(scope="session")
def tiny_cond_run(tmp_path_factory, spec_small) -> Path:
    """A finished 2-epoch run of a small conditional MLP-VAE (latent 2, no latent mixture) on `spec_small`
    (read-only)."""
    from vaeaudio.settings import TrainSettings
    from vaeaudio.training.train import train

    run = tmp_path_factory.mktemp("runs") / "mlp-cond-tiny"
    train(TrainSettings(kind="mlp", conditional=True, data=spec_small, run_dir=run, hidden=(64, 32), latent_dim=2,
                        latent_mixture=0, epochs=2, batch_size=32, seed=1))
    return run


@slow_fixture()
def open_page():
    """`browser.open_page`: a folder's index.html in headless Chromium, driven by Playwright."""
    from browser import open_page

    return open_page


def unprivileged(args: list[str]) -> list[str]:
    """`args` run without the capabilities that let root read and write anywhere (as a user would be refused);
    the test is skipped as root without `capsh`."""
    if os.geteuid() != 0:
        return args
    if shutil.which("capsh") is None:
        pytest.skip("running as root without capsh: a folder's permissions cannot refuse root")
    return ["capsh", "--drop=cap_dac_override,cap_dac_read_search,cap_fowner", "--", "-c",
            " ".join(f"'{a}'" for a in args)]


@pytest.fixture
def fake_run(tmp_path) -> Path:
    """A folder `resolve_run` takes for a run (enough for the checks made before any model is loaded)."""
    from vaeaudio.formats import runs

    run = tmp_path / "runs" / "r1"
    run.mkdir(parents=True)
    (run / runs.CONFIG).write_text("{}")
    return run
