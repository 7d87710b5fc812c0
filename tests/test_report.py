"""vaeaudio report: the folder it writes, its reuse of evaluate, and the page as headless Chromium shows it."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import slow_fixture

from vaeaudio.cli import main
from vaeaudio.formats.runs import load_config
from vaeaudio.formats.spectrogram_set import SpectrogramSet

# Small on purpose: 2 test clips, 1 generated clip per digit, 12 map points, a 3 x 3 grid, 8 Griffin-Lim iterations.
FLAGS = ["--listen", "2", "--samples", "1", "--map-points", "12", "--grid", "3", "--griffin-lim-iters", "8",
         "--samples-per-digit", "1"]


@slow_fixture(scope="module")
def judge(spec_small, tmp_path_factory) -> Path:
    """A 1-epoch digit classifier: labels are what it hears, not what it should."""
    out = tmp_path_factory.mktemp("judge") / "classifier"
    assert main(["classifier", "train", "--data", str(spec_small), "--out", str(out), "--epochs", "1", "--quiet"]) == 0
    return out


@pytest.fixture(scope="module")
def runs(tiny_run, tiny_cond_run, tmp_path_factory) -> tuple[Path, Path]:
    """Writable copies of the tiny runs (the report writes RUN/eval/)."""
    root = tmp_path_factory.mktemp("report-runs")
    return shutil.copytree(tiny_run, root / tiny_run.name), shutil.copytree(tiny_cond_run, root / tiny_cond_run.name)


@pytest.fixture(scope="module")
def report(runs, judge, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report") / "cmp"
    assert main(["report", *map(str, runs), "--out", str(out), "--classifier", str(judge), *FLAGS, "--quiet"]) == 0
    return out


def test_folder_holds_the_page_and_every_file_it_names(report, runs, spec_small):
    meta = json.loads((report / "report.json").read_text())
    assert meta["format"] == "vaeaudio-report/2"
    assert [r["name"] for r in meta["runs"]] == [r.name for r in runs]
    assert [r["evaluate"] for r in meta["runs"]] == ["ran (none yet)"] * 2
    html = (report / "index.html").read_text()
    links = set(re.findall(r'(?:src|href)="([^"#]+)"', html))
    assert not [u for u in links if "://" in u or u.startswith("/")], "every link is relative"
    assert all((report / u).is_file() for u in links), [u for u in links if not (report / u).is_file()]
    on_map = min(12, SpectrogramSet(spec_small).clips("test"))
    for run, entry in zip(runs, meta["runs"]):
        t = load_config(run).transform()
        assert entry["audio"] == {"sample_rate": t.sample_rate, "seconds": t.seconds}
        # 2 clips x 3 versions + 10 generated + the map's test clips, + a 3 x 3 decoded grid for the unconditional run
        conditional = load_config(run).settings["conditional"]
        assert len(entry["wavs"]) == 6 + 10 + on_map + (0 if conditional else 9)
        assert set(entry["wavs"]) <= links
        for w in entry["wavs"]:
            info = sf.info(report / w)
            assert (info.samplerate, info.frames, info.channels) == (t.sample_rate, t.clip_samples, 1)
    # each run's section, then the page's top: 10 digits asked for (or 10 draws) and 2 test clips (original, model)
    assert html.count("<audio controls preload=\"metadata\"") == 2 * (6 + 10) + 2 * (10 + 2 * 2)
    assert len(re.findall(r"classifier: \d \(p [01]\.\d\d\)", html)) >= 2 * (6 + 10 + on_map + 14) + 9
    assert len(re.findall(r"recogniser: (\d|no digit)", html)) >= 2 * (6 + 10 + on_map + 14) + 9
    assert html.index("<audio") < html.index("Settings that matter"), "the page starts with sound"
    assert "Representation alone</strong>: the recording turned into a spectrogram" in html
    assert "<strong>Classifier</strong>: a digit classifier trained on this set" in html
    for name in ("Settings that matter", "Losses (nats per clip", "k-NN digit accuracy", "Per digit",
                 "generated accuracy", "Playable latent map"):
        assert name in html
    size = sum(p.stat().st_size for p in report.rglob("*") if p.is_file())
    assert size < 5e6


def test_the_map_grid_spans_where_the_test_clips_lie(report, runs, spec_small):
    from vaeaudio.models.saving import load_model

    plain = next(e for e, r in zip(json.loads((report / "report.json").read_text())["runs"], runs)
                 if not load_config(r).settings["conditional"])
    test = SpectrogramSet(spec_small).arrays("test", ("spec",))["spec"]
    z = np.asarray(load_model(Path(plain["run"])).encode(test)[0])
    grid = np.array([g["z"] for g in plain["map"]["grid"]])
    assert grid.shape == (9, 2)
    np.testing.assert_allclose(grid.min(0), np.percentile(z, 5, axis=0), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(grid.max(0), np.percentile(z, 95, axis=0), rtol=1e-4, atol=1e-4)
    assert {tuple(p["src"].split("/")[-2:]) for p in plain["map"]["grid"]} <= \
        {tuple(w.split("/")[-2:]) for w in plain["wavs"]}


def test_reuses_current_evaluation_and_redoes_a_stale_one(report, runs, judge, tmp_path, capsys):
    capsys.readouterr()
    out = tmp_path / "again"
    assert main(["report", str(runs[0]), "--out", str(out), "--classifier", str(judge), *FLAGS, "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert f"{runs[0].name}: evaluate results reused" in printed and f"file://{out.resolve()}/index.html" in printed
    assert main(["report", str(runs[0]), "--out", str(out), "--classifier", str(judge), *FLAGS, "--k", "3",
                 "--no-judge", "--quiet"]) == 0
    assert f"{runs[0].name}: evaluate results ran (made with other settings)" in capsys.readouterr().out
    page = (out / "index.html").read_text()  # the earlier report was replaced
    assert not re.search(r"classifier: \d", page) and "no classifier (--no-judge)" in page
    assert "<strong>Classifier</strong>" not in page and "<strong>Recogniser</strong>" in page


def test_refuses_to_replace_a_folder_that_is_not_a_report(runs, tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("mine")
    assert main(["report", str(runs[0]), "--out", str(tmp_path), "--quiet"]) == 2
    assert capsys.readouterr().err.startswith(f"error: --out {tmp_path} exists and is not a report folder")
    assert (tmp_path / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize("via", ["http", "file"])
def test_page_in_headless_chromium(report, tmp_path, via, open_page):
    """No console errors or failed/outside requests; images decode, players load clip-long WAVs, the map plays."""
    with open_page(report, tmp_path, via=via) as (page, log):
        images = page.evaluate("Array.from(document.images).map(i => [i.getAttribute('src'), i.naturalWidth])")
        assert len(images) == 2 * (3 + 2) and all(w > 0 for _, w in images), images
        durations = page.evaluate("""async () => {
            const out = [];
            for (const a of document.querySelectorAll('audio[src]')) {
                if (a.readyState < 1) await new Promise(done => {
                    a.addEventListener('loadedmetadata', done, {once: true});
                    a.addEventListener('error', done, {once: true});
                    a.load();
                });
                out.push([a.getAttribute('src'), a.duration]);
            }
            return out;
        }""")
        assert len(durations) == 2 * (6 + 10) + 2 * (10 + 2 * 2)
        seconds = {r["name"]: r["audio"]["seconds"] for r in json.loads((report / "report.json").read_text())["runs"]}
        assert all(abs(d - seconds[src.split("/")[0]]) < 0.01 for src, d in durations), durations
        page.evaluate("""() => { window.played = [];
            for (const p of document.querySelectorAll('audio.map-player'))
                p.addEventListener('playing', () => window.played.push(p.currentSrc)); }""")
        points = [page.locator("a.pt.test").last, page.locator("a.pt.grid").last]  # nothing is drawn on top of these
        for n, point in enumerate(points):
            point.click()
            page.wait_for_function(f"() => window.played.length > {n}", timeout=10_000)
            assert page.evaluate("window.played")[n].endswith("/" + point.get_attribute("href"))
            assert point.evaluate("a => a.closest('.latent-map').querySelector('.now').textContent") == \
                "Playing: " + point.get_attribute("data-label")
        first = page.locator("a.pt.test").first  # keyboard: Tab to a point, Enter plays it
        first.focus()
        page.keyboard.press("Enter")
        page.wait_for_function("() => window.played.length > 2", timeout=10_000)
        assert page.evaluate("window.played")[2].endswith("/" + first.get_attribute("href"))
        page.set_viewport_size({"width": 1200, "height": 900})
        page.evaluate("window.scrollTo(0, 0)")
        first_player = page.evaluate("document.querySelector('audio').getBoundingClientRect().bottom")
        assert first_player < 900, "the first screen has a player"
        shots = {width: tmp_path / f"report-{via}-{width}px.png" for width in (1280, 390)}
        for width, path in shots.items():
            page.set_viewport_size({"width": width, "height": 900})
            page.screenshot(path=str(path), full_page=True)
            assert path.stat().st_size > 50_000
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, "the narrow page scrolls sideways"
    assert log.errors == [] and log.failed == []
    assert log.requests and all(u.startswith(log.origin) for u in log.requests), log.requests


def test_a_run_without_its_model_has_not_finished(report, runs, tmp_path, capsys):
    """Its evaluation from before is no reason to say "no such file": the run has not finished."""
    run = Path(shutil.copytree(runs[0], tmp_path / "unfinished"))
    assert (run / "eval" / "metrics.json").is_file()
    (run / "model.keras").unlink()
    assert main(["report", str(run), "--out", str(tmp_path / "page"), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err == (f"error: {run / 'model.keras'} is missing: the run has not finished "
                   f"(finish it with `vaeaudio train --resume {run}`)\n")
    assert not (tmp_path / "page").exists()


def _metrics(latent: int, conditional: bool, reconstruction: float, representation: float) -> dict:
    """metrics.json as evaluate writes it, the parts the page's listening table reads."""
    rec = {"reconstruction": {"accuracy": reconstruction}, "representation": {"accuracy": representation},
           "reconstruction_over_representation": reconstruction / representation, "real_train": {"accuracy": 0.73}}
    rec["generated"] = {"accuracy": 0.72} if conditional else {"entropy_ratio": 0.95, "heard_some_over_real": 1.02}
    if conditional:
        rec["generated_over_real"] = 0.72 / 0.73
    stoi = {"stoi_reconstruction": {"mean": 0.612, "se": 0.011, "groups": 5, "clips": 200},
            "stoi_representation": {"mean": 0.873, "se": None, "groups": 1, "clips": 40}}
    return {"latent_dim": latent, "recogniser": rec, "quality": stoi}


