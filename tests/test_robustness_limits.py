"""No hangs, no unbounded memory (issue 26, cases 8-11): FIFOs and device links are never read, a batch is at
most the train split, a recording far too long is dropped by its header, and a model that cannot fit in memory is
refused before it is built."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import SPEAKERS, copy_fsdd

from vaeaudio.cli import main
from vaeaudio.corpus.preprocess import preprocess
from vaeaudio.formats import runs
from vaeaudio.formats.spectrogram_set import MANIFEST, SpectrogramSet
from vaeaudio.models import kernel_cache
from vaeaudio.settings import PreprocessSettings, TrainSettings
from vaeaudio.util import resources
from vaeaudio.util.errors import ModelError

ROOT = Path(__file__).resolve().parents[1]


def _in_thread(fn, seconds: float = 60.0):
    """fn() in a thread: (finished, its result or exception). A read that blocks (a FIFO) never finishes."""
    box = {}

    def run():
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed back to the test
            box["value"] = exc

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(seconds)
    return not t.is_alive(), box.get("value")


# -- 8. FIFOs and devices are never opened ----------------------------------------------------------------------
def test_fifos_and_device_links_in_a_corpus_are_dropped_not_read(tmp_path):
    src = copy_fsdd(tmp_path, takes=range(2), speakers=SPEAKERS[:2], digits=range(10))
    rec = src / "recordings"
    os.mkfifo(rec / "1_fifo_0.wav")
    (rec / "2_zero_0.wav").symlink_to("/dev/zero")
    (rec / "3_random_0.wav").symlink_to("/dev/urandom")
    os.mkfifo(rec / "audioMNIST_meta.txt")
    out = tmp_path / "spec"
    done = subprocess.run([sys.executable, "-m", "vaeaudio.cli", "preprocess", "--src", str(src), "--out", str(out),
                           "--length-percentiles", "0", "100", "--workers", "1", "--quiet"],
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    dropped = {d["path"]: (d["kind"], d["reason"]) for d in json.loads((out / MANIFEST).read_text())["dropped"]}
    assert dropped["recordings/1_fifo_0.wav"] == ("unreadable", "cannot be read: not a regular file (a FIFO)")
    assert dropped["recordings/2_zero_0.wav"] == ("unreadable", "cannot be read: not a regular file (a device)")
    assert dropped["recordings/3_random_0.wav"] == ("unreadable", "cannot be read: not a regular file (a device)")
    assert dropped["recordings/audioMNIST_meta.txt"][0] == "metadata"
    assert sum(s.clips for s in SpectrogramSet(out).manifest.splits.values()) == 38  # 40 - the 2 length extremes


def test_a_fifo_as_the_kernel_cache_is_measured_again(tmp_path):
    os.mkfifo(tmp_path / kernel_cache.CACHE)
    finished, value = _in_thread(lambda: kernel_cache.read(tmp_path / kernel_cache.CACHE))
    assert finished and value == {}


def test_a_fifo_as_a_run_config_is_one_error(tmp_path):
    os.mkfifo(tmp_path / runs.CONFIG)
    finished, value = _in_thread(lambda: runs.load_config(tmp_path))
    assert finished and isinstance(value, ModelError)
    assert str(value) == f"{tmp_path / runs.CONFIG} is unreadable ([Errno 22] not a regular file (a FIFO): " \
                         f"'{tmp_path / runs.CONFIG}')"


# -- 9. a batch larger than the train split ---------------------------------------------------------------------
@pytest.mark.slow
def test_a_batch_larger_than_the_train_split_is_clamped_once(spec_small, tmp_path, capsys):
    run = tmp_path / "run"
    n_train = SpectrogramSet(spec_small).clips("train")
    assert main(["train", "mlp", "--data", str(spec_small), "--run-dir", str(run), "--hidden", "8", "--epochs", "1",
                 "--batch-size", "65536"]) == 0
    err = capsys.readouterr().err
    assert err.count(f"--batch-size 65536: the train split has {n_train} clips; using {n_train}") == 1
    assert runs.load_config(run).settings["batch_size"] == n_train


# -- 10. a recording far too long is dropped by its header ------------------------------------------------------
def test_a_recording_longer_than_a_minute_is_dropped_before_it_is_decoded(tmp_path, monkeypatch):
    from vaeaudio.sound import dsp

    src = copy_fsdd(tmp_path, takes=range(2), speakers=SPEAKERS[:2], digits=range(10))
    sf.write(src / "recordings" / "5_long_0.wav", np.full(61 * 8000, 0.1, np.float32), 8000, subtype="PCM_16")
    decoded = []
    real = dsp.decode
    monkeypatch.setattr(dsp, "decode", lambda data: (decoded.append(len(data)), real(data))[1])
    out = tmp_path / "spec"
    preprocess(PreprocessSettings(src=src, out=out, length_percentiles=(0, 100), workers=1))
    dropped = {d.path: (d.kind, d.reason) for d in SpectrogramSet(out).manifest.dropped}
    assert dropped["recordings/5_long_0.wav"] == ("length", "61 s long: longer than 60 s (by its header; not decoded)")
    assert len(decoded) == 40 + 38 and max(decoded) < 61 * 8000 * 2  # probed and featurised: never the long one


# -- 11. the model's memory, estimated before it is built ---------------------------------------------------------
@pytest.mark.parametrize("given", [{"kind": "mlp", "hidden": (16, 8)}, {"kind": "mlp", "hidden": (8,), "latent_dim": 3,
                                                                        "conditional": True},
                                   {"kind": "cnn", "filters": (4, 8)}, {"kind": "cnn", "filters": (4,),
                                                                        "conditional": True},
                                   {"kind": "cnn", "arch": "reference"}])
def test_the_parameter_count_is_that_of_the_model_built(given):
    from vaeaudio.models.layouts import build
    from vaeaudio.training import footprint

    settings, shape = TrainSettings(**given), (9, 5)
    assert footprint.layers(settings, shape, 10)[0] == build(settings, shape).count_params()
    # a set of 3 classes: the conditional one-hot and the label head are 3 wide, not 10
    assert footprint.layers(settings, shape, 3)[0] == build(settings, shape, 3).count_params()


def test_the_reference_models_are_counted_exactly():
    from vaeaudio.training import footprint

    ref = {"recipe": "reference"}
    assert footprint.layers(TrainSettings(kind="mlp", **ref), (257, 69), 10)[0] == 37_650_761
    assert footprint.layers(TrainSettings(kind="cnn", **ref), (257, 69), 10)[0] == 4_993_797
    assert footprint.layers(TrainSettings(kind="cnn", filters=(256, 256, 256), **ref), (257, 69), 10)[0] == 2_366_725
    assert footprint.layers(TrainSettings(kind="cnn", arch="reference", **ref), (257, 69), 10)[0] == 582_249_477
    # the defaults: latent 16 and the label head (16 x 10 + 10)
    assert footprint.layers(TrainSettings(kind="mlp"), (257, 69), 10)[0] == 37_650_761 + 14 * (3 * 256 + 2) + 170


@pytest.mark.parametrize("flags,params", [(["mlp", "--hidden", "65536,65536", "--recipe", "reference"],
                                           "10,914,907,465"),
                                          (["cnn", "--filters", "65536", "--recipe", "reference"], "1,277,823,237")])
def test_a_model_that_cannot_fit_is_refused_before_it_is_built(spec_small, tmp_path, capsys, monkeypatch, flags,
                                                               params):
    from vaeaudio.training import footprint

    monkeypatch.setattr(resources, "available_memory", lambda: 8 * 10**9)
    monkeypatch.setattr(footprint, "available_memory", lambda: 8 * 10**9)
    run = tmp_path / "run"
    assert main(["train", *flags, "--data", str(spec_small), "--run-dir", str(run), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: this model needs about ") and f"({params} parameters: " in err
    assert err.rstrip().endswith("but 8 GB is available (choose narrower layers or a smaller --batch-size)")
    assert not run.exists()


def test_the_reference_mlp_fits_in_a_few_hundred_megabytes(spec_small):
    from vaeaudio.training import footprint

    need = footprint.estimate(TrainSettings(kind="mlp", recipe="reference"), (257, 69),
                              SpectrogramSet(spec_small).clips("train"), 10)
    assert need["weights"] == 16 * 37_650_761 and 0.6e9 < need["total"] < 1.0e9
    assert need["data"] == 2 * 257 * 69 * SpectrogramSet(spec_small).clips("train")  # held as float16
