"""A run directory, a spectrogram set and a download destination have one writer at a time.

A second process holds the lock (as a running `train` or `preprocess` does);
the command is refused with the holder's pid, and once the holder is killed
with SIGKILL the lock is free again (no stale lock).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from vaeaudio.cli import main
from vaeaudio.util import locks
from vaeaudio.util.errors import UsageError

ROOT = Path(__file__).resolve().parents[1]


class Holder:
    """Another process holding `locks.hold(folder, ...)` (with `lock_file`) until killed."""

    def __init__(self, folder: Path, lock_file: Path | None = None):
        code = ("import sys, time; from pathlib import Path; from vaeaudio.util import locks\n"
                "with locks.hold(Path(sys.argv[1]), 'x', Path(sys.argv[2]) if sys.argv[2] else None):\n"
                "    print('locked', flush=True); time.sleep(120)")
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.proc = subprocess.Popen([sys.executable, "-c", code, str(folder), str(lock_file or "")],
                                     stdout=subprocess.PIPE, text=True, env=env)
        assert self.proc.stdout.readline().strip() == "locked"

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)


@pytest.fixture
def holder():
    made = []

    def start(folder: Path, lock_file: Path | None = None) -> Holder:
        made.append(Holder(folder, lock_file))
        return made[-1]

    yield start
    for h in made:
        if h.proc.poll() is None:
            h.kill()


def test_run_directory_has_one_writer(spec_small, tiny_run, tmp_path, holder, capsys):
    run = tmp_path / "r"
    h = holder(run)
    args = ["train", "mlp", "--data", str(spec_small), "--run-dir", str(run), "--epochs", "1", "--hidden", "8",
            "--quiet"]
    assert main(args) == 2
    assert capsys.readouterr().err.strip() == (f"error: run directory {run} is in use by another vaeaudio process "
                                               f"(pid {h.proc.pid}) (wait for it to finish, or stop it)")
    h.kill()  # kill -9 leaves no stale lock
    assert main(args) == 0
    assert not (run / locks.LOCK).exists()
    # --resume of a run that is still training is refused too
    copy = Path(shutil.copytree(tiny_run, tmp_path / "copy"))
    h = holder(copy)
    assert main(["train", "--resume", str(copy), "--epochs", "4", "--quiet"]) == 2
    assert f"run directory {copy} is in use by another vaeaudio process (pid {h.proc.pid})" in capsys.readouterr().err


def test_spectrogram_set_and_download_destination_have_one_writer(fsdd_small, tmp_path, holder, capsys):
    out = tmp_path / "spec"
    h = holder(out)
    assert main(["preprocess", "--src", str(fsdd_small), "--out", str(out), "--quiet"]) == 2
    assert f"error: spectrogram set {out} is in use by another vaeaudio process (pid {h.proc.pid})" in \
        capsys.readouterr().err
    assert not (out / "manifest.json").exists()
    dest = tmp_path / "AudioMNIST"
    h = holder(dest, tmp_path / ".AudioMNIST.lock")
    assert main(["download", "--dest", str(dest), "--url", str(tmp_path / "missing.zip"), "--quiet"]) == 2
    assert f"error: download destination {dest} is in use by another vaeaudio process (pid {h.proc.pid})" in \
        capsys.readouterr().err


def test_lock_is_exclusive_within_a_process_too(tmp_path):
    with locks.hold(tmp_path, "folder"):
        assert (tmp_path / locks.LOCK).read_text().strip() == str(os.getpid())
        with pytest.raises(UsageError,
                           match=f"folder {tmp_path} is in use by another vaeaudio process \\(pid {os.getpid()}\\)"):
            with locks.hold(tmp_path, "folder"):
                pass
    assert not (tmp_path / locks.LOCK).exists()
    with locks.hold(tmp_path, "folder"):  # free again
        pass
