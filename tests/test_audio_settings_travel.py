"""Every verb honours the audio settings a spectrogram set was made with (rate, clip length, STFT frame and hop)."""

from __future__ import annotations

import json
import runpy
import shutil
from pathlib import Path

import numpy as np
import soundfile as sf
from conftest import slow_fixture

from vaeaudio.cli import main
from vaeaudio.formats.spectrogram_set import SpectrogramSet
from vaeaudio.sound import dsp

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

CASES = {
    "hop128": ["--hop-length", "128"],
    "16k-12000": ["--sample-rate", "16000", "--clip-samples", "12000"],
    "nfft1024": ["--n-fft", "1024"],
}


@slow_fixture(scope="module", params=list(CASES))
def made(request, fsdd_small, tmp_path_factory):
    """(set folder, run folder, expected Transform) for one case: the set, and a 1-epoch tiny MLP-VAE on it."""
    root = tmp_path_factory.mktemp(request.param)
    spec = root / "spec"
    assert main(["preprocess", "--src", str(fsdd_small), "--out", str(spec), "--length-percentiles", "0", "100",
                 "--workers", "1", "--quiet", *CASES[request.param]]) == 0
    run = root / "run"
    assert main(["train", "mlp", "--data", str(spec), "--run-dir", str(run), "--hidden", "32", "--epochs", "1",
                 "--batch-size", "32", "--latent-dim", "2", "--quiet"]) == 0
    flags = dict(zip(CASES[request.param][::2], CASES[request.param][1::2]))  # --hop-length 128: hop_length=128
    expected = dsp.Transform(**{flag[2:].replace("-", "_"): int(value) for flag, value in flags.items()})
    return spec, run, expected


def _rate_and_length(path: Path) -> tuple[int, int]:
    info = sf.info(path)
    return info.samplerate, info.frames


def test_the_run_records_the_sets_audio_settings(made):
    spec, run, expected = made
    assert SpectrogramSet(spec).transform == expected
    config = json.loads((run / "config.json").read_text())
    assert config["data"]["audio"] == expected.as_dict()
    assert tuple(config["data"]["shape"]) == expected.shape


def test_synth_z_and_random_write_the_sets_rate_and_length(made, tmp_path):
    _, run, expected = made
    want = (expected.sample_rate, expected.clip_samples)
    assert main(["synth", "--run", str(run), "--z", "0.3", "-0.4", str(tmp_path / "z.wav"), "--quiet"]) == 0
    assert _rate_and_length(tmp_path / "z.wav") == want
    assert main(["synth", "--run", str(run), "--random", "2", "--griffin-lim-iters", "4", str(tmp_path / "r"),
                 "--quiet"]) == 0
    assert [_rate_and_length(p) for p in sorted((tmp_path / "r").glob("*.wav"))] == [want, want]
    assert main(["synth", "--run", str(run), "--random", "1", "--phase", "zero", str(tmp_path / "zero"),
                 "--quiet"]) == 0
    assert [_rate_and_length(p) for p in (tmp_path / "zero").glob("*.wav")] == [want]


def test_evaluate_listening_files_have_the_sets_rate_and_length(made):
    _, run, expected = made
    work = run.parent / "eval-run"
    shutil.copytree(run, work, dirs_exist_ok=True)
    assert main(["evaluate", str(work), "--listen", "2", "--griffin-lim-iters", "4", "--samples-per-digit", "0",
                 "--quiet"]) == 0
    wavs = sorted((work / "eval" / "listen").glob("*.wav"))
    assert len(wavs) == 6  # 2 clips x original, representation, model
    assert {_rate_and_length(p) for p in wavs} == {(expected.sample_rate, expected.clip_samples)}


def test_latent_walk_example_uses_the_runs_settings(made, tmp_path):
    _, run, expected = made
    walk = runpy.run_path(str(EXAMPLES / "latent_walk.py"))["walk"]
    files = walk(run, tmp_path / "walk", steps=2)
    assert [_rate_and_length(f) for f in files] == [(expected.sample_rate, expected.clip_samples)] * 2


def test_the_classifier_featurises_as_the_set_does(made, fsdd_small, tiny_run, tmp_path, capsys):
    spec, _, expected = made
    out = tmp_path / "judge"
    assert main(["classifier", "train", "--data", str(spec), "--out", str(out), "--epochs", "1", "--quiet"]) == 0
    from vaeaudio.judging.judge import Judge

    judge = Judge(out)
    assert judge.transform == expected
    stored = SpectrogramSet(spec).arrays("train", ("spec", "path"))
    source = fsdd_small / stored["path"][0]
    again = judge.featurise_files([source])
    assert again.shape == (1, *expected.shape)
    np.testing.assert_allclose(again[0], stored["spec"][0], atol=1e-5)
    # generated audio at the run's rate is featurised at the judge's rate: the same clip at 8 kHz agrees closely
    y, sr = dsp.read(source)
    from_8k = judge.featurise_waves(y[None], sr)
    assert from_8k.shape == again.shape and np.abs(from_8k - again).mean() < 0.02
    # a judge of another representation is refused, not fed spectrograms it cannot read
    run = shutil.copytree(tiny_run, tmp_path / "default-run")
    capsys.readouterr()
    assert main(["evaluate", str(run), "--classifier", str(out), "--samples-per-digit", "1", "--listen", "0",
                 "--no-recogniser", "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: the classifier in {out} was trained on spectrograms made with other audio "
                          "settings") and err.count("\n") == 1


def test_a_run_made_before_audio_settings_were_recorded(made, tmp_path, capsys):
    from vaeaudio.formats.runs import load_config
    from vaeaudio.util import progress

    spec, run, expected = made
    old = tmp_path / "old-run"
    shutil.copytree(run, old)
    config = json.loads((old / "config.json").read_text())
    del config["data"]["audio"]
    (old / "config.json").write_text(json.dumps(config))
    progress.configure(quiet=False)
    assert load_config(old).transform() == expected  # its set is still there: its settings
    assert load_config(old).transform() == expected
    err = capsys.readouterr().err
    assert err.count(f"run {old.name} predates recorded audio settings; using those of its set") == 1
    config["data"]["root"] = str(tmp_path / "gone")
    (old / "config.json").write_text(json.dumps(config))
    assert load_config(old).transform() == dsp.Transform()  # nothing to go by: the defaults of that time
