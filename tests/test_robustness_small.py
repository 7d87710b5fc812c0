"""The smaller ones (issue 26, cases 17-20): unreadable folders drop their files, a run's lock cannot be deleted
from under it, interrupts say what was kept, and messages that name what they are about."""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
from collections import namedtuple
from pathlib import Path

import numpy as np
import pytest
from conftest import SPEAKERS, copy_fsdd, unprivileged

from vaeaudio.cli import main
from vaeaudio.formats.spectrogram_set import MANIFEST, SpectrogramSet
from vaeaudio.models import saving
from vaeaudio.settings import TrainSettings
from vaeaudio.util import locks, resources
from vaeaudio.util.errors import UsageError, environment_error
from vaeaudio.util.files import replacing

ROOT = Path(__file__).resolve().parents[1]




# -- 17. unreadable folders and links into them -----------------------------------------------------------------
def test_links_into_unreadable_folders_and_unsearchable_folders_drop_their_files(tmp_path):
    src = copy_fsdd(tmp_path / "corpus", takes=range(2), speakers=SPEAKERS[:2], digits=range(10))
    locked, unsearchable = tmp_path / "locked", tmp_path / "unsearchable"
    for folder, take in ((locked, 3), (unsearchable, 4)):
        folder.mkdir()
        shutil.copy(src / "recordings" / "0_george_0.wav", folder / f"0_george_{take}.wav")
    (src / "recordings" / "link").symlink_to(locked)
    (src / "recordings" / "0_george_5.wav").symlink_to(locked / "0_george_3.wav")
    (src / "recordings" / "r-x").symlink_to(unsearchable)
    locked.chmod(0o000)
    unsearchable.chmod(0o444)  # listable, but its files cannot be reached
    out = tmp_path / "spec"
    try:
        done = subprocess.run(unprivileged([sys.executable, "-m", "vaeaudio.cli", "preprocess", "--src", str(src),
                                            "--out", str(out), "--length-percentiles", "0", "100", "--workers", "1",
                                            "--quiet"]),
                              env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=300)
    finally:
        locked.chmod(0o755)
        unsearchable.chmod(0o755)
    assert done.returncode == 0, done.stderr
    dropped = {d["path"]: (d["kind"], d["reason"]) for d in json.loads((out / MANIFEST).read_text())["dropped"]}
    assert dropped["recordings/link/"] == ("unreadable", "folder cannot be read: Permission denied")
    assert dropped["recordings/0_george_5.wav"] == ("unreadable", "cannot be read: Permission denied")
    assert dropped["recordings/r-x/0_george_4.wav"] == ("unreadable", "cannot be read: Permission denied")
    assert sum(s.clips for s in SpectrogramSet(out).manifest.splits.values()) == 38


# -- 18. a lock that cannot be deleted from under its holder --------------------------------------------------------
def test_deleting_the_lock_file_does_not_let_a_second_writer_in(tmp_path):
    with locks.hold(tmp_path, "run directory") as pid_file:
        assert pid_file.read_text().strip() == str(os.getpid())
        pid_file.unlink()
        with pytest.raises(UsageError, match=r"run directory .* is in use by another vaeaudio process \(pid unknown\)"):
            with locks.hold(tmp_path, "run directory"):
                pass
    with locks.hold(tmp_path, "run directory"):  # released when the holder is done
        pass


