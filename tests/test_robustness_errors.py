"""One line instead of an internal error (issue 26, cases 12-16): libsndfile's failures, synth outputs in the
way, report folder names, JSON nested too deep, and tampered run files."""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from conftest import unprivileged

from vaeaudio.cli import main
from vaeaudio.formats import latents, runs
from vaeaudio.formats.spectrogram_set import MANIFEST, Manifest
from vaeaudio.models import kernel_cache, saving
from vaeaudio.settings import EvaluateSettings
from vaeaudio.sound import dsp
from vaeaudio.util.errors import DataError, ModelError, environment_error

ROOT = Path(__file__).resolve().parents[1]


# -- 12. libsndfile's errors -------------------------------------------------------------------------------------
@pytest.mark.slow
def test_synth_into_a_read_only_folder_is_one_line(tiny_run, tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir(mode=0o555)
    done = subprocess.run(unprivileged([sys.executable, "-m", "vaeaudio.cli", "synth", "--run", str(tiny_run), "--z",
                                        "0", "0", str(ro / "x.wav"), "--quiet"]),
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=300)
    assert (done.returncode, done.stderr) == (1, f"error: {ro / 'x.wav'}: permission denied (check the owner and mode "
                                                 "of the file and its folder (ls -l), or choose another folder, then "
                                                 "run the command again)\n")
    assert not list(ro.iterdir())


@pytest.fixture
def full_disk(tmp_path):
    """A 64 KiB tmpfs filled to the last byte."""
    where = tmp_path / "tmpfs"
    where.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(where)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here (not root): no full disk to write to")
    try:
        with open(where / "filler", "wb") as f:
            try:
                f.write(b"\0" * 128 * 1024)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
        yield where
    finally:
        subprocess.run(["umount", str(where)], check=True)


def test_a_wav_on_a_full_disk_is_an_os_error_naming_the_file(full_disk):
    path = full_disk / "x.wav"
    with pytest.raises(OSError) as caught:
        dsp.write_wav(path, np.zeros(22050, np.float32))
    problem = environment_error(caught.value)
    assert problem is not None and str(problem) == f"{path}: no space left on the device"
    assert sorted(p.name for p in full_disk.iterdir()) == ["filler"]


# -- 13. synth outputs in the way ---------------------------------------------------------------------------------
def test_synth_outputs_in_the_way_are_refused(tmp_path, capsys):
    (tmp_path / "x.wav").mkdir()
    (tmp_path / "existing.txt").write_text("mine")
    assert main(["synth", "--z", "0", "0", str(tmp_path / "x.wav")]) == 2
    assert capsys.readouterr().err == (f"error: OUT {tmp_path / 'x.wav'} is a folder, and --z writes one file (give "
                                       "a new file name ending in .wav)\n")
    assert main(["synth", "--random", "2", str(tmp_path / "existing.txt")]) == 2
    assert capsys.readouterr().err == (f"error: OUTDIR {tmp_path / 'existing.txt'} exists and is not a folder (give a "
                                       "folder (new, or one to add WAVs to))\n")
    assert main(["synth", "--random", "2", str(tmp_path / "existing.txt" / "sub")]) == 2
    assert capsys.readouterr().err.startswith(f"error: {tmp_path / 'existing.txt'} is a file, so ")
    assert (tmp_path / "existing.txt").read_text() == "mine"


# -- 14. report folders -----------------------------------------------------------------------------------------
def test_each_run_gets_its_own_folder_off_the_pages_files():
    from vaeaudio.listening.report import section_names

    names = section_names([Path("x/r1"), Path("y/r1"), Path("r1-2"), Path("z/index.html"), Path("report.js"),
                           Path("r1")])
    assert names == ["r1", "r1-2", "r1-2-2", "index.html-2", "report.js-2", "r1-3"]


def test_a_report_into_the_current_folder_is_refused(fake_run, tmp_path, capsys, monkeypatch):
    page = tmp_path / "page"
    (page / "r1").mkdir(parents=True)
    (page / "report.json").write_text(json.dumps({"format": "vaeaudio-report/2"}))
    monkeypatch.chdir(page / "r1")
    assert main(["report", str(fake_run), "--out", ".."]) == 2
    assert capsys.readouterr().err == ("error: --out .. is (or holds) the current folder, and a report folder is "
                                       "replaced as a whole (run the command from outside it, or choose another "
                                       "--out)\n")
    assert (page / "report.json").is_file()


def test_a_report_name_too_long_is_one_line(fake_run, tmp_path, capsys):
    out = tmp_path / ("a" * 250)
    assert main(["report", str(fake_run), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: {tmp_path}/.{'a' * 250}.tmp-{os.getpid()}: the file name is too long for the file "
                          "system (choose a shorter name, then run the command again)")


@pytest.mark.slow
def test_a_synth_name_too_long_is_one_line(tiny_run, tmp_path, capsys):
    out = tmp_path / ("b" * 251 + ".wav")
    assert main(["synth", "--run", str(tiny_run), "--z", "0", "0", str(out), "--quiet"]) == 1
    assert "the file name is too long for the file system (choose a shorter name" in capsys.readouterr().err


# -- 15. JSON nested too deep -----------------------------------------------------------------------------------
def test_json_nested_200000_deep_is_damage_not_a_crash(tmp_path):
    deep = "[" * 200_000 + "]" * 200_000
    (tmp_path / kernel_cache.CACHE).write_text(deep)
    assert kernel_cache.read(tmp_path / kernel_cache.CACHE) == {}  # measured again, as other damaged caches
    (tmp_path / runs.CONFIG).write_text(deep)
    with pytest.raises(ModelError, match=r"config\.json is unreadable \(nested too deeply\)"):
        runs.load_config(tmp_path)
    (tmp_path / MANIFEST).write_text(deep)
    with pytest.raises(DataError, match=r"manifest\.json is not readable JSON \(nested too deeply\)"):
        Manifest.load(tmp_path)


# -- 16. tampered files ---------------------------------------------------------------------------------------------
def _mixture(path: Path, **arrays) -> Path:
    base = {"weights": np.ones((1, 1)), "means": np.zeros((1, 1, 2)), "cholesky": np.eye(2)[None, None]}
    np.savez(path, format=np.array(latents.FORMAT), **{**base, **arrays})
    return path


@pytest.mark.parametrize("arrays,why", [
    ({"means": np.zeros((1, 1, 3)), "cholesky": np.eye(3)[None, None]}, "3 latent dimensions; the run has 2"),
    ({"weights": np.full((1, 2), 0.7), "means": np.zeros((1, 2, 2)), "cholesky": np.tile(np.eye(2), (1, 2, 1, 1))},
     "the weights of a group are negative or do not sum to 1"),
    ({"weights": np.array([[1.5, -0.5]]), "means": np.zeros((1, 2, 2)), "cholesky": np.tile(np.eye(2), (1, 2, 1, 1))},
     "the weights of a group are negative or do not sum to 1"),
    ({"means": np.array([[["a", "b"]]])}, "it holds values that are not real numbers"),
    ({"weights": np.ones((200, 1)), "means": np.zeros((200, 1, 2)), "cholesky": np.tile(np.eye(2), (200, 1, 1, 1))},
     "shapes (200, 1), (200, 1, 2), (200, 1, 2, 2) are not (G, K), (G, K, L), (G, K, L, L) with G 1 or a set's "
     "classes (at most 127)"),
])
def test_a_tampered_latent_mixture_is_one_error(tmp_path, arrays, why):
    path = _mixture(tmp_path / "latents.npz", **arrays)
    with pytest.raises(ModelError) as caught:
        latents.LatentMixture.load(path, 2, False)
    assert str(caught.value) == f"{path} is not a vaeaudio-latents/1 file ({why})"


def test_a_mixture_that_does_not_fit_the_runs_classes_is_refused():
    one = latents.LatentMixture(np.ones((1, 1)), np.zeros((1, 1, 2)), np.eye(2)[None, None])
    three = latents.LatentMixture(np.ones((3, 1)), np.zeros((3, 1, 2)), np.tile(np.eye(2), (3, 1, 1, 1)))
    with pytest.raises(ValueError, match=r"^3 group\(s\); the run has 10 classes$"):
        three.check(2, False, 10)
    with pytest.raises(ValueError, match="^1 group; the run is conditional: it draws from a mixture per class$"):
        one.check(2, True, 10)
    one.check(2, False, 10)  # an unconditional run: one mixture in all (made before), or one per class


@pytest.mark.slow
def test_an_empty_latent_mixture_is_an_error_not_an_abort(tiny_run, tmp_path, capsys):
    run = Path(shutil.copytree(tiny_run, tmp_path / "run"))
    (run / latents.FILE).write_bytes(b"")
    args = ["synth", "--run", str(run), "--random", "2", str(tmp_path / "out")]
    assert main(args) == 1
    assert capsys.readouterr().err.startswith(f"error: {run / latents.FILE} is not a vaeaudio-latents/1 file")
    with pytest.raises(ModelError):
        main([*args, "--debug"])


@pytest.mark.slow
@pytest.mark.parametrize("audio,why", [({"sample_rate": 0}, "sample_rate: Input should be greater than or equal to "
                                                            "1000"),
                                       ({"n_fft": 7}, "n_fft: Input should be greater than or equal to 16")])
def test_audio_settings_out_of_range_in_a_run_config(tiny_run, tmp_path, audio, why):
    run = Path(shutil.copytree(tiny_run, tmp_path / "run"))
    cfg = json.loads((run / runs.CONFIG).read_text())
    cfg["data"]["audio"].update(audio)
    (run / runs.CONFIG).write_text(json.dumps(cfg))
    with pytest.raises(ModelError) as caught:
        runs.load_config(run)
    assert str(caught.value) == f"{run / runs.CONFIG} is damaged: its audio settings are out of range ({why})"


def test_a_binary_model_digest_is_damage(tmp_path):
    path = tmp_path / "model.keras"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("config.json", "{}")
    (tmp_path / "model.keras.sha256").write_bytes(bytes(range(256)))
    with pytest.raises(ModelError, match="is damaged: its sha256 differs from the one recorded when it was saved"):
        saving.check_model_file(path, "again")


@pytest.mark.slow
def test_a_tampered_metrics_json_is_evaluated_again(tiny_run, tmp_path):
    from vaeaudio.listening.report import _usable, evaluated

    run = Path(shutil.copytree(tiny_run, tmp_path / "run"))
    settings = EvaluateSettings(runs=[run], listen=0, samples_per_digit=0, recogniser=False)
    good, how = evaluated(run, settings)
    assert how == "ran (none yet)" and _usable(good)
    assert evaluated(run, settings)[1] == "reused"
    metrics = run / "eval" / "metrics.json"
    for tampered in ([good], {**good, "losses": {**good["losses"], "test": {"total": "low"}}},
                     {k: v for k, v in good.items() if k != "latent"}, {**good, "latent": None},
                     {**good, "recogniser": {"generated": [1]}}):
        assert not _usable(tampered)
        metrics.write_text(json.dumps(tampered))
        assert evaluated(run, settings)[1] == "ran (metrics.json is damaged)"


def test_demo_into_an_existing_file_is_refused(tmp_path, capsys):
    (tmp_path / "f").write_text("mine")
    assert main(["demo", "--out", str(tmp_path / "f")]) == 2
    assert capsys.readouterr().err == (f"error: --out {tmp_path / 'f'} is a file; the demo writes a folder (choose a "
                                       "new folder, e.g. --out demo)\n")
