"""How preprocess scans a source folder: every entry it cannot use is dropped with its reason (unreadable,
vanished, dangling, unlistable, badly named, duplicate), symlinked folders are followed once and cycles
reported, hidden files are not part of the corpus, speaker names may be in any script, and duplicates do not
weigh in the length percentiles.

Runs as root cannot make a file unreadable with chmod, so permission errors
are injected where the file is opened; dangling links, symlinked folders and
cycles are real.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from conftest import FSDD

from vaeaudio.cli import main
from vaeaudio.formats.spectrogram_set import SpectrogramSet


def small_corpus(root: Path, speakers=("george", "theo"), takes=range(2)) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for s in speakers:
        for d in range(10):
            for t in takes:
                shutil.copy(FSDD / f"{d}_{s}_{t}.wav", root / f"{d}_{s}_{t}.wav")
    return root


def run(src: Path, out: Path, *extra: str) -> int:
    return main(["preprocess", "--src", str(src), "--out", str(out), "--length-percentiles", "0", "100",
                 "--workers", "1", "--quiet", *extra])


def dropped(out: Path) -> dict[str, tuple[str, str]]:
    """Dropped entries but length outliers (the shortest and longest recording always are, strictly outside 0-100 %)."""
    return {d["path"]: (d["kind"], d["reason"])
            for d in json.loads((out / "manifest.json").read_text())["dropped"] if d["kind"] != "length"}


def test_unreadable_vanished_and_dangling_entries_are_dropped_with_reasons(tmp_path, monkeypatch, capsys):
    src = small_corpus(tmp_path / "src")
    (src / "3_theo_9.wav").symlink_to(tmp_path / "gone.wav")  # dangling
    locked = src / "4_theo_9.wav"
    shutil.copy(FSDD / "4_theo_3.wav", locked)
    vanishing = src / "5_theo_9.wav"
    shutil.copy(FSDD / "5_theo_3.wav", vanishing)
    (src / "6_theo_9.wav").write_text("this is a text file, not audio\n")
    real_read = Path.read_bytes

    def read_bytes(self):
        if self.name == locked.name:
            raise PermissionError(13, "Permission denied", str(self))
        if self.name == vanishing.name:
            self.unlink()  # removed after the scan listed it
        return real_read(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    out = tmp_path / "out"
    assert run(src, out) == 0
    printed = capsys.readouterr().out
    assert "dropped 6 file(s): length 2, unreadable 4" in printed and "kept by --length-percentiles 0 100" in printed
    assert dropped(out) == {
        "3_theo_9.wav": ("unreadable", f"dangling symlink to {tmp_path / 'gone.wav'}"),
        "4_theo_9.wav": ("unreadable", "cannot be read: Permission denied"),
        "5_theo_9.wav": ("unreadable", "vanished while preprocess was running"),
        "6_theo_9.wav": ("unreadable", "unreadable audio: Format not recognised."),
    }
    assert SpectrogramSet(out).manifest.source.files == 43  # 40 + 3: the dangling link is no file


def test_symlinked_folders_are_followed_and_cycles_reported(tmp_path):
    src = small_corpus(tmp_path / "src" / "george", speakers=("george",))
    elsewhere = small_corpus(tmp_path / "elsewhere", speakers=("theo",))
    (src.parent / "theo").symlink_to(elsewhere, target_is_directory=True)
    (elsewhere / "loop").symlink_to(elsewhere, target_is_directory=True)  # a cycle
    out = tmp_path / "out"
    assert run(src.parent, out) == 0
    m = SpectrogramSet(out).manifest
    assert sum(s.clips for s in m.splits.values()) == 38  # theo's 20 clips came through the link (2 length outliers)
    assert dropped(out) == {"theo/loop/": ("symlink-loop", "the same folder as theo/, scanned once "
                                                          "(symlink cycle or second link)")}


def test_unlistable_folder_is_reported(tmp_path, monkeypatch):
    src = small_corpus(tmp_path / "src" / "a", speakers=("george",))
    small_corpus(tmp_path / "src" / "b", speakers=("theo",))
    real_scandir = os.scandir

    def scandir(path="."):
        if str(path).endswith("/b"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    out = tmp_path / "out"
    assert run(src.parent, out) == 0
    assert dropped(out) == {"b/": ("unreadable", "folder cannot be read: Permission denied")}
    assert sum(s.clips for s in SpectrogramSet(out).manifest.splits.values()) == 18


def test_unicode_speaker_names_are_speakers(tmp_path):
    src = small_corpus(tmp_path / "src", speakers=("george",))
    for d in range(10):
        for t in range(2):
            shutil.copy(FSDD / f"{d}_theo_{t}.wav", src / f"{d}_josé_{t}.wav")
    shutil.copy(FSDD / "1_theo_3.wav", src / "1_jo sé_3.wav")
    out = tmp_path / "out"
    assert run(src, out) == 0
    m = SpectrogramSet(out).manifest
    assert sorted({sp for s in m.splits.values() for sp in s.speakers}) == ["george", "josé"]
    kind, reason = dropped(out)["1_jo sé_3.wav"]
    assert kind == "bad-name" and "letters of any script, digits and hyphens, but no spaces" in reason


def test_duplicates_do_not_weigh_in_the_length_percentiles(tmp_path):
    src = small_corpus(tmp_path / "src")
    base = tmp_path / "base"
    assert main(["preprocess", "--src", str(src), "--out", str(base), "--workers", "1", "--quiet"]) == 0
    lengths = SpectrogramSet(base).manifest.length_bounds.samples
    longest = max(src.iterdir(), key=lambda p: p.stat().st_size)
    for i in range(30):  # 30 byte-identical copies of the longest recording
        shutil.copy(longest, src / f"{longest.name.split('_')[0]}_copy{i}_0.wav")
    dup = tmp_path / "dup"
    assert main(["preprocess", "--src", str(src), "--out", str(dup), "--workers", "1", "--quiet"]) == 0
    m = SpectrogramSet(dup).manifest
    assert m.length_bounds.samples == lengths
    assert sum(d.kind == "duplicate" for d in m.dropped) == 30


def test_hidden_files_are_not_part_of_the_corpus(fsdd_small, tmp_path):
    src = tmp_path / "src"
    shutil.copytree(fsdd_small, src)
    (src / ".vaeaudio-download.json").write_text("{}")  # download's marker
    (src / "recordings" / "._0_george_0.wav").write_bytes(b"\x00\x05\x16\x07")  # a macOS resource-fork twin
    assert main(["preprocess", "--src", str(src), "--out", str(tmp_path / "out"), "--length-percentiles", "0", "100",
                 "--workers", "1", "--quiet"]) == 0
    manifest = SpectrogramSet(tmp_path / "out").manifest
    assert manifest.source.files == 100  # the two hidden files are not counted, kept or dropped
    assert [d.kind for d in manifest.dropped] == ["length", "length"]  # (0, 100) drops the two extremes
    assert sum(s.clips for s in manifest.splits.values()) == 98