# -- 19. interrupts ----------------------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("how", ["SIGINT", "SIGTERM"])
def test_an_interrupted_synth_lists_the_files_it_wrote(tiny_run, tmp_path, monkeypatch, capsys, request, how):
    from vaeaudio.sound import dsp

    real, calls = dsp.write_wav, []

    def write(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            if how == "SIGINT":  # what Python's Ctrl-C handler raises: a raised SIGINT's handler may run inside a
                raise KeyboardInterrupt  # finalizer, which swallows it (once in a full suite: all 5 files written)
            # raise(3) signals this thread: os.kill would let any thread (TensorFlow's, the progress bar's) take
            # the signal, and under load the main thread could finish before it sees it
            signal.raise_signal(signal.SIGTERM)
        return real(*args, **kwargs)

    class Unhandled(Exception):
        pass

    def unhandled(signum, frame):  # what a synth that does not handle SIGTERM meets (instead of ending pytest)
        raise Unhandled

    monkeypatch.setattr(dsp, "write_wav", write)
    previous = signal.signal(signal.SIGTERM, unhandled)
    request.addfinalizer(lambda: signal.signal(signal.SIGTERM, previous))
    out = tmp_path / "out"
    assert main(["synth", "--run", str(tiny_run), "--random", "5", str(out), "--griffin-lim-iters", "1",
                 "--quiet"]) == 130
    printed = capsys.readouterr()
    assert printed.err == (f"error: synth interrupted: 2 of 5 WAV file(s) written, listed in {out / 'z.csv'} "
                           "(run the same command again for all of them)\n")
    lines = printed.out.splitlines()
    assert [line.split("\t")[0] for line in lines] == [str(p) for p in sorted(out.glob("*.wav"))]
    assert len(lines) == 2 and len((out / "z.csv").read_text().splitlines()) == 1 + 2


def test_ctrl_c_in_evaluate_says_interrupted(fake_run, monkeypatch, capsys):
    from vaeaudio.judging import evaluate

    def stop(run, settings):
        raise KeyboardInterrupt

    monkeypatch.setattr(evaluate, "evaluate_run", stop)
    assert main(["evaluate", str(fake_run)]) == 130
    assert capsys.readouterr().err == ("error: interrupted (files are written whole or not at all; run the same "
                                       "command again)\n")


def test_a_report_killed_part_way_leaves_nothing_for_good(fake_run, tmp_path):
    dead, alive = tmp_path / ".page.tmp-999999999", tmp_path / ".page.tmp-1"  # pid 1 is always there
    for folder in (dead, alive):
        folder.mkdir()
        (folder / "index.html").write_text("half")
    assert main(["report", str(fake_run), "--out", str(tmp_path / "page"), "--quiet"]) == 1  # the fake run has no model
    assert not dead.exists() and alive.exists()


# -- 20. messages -------------------------------------------------------------------------------------------------
def test_the_repair_hint_names_the_source(spec_small, tmp_path, capsys):
    spec = Path(shutil.copytree(spec_small, tmp_path / "spec"))
    with open(spec / "train-00000.h5", "r+b") as f:
        f.seek(4096)
        f.write(b"\1" * 64)
    assert main(["train", "mlp", "--data", str(spec), "--run-dir", str(tmp_path / "r"), "--quiet"]) == 1
    src = SpectrogramSet(spec).manifest.source.root
    assert capsys.readouterr().err.endswith(f"(re-run `vaeaudio preprocess --src {src} --out {spec}` with the set's "
                                            "other settings: it rewrites damaged shards)\n")


def test_a_full_disk_names_the_file_it_could_not_write(tmp_path):
    class Model:
        optimizer, compiled = None, False

        def save(self, path):
            raise OSError(errno.ENOSPC, "No space left on device")  # as a write() reports it: no file name

    with pytest.raises(OSError) as caught:
        saving.save_model(tmp_path / "model.keras", Model())
    assert str(environment_error(caught.value)) == f"{tmp_path / 'model.keras'}: no space left on the device"
    with pytest.raises(OSError) as caught, replacing(tmp_path / "metrics.json") as tmp:
        tmp.write_text("{")
        raise OSError(errno.ENOSPC, "No space left on device")
    assert str(environment_error(caught.value)) == f"{tmp_path / 'metrics.json'}: no space left on the device"
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_small_sizes_are_not_said_as_zero(tmp_path, monkeypatch):
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(resources.shutil, "disk_usage", lambda p: usage(10**9, 10**9 - 1200, 1200))
    with pytest.raises(UsageError) as caught:
        resources.require_disk(tmp_path, 35_324, "1 WAV file of 0.8 s")
    assert str(caught.value) == f"1 WAV file of 0.8 s need 35.3 KB but {tmp_path} has 1.2 KB free"
    assert [resources.human_bytes(n) for n in (0, 999, 1000, 123_456_789, 4.5e12)] == \
        ["0 B", "999 B", "1 KB", "123 MB", "4,500 GB"]


@pytest.mark.slow
def test_predict_prints_the_good_files_before_the_bad_one(spec_small, tmp_path, capsys):
    model = tmp_path / "classifier"
    assert main(["classifier", "train", "--data", str(spec_small), "--out", str(model), "--epochs", "1",
                 "--quiet"]) == 0
    good = tmp_path / "good.wav"
    shutil.copy(Path(SpectrogramSet(spec_small).manifest.source.root) / "recordings" / "7_theo_0.wav", good)
    text = tmp_path / "text.wav"
    text.write_text("not audio")
    capsys.readouterr()
    assert main(["classifier", "predict", "--model", str(model), str(good), str(text), "--quiet"]) == 1
    printed = capsys.readouterr()
    assert printed.out.startswith(f"{good}\t") and len(printed.out.splitlines()) == 1
    assert printed.err.startswith(f"error: 1 of 2 file(s) could not be classified: cannot read {text}: ")
    assert printed.err.rstrip().endswith("(the others' digits are printed above)")


def test_openblas_kernels_with_bfloat16_are_refused(capsys):
    assert main(["train", "mlp", "--kernels", "openblas", "--precision", "mixed_bfloat16"]) == 2
    assert "'openblas' computes in float32 only" in capsys.readouterr().err
    assert TrainSettings(kind="mlp", kernels="openblas").kernels == "openblas"
    np.testing.assert_equal(TrainSettings(kind="mlp", kernels="xla", precision="mixed_bfloat16").kernels, "xla")
