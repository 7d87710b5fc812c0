"""preprocess --layout: Speech Commands, class folders and CSV labels (ESC-50's and UrbanSound8K's as they are), what
auto recognises and from what, and every bad input as one line that loses nothing. The recordings are tones the
tests make (any rate, stereo, 16/24-bit, float, FLAC, OGG)."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from vaeaudio.cli import main
from vaeaudio.corpus.layouts import sc_which_set
from vaeaudio.formats.spectrogram_set import SpectrogramSet
from vaeaudio.settings import PreprocessSettings

#: Small audio settings: 8 kHz, 0.25 s clips, (65, 16) spectrograms.
AUDIO = ["--sample-rate", "8000", "--clip-samples", "2000", "--n-fft", "128", "--hop-length", "128",
         "--workers", "1", "--quiet"]


def tone(path: Path, freq: float, sr: int = 8000, seconds: float = 0.2, channels: int = 1,
         subtype: str | None = None) -> Path:
    """Write a sine of `freq` Hz (with a little noise, so that no two files are byte-identical) to `path`."""
    t = np.arange(int(sr * seconds)) / sr
    rng = np.random.default_rng(int(hashlib.sha1(str(path).encode()).hexdigest()[:8], 16))
    y = 0.5 * np.sin(2 * np.pi * freq * t) + 0.01 * rng.standard_normal(len(t))
    data = np.column_stack([y] * channels) if channels > 1 else y
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, data.astype(np.float32), sr, subtype=subtype)
    return path


def _preprocess(capsys, src: Path, out: Path, *args: str) -> tuple[int, str]:
    rc = main(["preprocess", "--src", str(src), "--out", str(out), *AUDIO, *args])
    return rc, capsys.readouterr().err


def _split_of(spec: SpectrogramSet) -> dict[str, str]:
    return {str(p): split for split in ("train", "val", "test") for p in spec.arrays(split, ("path",))["path"]}


def _log(capsys, src: Path, out: Path, *args: str) -> str:
    """The layout line preprocess logs (without --quiet)."""
    assert main(["preprocess", "--src", str(src), "--out", str(out), *AUDIO[:-1], *args]) == 0
    return next(line for line in capsys.readouterr().err.splitlines() if line.startswith("layout "))


# --------------------------------------------------------------------------- Speech Commands
WORDS = {"yes": 300, "no": 500, "up": 700}
SPEAKERS = ("0a7c2a8d", "1b2c3d4e", "2f00aa11", "3c9d0e1f", "4d4d4d4d", "5e6f7a8b")


def speech_commands(root: Path, lists: bool = True) -> Path:
    """3 words x 6 speakers x 2 takes, `_background_noise_`, a README, and (with `lists`) the two list files: speaker
    0a7c2a8d validates, 1b2c3d4e tests, except one of 0a7c2a8d's takes, listed for test."""
    for word, freq in WORDS.items():
        for k, spk in enumerate(SPEAKERS):
            for take in range(2):
                tone(root / word / f"{spk}_nohash_{take}.wav", freq + 20 * k + 5 * take, sr=16000)
    tone(root / "_background_noise_" / "white_noise.wav", 100, sr=16000, seconds=1)
    (root / "README.md").write_text("speech commands")
    if lists:
        val = [f"{w}/0a7c2a8d_nohash_{t}.wav" for w in WORDS for t in range(2) if (w, t) != ("up", 1)]
        test = [f"{w}/1b2c3d4e_nohash_{t}.wav" for w in WORDS for t in range(2)] + ["up/0a7c2a8d_nohash_1.wav",
                                                                                    "left/9999aaaa_nohash_0.wav"]
        (root / "validation_list.txt").write_text("\n".join(val) + "\n")
        (root / "testing_list.txt").write_text("\n".join(test) + "\n")
    return root


