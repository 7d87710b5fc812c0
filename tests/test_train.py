"""vaeaudio train: the run directory contract, resume equality, Ctrl-C, NaN and bad input."""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from vaeaudio.cli import main

TINY = ["--hidden", "32,16", "--batch-size", "16", "--seed", "3"]
LOSSES = ("train_reconstruction", "train_kl", "train_total", "val_reconstruction", "val_kl", "val_total")


def _history(run: Path) -> list[dict]:
    with open(run / "history.csv", newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.slow
def test_run_directory_contract(spec_small, tmp_path, capsys):
    run = tmp_path / "runs" / "mlp-a"
    assert main(["train", "mlp", "--data", str(spec_small), "--run-dir", str(run), "--epochs", "2", "--quiet",
                 *TINY]) == 0
    assert "trained 2 epoch(s)" in capsys.readouterr().out
    config = json.loads((run / "config.json").read_text())
    s = config["settings"]
    assert (s["kind"], s["epochs"], s["hidden"], s["batch_size"], s["dropout"]) == ("mlp", 2, [32, 16], 16, 0.0)
    manifest = (spec_small / "manifest.json").read_bytes()
    import hashlib

    assert config["data"]["manifest_sha256"] == hashlib.sha256(manifest).hexdigest()
    assert config["data"]["shape"] == [257, 69] and config["data"]["db_max"] > config["data"]["db_min"]
    assert {"tensorflow", "keras", "numpy", "vaeaudio"} <= set(config["versions"])
    rows = _history(run)
    assert [r["epoch"] for r in rows] == ["1", "2"]
    for r in rows:
        assert float(r["train_total"]) == pytest.approx(float(r["train_reconstruction"]) + float(r["train_kl"]),
                                                        rel=1e-4)
        assert float(r["seconds"]) > 0 and float(r["samples_per_s"]) > 0
    assert list(rows[0]) == ["epoch", *LOSSES, "seconds", "samples_per_s"]
    assert len(list((run / "tb").glob("events.out.tfevents.*"))) == 1
    assert (run / "checkpoints" / "state.h5").is_file() and not list((run / "checkpoints").glob("*.tmp"))
    assert (run.parent / "latest").resolve() == run.resolve()
    import keras

    model = keras.saving.load_model(run / "model.keras", safe_mode=True)
    assert model.count_params() == config["model"]["parameters"]


def _train(spec, run, epochs, *extra) -> int:
    return main(["train", "mlp", "--data", str(spec), "--run-dir", str(run), "--epochs", str(epochs),
                 "--deterministic", "--quiet", *TINY, *extra])


@pytest.mark.slow
@pytest.mark.parametrize("kernels", ["auto", "xla", "openblas"])  # every product on that path (the tiny layers too)
def test_resumed_run_matches_an_uninterrupted_one(spec_small, tmp_path, kernels):
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    assert _train(spec_small, whole, 3, "--kernels", kernels) == 0
    assert _train(spec_small, parts, 2, "--kernels", kernels) == 0
    assert main(["train", "--resume", str(parts), "--epochs", "3", "--quiet"]) == 0
    a, b = _history(whole), _history(parts)
    assert len(a) == len(b) == 3
    for ra, rb in zip(a, b):
        for k in LOSSES:
            assert float(rb[k]) == pytest.approx(float(ra[k]), rel=1e-4), (ra["epoch"], k)
    assert json.loads((parts / "config.json").read_text())["settings"]["epochs"] == 3


@pytest.mark.slow
def test_resume_refuses_settings_and_finished_runs(spec_small, tmp_path, capsys):
    run = tmp_path / "r"
    assert _train(spec_small, run, 1) == 0
    capsys.readouterr()
    assert main(["train", "--resume", str(run), "--lr", "0.1"]) == 2
    assert "--lr cannot be given with it" in capsys.readouterr().err
    assert main(["train", "--resume", str(run), "--epochs", "1"]) == 2
    assert "already has 1 epochs" in capsys.readouterr().err
    assert main(["train", "--resume", str(tmp_path / "nope"), "--epochs", "2"]) == 1
    assert "nope" in capsys.readouterr().err


@pytest.mark.slow
def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(spec_small, tmp_path, capsys, monkeypatch):
    from vaeaudio.training.batches import Batches

    batches = Batches.train_batches

    def poisoned(self, epoch, skip=0, ctx=None, epochs=1):  # NaN spectrograms from the second epoch on
        import tensorflow as tf

        ds, first = batches(self, epoch, skip, ctx, epochs).enumerate(), self.steps() * epoch + skip
        return ds.map(lambda i, b: (b[0] + tf.where(i + first >= self.steps(), np.float32("nan"), 0.0), b[1]))

    monkeypatch.setattr(Batches, "train_batches", poisoned)
    run = tmp_path / "nan"
    assert _train(spec_small, run, 3) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "epoch 2, step 1 of" in err[0] and "checkpoint of epoch 1 is kept" in err[0]
    import h5py

    with h5py.File(run / "checkpoints" / "state.h5") as f:
        assert f.attrs["epoch"] == 1
    assert len(_history(run)) == 1 and not (run / "model.keras").exists()


@pytest.mark.slow
@pytest.mark.parametrize("every,extra,saved", [("0", [], [1, 2, 3, 4]), ("3600", [], [1, 4]),
                                               ("3600", ["--distribute", "mirrored"], [1, 2, 3, 4])])
def test_checkpoints_are_spaced_in_time(spec_small, tmp_path, monkeypatch, every, extra, saved):
    """--checkpoint-every: the first and last epoch always write one; between them only when that much time
    passed. Distributed runs save every epoch: workers do not share a clock, and must save together."""
    from vaeaudio.training import train as train_mod

    written = []
    save = train_mod.checkpoint.save
    monkeypatch.setattr(train_mod.checkpoint, "save",
                        lambda folder, model, pos, **kw: written.append(pos.epoch) or save(folder, model, pos, **kw))
    run = tmp_path / "spaced"
    assert main(["train", "mlp", "--data", str(spec_small), "--run-dir", str(run), "--epochs", "4",
                 "--checkpoint-every", every, *extra, "--quiet", *TINY]) == 0
    assert written == saved and len(_history(run)) == 4
    assert main(["train", "--resume", str(run), "--epochs", "5", "--quiet"]) == 0  # resumes from the last one
    assert written == [*saved, 5] and [int(r["epoch"]) for r in _history(run)] == [1, 2, 3, 4, 5]


@pytest.mark.slow
def test_a_finished_run_keeps_its_weights_once(spec_small, tmp_path):
    """model.keras holds the weights without the optimizer's state; the final checkpoint holds the optimizer's
    state and refers to model.keras for the weights; so the run is about weights + Adam's two slots, and it can
    still go on with --resume."""
    import h5py

    run = tmp_path / "run"
    assert _train(spec_small, run, 2) == 0
    config = json.loads((run / "config.json").read_text())
    weights = 4 * config["model"]["parameters"]  # float32
    model, state = run / "model.keras", run / "checkpoints" / "state.h5"
    assert weights < model.stat().st_size < 1.02 * weights + 200_000
    with h5py.File(state) as f:
        assert f.attrs["format"] == "vaeaudio-checkpoint/2" and f.attrs["model_file"] == "model.keras"
        assert len(f["model"]) == 1 and len(f["optimizer"]) > 0  # the sampling layer's RNG state, no weights
    assert 2 * weights < state.stat().st_size < 2.02 * weights + 200_000  # Adam's m and v
    total = sum(p.stat().st_size for p in run.rglob("*") if p.is_file())
    assert total < 3.05 * weights + 1_000_000
    assert main(["train", "--resume", str(run), "--epochs", "3", "--quiet"]) == 0
    assert len(_history(run)) == 3 and h5py.File(state).attrs["epoch"] == 3


@pytest.mark.slow
def test_resume_drops_history_past_the_checkpoint(spec_small, tmp_path, monkeypatch):
    """A crash between two spaced checkpoints leaves history rows the checkpoint lacks: resume redoes those epochs."""
    import h5py

    from vaeaudio.training import epochs

    def crash(*args):
        raise RuntimeError("the machine went down")

    run = tmp_path / "crashed"
    with monkeypatch.context() as m:  # epochs 2 and 3 run after the first checkpoint, then the process dies
        m.setattr(epochs, "finish", crash)
        assert main(["train", "mlp", "--data", str(spec_small), "--run-dir", str(run), "--epochs", "3",
                     "--checkpoint-every", "3600", "--quiet", *TINY]) == 1
    with h5py.File(run / "checkpoints" / "state.h5") as f:
        assert f.attrs["epoch"] == 1
    assert len(_history(run)) == 3 and not (run / "model.keras").exists()
    assert main(["train", "--resume", str(run), "--epochs", "3", "--quiet"]) == 0
    assert [int(r["epoch"]) for r in _history(run)] == [1, 2, 3] and (run / "model.keras").is_file()


@pytest.mark.slow
def test_sigint_checkpoints_and_exits_130(spec_small, tmp_path):
    run = tmp_path / "int"
    cmd = [sys.executable, "-m", "vaeaudio.cli", "train", "mlp", "--data", str(spec_small), "--run-dir", str(run),
           "--epochs", "10000", "--hidden", "32,16", "--batch-size", "8", "--no-xla"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        deadline = time.monotonic() + 120
        while not (run / "history.csv").exists():  # one epoch done: training is under way
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    native = [line for line in err.splitlines() if re.match(r"[IWEF]\d{4} ", line)]
    assert not native, native  # TensorFlow's C++ log lines (oneDNN's fallback at the first float16 op) stay hidden
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: interrupted") and f"vaeaudio train --resume {run} --epochs 10000" in last
    import h5py

    with h5py.File(run / "checkpoints" / "state.h5") as f:
        done = int(f.attrs["epoch"]) + (int(f.attrs["step"]) > 0)
    assert done >= 1 and not (run / "model.keras").exists()
    assert main(["train", "--resume", str(run), "--epochs", str(done + 1), "--quiet"]) == 0
    assert len(_history(run)) == done + 1 and (run / "model.keras").is_file()


@pytest.mark.parametrize("args, message", [
    (["mlp", "--dropout", "1.5"], "--dropout: Input should be less than 1"),
    (["mlp", "--dropout", "-0.1"], "--dropout"),
    (["mlp", "--arch", "reference"], "--arch"),
    (["cnn", "--dropout", "0.3"], "--dropout"),
    (["mlp", "--hidden", "64,x"], "--hidden"),
    (["mlp", "--latent-dim", "0"], "--latent-dim"),
    (["mlp", "--precision", "float16"], "--precision"),
    (["mlp", "--epochs", "0"], "--epochs"),
    (["rnn"], "rnn"),
    ([], "say which model to train"),
])
def test_bad_flags_are_one_line_exit_2(args, message, capsys):
    assert main(["train", *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and message in err[0], err


def test_missing_or_foreign_data_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # where a default run directory would appear
    assert main(["train", "mlp", "--data", "nothing-here", "--quiet"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: no spectrogram set at nothing-here: manifest.json is missing "
                   "(run `vaeaudio preprocess --out nothing-here` first)"]
    other = tmp_path / "other"
    other.mkdir()
    (other / "manifest.json").write_text('{"format": "something-else/9"}')
    assert main(["train", "mlp", "--data", str(other), "--quiet"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {other / 'manifest.json'} is not a vaeaudio-spectrograms/1 "
                                               "manifest (format: 'something-else/9')"), err
    assert not (tmp_path / "runs").exists()


def test_run_dir_in_use_is_refused(spec_small, tmp_path, capsys):
    run = tmp_path / "used"
    run.mkdir()
    (run / "keep.txt").write_text("mine")
    assert main(["train", "mlp", "--data", str(spec_small), "--run-dir", str(run), "--quiet"]) == 2
    assert "already exists and is not empty" in capsys.readouterr().err
    assert [p.name for p in run.iterdir()] == ["keep.txt"]


@pytest.mark.slow
def test_cnn_and_bfloat16_train(spec_small, tmp_path):
    run = tmp_path / "cnn"
    assert main(["train", "cnn", "--data", str(spec_small), "--run-dir", str(run), "--epochs", "1", "--filters", "4,8",
                 "--batch-size", "16", "--precision", "mixed_bfloat16", "--quiet"]) == 0
    row = _history(run)[0]
    assert np.isfinite(float(row["val_total"])) and float(row["val_total"]) < 17733 * np.log(2) * 1.5
    import keras

    model = keras.saving.load_model(run / "model.keras", safe_mode=True)
    assert model.decode(np.zeros((1, 16), np.float32)).shape == (1, 257, 69)  # latent 16: the default


@pytest.mark.slow
def test_short_epochs_are_logged_every_few_seconds(spec_small, tmp_path, capsys, monkeypatch):
    """Epochs of a fraction of a second would scroll a line each: the first, the last and one every EPOCH_LINES_S
    are logged; --verbose logs every one."""
    from vaeaudio.training import epochs

    monkeypatch.setattr(epochs, "EPOCH_LINES_S", 3600.0)
    assert main(["train", "mlp", "--data", str(spec_small), "--run-dir", str(tmp_path / "b"), "--epochs", "4",
                 "--preview-every", "0", *TINY]) == 0
    said = re.findall(r"^epoch (\d)/4: train", capsys.readouterr().err, re.M)
    assert said == ["1", "4"]
    assert main(["train", "mlp", "--data", str(spec_small), "--run-dir", str(tmp_path / "c"), "--epochs", "4",
                 "--preview-every", "0", "-v", *TINY]) == 0
    assert re.findall(r"^epoch (\d)/4: train", capsys.readouterr().err, re.M) == ["1", "2", "3", "4"]
