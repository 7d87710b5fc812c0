"""vaeaudio synth: latent parsing, files, WAV format and level, zero phase."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from vaeaudio.cli import main
from vaeaudio.listening.synth import grid_points
from vaeaudio.models.sharpen import sharpen_power
from vaeaudio.sound import dsp
from vaeaudio.sound.render import render


def _wav(path):
    y, sr = sf.read(path, dtype="float32")
    info = sf.info(path)
    return y, sr, info


def test_z_as_typed_with_negative_numbers(tiny_run, tmp_path, capsys):
    out = tmp_path / "out.wav"
    assert main(["synth", "--run", str(tiny_run), "--z", "0.5", "-1.2", str(out), "--quiet"]) == 0
    assert capsys.readouterr().out.strip() == f"{out}\tz=0.5 -1.2"
    y, sr, info = _wav(out)
    assert (sr, len(y), info.subtype, info.channels) == (22050, 17640, "PCM_16", 1)
    assert np.abs(y).max() == pytest.approx(0.891, abs=2e-3)  # -1 dBFS
    assert np.sqrt(np.mean(y**2)) > 0.01  # not silent


@pytest.mark.parametrize("args,message", [
    (["--z", "0.5"], "--z: the run's latent space has 2 dimension(s), got 1 value(s)"),
    (["--z", "0.5", "nan"], "--z: values must be finite numbers"),
    (["--z", "0.5", "inf"], "--z: values must be finite numbers"),
    (["--z", "0.5", "x1"], "--z: Input should be a valid number"),
    (["--random", "0"], "--random: Input should be greater than or equal to 1"),
    (["--random", "2", "--grid", "2"], "choose exactly one of --z"),
    (["--random", "2", "--sharpen", "0.1"], "--sharpen: must be 'auto' or a power from 0.25 to 8 (got '0.1')"),
    (["--random", "2", "--sharpen", "nan"], "--sharpen: must be 'auto' or a power from 0.25 to 8 (got 'nan')"),
    (["--random", "2", "--sharpen", "sharp"], "--sharpen: must be 'auto' or a power from 0.25 to 8 (got 'sharp')"),
])
def test_bad_latent_requests_are_one_line_exit_2(tiny_run, tmp_path, capsys, args, message):
    target = str(tmp_path / ("o.wav" if "--z" in args else "dir"))
    rc = main(["synth", "--run", str(tiny_run), *args, target, "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith(f"error: {message}") and err.count("\n") == 1
    assert not list(tmp_path.iterdir())


def test_random_draws_are_seeded_and_named_with_z(tiny_run, tmp_path, capsys):
    args = ["synth", "--run", str(tiny_run), "--random", "5", "--seed", "1", "--quiet"]
    assert main([*args, str(tmp_path / "a")]) == 0
    assert main([*args, str(tmp_path / "b")]) == 0
    wavs = sorted((tmp_path / "a").glob("*.wav"))
    assert len(wavs) == 5 and wavs[0].name.startswith("random-000_z")
    z = np.loadtxt(tmp_path / "a" / "z.csv", delimiter=",", skiprows=1)
    assert z.shape == (5, 2)
    assert wavs[0].name == f"random-000_z{z[0, 0]:+.2f}_{z[0, 1]:+.2f}.wav"
    for w in wavs:
        assert np.array_equal(_wav(w)[0], _wav(tmp_path / "b" / w.name)[0])
    assert len(capsys.readouterr().out.strip().splitlines()) == 10


def test_grid_covers_prior_quantiles(tiny_run, tmp_path):
    g = grid_points(3)
    assert g.shape == (9, 2) and g[4].tolist() == [0.0, 0.0] and g[0][0] == pytest.approx(-0.9674, abs=1e-4)
    assert main(["synth", "--run", str(tiny_run), "--grid", "3", str(tmp_path / "g"), "--quiet"]) == 0
    assert len(list((tmp_path / "g").glob("grid-*.wav"))) == 9


def test_zero_phase_is_the_reference_and_differs(tiny_run, tmp_path):
    base = ["synth", "--run", str(tiny_run), "--z", "0", "0", "--quiet"]
    assert main([*base, str(tmp_path / "gl.wav")]) == 0
    assert main([*base, "--phase", "zero", str(tmp_path / "zero.wav")]) == 0
    gl, zero = _wav(tmp_path / "gl.wav")[0], _wav(tmp_path / "zero.wav")[0]
    assert np.abs(zero).max() == pytest.approx(0.891, abs=2e-3)
    assert not np.allclose(gl, zero)


def test_run_records_the_training_level(tiny_cond_run, spec_small):
    from vaeaudio.formats.runs import load_config
    from vaeaudio.formats.spectrogram_set import SpectrogramSet

    train = SpectrogramSet(spec_small).arrays("train", ("spec",))["spec"]
    assert load_config(tiny_cond_run).data.mean == pytest.approx(float(train.mean(dtype=np.float64)), rel=1e-6)


def test_sharpen_auto_is_a_contrast_factor_beyond_the_training_level(tiny_cond_run):
    from vaeaudio.formats.runs import load_config
    from vaeaudio.models.saving import load_model

    config, model = load_config(tiny_cond_run), load_model(tiny_cond_run)
    assert sharpen_power(1.5, model, config) == 1.5
    power = sharpen_power("auto", model, config)
    assert 0.25 <= power <= 8
    z = np.random.default_rng(0).standard_normal((64, 2)).astype(np.float32)
    decoded = np.asarray(model.decode(z, np.arange(64) % 10), dtype=np.float64)
    assert (decoded ** (power / 1.5)).mean() == pytest.approx(config.data.mean, rel=2e-3)  # AUTO_CONTRAST 1.5
    older = config.model_copy(update={"data": config.data.model_copy(update={"mean": None})})
    assert sharpen_power("auto", model, older) == 1.25  # a run without the recorded level: the fixed default


def test_sharpen_lowers_quiet_bins_only():
    spec = np.full((1, 257, 69), 0.3, np.float32)
    spec[0, 20:40, 10:50] = 1.0
    plain, sharp = (np.abs(np.fft.rfft(render(spec, -80.0, 0.0, dsp.Transform(), n_iter=16, sharpen=p)[0]))
                    for p in (1.0, 2.0))
    # peak-normalised, so the loud part keeps its level and the 0.3 floor (-56 dB) drops to 0.09 (-73 dB)
    assert np.median(sharp) < 0.5 * np.median(plain)


def test_auto_power_is_the_same_everywhere_and_said_only_when_verbose(tiny_cond_run, tmp_path, capsys):
    assert main(["synth", "--run", str(tiny_cond_run), "--random", "2", str(tmp_path / "a")]) == 0
    assert "--sharpen auto" not in capsys.readouterr().err  # a choice made for the user is a detail
    assert main(["synth", "--run", str(tiny_cond_run), "--random", "2", "--seed", "7", str(tmp_path / "b"), "-v"]) == 0
    said = re.search(r"--sharpen auto: power ([0-9.]+) for", capsys.readouterr().err)
    assert said, "the power is said with --verbose"
    assert main(["synth", "--run", str(tiny_cond_run), "--random", "2", "--sharpen", "1", str(tmp_path / "c"),
                 "-v"]) == 0
    assert "--sharpen auto" not in capsys.readouterr().err
    # evaluate with another seed renders with the same power as synth did
    run = Path(shutil.copytree(tiny_cond_run, tmp_path / "run"))
    assert main(["evaluate", str(run), "--seed", "3", "--samples-per-digit", "0", "--listen", "0", "--quiet"]) == 0
    metrics = json.loads((run / "eval" / "metrics.json").read_text())
    assert metrics["recogniser"]["sharpen"] == float(said.group(1))


def test_missing_run_is_one_line(tmp_path, capsys):
    rc = main(["synth", "--run", str(tmp_path / "nope"), "--z", "0", "0", str(tmp_path / "o.wav")])
    err = capsys.readouterr().err
    assert rc == 1 and err.startswith("error: no training run at") and err.count("\n") == 1


def test_digit_of_a_conditional_run(tiny_cond_run, tmp_path, capsys):
    args = ["synth", "--run", str(tiny_cond_run), "--random", "3", "--seed", "4", "--quiet"]
    assert main([*args, "--digit", "7", str(tmp_path / "seven")]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3 and all("\tdigit=7\t" in line for line in lines)
    wavs = sorted((tmp_path / "seven").glob("*.wav"))
    assert [w.name[:17] for w in wavs] == ["random-000_digit7", "random-001_digit7", "random-002_digit7"]
    table = np.loadtxt(tmp_path / "seven" / "z.csv", delimiter=",", skiprows=1)
    assert table.shape == (3, 3) and (table[:, 0] == 7).all()
    assert main([*args, "--digit", "3", str(tmp_path / "three")]) == 0
    three = sorted((tmp_path / "three").glob("*.wav"))
    assert np.loadtxt(tmp_path / "three" / "z.csv", delimiter=",", skiprows=1)[:, 1:].tolist() == table[:, 1:].tolist()
    assert not np.array_equal(_wav(wavs[0])[0], _wav(three[0])[0])  # same z, another digit: another sound
    # without --digit, a conditional run makes the digits 0-9 in turn
    assert main(["synth", "--run", str(tiny_cond_run), "--random", "12", "--quiet", str(tmp_path / "all")]) == 0
    digits = np.loadtxt(tmp_path / "all" / "z.csv", delimiter=",", skiprows=1)[:, 0]
    assert digits.tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]


@pytest.mark.parametrize("which, digit, message", [
    ("plain", "7", "--digit: run mlp-tiny is not conditional"),
    ("cond", "10", "--digit: Input should be less than or equal to 9"),
    ("cond", "-1", "--digit: Input should be greater than or equal to 0"),
])
def test_bad_digit_is_one_line_exit_2(tiny_run, tiny_cond_run, tmp_path, capsys, which, digit, message):
    run = tiny_run if which == "plain" else tiny_cond_run
    rc = main(["synth", "--run", str(run), "--digit", digit, "--random", "2", str(tmp_path / "d"), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith(f"error: {message}") and err.count("\n") == 1
    assert not (tmp_path / "d").exists()


@pytest.mark.parametrize("mode", [["--random", "2"], ["--grid", "2"]])
def test_a_folder_mode_refuses_a_wav_name(tiny_run, tmp_path, capsys, mode):
    rc = main(["synth", "--run", str(tiny_run), *mode, str(tmp_path / "out.wav"), "--quiet"])
    assert rc == 2 and capsys.readouterr().err == (f"error: {mode[0]} writes a folder of WAVs: the last argument is a "
                                                   f"folder, not '{tmp_path / 'out.wav'}' (e.g. {tmp_path / 'out'}/)\n")
    assert not list(tmp_path.iterdir())


def test_a_digit_word_as_label_points_at_digit(tiny_cond_run, tmp_path, capsys):
    rc = main(["synth", "--run", str(tiny_cond_run), "--label", "Seven", "--random", "1", str(tmp_path / "d"),
               "--quiet"])
    assert rc == 2 and capsys.readouterr().err == ("error: --label 'Seven': the run's classes are 0, 1, 2, 3, 4, 5, 6, "
                                                   "7, 8, 9 (ask with --digit 7)\n")
    assert not list(tmp_path.iterdir())


def test_grid_of_a_conditional_run_shows_one_digit(tiny_cond_run, tmp_path, capsys):
    rc = main(["synth", "--run", str(tiny_cond_run), "--grid", "2", str(tmp_path / "g"), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("error: --grid on a conditional run needs --digit D") and err.count("\n") == 1
    assert not (tmp_path / "g").exists()
    assert main(["synth", "--run", str(tiny_cond_run), "--grid", "2", "--digit", "5", str(tmp_path / "g"),
                 "--quiet"]) == 0
    assert sorted(p.name[:17] for p in (tmp_path / "g").glob("*.wav")) == ["grid-digit5-00-00", "grid-digit5-00-01",
                                                                          "grid-digit5-01-00", "grid-digit5-01-01"]
    assert np.loadtxt(tmp_path / "g" / "z.csv", delimiter=",", skiprows=1)[:, 0].tolist() == [5, 5, 5, 5]
