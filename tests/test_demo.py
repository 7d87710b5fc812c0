"""vaeaudio demo: the whole pipeline on the embedded sample, offline."""

import json

import pytest
import soundfile as sf

from vaeaudio.cli import main
from vaeaudio.demo import SAMPLE, SAMPLES_PER_DIGIT


def test_embedded_sample_is_small_and_attributed():
    wavs = sorted(SAMPLE.glob("*.wav"))
    assert len(wavs) == 250
    assert sum(w.stat().st_size for w in wavs) < 2_000_000
    assert "CC BY-SA 4.0" in (SAMPLE / "ATTRIBUTION.md").read_text()


@pytest.mark.slow
def test_demo_runs_end_to_end(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--epochs", "2", "--no-judge", "--quiet"]) == 0
    summary = capsys.readouterr().out
    manifest = json.loads((out / "spectrograms" / "manifest.json").read_text())
    assert sum(s["clips"] for s in manifest["splits"].values()) > 200
    run = next((out / "runs").glob("mlp-cond-*"))
    assert (out / "runs" / "latest").resolve() == run.resolve()
    settings = json.loads((run / "config.json").read_text())["settings"]
    assert (settings["conditional"], settings["latent_dim"], settings["latent_mixture"]) == (True, 16, 5)
    assert (run / "model.keras").is_file() and (run / "latents.npz").is_file()
    assert len((run / "history.csv").read_text().splitlines()) == 3
    m = json.loads((run / "eval" / "metrics.json").read_text())
    assert m["epochs"] == 2 and m["generation"] is None  # --no-judge: the recogniser alone hears the samples
    heard = m["recogniser"]
    assert heard["generated"]["clips"] == 10 * SAMPLES_PER_DIGIT == 500
    assert heard["real_train"]["clips"] == manifest["splits"]["train"]["clips"]
    wavs = sorted((out / "synth").glob("*.wav"))
    assert [w.stem.split("_")[1] for w in wavs] == [f"digit{d}" for d in range(10)]
    assert sf.info(wavs[0]).samplerate == 22050
    page = run / "report" / "index.html"
    lines = summary.splitlines()
    assert lines[0].startswith("demo finished in ") and lines[1] == f"  made:      a conditional VAE that says the " \
        f"digit you ask for: {run}"
    ratio = heard["generated_over_real"]
    assert f"of the real recordings of the same voices ({ratio:.2f}x)" in lines[2]
    assert lines[3] == f"  listen:    {page.resolve().as_uri()}"
    assert lines[-1] == f"  next:      vaeaudio synth --run {run} --digit 7 --random 3 sevens/"
    report = json.loads((run / "report" / "report.json").read_text())["runs"][0]
    assert report["evaluate"] == "reused" and report["judge"] is None and report["recogniser"] is True