def test_the_page_shows_stoi_beside_the_recogniser_and_says_where_the_model_loses_the_word():
    from vaeaudio.listening.tables import heard_table

    sections = [{"name": "cond", "metrics": _metrics(16, True, 0.76, 0.87)},
                {"name": "ref", "metrics": _metrics(2, False, 0.60, 0.87)},
                {"name": "ref-ok", "metrics": _metrics(2, False, 0.80, 0.87)},
                {"name": "cond-l2", "metrics": _metrics(2, True, 0.54, 0.87)}]
    rows = re.findall(r"<tr>(.*?)</tr>", heard_table(sections))
    cells = [re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", r) for r in rows]
    assert cells[1] == ["generated heard as asked / the recordings of the same voices", "0.72 / 0.73 (0.99x)",
                        "– / 0.73", "– / 0.73", "0.72 / 0.73 (0.99x)"]
    assert cells[2][1:] == ["–", "0.95", "0.95", "–"] and cells[3][1:] == ["–", "1.02", "1.02", "–"]
    assert cells[4][1] == ('0.76 / 0.87 (0.87x)<br><span class="note">below 0.9x: the model loses words the '
                           "representation keeps; voices unlike those it trained on lose most "
                           "(docs/intelligibility.md)</span>")
    assert cells[4][2] == ('0.60 / 0.87 (0.69x)<br><span class="note">below 0.9x: a latent of 2 cannot carry the word '
                           "of these voices, and a larger latent alone keeps no more (16 did not); what keeps more of "
                           "it is a latent of 16 with the label head (train's default) or the digit given (train "
                           "--conditional; docs/intelligibility.md)</span>")
    assert cells[4][3] == "0.80 / 0.87 (0.92x)"
    assert cells[4][4].startswith('0.54 / 0.87 (0.62x)<br><span class="note">below 0.9x: the model loses words the ')
    assert cells[5][1:] == ["0.612 ± 0.011 / 0.873 (5 speakers)"] * 4
    assert heard_table([{"name": "quiet", "metrics": {"latent_dim": 2}}]) == (
        "<p>Nothing heard: evaluate ran with <code>--no-recogniser</code> and <code>--stoi-clips 0</code>.</p>")