def test_speech_commands_lists_are_honoured_exactly(tmp_path, capsys):
    src = speech_commands(tmp_path / "sc")
    line = _log(capsys, src, tmp_path / "set")
    assert line == ("layout speech-commands: 36 of 37 audio files named WORD/HASH_nohash_N.wav in 3 word folders, "
                    "with validation_list.txt and testing_list.txt")
    spec = SpectrogramSet(tmp_path / "set")
    m = spec.manifest
    assert spec.classes == ["no", "up", "yes"] and not spec.digit_classes
    assert (m.split_by, m.layout["kind"], m.layout["downmixed"]) == ("lists", "speech-commands", 0)
    assert {s: m.splits[s].clips for s in ("train", "val", "test")} == {"train": 24, "val": 5, "test": 7}
    split = _split_of(spec)
    assert sorted(p for p, s in split.items() if s == "val") == sorted(
        (tmp_path / "sc" / "validation_list.txt").read_text().split())
    assert sorted(p for p, s in split.items() if s == "test") == sorted(
        (tmp_path / "sc" / "testing_list.txt").read_text().split()[:-1])  # left/ is not in this corpus
    assert m.splits["val"].speakers == ["0a7c2a8d"] and m.splits["test"].speakers == ["0a7c2a8d", "1b2c3d4e"]
    assert m.splits["train"].digits == {"no": 8, "up": 8, "yes": 8}
    arrays = spec.arrays("train", ("digit", "speaker", "path"))
    assert all(spec.classes[d] == p.split("/")[0] and p.split("/")[1].startswith(s)
               for d, s, p in zip(arrays["digit"], arrays["speaker"], arrays["path"]))
    dropped = {d.path: d.kind for d in m.dropped}
    assert dropped == {"README.md": "not-audio", "_background_noise_/white_noise.wav": "not-a-class"}


def test_speech_commands_classes_select_and_order(tmp_path, capsys):
    src = speech_commands(tmp_path / "sc")
    rc, err = _preprocess(capsys, src, tmp_path / "set", "--classes", "yes,no")
    assert rc == 0, err
    spec = SpectrogramSet(tmp_path / "set")
    assert spec.classes == ["yes", "no"] and spec.manifest.layout["excluded_classes"] == {"up": 12}
    arrays = spec.arrays("train", ("digit", "path"))
    assert {(int(d), p.split("/")[0]) for d, p in zip(arrays["digit"], arrays["path"])} == {(0, "yes"), (1, "no")}
    rc, err = _preprocess(capsys, src, tmp_path / "set2", "--classes", "yes,down")
    assert rc == 2 and err == "error: --classes: down not found in " + str(src) + " (found: no, up, yes)\n"
    rc, err = _preprocess(capsys, src, tmp_path / "set3", "--split-by", "speaker")
    assert rc == 2 and err.startswith("error: --split-by speaker: Speech Commands is split by its list files")


def test_speech_commands_without_lists_split_by_the_dataset_hash(tmp_path, capsys):
    # speaker hashes chosen so that each split gets some: the rule puts ~10% in val and ~10% in test
    rng = np.random.default_rng(0)
    names = [f"{rng.integers(2**32):08x}" for _ in range(400)]
    by = {k: [n for n in names if sc_which_set(n, 0.1, 0.1) == k][:2] for k in range(3)}
    assert all(len(v) == 2 for v in by.values())
    src = tmp_path / "sc"
    for word, freq in WORDS.items():
        for k, spk in enumerate(s for v in by.values() for s in v):
            tone(src / word / f"{spk}_nohash_0.wav", freq + 15 * k, sr=16000)
    assert _preprocess(capsys, src, tmp_path / "set")[0] == 0
    spec = SpectrogramSet(tmp_path / "set")
    assert spec.manifest.split_by == "hash"
    for k, split in enumerate(("train", "val", "test")):
        assert spec.manifest.splits[split].speakers == sorted(by[k])
        assert spec.manifest.splits[split].clips == 6


def test_which_set_is_the_datasets_rule():
    # the dataset README's which_set, written out: sha1 of the name before _nohash_, mod 2**27, as a percentage
    for name in ("0a7c2a8d", "ffffffff", "c1d39ce8"):
        pct = (int(hashlib.sha1(name.encode()).hexdigest(), 16) % 2**27) * (100.0 / (2**27 - 1))
        assert sc_which_set(name, 0.1, 0.1) == (1 if pct < 10 else 2 if pct < 20 else 0)


