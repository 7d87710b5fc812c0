"""vaeaudio classifier: learns separable synthetic digits, predicts WAVs, feeds evaluate's generation metrics."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import soundfile as sf
from conftest import slow_fixture

from vaeaudio.cli import main
from vaeaudio.settings import ClassifierSettings


def tone_corpus(root, speakers=3, takes=6, sr=16000):
    """'Digit' d is a 0.5 s tone at 300 x (d + 1) Hz with a little noise, one WAV per take."""
    rng = np.random.default_rng(0)
    for s in range(speakers):
        for d in range(10):
            for t in range(takes):
                n = int(sr * rng.uniform(0.4, 0.6))
                tt = np.arange(n) / sr
                y = 0.5 * np.sin(2 * np.pi * 300 * (d + 1) * (1 + 0.01 * s) * tt) + 0.01 * rng.standard_normal(n)
                sf.write(root / f"{d}_s{s}_{t}.wav", (y * np.hanning(n)).astype(np.float32), sr, subtype="PCM_16")
    return root


@pytest.fixture(scope="module")
def tones(tmp_path_factory):
    src = tone_corpus(tmp_path_factory.mktemp("tones"))
    out = tmp_path_factory.mktemp("tones_spec") / "spec"
    assert main(["preprocess", "--src", str(src), "--out", str(out), "--length-percentiles", "0", "100",
                 "--workers", "1", "--quiet"]) == 0
    return src, out


@slow_fixture(scope="module")
def tone_classifier(tones, tmp_path_factory):
    _, spec = tones
    out = tmp_path_factory.mktemp("clf") / "classifier"
    assert main(["classifier", "train", "--data", str(spec), "--out", str(out), "--epochs", "25",
                 "--patience", "8", "--quiet"]) == 0
    return out


def test_learns_ten_tones(tone_classifier):
    cfg = json.loads((tone_classifier / "config.json").read_text())
    assert cfg["format"] == "vaeaudio-classifier/1" and cfg["shape"] == [257, 69]
    assert cfg["accuracy"]["test"] >= 0.9, cfg["accuracy"]
    assert len(cfg["epoch_seconds"]) == cfg["epochs"] and all(s > 0 for s in cfg["epoch_seconds"])
    assert sum(cfg["epoch_seconds"]) <= cfg["seconds"]
    import keras

    model = keras.saving.load_model(tone_classifier / "classifier.keras", safe_mode=True)
    assert model.output_shape == (None, 10)


def test_predict_wavs(tones, tone_classifier, tmp_path, capsys):
    src, _ = tones
    wavs = [src / f"{d}_s1_0.wav" for d in (0, 4, 9)]
    assert main(["classifier", "predict", "--model", str(tone_classifier), *map(str, wavs), "--quiet"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split("\t")[0] for line in lines] == [str(w) for w in wavs]
    assert [int(line.split("\t")[1]) for line in lines] == [0, 4, 9]
    assert all(0.1 <= float(line.split("\t")[2]) <= 1.0 for line in lines)


def test_predict_errors_are_one_line(tone_classifier, tmp_path, capsys):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not a wav at all")
    assert main(["classifier", "predict", "--model", str(tone_classifier), str(bad)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: cannot read {bad}") and err.count("\n") == 1
    assert main(["classifier", "predict", "--model", str(tmp_path), str(bad)]) == 1
    assert "no classifier in" in capsys.readouterr().err


def test_predict_without_model_says_where_evaluate_keeps_one(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # no runs/classifier-* here
    assert main(["classifier", "predict", "a.wav"]) == 1
    assert capsys.readouterr().err == ("error: no classifier under runs/ (train one with `vaeaudio classifier train`, "
                                       "or pass --model DIR; evaluate keeps one in each set it judges: "
                                       "--model SET/classifier)\n")


def test_evaluate_reports_generation_metrics(tiny_run, tone_classifier, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    assert main(["evaluate", str(run), "--classifier", str(tone_classifier), "--samples-per-digit", "3",
                 "--listen", "0", "--griffin-lim-iters", "8", "--quiet"]) == 0
    g = json.loads((run / "eval" / "metrics.json").read_text())["generation"]
    assert g["samples"] == 30 and g["classifier"] == str(tone_classifier)
    assert g["griffin_lim_iters"] == 8 and 0.25 <= g["sharpen"] <= 8  # the auto power, as a number
    # the same figures again by hand: the same draws, the judge's probabilities, the metric formulas
    from vaeaudio.formats.runs import load_config
    from vaeaudio.formats.spectrogram_set import SpectrogramSet
    from vaeaudio.judging import metrics
    from vaeaudio.judging.generation import generate
    from vaeaudio.judging.judge import Judge
    from vaeaudio.models.saving import load_model

    config, judge = load_config(run), Judge(tone_classifier)
    chunks = list(generate(load_model(run), config, 3, 0, 8, g["sharpen"]))
    waves = np.concatenate([w for w, _ in chunks])
    assert waves.shape == (30, 17640) and all(d is None for _, d in chunks)
    probs, feats = judge.predict(judge.featurise_waves(waves, 22050))
    real_p, real_f = judge.predict(SpectrogramSet(config.data.root).arrays("test", ("spec",))["spec"])
    assert g["inception_score"] == pytest.approx(metrics.inception_score(probs), rel=1e-4)
    assert g["real_test_inception_score"] == pytest.approx(metrics.inception_score(real_p), rel=1e-4)
    assert g["frechet_distance"] == pytest.approx(metrics.frechet_distance(feats, real_f), rel=1e-3)
    assert "generated_accuracy" not in g  # an unconditional run has no digit to check
    h = json.loads((run / "eval" / "metrics.json").read_text())["recogniser"]
    gen = h["generated"]  # no class asked for: how the 30 clips spread over the classes heard
    assert sorted(gen) == ["clips", "entropy_ratio", "heard_share", "heard_some_over_real", "nothing_heard"]
    assert gen["clips"] == 30 and sorted(gen["heard_share"]) == [str(d) for d in range(10)]
    assert sum(gen["heard_share"].values()) + gen["nothing_heard"] == pytest.approx(1.0)
    some, real_some = 1 - gen["nothing_heard"], 1 - h["real_train"]["nothing_heard"]
    assert gen["heard_some_over_real"] == pytest.approx(some / real_some)
    assert h["generated_over_real"] is None  # no digit was asked for
    assert "IS gen / real" in (run / "eval" / "table.md").read_text()


def test_evaluate_trains_caches_and_reuses_a_judge(tiny_cond_run, spec_small, tmp_path, capsys):
    """No --classifier: one is trained beside the spectrogram set, reused next time, replaced when its settings are
    stale."""
    data = tmp_path / "spec"
    shutil.copytree(spec_small, data, ignore=shutil.ignore_patterns("classifier"))
    run = tmp_path / "run"
    shutil.copytree(tiny_cond_run, run)
    args = ["evaluate", str(run), "--data", str(data), "--samples-per-digit", "2", "--listen", "0",
            "--griffin-lim-iters", "4"]
    cached = data / "classifier" / "classifier.keras"

    assert main(args) == 0
    assert "training a classifier" in capsys.readouterr().err and cached.is_file()
    g = json.loads((run / "eval" / "metrics.json").read_text())["generation"]
    assert g["classifier"] == str(data / "classifier") and g["samples"] == 20
    per_digit = g["generated_accuracy_per_digit"]
    assert set(per_digit) == set(map(str, range(10))) and all(v in (0.0, 0.5, 1.0) for v in per_digit.values())
    assert g["generated_accuracy"] == pytest.approx(sum(per_digit.values()) / 10)  # 2 clips of each digit
    h = json.loads((run / "eval" / "metrics.json").read_text())["recogniser"]
    assert h["generated"]["clips"] == 20 and set(h["generated"]["per_digit"]) == set(map(str, range(10)))
    assert h["generated_over_real"] == pytest.approx(h["generated"]["accuracy"] / h["real_train"]["accuracy"])
    stamp = cached.stat().st_mtime_ns

    assert main(args) == 0
    assert "using the cached classifier" in capsys.readouterr().err
    assert cached.stat().st_mtime_ns == stamp

    cfg_path = data / "classifier" / "config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["settings"]["noise_floor"] = 0.0  # as an older vaeaudio's judge: trained without the noise floor
    cfg_path.write_text(json.dumps(cfg))
    assert main(args) == 0
    assert "trained with other settings" in capsys.readouterr().err
    assert json.loads(cfg_path.read_text())["settings"]["noise_floor"] == ClassifierSettings().noise_floor > 0


def test_noise_floor_only_in_training():
    from vaeaudio.judging.judge import _noise_floor_layer

    x = np.zeros((4, 257, 69), np.float32)
    x[:, 10:20, 5:40] = np.linspace(0.2, 1.0, 35, dtype=np.float32)  # a 'formant' over silence at the floor
    layer = _noise_floor_layer()(0.3, seed=3)
    np.testing.assert_array_equal(np.asarray(layer(x, training=False)), x)
    y = np.asarray(layer(x, training=True))
    assert y.shape == x.shape
    np.testing.assert_allclose(y.min(axis=(1, 2)), 0.0, atol=1e-6)
    np.testing.assert_allclose(y.max(axis=(1, 2)), 1.0, atol=1e-6)
    silent = y[:, 100:, :]  # bins at the floor now hold noise: positive somewhere, never above the clip's peak
    assert (silent > 0).mean() > 0.3 and silent.max() < 0.6
    assert (y[:, 10:20, 39] > 0.99).all()  # the loudest frame stays the loudest


@pytest.mark.slow
def test_a_damaged_cached_judge_is_named_and_replaced(spec_small, tmp_path, capsys, monkeypatch):
    import vaeaudio.judging.generation as generation
    from vaeaudio.formats.spectrogram_set import SpectrogramSet
    from vaeaudio.util import progress

    data = tmp_path / "spec"
    shutil.copytree(spec_small, data, ignore=shutil.ignore_patterns("classifier"))
    folder = data / "classifier"
    folder.mkdir()
    (folder / "classifier.keras").write_bytes(b"not a model")
    (folder / "config.json").write_text('{"format": "vaeaudio-classifier/1"}')
    monkeypatch.setattr(generation, "ClassifierSettings", lambda **kw: ClassifierSettings(**kw, epochs=1))  # quick
    progress.configure(quiet=False)
    judge = generation.cached_judge(SpectrogramSet(data))
    err = capsys.readouterr().err
    assert (f"(the cached one is unusable: {folder / 'config.json'} is not a vaeaudio-classifier/1 config "
            "(no data); cached in") in err
    assert judge.config["epochs"] == 1 and (folder / "classifier.keras").stat().st_size > 10_000


def test_an_epoch_of_a_large_split_is_a_slice_of_it():
    """--epoch-clips 2048 at batch 64: 32 steps an epoch of a 22,842-clip split (357 steps), checked on 2,048 of
    its 2,538 val clips spread evenly; a split smaller than that, or --epoch-clips 0, trains and checks whole."""
    from vaeaudio.judging.judge import epoch_plan

    steps, check = epoch_plan(ClassifierSettings(), 357, 2538)
    assert steps == 32 and len(check) == 2048 and check[0] == 0 and check[-1] == 2537
    assert len(set(check.tolist())) == 2048
    assert epoch_plan(ClassifierSettings(epoch_clips=100, batch_size=64), 357, 80)[0] == 2  # a partial batch counts
    assert epoch_plan(ClassifierSettings(), 30, 235) == (30, None)  # FSDD's 1,903 clips: as before
    assert epoch_plan(ClassifierSettings(epoch_clips=0), 357, 2538) == (357, None)
