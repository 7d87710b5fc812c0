"""Run folders: every run gets a folder of its own, even two started in the same second; a multi-worker run
needs its folder named (`--run-dir`), as each worker would name it from its own clock."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from vaeaudio.cli import main
from vaeaudio.formats import runs


def test_multi_worker_needs_a_run_dir(spec_small, capsys):
    assert main(["train", "mlp", "--data", str(spec_small), "--distribute", "multi-worker", "--quiet"]) == 2
    assert capsys.readouterr().err.strip() == (
        "error: --distribute multi-worker needs --run-dir: each worker would name the run from its own clock "
        "(give every worker the same --run-dir, e.g. --run-dir runs/mlp-multi)")


@pytest.mark.slow
def test_classifier_runs_started_in_the_same_second_get_two_folders(spec_small, tmp_path, monkeypatch):
    from vaeaudio.judging import classifier
    from vaeaudio.settings import ClassifierSettings

    class Frozen(datetime):
        @classmethod
        def now(cls, tz=None):
            return datetime(2030, 1, 2, 3, 4, 5)

    monkeypatch.setattr(runs, "datetime", Frozen)
    monkeypatch.chdir(tmp_path)
    a = classifier.train(ClassifierSettings(data=spec_small, epochs=1))
    b = classifier.train(ClassifierSettings(data=spec_small, epochs=1))
    assert (a.folder, b.folder) == (Path("runs/classifier-20300102-030405"), Path("runs/classifier-20300102-030405-2"))
    for r in (a, b):
        assert sorted(p.name for p in r.folder.iterdir()) == ["classifier.keras", "classifier.keras.sha256",
                                                               "config.json"]


def test_new_run_dir_creates_the_folder(tmp_path):
    now = datetime(2030, 1, 2, 3, 4, 5)
    first, second = runs.new_run_dir("mlp", tmp_path, now), runs.new_run_dir("mlp", tmp_path, now)
    assert (first.name, second.name) == ("mlp-20300102-030405", "mlp-20300102-030405-2")
    assert first.is_dir() and second.is_dir() and not any(first.iterdir())


def test_every_file_stamps_time_one_way(spec_small):
    """One timestamp style (`util.clock`: local time with its UTC offset, ISO 8601, to the second), as a manifest
    records it."""
    import json
    import re

    from vaeaudio.util.clock import timestamp

    stamp = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d")
    assert timestamp(datetime(2030, 1, 2, 3, 4, 5)).startswith("2030-01-02T03:04:05")
    assert stamp.fullmatch(timestamp())
    assert stamp.fullmatch(json.loads((spec_small / "manifest.json").read_text())["created"])
