"""Your own sounds end to end: a 3-class non-speech set (tones, chirps, noise bursts) made by the test trains a tiny
conditional model whose `synth --label` output the set's own classifier judges as the class asked for; then
`train --init-from` fine-tunes it on a set with other classes, and refuses what it cannot start from."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import slow_fixture

from vaeaudio.cli import main
from vaeaudio.formats.spectrogram_set import SpectrogramSet

SR = 8000
AUDIO = ["--sample-rate", str(SR), "--clip-samples", "2000", "--n-fft", "128", "--hop-length", "128",
         "--workers", "1"]
CLASSES = ("chirp", "noise", "tone")


def _sound(kind: str, i: int, rng: np.random.Generator) -> np.ndarray:
    """0.25 s of one class: a steady tone (400-600 Hz), an upward chirp (300 -> 3000 Hz) or a burst of white noise."""
    t = np.arange(2000) / SR
    if kind == "tone":
        y = np.sin(2 * np.pi * (400 + 20 * i) * t)
    elif kind == "chirp":
        f0, f1 = 300 + 10 * i, 3000
        y = np.sin(2 * np.pi * (f0 * t + (f1 - f0) * t**2 / (2 * t[-1])))
    else:
        y = rng.standard_normal(len(t)) * (t < 0.15)
    return (0.4 * y / np.abs(y).max() + 0.003 * rng.standard_normal(len(t))).astype(np.float32)


def make_sounds(root: Path, classes=CLASSES, per_class: int = 12) -> Path:
    rng = np.random.default_rng(0)
    for kind in classes:
        (root / kind).mkdir(parents=True)
        for i in range(per_class):
            sf.write(root / kind / f"{i}.wav", _sound(kind, i, rng), SR)
    return root


@slow_fixture(scope="module")
def sounds_run(tmp_path_factory):
    """(set, run): the 3-class set (30 clips a class) and a finished 40-epoch conditional MLP-VAE on it, with a
    latent mixture per class to draw from."""
    root = tmp_path_factory.mktemp("own")
    src = make_sounds(root / "sounds", per_class=30)
    assert main(["preprocess", "--src", str(src), "--out", str(root / "set"), *AUDIO, "--quiet"]) == 0
    assert main(["train", "mlp", "--data", str(root / "set"), "--run-dir", str(root / "run"), "--conditional",
                 "--hidden", "64", "--latent-dim", "2", "--epochs", "40", "--batch-size", "8", "--seed", "1",
                 "--latent-mixture", "2", "--quiet"]) == 0
    return root / "set", root / "run"


def test_synth_label_makes_the_class_its_own_classifier_hears(sounds_run, tmp_path, capsys):
    data, run = sounds_run
    config = json.loads((run / "config.json").read_text())
    assert config["data"]["classes"] == list(CLASSES) and config["parent"] is None
    # it stops at its best val accuracy: given the patience, it is confident by then
    assert main(["classifier", "train", "--data", str(data), "--out", str(tmp_path / "judge"), "--epochs", "60",
                 "--patience", "60", "--batch-size", "8", "--lr", "3e-3", "--quiet"]) == 0
    from vaeaudio.judging.judge import Judge

    judge = Judge(tmp_path / "judge")
    capsys.readouterr()
    assert judge.classes == list(CLASSES) and judge.config["accuracy"]["test"] == 1.0
    for k, name in enumerate(CLASSES):
        out = tmp_path / name
        assert main(["synth", "--run", str(run), "--label", name, "--random", "4", "--seed", "3", str(out),
                     "--quiet"]) == 0
        lines = capsys.readouterr().out.splitlines()
        assert len(lines) == 4 and all(f"\tlabel={name}\t" in line for line in lines)
        files = sorted(out.glob("*.wav"))
        assert [f.name.split("_")[1] for f in files] == [name] * 4
        probs, _ = judge.predict(judge.featurise_files(files))
        assert probs.argmax(1).tolist() == [k] * 4 and probs[:, k].min() > 0.5, (name, probs.round(2))
    rc = main(["synth", "--run", str(run), "--digit", "1", "--random", "1", str(tmp_path / "d"), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("error: --digit: the run's classes are names (chirp, noise, tone, ...), not "
                                      "digits (ask with --label, e.g. --label chirp)")
    rc = main(["synth", "--run", str(run), "--label", "bark", "--random", "1", str(tmp_path / "b"), "--quiet"])
    assert rc == 2 and capsys.readouterr().err == "error: --label 'bark': the run's classes are chirp, noise, tone\n"
    rc = main(["synth", "--run", str(run), "--label", "Tone", "--random", "1", str(tmp_path / "t"), "--quiet"])
    assert rc == 2 and capsys.readouterr().err == ("error: --label 'Tone': the run's classes are chirp, noise, tone "
                                                   "(ask with --label tone)\n")


def test_init_from_fine_tunes_on_other_classes_and_refuses_mismatches(sounds_run, tmp_path, capsys):
    data, parent = sounds_run
    src = make_sounds(tmp_path / "more", classes=("tone", "chirp", "hiss"), per_class=6)
    assert main(["preprocess", "--src", str(src), "--out", str(tmp_path / "set"), *AUDIO, "--quiet"]) == 0
    child = tmp_path / "child"
    args = ["train", "mlp", "--data", str(tmp_path / "set"), "--conditional", "--hidden", "64", "--latent-dim", "2",
            "--batch-size", "8", "--init-from", str(parent)]
    assert main([*args, "--run-dir", str(child), "--epochs", "1"]) == 0
    assert "--init-from run: 2 of 3 classes keep a learned label row; 1 start fresh" in capsys.readouterr().err
    config = json.loads((child / "config.json").read_text())
    assert config["parent"]["run"] == str(parent) and config["parent"]["classes"] == list(CLASSES)
    assert config["parent"]["label_rows"] == {"chirp": "chirp", "tone": "tone"}
    assert config["data"]["classes"] == ["chirp", "hiss", "tone"]

    from vaeaudio.models.saving import load_model

    old, new = load_model(parent), load_model(child)
    assert new.classes == 3 and old.classes == 3
    k_old = np.asarray(old.encoder.get_layer("enc_dense_0").kernel)
    k_new = np.asarray(new.encoder.get_layer("enc_dense_0").kernel)
    assert k_old.shape == k_new.shape == (65 * 16 + 3, 64)

    rc = main([*args[:-4], "--latent-dim", "3", "--init-from", str(parent), "--run-dir", str(tmp_path / "x"),
               "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and err == ("error: --init-from run: it was trained with latent_dim 2 (asked: 3) (give the same "
                               "model flags as the parent run)\n")
    assert main(["preprocess", "--src", str(src), "--out", str(tmp_path / "set16"), *AUDIO, "--sample-rate", "16000",
                 "--quiet"]) == 0
    rc = main([*args[:2], "--data", str(tmp_path / "set16"), *args[4:], "--run-dir", str(tmp_path / "y"),
               "--quiet"])
    err = capsys.readouterr().err
    assert rc == 1 and err.startswith("error: --init-from run: its set's audio settings (") and err.count("\n") == 1
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()
    assert SpectrogramSet(tmp_path / "set").classes == ["chirp", "hiss", "tone"]


@pytest.mark.parametrize("names,heard", [(["yes", "no", "left"], "one of the 3 class words"),
                                         (["dog_bark", "siren", "chirp2"], None)])
def test_recogniser_grammar_from_class_names(names, heard, capsys):
    from vaeaudio.judging import recognise
    from vaeaudio.util import progress

    progress.configure()  # an earlier --quiet of this process would hide the line
    words, why = recognise.class_words(names)
    if heard:
        assert words == {"yes": 0, "no": 1, "left": 2} and why.startswith(heard)
        assert recognise.Recogniser.grammar(words) == ("#JSGF V1.0;\ngrammar digits;\npublic <utterance> = yes | no | "
                                                       "left | vaeaudio_noise | vaeaudio_silence ;\n")
    else:
        assert words is None and why == ("2 of the 3 class names are not words of its en-us dictionary "
                                         "(dog_bark, chirp2)")
        assert recognise.for_classes(names) is None
        assert capsys.readouterr().err.strip().endswith("recogniser off: " + why)


def test_evaluate_and_report_name_the_classes(sounds_run, tmp_path, capsys):
    data, run = sounds_run
    assert main(["evaluate", str(run), "--samples-per-digit", "4", "--quiet"]) == 0
    metrics = json.loads((run / "eval" / "metrics.json").read_text())
    generation, heard = metrics["generation"], metrics["recogniser"]
    assert generation["samples"] == 12 and sorted(generation["generated_accuracy_per_digit"]) == sorted(CLASSES)
    assert heard["recogniser"] == "pocketsphinx en-us, one of the 3 class words or noise/silence"
    assert set(heard["real"]["per_digit"]) <= set(CLASSES) and heard["generated"]["clips"] == 12
    assert (run / "eval" / "latent_digit.png").is_file()
    listened = sorted((run / "eval" / "listen").glob("*_model.wav"))
    assert listened and all(p.name.split("_")[1] in CLASSES for p in listened)
    out = tmp_path / "page"
    assert main(["report", str(run), "--out", str(out), "--samples", "1", "--no-recogniser", "--quiet"]) == 0
    page = (out / "index.html").read_text()
    assert "Ask for a class" in page and "asked for chirp" in page and "class tone" in page
    assert json.loads((out / "report.json").read_text())["runs"][0]["classes"] == list(CLASSES)