# --------------------------------------------------------------------------- class folders
def test_class_folders_any_depth_any_format(tmp_path, capsys):
    src = tmp_path / "sounds"
    for i in range(4):
        tone(src / "bell" / f"b{i}.wav", 900 + 10 * i, sr=44100, channels=2)           # stereo 16-bit
        tone(src / "bell" / "far" / "away" / f"f{i}.flac", 950 + 10 * i, sr=22050)      # FLAC, 2 levels down
        tone(src / "hum" / f"h{i}.wav", 120 + 5 * i, sr=48000, subtype="PCM_24")       # 24-bit
        tone(src / "hum" / f"g{i}.ogg", 130 + 5 * i, sr=16000)                           # OGG Vorbis
        tone(src / "hum" / f"x{i}.wav", 140 + 5 * i, subtype="FLOAT")                    # float WAV
    tone(src / "loose.wav", 300)
    (src / "bell" / "notes.txt").write_text("not audio")
    line = _log(capsys, src, tmp_path / "set")
    assert line == "layout folders: 20 of 21 audio files in 2 class folders (bell, hum)"
    assert _log(capsys, src, tmp_path / "set", "--layout", "folders") == "layout folders: as --layout folders says"
    spec = SpectrogramSet(tmp_path / "set")
    m = spec.manifest
    assert spec.classes == ["bell", "hum"] and (m.split_by, m.layout["downmixed"]) == ("take", 4)
    assert {s: m.splits[s].digits for s in ("train", "val", "test")} == {
        "train": {"bell": 6, "hum": 10}, "val": {"bell": 1, "hum": 1}, "test": {"bell": 1, "hum": 1}}
    assert all(m.splits[s].speakers == [""] for s in ("train", "val", "test"))
    assert {d.path: d.kind for d in m.dropped} == {"bell/notes.txt": "not-audio", "loose.wav": "no-label"}
    assert m.layout["long"] == {"rule": "crop", "clips": 0}
    arrays = spec.arrays("train", ("digit", "path"))
    assert all(spec.classes[d] == p.split("/")[0] for d, p in zip(arrays["digit"], arrays["path"]))


def test_long_clips_are_cropped_or_skipped_as_asked(tmp_path, capsys):
    src = tmp_path / "sounds"
    for c, freq in (("lo", 200), ("hi", 2000)):
        for i in range(4):
            tone(src / c / f"{i}.wav", freq + i, seconds=0.2 if i else 0.5)  # 0.5 s = 4000 samples > 2000
    assert _preprocess(capsys, src, tmp_path / "crop")[0] == 0
    crop = SpectrogramSet(tmp_path / "crop").manifest
    assert crop.layout["long"] == {"rule": "crop", "clips": 2} and sum(s.clips for s in crop.splits.values()) == 8
    assert _preprocess(capsys, src, tmp_path / "skip", "--long", "skip")[0] == 0
    skip = SpectrogramSet(tmp_path / "skip").manifest
    assert skip.layout["long"] == {"rule": "skip", "clips": 2} and sum(s.clips for s in skip.splits.values()) == 6
    assert {d.path: d.reason for d in skip.dropped if d.kind == "long"} == {
        p: "length 4000 samples is over --clip-samples 2000" for p in ("hi/0.wav", "lo/0.wav")}


