"""vaeaudio evaluate: the loss table, latent scores, plots and listening files of a run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from vaeaudio.cli import main
from vaeaudio.formats.spectrogram_set import SpectrogramSet
from vaeaudio.judging import metrics
from vaeaudio.judging.quality import MIN_SECONDS
from vaeaudio.settings.base import PHASES


@pytest.fixture(scope="module")
def evaluated(tiny_run, tmp_path_factory):
    run = tmp_path_factory.mktemp("eval") / tiny_run.name
    shutil.copytree(tiny_run, run)
    assert main(["evaluate", str(run), "--listen", "2", "--samples-per-digit", "0", "--quiet"]) == 0
    return run


def test_metrics_json_has_every_figure(evaluated, spec_small):
    m = json.loads((evaluated / "eval" / "metrics.json").read_text())
    data = SpectrogramSet(spec_small)
    assert m["data"]["clips"] == {s: data.clips(s) for s in ("train", "val", "test")}
    assert m["epochs"] == 3 and m["latent_dim"] == 2 and m["training_seconds"] > 0
    for split in ("train", "val", "test"):
        losses = m["losses"][split]
        assert losses["total"] == pytest.approx(losses["reconstruction"] + losses["kl"], rel=1e-5)
        # sum of BCE over 17,733 bins: between 0 and log(2) x 17,733 for a model that is not worse than chance
        assert 0 < losses["reconstruction"] < 17733 * np.log(2) and losses["kl"] >= 0
    assert m["latent"]["k"] == 5 and m["latent"]["chance_accuracy"] == pytest.approx(
        np.bincount(data.arrays("test", ("digit",))["digit"]).max() / data.clips("test"))


def test_recogniser_figures(evaluated, spec_small):
    """The independent recogniser hears every test clip four ways; no generated clips with --samples-per-digit 0."""
    m = json.loads((evaluated / "eval" / "metrics.json").read_text())
    h, test = m["recogniser"], SpectrogramSet(spec_small).arrays("test", ("digit", "speaker"))
    n, speakers = len(test["digit"]), sorted(set(test["speaker"].astype(str).tolist()))
    assert "generated" not in h and h["generated_over_real"] is None
    for key in ("real", "representation", "reconstruction"):
        assert h[key]["clips"] == n and 0 <= h[key]["accuracy"] <= 1 and 0 <= h[key]["nothing_heard"] <= 1
        assert sorted(h[key]["per_speaker"]) == speakers and len(speakers) >= 2
        assert sorted(h[key]["per_digit"]) == [str(d) for d in sorted(set(test["digit"].tolist()))]
    # real recordings are heard as the digit far above chance (0.1); a 3-epoch latent-2 model's blur is not
    assert h["real"]["accuracy"] >= 0.4 and h["reconstruction"]["accuracy"] < h["real"]["accuracy"]
    assert h["reconstruction_over_representation"] == pytest.approx(
        h["reconstruction"]["accuracy"] / h["representation"]["accuracy"])
    assert 0 < h["seconds_per_clip"] < 0.5 and 0.25 <= h["sharpen"] <= 8  # reconstructions sharpened as synth would
    row = (evaluated / "eval" / "table.md").read_text().splitlines()[2]
    assert h["real_train"]["clips"] == SpectrogramSet(spec_small).clips("train") and h["real_train"]["accuracy"] >= 0.4
    assert f"| - / {h['real_train']['accuracy']:.2f} | {h['reconstruction']['accuracy']:.2f} / " \
           f"{h['representation']['accuracy']:.2f} |" in row


def test_stoi_of_reconstructions_and_of_the_representation(evaluated, spec_small):
    """STOI against the recordings, every test clip (fewer than --stoi-clips' 200) joined per speaker: the
    representation alone is close to the recordings, a 3-epoch latent-2 model's reconstructions are further."""
    m = json.loads((evaluated / "eval" / "metrics.json").read_text())
    data = SpectrogramSet(spec_small)
    q, test = m["quality"], data.arrays("test", ("speaker",))
    names, counts = np.unique(test["speaker"].astype(str), return_counts=True)
    seconds = data.transform.clip_samples / data.transform.sample_rate
    speakers = sorted(str(n) for n, c in zip(names, counts) if c * seconds >= MIN_SECONDS)  # those STOI can score
    assert len(speakers) >= 2 and q["clips"] == len(test["speaker"]) and q["phase"] == PHASES[0] == "pghi"
    for key in ("stoi_reconstruction", "stoi_representation"):
        assert q[key]["groups"] == len(speakers) and sorted(q[key]["per_group"]) == speakers
        assert q[key]["clips"] == sum(int(c) for n, c in zip(names, counts) if str(n) in speakers)
        assert q[key]["mean"] == pytest.approx(np.mean(list(q[key]["per_group"].values())))
        assert q[key]["se"] > 0
    ceiling = q["stoi_representation"]["mean"]
    assert ceiling > 0.8 and q["stoi_reconstruction"]["mean"] < ceiling
    row = (evaluated / "eval" / "table.md").read_text().splitlines()[2]
    assert row.endswith(f"| {q['stoi_reconstruction']['mean']:.2f} / {q['stoi_representation']['mean']:.2f} |")


def test_latent_scores_match_a_hand_computation(evaluated, spec_small):
    """Recompute the k-NN accuracy from the run's own encoder."""
    from vaeaudio.models.saving import load_model

    model = load_model(evaluated)
    data = SpectrogramSet(spec_small)
    z = {s: np.asarray(model.encode(data.arrays(s)["spec"])[0]) for s in ("train", "test")}
    y = {s: data.arrays(s, ("digit",))["digit"] for s in ("train", "test")}
    m = json.loads((evaluated / "eval" / "metrics.json").read_text())
    assert m["latent"]["knn_digit_accuracy"] == pytest.approx(
        metrics.knn_accuracy(z["train"], y["train"], z["test"], y["test"], 5))
    assert m["latent"]["silhouette_digit"] == pytest.approx(metrics.silhouette(z["test"], y["test"]), abs=1e-6)


def test_plots_and_tables_exist_and_are_not_trivial(evaluated):
    out = evaluated / "eval"
    for name in ("latent_digit.png", "latent_speaker.png", "curves.png", "reconstructions.png"):
        png = (out / name).read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 15_000, name
    md = (out / "table.md").read_text().splitlines()
    assert md[0].startswith("| run | model | epochs") and len(md) == 3
    assert (out / "table.csv").read_text().count("\n") == 2


def test_listening_files(evaluated):
    import soundfile as sf

    wavs = sorted((evaluated / "eval" / "listen").glob("*.wav"))
    kinds = sorted({w.stem.rsplit("_", 1)[1] for w in wavs})
    assert kinds == ["model", "original", "representation"] and len(wavs) == 6
    for w in wavs:
        info = sf.info(w)
        assert (info.samplerate, info.frames) == (22050, 17640)


def test_two_runs_one_table(evaluated, tiny_run, tmp_path, capsys):
    other = tmp_path / "second"
    shutil.copytree(tiny_run, other)
    assert main(["evaluate", str(evaluated), str(other), "--listen", "0", "--samples-per-digit", "0",
                 "--no-recogniser", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "mlp-tiny" in out and "second" in out and "test loss" in out and "heard gen / real" in out
    assert json.loads((other / "eval" / "metrics.json").read_text())["recogniser"] is None
    assert "| - / - | - / - | " in (other / "eval" / "table.md").read_text().splitlines()[2]  # no recogniser
    first, second = (json.loads((r / "eval" / "metrics.json").read_text()) for r in (evaluated, other))
    assert first["losses"] == second["losses"]  # the same model and --seed: the same latent draws


def test_the_terminal_table_has_a_column_per_run_and_fits_80_columns(evaluated):
    from vaeaudio.judging import tables

    metrics = json.loads((evaluated / "eval" / "metrics.json").read_text())
    assert {"run", *tables.TERMINAL_ROWS} == set(tables.COLUMNS)  # the terminal shows what table.md has
    lines = tables.terminal([metrics, metrics, metrics], width=80).splitlines()
    assert max(map(len, lines)) <= 80
    rows = [[c.strip() for c in line.split("│")[1:-1]] for line in lines if line.startswith("│")]
    assert [r[0] for r in rows if r[0]] == list(tables.TERMINAL_ROWS)  # in order, a folded model line aside
    test_loss = next(r for r in rows if r[0] == "test loss")
    assert test_loss[1:] == [f"{metrics['losses']['test']['total']:.2f}"] * 3


def test_seed_chooses_the_latent_draws_of_the_losses(tiny_run, tmp_path):
    losses = {}
    for seed in (0, 1, 0):
        run = tmp_path / f"seed{seed}"
        shutil.copytree(tiny_run, run, dirs_exist_ok=True)
        assert main(["evaluate", str(run), "--listen", "0", "--samples-per-digit", "0", "--seed", str(seed),
                     "--no-recogniser", "--quiet"]) == 0
        losses.setdefault(seed, []).append(json.loads((run / "eval" / "metrics.json").read_text())["losses"])
    assert losses[0][0] == losses[0][1]
    assert losses[0][0]["test"]["reconstruction"] != losses[1][0]["test"]["reconstruction"]
    assert losses[0][0]["test"]["kl"] == pytest.approx(losses[1][0]["test"]["kl"])  # KL uses the means only


def test_run_without_model_is_one_line(tiny_run, tmp_path, capsys):
    run = tmp_path / "unfinished"
    shutil.copytree(tiny_run, run)
    (run / "model.keras").unlink()
    assert main(["evaluate", str(run)]) == 1
    err = capsys.readouterr().err
    assert "model.keras is missing" in err and err.count("\n") == 1


def test_foreign_data_is_one_line(tiny_run, tmp_path, capsys):
    (tmp_path / "manifest.json").write_text(json.dumps({"format": "something-else/3"}))
    assert main(["evaluate", str(tiny_run), "--data", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "is not a vaeaudio-spectrograms/1 manifest" in err and err.count("\n") == 1


def test_a_sample_of_the_train_recordings_and_the_set_heard_once(tiny_run, spec_small, tmp_path, monkeypatch):
    """--recogniser-train-clips 20 --recogniser-test-clips 6: 20 train recordings and 6 test clips drawn by --seed,
    reported with the split's size and the standard error, in metrics.json and the table; a second evaluate reads
    what was heard in the set's own clips back from the cache (the files untouched) and reports the same
    figures."""
    from vaeaudio.judging import setcache

    monkeypatch.setenv("VAEAUDIO_CACHE", str(tmp_path / "cache"))
    data = SpectrogramSet(spec_small)
    n = data.clips("train")
    figures, stamps = [], []
    for name in ("first", "second"):
        run = Path(shutil.copytree(tiny_run, tmp_path / name))
        assert main(["evaluate", str(run), "--listen", "0", "--samples-per-digit", "0", "--stoi-clips", "0",
                     "--recogniser-train-clips", "20", "--recogniser-test-clips", "6", "--quiet"]) == 0
        h = json.loads((run / "eval" / "metrics.json").read_text())["recogniser"]
        files = sorted((tmp_path / "cache" / setcache.FOLDER / data.identity()[:16]).iterdir())
        stamps.append({f.name: f.stat().st_mtime_ns for f in files})
        figures.append({k: h[k] for k in ("real_train", "real", "representation")})
        real = h["real_train"]
        assert real["clips"] == 20 and real["population"] == n > 20
        p = real["accuracy"]
        assert real["se"] == pytest.approx(np.sqrt(p * (1 - p) / 20 * (n - 20) / (n - 1)))
        row = (run / "eval" / "table.md").read_text().splitlines()[2]
        assert f"| - / {p:.2f} ±{real['se']:.3f} (20 of {n}) |" in row
        for key in ("real", "representation", "reconstruction"):
            assert h[key]["clips"] == 6 and h[key]["population"] == data.clips("test") > 6
            assert len(h[key]["per_speaker"]) >= 1 and h[key]["se"] >= 0
    assert sorted(k.split("-")[0] for k in stamps[0]) == ["real", "real_train", "representation"]
    assert stamps[1] == stamps[0] and figures[1] == figures[0]
