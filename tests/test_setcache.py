"""vaeaudio.judging.setcache: what the recogniser heard in a set's own clips is heard once per set and key, read back
after, and heard again when the set, the key or the file is not what it was."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from vaeaudio.formats.spectrogram_set import MANIFEST, SpectrogramSet
from vaeaudio.judging import setcache
from vaeaudio.util import progress

LISTENER = SimpleNamespace(description="pocketsphinx en-us, a test", words={"one": 1, "oh": 0, "zero": 0})


@pytest.fixture
def spec(spec_small, tmp_path, monkeypatch) -> Path:
    progress.configure(quiet=False)  # an earlier test's --quiet would hide the lines asserted here
    monkeypatch.setenv("VAEAUDIO_CACHE", str(tmp_path / "cache"))
    return Path(shutil.copytree(spec_small, tmp_path / "spectrograms"))


class Ear:
    """A stand-in for the recogniser's work: counts its calls, hears `classes`."""

    def __init__(self, classes):
        self.calls, self.classes = 0, np.asarray(classes)

    def __call__(self):
        self.calls += 1
        return self.classes


def test_heard_once_then_read_back_and_again_for_another_key(spec, capsys):
    data = SpectrogramSet(spec)
    identity, rows = data.identity(), np.array([0, 3, 5])
    ear, key = Ear([1, -1, 9]), setcache.key_of(LISTENER, phase="pghi+gl", seed=0)
    assert setcache.heard(data, identity, "representation", key, rows, ear).tolist() == [1, -1, 9]
    assert setcache.heard(data, identity, "representation", key, rows, ear).tolist() == [1, -1, 9]
    assert ear.calls == 1 and capsys.readouterr().err == ""
    path = setcache.path_of(identity, "representation", key)
    stored = json.loads(path.read_text())
    assert path.parent.name == identity[:16] and path.parent.parent.name == setcache.FOLDER
    assert stored["format"] == "vaeaudio-heard/1" and stored["set"]["identity"] == identity
    assert stored["rows"] == [0, 3, 5] and stored["heard"] == [1, -1, 9] and stored["key"] == key
    assert key["words"] == {"oh": 0, "one": 1, "zero": 0} and key["pocketsphinx"]  # the version
    other = setcache.key_of(LISTENER, phase="griffin-lim", seed=0)  # another setting: another file, heard again
    assert setcache.heard(data, identity, "representation", other, rows, ear).tolist() == [1, -1, 9]
    assert ear.calls == 2 and setcache.path_of(identity, "representation", other) != path


def test_a_changed_set_is_heard_again(spec):
    data = SpectrogramSet(spec)
    ear, key, rows, before = Ear([2, 2]), setcache.key_of(LISTENER), np.arange(2), data.identity()
    setcache.heard(data, before, "real", key, rows, ear)
    manifest = json.loads((spec / MANIFEST).read_text())
    manifest["speaker_meta"] = {"george": {"gender": "male"}}  # other content, the same shards
    (spec / MANIFEST).write_text(json.dumps(manifest))
    changed = SpectrogramSet(spec)
    assert changed.identity() != before
    setcache.heard(changed, changed.identity(), "real", key, rows, ear)
    assert ear.calls == 2
    setcache.heard(changed, changed.identity(), "real", key, rows, ear)
    assert ear.calls == 2  # kept for the changed set in turn


@pytest.mark.parametrize("content, why", [
    ("{not json", "unusable ("),
    (json.dumps({"format": "vaeaudio-heard/9"}), "format 'vaeaudio-heard/9', not vaeaudio-heard/1"),
    ("[1, 2]", "format None"),
    ("rows", "other clips"),
    ("heard", "its classes heard are not one per clip in range"),
    ("identity", "made for another set, part or key"),
])
def test_a_damaged_or_foreign_file_is_heard_again_with_one_line(spec, capsys, content, why):
    data = SpectrogramSet(spec)
    identity, key, rows = data.identity(), setcache.key_of(LISTENER), np.arange(3)
    ear = Ear([0, 1, 2])
    setcache.heard(data, identity, "real", key, rows, ear)
    path = setcache.path_of(identity, "real", key)
    good = json.loads(path.read_text())
    edits = {"rows": {**good, "rows": [0, 1, 7]}, "heard": {**good, "heard": [0, 1, 10]},
             "identity": {**good, "set": {"identity": "0" * 64}}}
    path.write_text(json.dumps(edits[content]) if content in edits else content)
    assert setcache.heard(data, identity, "real", key, rows, ear).tolist() == [0, 1, 2]
    err = capsys.readouterr().err.strip().splitlines()
    assert ear.calls == 2 and len(err) == 1 and err[0].startswith(f"hearing real of {data.root} again: {path} is ")
    assert why in err[0]
    assert json.loads(path.read_text()) == {**good, "created": json.loads(path.read_text())["created"],
                                            "seconds": json.loads(path.read_text())["seconds"]}  # replaced


def test_nothing_heard_is_not_kept_and_an_unwritable_cache_costs_only_the_reuse(spec, tmp_path, monkeypatch, capsys):
    data = SpectrogramSet(spec)
    identity, key, rows = data.identity(), setcache.key_of(LISTENER), np.arange(2)
    gone = Ear([0, 0])
    gone.classes = None  # the recordings are not there
    assert setcache.heard(data, identity, "real", key, rows, gone) is None
    assert not setcache.path_of(identity, "real", key).exists()
    (tmp_path / "a-file").write_text("")
    monkeypatch.setenv("VAEAUDIO_CACHE", str(tmp_path / "a-file"))
    ear = Ear([4, 5])
    assert setcache.heard(data, identity, "real", key, rows, ear).tolist() == [4, 5]
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"note: what the recogniser heard in real of {data.root} is not kept")