# --------------------------------------------------------------------------- CSV
def _write_csv(path: Path, header: list[str], rows: list[list]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


def test_esc50_csv_as_it_is_with_a_fold(tmp_path, capsys):
    root = tmp_path / "ESC-50-master"
    rows = []
    for k, (category, freq) in enumerate((("dog", 400), ("rain", 1500), ("clock_tick", 3000))):
        for fold in range(1, 4):
            for take in "AB":
                name = f"{fold}-{1000 + 10 * k + fold}-{take}-{k}.wav"
                tone(root / "audio" / name, freq + 10 * fold + (take == "B"), sr=44100)
                rows.append([name, fold, k, category, "False", 1000 + 10 * k + fold, take])
    labels = _write_csv(root / "meta" / "esc50.csv",
                        ["filename", "fold", "target", "category", "esc10", "src_file", "take"], rows)
    line = _log(capsys, root / "audio", tmp_path / "set", "--labels", str(labels), "--fold", "1")
    assert line == f"layout csv: --labels {labels}"
    spec = SpectrogramSet(tmp_path / "set")
    m = spec.manifest
    assert spec.classes == ["clock_tick", "dog", "rain"] and m.split_by == "fold"
    assert m.layout["labels"]["label_column"] == "category" and m.layout["labels"]["speaker_column"] == "src_file"
    split = _split_of(spec)
    assert sorted(p for p, s in split.items() if s == "test") == sorted(r[0] for r in rows if r[1] == 1)
    assert {s: m.splits[s].clips for s in ("train", "val", "test")} == {"train": 9, "val": 3, "test": 6}
    assert m.splits["test"].speakers == ["1001", "1011", "1021"]


def test_urbansound8k_csv_finds_files_in_fold_folders(tmp_path, capsys):
    root = tmp_path / "UrbanSound8K"
    rows = []
    for k, (cls, freq) in enumerate((("air_conditioner", 150), ("car_horn", 700), ("siren", 1200))):
        for fold in (1, 2):
            for j in range(3):
                name = f"{100 + k}-{fold}-0-{j}.wav"
                tone(root / "audio" / f"fold{fold}" / name, freq + 7 * j + 3 * fold, sr=22050, channels=2)
                rows.append([name, 100 + k, 0.0, 4.0, 1, fold, k, cls])
    labels = _write_csv(root / "metadata" / "UrbanSound8K.csv",
                        ["slice_file_name", "fsID", "start", "end", "salience", "fold", "classID", "class"], rows)
    rc, err = _preprocess(capsys, root / "audio", tmp_path / "set", "--labels", str(labels), "--fold", "2")
    assert rc == 0, err
    spec = SpectrogramSet(tmp_path / "set")
    m = spec.manifest
    assert spec.classes == ["air_conditioner", "car_horn", "siren"] and m.layout["downmixed"] == 18
    assert m.layout["labels"]["label_column"] == "class" and m.splits["test"].clips == 9
    assert all(p.startswith("fold2/") for p, s in _split_of(spec).items() if s == "test")
    assert sorted(m.splits["train"].speakers) == ["100", "101", "102"]


def test_label_column_chooses_another_column(tmp_path, capsys):
    src = tmp_path / "clips"
    rows = [[f"{i}.wav", "low" if i < 5 else "high", "a" if i % 2 else "b"] for i in range(10)]
    for name, label, _ in rows:
        tone(src / name, 200 if label == "low" else 2000 + int(name[0]))
    labels = _write_csv(tmp_path / "labels.csv", ["file", "pitch", "label"], rows)
    assert _preprocess(capsys, src, tmp_path / "set", "--labels", str(labels), "--label-column", "pitch")[0] == 0
    assert SpectrogramSet(tmp_path / "set").classes == ["high", "low"]


# --------------------------------------------------------------------------- auto, and what it refuses
def test_auto_refuses_an_ambiguous_folder_with_the_choices(tmp_path, capsys):
    src = tmp_path / "mixed"
    for c, who in (("cats", "tom"), ("dogs", "rex")):
        for d in range(3):
            tone(src / c / f"{d}_{who}_0.wav", 300 + 100 * d + len(who))
    rc, err = _preprocess(capsys, src, tmp_path / "set")
    assert rc == 2 and err.count("\n") == 1
    assert err.startswith(f"error: {src} could be read as fsdd (6 of 6 .wav files named ")
    assert err.endswith("(choose one: --layout fsdd or --layout folders)\n")
    assert not (tmp_path / "set" / "manifest.json").exists()
    assert _preprocess(capsys, src, tmp_path / "set", "--layout", "folders")[0] == 0
    assert SpectrogramSet(tmp_path / "set").classes == ["cats", "dogs"]


def _error_keeps_the_set(capsys, tmp_path, src: Path, args: list[str]) -> str:
    """Run a failing preprocess onto an existing set (of another source: --overwrite); the set must be as it was."""
    out = tmp_path / "set"
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    rc, err = _preprocess(capsys, src, out, *args, "--overwrite")
    assert rc in (1, 2) and err.count("\n") == 1 and err.startswith("error: "), err
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
    return err[len("error: "):].rstrip("\n")


@pytest.fixture()
def a_set(tmp_path, capsys):
    """A finished set in tmp_path/set, which the failing runs below must leave as it is."""
    src = tmp_path / "good"
    for c, freq in (("lo", 200), ("hi", 2000)):
        for i in range(5):
            tone(src / c / f"{i}.wav", freq + 3 * i)
    assert _preprocess(capsys, src, tmp_path / "set")[0] == 0
    return tmp_path / "set"


def test_bad_inputs_are_one_line_and_lose_nothing(a_set, tmp_path, capsys):
    nothing = tmp_path / "flat"
    for i in range(3):
        tone(nothing / f"clip{i}.wav", 300 + i)
    assert _error_keeps_the_set(capsys, tmp_path, nothing, []) == (
        f"no labels found under {nothing}: 3 audio file(s) of 3, none named {{digit}}_{{speaker}}_{{take}}.wav, "
        "WORD/HASH_nohash_N.wav, nor sorted into two or more class folders (put each class in its own folder "
        "(CLASS/file.wav), or give --labels FILE.csv)")

    labels = _write_csv(tmp_path / "l.csv", ["filename", "category"],
                        [["clip0.wav", "a"], ["clip1.wav", "b"], ["gone.wav", "a"], ["also-gone.wav", "b"]])
    assert _error_keeps_the_set(capsys, tmp_path, nothing, ["--labels", str(labels)]) == (
        f"--labels {labels} names 2 file(s) not found (once) under {nothing}, first 'gone.wav' at line 4 "
        "(point --src at the folder holding the audio, or remove those rows)")

    one = tmp_path / "one"
    for i in range(4):
        tone(one / "only" / f"{i}.wav", 300 + i)
    (one / "other").mkdir()  # a second folder without audio is not a class
    (one / "other" / "readme.txt").write_text("x")
    assert _error_keeps_the_set(capsys, tmp_path, one, ["--layout", "folders"]) == (
        f"{one} holds one class only (only): a set needs at least two to tell apart (point --src at the folder "
        "that holds the class folders)")

    small = tmp_path / "small"
    for i in range(6):
        tone(small / "many" / f"{i}.wav", 300 + 5 * i)
    tone(small / "few" / "0.wav", 2000)
    tone(small / "few" / "1.wav", 2100)
    assert _error_keeps_the_set(capsys, tmp_path, small, []) == (
        "class 'few' has 2 usable clip(s) and none in the test split (take rule: train 1, val 1, test 0) (give it "
        "more clips, or leave it out with --classes)")


@pytest.mark.parametrize("args,message", [
    (["--layout", "csv"], "--layout csv needs --labels FILE.csv"),
    (["--fold", "1"], "--fold needs --labels FILE.csv"),
    (["--label-column", "x"], "--label-column needs --labels FILE.csv"),
    (["--classes", "a"], "--classes: give at least two distinct class names"),
    (["--labels", "x.csv", "--layout", "fsdd"], "--labels FILE.csv is the csv layout, not --layout fsdd"),
])
def test_inconsistent_layout_flags_exit_2(tmp_path, capsys, args, message):
    rc = main(["preprocess", "--src", str(tmp_path), "--out", str(tmp_path / "o"), *args, "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and message in err and err.count("\n") == 1


def test_digit_sets_are_as_they_were(fsdd_small, tmp_path, capsys):
    """FSDD through auto: classes 0-9, the same split rule, the evidence said; --classes refused for it."""
    line = _log(capsys, fsdd_small, tmp_path / "set")
    assert line == "layout fsdd: 100 of 100 .wav files named {digit}_{speaker}_{take}.wav"
    spec = SpectrogramSet(tmp_path / "set")
    assert spec.digit_classes and spec.manifest.split_by == "take" and spec.manifest.layout["kind"] == "fsdd"
    assert PreprocessSettings(src=fsdd_small).content() == json.loads(
        (tmp_path / "set" / "manifest.json").read_text())["settings"] | {"sample_rate": 22050, "clip_samples": 17640,
                                                                          "n_fft": 512, "hop_length": 256}
    rc, err = _preprocess(capsys, fsdd_small, tmp_path / "set2", "--classes", "1,2")
    assert rc == 2 and err.startswith("error: --classes: the fsdd layout's classes are the digits 0-9")
