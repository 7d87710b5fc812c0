"""Damaged files are named in one line, never as an internal error: spectrogram shards whose digest or values are
wrong (re-running preprocess repairs them), foreign shards, and checkpoints and model files that differ from the
sha256 recorded when they were written.

Damage is done the way a disk or a stray program does it: bytes overwritten in
place, the file size unchanged.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

from vaeaudio.cli import main
from vaeaudio.formats import runs
from vaeaudio.formats.shards import read_shard, read_spec
from vaeaudio.formats.spectrogram_set import SpectrogramSet
from vaeaudio.models import saving
from vaeaudio.training import checkpoint
from vaeaudio.util.errors import DataError, ModelError
from vaeaudio.util.files import sha256_file


def overwrite_dataset(path: Path, name: str, value: float) -> None:
    """Overwrite the first 4 KB of dataset `name`'s raw bytes in the file (size unchanged) with float32 `value`."""
    with h5py.File(path, "r") as f:
        offset = f[name].id.get_offset()
    with open(path, "r+b") as fh:
        fh.seek(offset)
        fh.write(np.full(1024, value, np.float32).tobytes())


@pytest.fixture
def spec_copy(spec_small, tmp_path) -> Path:
    return Path(shutil.copytree(spec_small, tmp_path / "spectrograms"))


def test_same_size_corruption_is_detected_and_repaired_by_preprocess(spec_copy, fsdd_small, capsys):
    shard = spec_copy / "train-00000.h5"
    size = shard.stat().st_size
    overwrite_dataset(shard, "spec", 0.5)  # values still in [0, 1]: only the digest can tell
    assert shard.stat().st_size == size
    with pytest.raises(DataError, match=r"shard .*train-00000\.h5 is damaged: its sha256 differs from the manifest's"):
        SpectrogramSet(spec_copy).arrays("train")
    # the CLI: one line naming the shard and the repair, exit 1, before any training
    assert main(["train", "mlp", "--data", str(spec_copy), "--run-dir", str(spec_copy.parent / "r"), "--epochs", "1",
                 "--hidden", "8", "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: shard {shard} is damaged") and "re-run `vaeaudio preprocess" in err
    assert len(err.strip().splitlines()) == 1
    # the documented repair rewrites the damaged shard (and only that one)
    val_before = (spec_copy / "val-00000.h5").stat().st_mtime_ns
    assert main(["preprocess", "--src", str(fsdd_small), "--out", str(spec_copy), "--length-percentiles", "0", "100",
                 "--workers", "1", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "up to date" not in out and "kept 2 whole shard(s)" in out
    assert (spec_copy / "val-00000.h5").stat().st_mtime_ns == val_before
    repaired = SpectrogramSet(spec_copy)
    arrays = repaired.arrays("train")
    assert len(arrays["spec"]) == repaired.clips("train") == 79 and arrays["spec"].max() == 1.0


def test_out_of_range_values_and_foreign_shards_are_refused(spec_copy):
    shard = spec_copy / "test-00000.h5"
    overwrite_dataset(shard, "spec", np.nan)
    with pytest.raises(DataError,
                       match=r"test-00000\.h5 is damaged: spectrogram values span nan\.\.nan, outside \[0, 1\]"):
        read_shard(shard)
    with h5py.File(shard, "r+") as f:
        f.attrs["format"] = "someone-else/2"
    with pytest.raises(DataError, match=r"test-00000\.h5 is not a vaeaudio-shard/1 file \(format: 'someone-else/2'\)"):
        read_shard(shard)


def test_spectrograms_read_as_float16_are_rounded_by_numpy_and_checked_as_stored(spec_copy):
    shard = spec_copy / "test-00000.h5"
    with h5py.File(shard, "r+") as f:  # values HDF5's own float16 conversion truncates (2.27e-7 -> 1.19e-7)
        f["spec"][0, 0, :4] = [2.2671509e-07, 3.0506666e-05, 0.2993826, 1.0]
        stored = f["spec"][:3]
    out = np.zeros((4, *stored.shape[1:]), np.float16)
    read_spec(shard, out, [(0, 2, 2), (2, 3, 0)])
    assert np.array_equal(out[[2, 3, 0]], stored.astype(np.float16)) and not out[1].any()
    assert out[2, 0, :4].tolist() == [2.384185791015625e-07, 3.0517578125e-05, 0.29931640625, 1.0]
    overwrite_dataset(shard, "spec", 1.00001)  # rounds to 1.0 in float16: refused for what the shard holds
    with pytest.raises(DataError, match=r"test-00000\.h5 is damaged: spectrogram values span 0\.\.1\.00001, "):
        read_spec(shard, out, [(0, 1, 0)])


def test_damaged_checkpoint_and_model_are_named(tiny_run, tmp_path, capsys):
    run = Path(shutil.copytree(tiny_run, tmp_path / "run"))
    # a checkpoint whose optimizer state was overwritten in place
    state = run / "checkpoints" / "state.h5"
    overwrite_dataset(state, "optimizer/00002", 0.25)
    assert main(["train", "--resume", str(run), "--epochs", "4", "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: {state} is damaged: its variables differ from the sha256 recorded") and \
        "internal error" not in err
    # a checkpoint whose structure is damaged: one line, not "internal error: RuntimeError"
    with open(state, "r+b") as fh:
        fh.seek(64)
        fh.write(b"\xff" * 4096)
    assert main(["train", "--resume", str(run), "--epochs", "4", "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: {state} is damaged or unreadable") and "internal error" not in err
    # model.keras with one byte changed: the digest recorded at save catches it
    model = run / "model.keras"
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model.write_bytes(bytes(data))
    with pytest.raises(ModelError, match=r"model\.keras is damaged: its sha256 differs from the one recorded"):
        saving.load_model(run)
    # random bytes in model.keras: said so, not "File not found"
    model.write_bytes(np.random.default_rng(0).bytes(5000))
    assert main(["synth", "--run", str(run), "--random", "1", str(tmp_path / "out"), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert f"error: {model} is not a Keras model file (not a zip archive)" in err and "not found" not in err


def test_checkpoint_records_its_digest(tiny_run):
    with h5py.File(tiny_run / "checkpoints" / checkpoint.NAME, "r") as f:
        assert len(f.attrs["sha256"]) == 64
    assert (tiny_run / "model.keras.sha256").read_text().strip() == sha256_file(tiny_run / "model.keras")
    assert json.loads((tiny_run / "config.json").read_text())["format"] == runs.FORMAT
