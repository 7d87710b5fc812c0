"""A run that fails part-way (a full or read-only disk) says in one line which file failed and what to do,
leaves no temporary file behind, and `vaeaudio train --resume` finishes it.

Full disks are injected (an `OSError` with errno 28 where the file is written);
h5py's wording of such an error is read for its errno and file name.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from vaeaudio.cli import main
from vaeaudio.formats import runs
from vaeaudio.util.errors import environment_error

TINY = ["--hidden", "16,8", "--batch-size", "32", "--seed", "2", "--quiet"]


def no_space(path):
    return OSError(28, os.strerror(28), str(path))


@pytest.mark.slow
def test_failed_final_save_can_be_finished_with_resume(spec_small, tmp_path, monkeypatch, capsys):
    import keras

    run = tmp_path / "r"
    real_save = keras.Model.save
    monkeypatch.setattr(keras.Model, "save", lambda self, path, *a, **k: (_ for _ in ()).throw(no_space(path)))
    assert main(["train", "mlp", "--data", str(spec_small), "--run-dir", str(run), "--epochs", "2", *TINY]) == 1
    err = capsys.readouterr().err.strip()
    assert err == (f"error: {run / 'model.keras'}: no space left on the device (free some space (the half-written "
                   f"file was removed), then continue the run with `vaeaudio train --resume {run}`)")
    assert sorted(p.name for p in run.iterdir()) == ["checkpoints", "config.json", "history.csv", "tb"]
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["state.h5"]
    monkeypatch.setattr(keras.Model, "save", real_save)
    assert main(["synth", "--run", str(run), "--random", "1", str(tmp_path / "s"), "--quiet"]) == 1
    assert f"finish it with `vaeaudio train --resume {run}`" in capsys.readouterr().err
    assert main(["train", "--resume", str(run), "--quiet"]) == 0
    assert "trained 0 epoch(s)" in capsys.readouterr().out
    assert main(["synth", "--run", str(run), "--random", "1", str(tmp_path / "s"), "--quiet"]) == 0
    assert len(runs.read_history(run)) == 2


@pytest.mark.slow
def test_run_whose_first_epoch_failed_can_be_resumed(spec_small, tmp_path, monkeypatch, capsys):
    from vaeaudio.training import checkpoint

    run = tmp_path / "r"
    monkeypatch.setattr(checkpoint.h5py.Group, "create_dataset",
                        lambda self, name, **k: (_ for _ in ()).throw(no_space(self.file.filename)))
    assert main(["train", "mlp", "--data", str(spec_small), "--run-dir", str(run), "--epochs", "1", *TINY]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: {run / 'checkpoints' / 'state.h5'}: no space left on the device")
    assert list((run / "checkpoints").iterdir()) == []  # state.h5.tmp removed
    monkeypatch.undo()
    assert main(["train", "--resume", str(run), "--quiet"]) == 0
    assert "trained 1 epoch(s) in" in capsys.readouterr().out and (run / "model.keras").is_file()


def test_read_only_config_is_not_a_bug(spec_small, tmp_path, monkeypatch, capsys):
    real = Path.write_text

    def read_only(self, *a, **k):
        if self.name.startswith("config.json"):
            raise OSError(30, os.strerror(30), str(self))
        return real(self, *a, **k)

    monkeypatch.setattr(Path, "write_text", read_only)
    run = tmp_path / "r"
    assert main(["train", "mlp", "--data", str(spec_small), "--run-dir", str(run), "--epochs", "1", *TINY]) == 1
    assert capsys.readouterr().err.strip() == (
        f"error: {run / 'config.json'}: the file system is read-only (choose a writable folder, or remount it "
        "read-write, then run the command again)")
    assert [p.name for p in run.iterdir()] == []  # no config.json.tmp, no lock


def test_h5py_messages_carry_errno_and_name():
    exc = OSError("Unable to synchronously create file (unable to open file: name = '/data/x.h5.tmp', errno = 28, "
                  "error message = 'No space left on device', flags = 13, o_flags = 242)")
    assert environment_error(RuntimeError("not an OS error")) is None
    assert environment_error(OSError(5, "Input/output error")) is None  # a real I/O error stays a bug report
    try:
        try:
            raise exc
        except OSError as inner:
            raise ValueError("Keras wrapped it") from inner
    except ValueError as outer:
        problem = environment_error(outer)
    assert problem.line() == ("/data/x.h5: no space left on the device (free some space (the half-written file was "
                              "removed), then run the command again)")
