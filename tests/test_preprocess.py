"""vaeaudio preprocess: names, splits, bad files, the shard contract, re-runs, and what a crash, Ctrl-C or a full
disk leave behind (the same command finishes the set)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr
from conftest import FSDD, SPEAKERS, copy_fsdd

from vaeaudio.cli import main
from vaeaudio.corpus.preprocess import preprocess
from vaeaudio.corpus.scan import Recording, parse_name
from vaeaudio.corpus.splits import split_by_speaker, split_by_take
from vaeaudio.formats.shards import ShardWriter
from vaeaudio.formats.spectrogram_set import FORMAT, SpectrogramSet
from vaeaudio.settings import PreprocessSettings
from vaeaudio.util.errors import DataError, UsageError


# --------------------------------------------------------------------------- names
def test_parse_audiomnist_and_fsdd_names():
    assert parse_name("data/07/3_07_42.wav") == Recording("data/07/3_07_42.wav", 3, "07", 42)
    assert parse_name("recordings/9_yweweler_0.wav") == Recording("recordings/9_yweweler_0.wav", 9, "yweweler", 0)
    assert parse_name("0_theo_1.WAV") == Recording("0_theo_1.WAV", 0, "theo", 1)


@pytest.mark.parametrize("path,reason", [
    ("data/01/12_01_0.wav", "name does not match"),
    ("data/01/a_01_0.wav", "name does not match"),
    ("data/01/3-01-0.wav", "name does not match"),
    ("data/01/3_01.wav", "name does not match"),
    ("data/02/3_03_0.wav", "speaker 03 in the name disagrees with folder 02"),
])
def test_parse_rejects_with_reason(path, reason):
    result = parse_name(path)
    assert isinstance(result, str) and result.startswith(reason)


# --------------------------------------------------------------------------- splits
def test_take_split_reproduces_reference_counts():
    digits = np.repeat(np.arange(10), 2820)[:28198]
    split = split_by_take(digits, 0.1, 0.1, 42)
    assert np.bincount(split).tolist() == [22840, 2538, 2820]
    for k in range(3):  # stratified: each digit's share within one clip of proportional
        share = np.bincount(digits[split == k], minlength=10) / (split == k).sum()
        assert np.abs(share - np.bincount(digits) / len(digits)).max() < 2 / (split == k).sum() + 1e-9
    assert (split_by_take(digits, 0.1, 0.1, 42) == split).all()
    assert (split_by_take(digits, 0.1, 0.1, 7) != split).any()


def test_speaker_split_is_disjoint_and_complete():
    speakers = np.repeat([f"{i:02d}" for i in range(1, 61)], 50)
    digits = np.tile(np.arange(10), 300)
    split, held = split_by_speaker(speakers, digits, 0.1, 0.1, 42)
    assert [len(held[k]) for k in ("train", "val", "test")] == [48, 6, 6]
    sets = [set(speakers[split == k]) for k in range(3)]
    assert sets[0] & sets[1] == sets[0] & sets[2] == sets[1] & sets[2] == set()
    assert all(set(digits[split == k]) == set(range(10)) for k in range(3))
    assert sets[2] == set(held["test"])


def test_speaker_split_with_chosen_test_speakers_and_errors():
    speakers = np.repeat(["a", "b", "c", "d"], 10)
    digits = np.tile(np.arange(10), 4)
    split, held = split_by_speaker(speakers, digits, 0.1, 0.1, 0, test_speakers=["c"])
    assert held["test"] == ["c"] and set(speakers[split == 2]) == {"c"}
    with pytest.raises(UsageError, match="unknown speaker"):
        split_by_speaker(speakers, digits, 0.1, 0.1, 0, test_speakers=["zz"])
    with pytest.raises(DataError, match="at least 3 speakers"):
        split_by_speaker(speakers[:20], digits[:20], 0.1, 0.1, 0)


def test_validation_by_take_trains_every_voice_but_the_test_ones():
    """--val-by take: FSDD's five voices, yweweler held out, the other four all train; validation is ceil(0.1 x rest)
    of their clips, every digit there; with 2 speakers it still splits, with 1 it refuses in one line."""
    speakers = np.repeat(["george", "jackson", "nicolas", "theo", "yweweler"], 50)
    digits = np.tile(np.arange(10), 25)
    split, held = split_by_speaker(speakers, digits, 0.1, 0.1, 42, test_speakers=["yweweler"], val_by="take")
    assert held == {"train": ["george", "jackson", "nicolas", "theo"], "val": ["george", "jackson", "nicolas", "theo"],
                    "test": ["yweweler"]}
    assert set(speakers[split == 2]) == {"yweweler"} and (split[speakers == "yweweler"] == 2).all()
    assert (split == 1).sum() == 20 and set(digits[split == 1]) == set(range(10))
    assert set(speakers[split == 0]) == {"george", "jackson", "nicolas", "theo"} and (split == 0).sum() == 180
    drawn, held = split_by_speaker(speakers, digits, 0.1, 0.1, 42, val_by="take")  # the test voice drawn
    assert len(held["test"]) == 1 and len(held["train"]) == 4 and set(speakers[drawn == 2]) == set(held["test"])
    two = np.isin(speakers, ["george", "theo"])
    split, held = split_by_speaker(speakers[two], digits[two], 0.1, 0.1, 0, test_speakers=["theo"], val_by="take")
    assert held["train"] == ["george"] and sorted(set(split.tolist())) == [0, 1, 2]
    with pytest.raises(UsageError, match="leave at least one speaker for training"):
        split_by_speaker(speakers[two], digits[two], 0.1, 0.1, 0, test_speakers=["george", "theo"], val_by="take")
    with pytest.raises(DataError, match="at least 2 speakers"):
        split_by_speaker(speakers[:50], digits[:50], 0.1, 0.1, 0, val_by="take")
    with pytest.raises(ValueError, match="--val-by needs --split-by speaker"):
        PreprocessSettings(val_by="take")


def test_naming_the_test_speaker_changes_which_voices_train():
    """FSDD's five voices, seed 42: the seeded draw holds out yweweler and validates on george; naming yweweler
    (`--test-speakers`, as benchmarks/intelligibility.py does) skips that draw, so theo validates instead and george
    trains. Which three voices train decides how well an unseen one is reconstructed (docs/intelligibility.md)."""
    speakers = np.repeat(["george", "jackson", "nicolas", "theo", "yweweler"], 10)
    digits = np.tile(np.arange(10), 5)
    assert split_by_speaker(speakers, digits, 0.1, 0.1, 42)[1] == \
        {"train": ["jackson", "nicolas", "theo"], "val": ["george"], "test": ["yweweler"]}
    assert split_by_speaker(speakers, digits, 0.1, 0.1, 42, test_speakers=["yweweler"])[1] == \
        {"train": ["george", "jackson", "nicolas"], "val": ["theo"], "test": ["yweweler"]}


# --------------------------------------------------------------------------- end to end
def _shard_hashes(out: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(out.glob("*.h5"))}


@pytest.fixture()
def messy_corpus(tmp_path, fsdd_small) -> Path:
    """fsdd_small plus every kind of bad input a real folder may hold."""
    src = tmp_path / "src"
    shutil.copytree(fsdd_small, src)
    rec = src / "recordings"
    (rec / "1_theo_7.wav").write_bytes(np.random.default_rng(0).bytes(5000))  # random bytes
    (rec / "2_theo_7.wav").write_bytes(b"")  # empty
    (rec / "notes.txt").write_text("recorded on a Tuesday")
    shutil.copy(FSDD / "4_jackson_4.wav", rec / "four_jackson_4.wav")  # wrongly named
    shutil.copy(rec / "5_nicolas_0.wav", rec / "5_nicolas_17.wav")  # duplicated take
    sf.write(rec / "6_theo_8.wav", np.zeros(4000, dtype=np.float32), 8000)  # silence
    nan = np.full(4000, np.nan, dtype=np.float32)
    sf.write(rec / "7_theo_8.wav", nan, 8000, subtype="FLOAT")  # NaN
    return src


def test_messy_corpus_via_cli(messy_corpus, tmp_path, capsys):
    out = tmp_path / "spec"
    rc = main(["preprocess", "--src", str(messy_corpus), "--out", str(out), "--length-percentiles", "0", "100",
               "--workers", "2", "--quiet"])
    assert rc == 0
    stdout = capsys.readouterr().out
    assert "dropped" in stdout and "manifest.json" in stdout
    m = json.loads((out / "manifest.json").read_text())
    assert m["format"] == FORMAT
    reasons = {d["path"].split("/")[-1]: (d["kind"], d["reason"]) for d in m["dropped"]}
    assert reasons["1_theo_7.wav"][0] == "unreadable"
    assert reasons["2_theo_7.wav"] == ("empty", "empty file")
    assert reasons["notes.txt"] == ("not-audio", "not a .wav file")
    assert reasons["four_jackson_4.wav"][0] == "bad-name"
    assert reasons["5_nicolas_17.wav"] == ("duplicate", "byte-identical to recordings/5_nicolas_0.wav")
    assert reasons["6_theo_8.wav"][0] == "silent"
    assert reasons["7_theo_8.wav"] == ("nan", "contains NaN or Inf samples")
    assert m["duplicates"] == [["recordings/5_nicolas_0.wav", "recordings/5_nicolas_17.wav"]]
    # strictly between the 0th and 100th percentile drops exactly the shortest and longest clip(s)
    lengths = [d for d in m["dropped"] if d["kind"] == "length"]
    assert len(lengths) >= 2
    total = sum(s["clips"] for s in m["splits"].values())
    assert total == 100 - len(lengths)
    data = SpectrogramSet(out)
    seen = 0
    for split in ("train", "val", "test"):
        arr = data.arrays(split)
        n = data.clips(split)
        seen += n
        assert arr["spec"].shape == (n, 257, 69) and arr["spec"].dtype == np.float32
        assert np.isfinite(arr["spec"]).all() and arr["spec"].min() >= 0 and arr["spec"].max() <= 1
        assert (arr["db_max"] == 0).all() and (arr["db_min"] >= -80).all()
        names = [Path(p).name for p in arr["path"]]
        assert [int(n.split("_")[0]) for n in names] == arr["digit"].tolist()
        assert [n.split("_")[1] for n in names] == arr["speaker"].tolist()
    assert seen == total

    # the stored spectrogram is the clip's own
    arr = data.arrays("test")
    from test_audio import reference_features
    ref, _, _ = reference_features(messy_corpus / arr["path"][0])
    assert np.abs(arr["spec"][0] - ref).max() < 1e-5

    # a second run is a no-op
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    assert main(["preprocess", "--src", str(messy_corpus), "--out", str(out), "--length-percentiles", "0", "100",
                 "--quiet"]) == 0
    assert "up to date" in capsys.readouterr().out
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before


def test_split_by_speaker_end_to_end(fsdd_small, tmp_path):
    out = tmp_path / "spec"
    res = preprocess(PreprocessSettings(src=fsdd_small, out=out, split_by="speaker", test_speakers="theo",
                                        length_percentiles=(0, 100), workers=1))
    m = res.manifest
    assert m.held_out_speakers["test"] == ["theo"] and m.splits["test"].speakers == ["theo"]
    sets = [set(m.splits[k].speakers) for k in ("train", "val", "test")]
    assert len(sets[1]) == 1 and len(sets[0]) == 3 and not (sets[0] & sets[1] or sets[0] & sets[2] or sets[1] & sets[2])
    assert all(len(m.splits[k].digits) == 10 for k in ("train", "val", "test"))
    four = preprocess(PreprocessSettings(src=fsdd_small, out=tmp_path / "spec4", split_by="speaker",
                                         test_speakers="theo", val_by="take", length_percentiles=(0, 100),
                                         workers=1)).manifest
    assert four.splits["train"].speakers == four.splits["val"].speakers == sorted(sets[0] | sets[1])
    assert four.splits["test"].clips == m.splits["test"].clips and four.settings["val_by"] == "take"


def test_audiomnist_layout_with_metadata(tmp_path):
    src = tmp_path / "AudioMNIST"
    for spk in ("01", "02", "03"):
        for d in range(10):
            for t in range(2):
                y, sr = sf.read(FSDD / f"{d}_{SPEAKERS[int(spk)]}_{t}.wav", dtype="float32")
                path = src / "data" / spk / f"{d}_{spk}_{t}.wav"
                path.parent.mkdir(parents=True, exist_ok=True)
                sf.write(path, soxr.resample(y, sr, 48000), 48000, subtype="PCM_16")
    (src / "data" / "03" / "notes.txt").write_text("stray")
    shutil.copy(src / "data" / "01" / "0_01_0.wav", src / "data" / "02" / "0_03_5.wav")  # folder disagrees
    meta = {"01": {"gender": "male", "age": "30"}, "02": {"gender": "female"}, "03": {"gender": "male"}}
    (src / "data" / "audioMNIST_meta.txt").write_text(json.dumps(meta))
    res = preprocess(PreprocessSettings(src=src, out=tmp_path / "spec", length_percentiles=(0, 100), workers=1))
    m = res.manifest
    assert m.speaker_meta == meta
    assert {d.path: d.kind for d in m.dropped if d.kind != "length"} == {
        "data/03/notes.txt": "not-audio", "data/02/0_03_5.wav": "bad-name"}
    assert m.source.files == 63  # 60 clips, notes.txt, the mismatched copy, metadata
    assert sorted(m.splits["train"].speakers) == ["01", "02", "03"]


def test_no_recordings_is_a_clear_error(tmp_path, capsys):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "readme.txt").write_text("nothing here")
    rc = main(["preprocess", "--src", str(tmp_path / "src"), "--out", str(tmp_path / "out"), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 1 and err.startswith("error: no labels found under") and err.count("\n") == 1
    assert "0 audio file(s) of 1" in err
    assert not (tmp_path / "out").exists()  # the refusal leaves no empty folder behind
    (tmp_path / "mine").mkdir()  # a folder the user made is theirs: kept, empty as it was
    assert main(["preprocess", "--src", str(tmp_path / "src"), "--out", str(tmp_path / "mine"), "--quiet"]) == 1
    assert (tmp_path / "mine").is_dir() and not any((tmp_path / "mine").iterdir())
    capsys.readouterr()
    rc = main(["preprocess", "--src", str(tmp_path / "missing"), "--quiet"])
    assert rc == 1 and "does not exist" in capsys.readouterr().err


def test_refuses_to_write_into_a_foreign_folder(fsdd_small, tmp_path, capsys):
    out = tmp_path / "home"
    out.mkdir()
    (out / "thesis.tex").write_text("precious")
    rc = main(["preprocess", "--src", str(fsdd_small), "--out", str(out), "--quiet"])
    assert rc == 2 and "is not a spectrogram set" in capsys.readouterr().err
    assert (out / "thesis.tex").read_text() == "precious" and len(list(out.iterdir())) == 1


def test_changed_settings_rewrite_the_set(spec_small, fsdd_small, tmp_path):
    out = tmp_path / "spec"
    shutil.copytree(spec_small, out)
    res = preprocess(PreprocessSettings(src=fsdd_small, out=out, length_percentiles=(0, 100), shard_size=16, workers=1))
    assert not res.up_to_date
    names = sorted(p.name for p in out.glob("*.h5"))
    assert names[0] == "test-00000.h5" and "train-00004.h5" in names
    assert sum(s.clips for s in res.manifest.splits["train"].shards) == res.manifest.splits["train"].clips
    assert len(names) == sum(len(s.shards) for s in res.manifest.splits.values())


def test_shard_writer_is_atomic(tmp_path):
    path = tmp_path / "train-00000.h5"
    with pytest.raises(RuntimeError):
        with ShardWriter(path, 4, (257, 69), "plan") as w:
            w.write(0, np.zeros((2, 257, 69), np.float32), np.zeros(2), np.zeros(2))
            assert (tmp_path / "train-00000.h5.tmp").exists() and not path.exists()
            raise RuntimeError("crash")
    assert list(tmp_path.iterdir()) == []


_KILLER = """
import os, signal, sys
from vaeaudio.formats.shards import ShardWriter
from vaeaudio.cli import main
calls = {"n": 0}
real = ShardWriter.write
def write(self, *a):
    calls["n"] += 1
    if calls["n"] == int(sys.argv[1]):
        os.kill(os.getpid(), signal.SIGKILL)  # kill -9 in the middle of a shard
    real(self, *a)
