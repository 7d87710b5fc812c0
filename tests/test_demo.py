"""vaeaudio demo: the whole pipeline on the embedded sample, offline."""

import json

import soundfile as sf

from vaeaudio.cli import main
from vaeaudio.demo import SAMPLE


def test_embedded_sample_is_small_and_attributed():
    wavs = sorted(SAMPLE.glob("*.wav"))
    assert len(wavs) == 250
    assert sum(w.stat().st_size for w in wavs) < 2_000_000
    assert "CC BY-SA 4.0" in (SAMPLE / "ATTRIBUTION.md").read_text()


def test_demo_runs_end_to_end(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--epochs", "2", "--no-judge", "--quiet"]) == 0
    summary = capsys.readouterr().out
    assert "demo finished" in summary and "listen to:" in summary
    manifest = json.loads((out / "spectrograms" / "manifest.json").read_text())
    assert sum(s["clips"] for s in manifest["splits"].values()) > 200
    run = next((out / "runs").glob("mlp-*"))
    assert (out / "runs" / "latest").resolve() == run.resolve()
    assert (run / "model.keras").is_file() and len((run / "history.csv").read_text().splitlines()) == 3
    m = json.loads((run / "eval" / "metrics.json").read_text())
    assert m["epochs"] == 2 and m["losses"]["test"]["total"] > 0
    grid = sorted((out / "synth" / "grid").glob("*.wav"))
    assert len(grid) == 9 and len(list((out / "synth" / "random").glob("*.wav"))) == 5
    assert sf.info(grid[0]).samplerate == 22050
    page = run / "report" / "index.html"
    assert f"  report:    {page}\n  open:      {page.resolve().as_uri()}\n" in summary + "\n"
    assert json.loads((run / "report" / "report.json").read_text())["runs"][0]["evaluate"] == "reused"