ShardWriter.write = write
sys.exit(main(sys.argv[2:]))
"""


def test_rerun_after_kill_9_gives_an_identical_set(fsdd_small, tmp_path):
    args = ["--src", str(fsdd_small), "--length-percentiles", "0", "100", "--shard-size", "40", "--workers", "1",
            "--quiet"]
    clean = tmp_path / "clean"
    assert main(["preprocess", "--out", str(clean), *args]) == 0
    crashed = tmp_path / "crashed"
    # shards of 40 clips are written 32 at a time: call 4 is inside the second shard
    proc = subprocess.run([sys.executable, "-c", _KILLER, "4", "preprocess", "--out", str(crashed), *args],
                          capture_output=True, text=True)
    assert proc.returncode == -9
    assert (crashed / "train-00000.h5").exists() and (crashed / "train-00001.h5.tmp").exists()
    assert not (crashed / "manifest.json").exists()
    assert main(["preprocess", "--out", str(crashed), *args]) == 0
    assert _shard_hashes(crashed) == _shard_hashes(clean)
    a = json.loads((clean / "manifest.json").read_text())
    b = json.loads((crashed / "manifest.json").read_text())
    a.pop("created"), b.pop("created")
    assert a == b
    assert not list(crashed.glob("*.tmp"))


def _preprocess(src: Path, out: Path, *extra: str) -> int:
    return main(["preprocess", "--src", str(src), "--out", str(out), "--length-percentiles", "0", "100",
                 "--workers", "1", "--quiet", *extra])


def test_rerun_into_a_set_with_a_cached_classifier(tmp_path, capsys):
    src = copy_fsdd(tmp_path / "src", speakers=("george", "theo"))  # 40 clips
    out = tmp_path / "out"
    assert _preprocess(src, out) == 0
    (out / "classifier").mkdir()
    (out / "classifier" / "config.json").write_text("{}")
    assert _preprocess(src, out, "--seed", "5") == 0  # other settings: the set is rewritten, the cache left alone
    assert "wrote 38 clips" in capsys.readouterr().out
    assert (out / "classifier" / "config.json").read_text() == "{}"


def test_ctrl_c_says_what_was_kept(tmp_path, monkeypatch, capsys):
    from vaeaudio.formats import shards

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(shards.ShardWriter, "write", interrupt)
    src, out = copy_fsdd(tmp_path / "src", speakers=("george", "theo")), tmp_path / "out"
    assert _preprocess(src, out) == 130
    err = capsys.readouterr().err
    assert err.strip() == (f"error: preprocess interrupted; {out} has no manifest yet (run the same command again: "
                           "it keeps the shards already written)")
    assert not out.exists()  # no shard was written: no .tmp, no lock, no empty folder left


@pytest.mark.parametrize("errno,what,hint", [
    (28, "no space left on the device",
     "free some space (the half-written file was removed), then run the command again"),
    (30, "the file system is read-only",
     "choose a writable folder, or remount it read-write, then run the command again"),
])
def test_full_or_read_only_disk_is_not_a_bug_and_leaves_no_debris(tmp_path, monkeypatch, capsys, errno, what, hint):
    import h5py

    real = h5py.Dataset.__setitem__
    calls = []

    def failing(self, key, value):
        calls.append(1)
        if len(calls) > 8:  # part-way through the second shard
            raise OSError(errno, os.strerror(errno), self.file.filename)
        return real(self, key, value)

    monkeypatch.setattr(h5py.Dataset, "__setitem__", failing)
    src, out = copy_fsdd(tmp_path / "src", speakers=("george", "theo")), tmp_path / "out"
    assert _preprocess(src, out) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "internal error" not in err and "please report" not in err
    shard = err.split(": ")[1]
    assert err == f"error: {shard}: {what} ({hint})" and shard.startswith(str(out))
    assert not list(out.glob("*.tmp")) and not (out / ".lock").exists()
    monkeypatch.setattr(h5py.Dataset, "__setitem__", real)
    assert _preprocess(src, out) == 0  # once space is back, the same command finishes the set
    assert np.isfinite(SpectrogramSet(out).arrays("train")["spec"]).all()
