"""Nothing lost or silently wrong (issue 26, cases 1-7): a set keeps its identity through a repair, preprocess
does not replace another source's set unasked, a resumed run writes everything a finished one has, a mixture per
digit is checked before training, non-finite values write no WAV, report URLs survive reserved characters, and a
source recording is played as the original only while it still is."""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
from html import escape
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import quote, unquote

import numpy as np
import pytest
from conftest import SPEAKERS, copy_fsdd

from vaeaudio.cli import main
from vaeaudio.corpus.preprocess import preprocess
from vaeaudio.formats import latents, runs
from vaeaudio.formats.spectrogram_set import MANIFEST, SpectrogramSet
from vaeaudio.settings import PreprocessSettings, TrainSettings

PRE = ["--length-percentiles", "0", "100", "--workers", "1", "--quiet"]


def _preprocess(src: Path, out: Path, *extra: str) -> int:
    return main(["preprocess", "--src", str(src), "--out", str(out), *PRE, *extra])


@pytest.fixture
def corpus(fsdd_small, tmp_path) -> Path:
    """A writable copy of the 100-clip corpus."""
    return Path(shutil.copytree(fsdd_small, tmp_path / "corpus"))


@pytest.fixture
def spec_copy(corpus, tmp_path) -> Path:
    """A set of `corpus` (its manifest names the writable copy as the source)."""
    out = tmp_path / "spectrograms"
    assert _preprocess(corpus, out) == 0
    return out


def _damage_and_repair(spec: Path, src: Path, monkeypatch) -> None:
    """Damage a shard, then repair the set as the error says; the repaired manifest is written at another time."""
    import vaeaudio.formats.spectrogram_set as module

    monkeypatch.setattr(module, "timestamp", lambda: "2031-01-01T00:00:00+00:00")
    shard = spec / "train-00000.h5"
    with open(shard, "r+b") as f:
        f.seek(4096)
        f.write(b"\1" * 64)
    assert _preprocess(src, spec) == 0


# -- 1. a set's identity is its content -----------------------------------------------------------------------
def test_a_repaired_set_keeps_its_identity_and_another_content_does_not(spec_copy, corpus, monkeypatch):
    before = SpectrogramSet(spec_copy)
    identity, file_sha = before.identity(), before.sha256()
    _damage_and_repair(spec_copy, corpus, monkeypatch)
    after = SpectrogramSet(spec_copy)
    assert json.loads((spec_copy / MANIFEST).read_text())["created"] == "2031-01-01T00:00:00+00:00"
    assert after.sha256() != file_sha  # the manifest file changed ...
    assert after.identity() == identity and after.same_as(identity, file_sha)  # ... its content did not
    # a run made before identities matches by the manifest file's sha256, as it did
    assert after.same_as(None, after.sha256()) and not after.same_as(None, file_sha + "x")
    # other content (one clip fewer) is another set
    (corpus / "recordings" / "0_george_0.wav").unlink()
    assert _preprocess(corpus, spec_copy) == 0
    assert not SpectrogramSet(spec_copy).same_as(identity)


def test_a_run_resumes_and_evaluates_on_its_repaired_set(tiny_run, spec_copy, corpus, tmp_path, capsys,
                                                         monkeypatch):
    run = Path(shutil.copytree(tiny_run, tmp_path / "run"))
    cfg = json.loads((run / runs.CONFIG).read_text())
    cfg["data"]["root"] = str(spec_copy)  # the same content as the set it was trained on: a copy
    (run / runs.CONFIG).write_text(json.dumps(cfg))
    _damage_and_repair(spec_copy, corpus, monkeypatch)
    capsys.readouterr()
    assert main(["train", "--resume", str(run), "--epochs", "4", "--quiet"]) == 0
    assert [r["epoch"] for r in runs.read_history(run)] == [1, 2, 3, 4]
    assert main(["evaluate", str(run), "--listen", "0", "--samples-per-digit", "0", "--no-recogniser"]) == 0
    assert "is not the spectrogram set" not in capsys.readouterr().err
    assert json.loads((run / "eval" / "metrics.json").read_text())["data"]["same_as_training"] is True


# -- 2. another source over an existing set ---------------------------------------------------------------------
def test_another_source_does_not_replace_a_set_without_overwrite(spec_copy, tmp_path, capsys):
    other = copy_fsdd(tmp_path / "other", takes=range(1), speakers=SPEAKERS[:2], digits=range(9))
    run = tmp_path / "runs" / "mlp-x"  # a run of the set, beside it
    run.mkdir(parents=True)
    (run / runs.CONFIG).write_text(json.dumps({"data": {"root": str(spec_copy)}}))
    identity = SpectrogramSet(spec_copy).identity()
    capsys.readouterr()
    assert _preprocess(other, spec_copy) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: --out {spec_copy} is a spectrogram set made from {spec_copy.parent / 'corpus'}, "
                          f"not from --src {other}; 1 run(s) were trained on it: {run}")
    assert "give --overwrite to replace it" in err
    assert SpectrogramSet(spec_copy).identity() == identity  # untouched
    assert _preprocess(other, spec_copy, "--overwrite") == 0
    assert sum(s.clips for s in SpectrogramSet(spec_copy).manifest.splits.values()) == 16  # 18 - 2 length ties


# -- 3. the resume that finishes a run writes its latent mixture ----------------------------------------------
@pytest.mark.slow
def test_resume_after_a_failed_final_save_writes_the_latent_mixture(spec_small, tmp_path, monkeypatch):
    from vaeaudio.models import saving
    from vaeaudio.training.train import resume, train
    from vaeaudio.util.errors import EnvironmentProblem

    real = saving.save_model

    def full(path, model):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(saving, "save_model", full)
    run = tmp_path / "run"
    with pytest.raises(EnvironmentProblem):
        train(TrainSettings(kind="mlp", data=spec_small, run_dir=run, hidden=(16,), epochs=1, batch_size=32,
                            latent_mixture=2))
    assert not (run / latents.FILE).exists()
    monkeypatch.setattr(saving, "save_model", real)
    resume(run)
    assert saving.has_whole_model(run)
    mixture = latents.load(run)
    assert mixture.means.shape == (10, 2, 16)  # one per digit, the run unconditional (latent 16: the default)


# -- 4. a mixture per digit needs every digit: checked before training --------------------------------------------
def test_conditional_mixture_on_a_set_missing_a_digit_is_refused_before_training(tmp_path, capsys):
    src = copy_fsdd(tmp_path, takes=range(2), speakers=SPEAKERS[:3], digits=range(9))
    spec = tmp_path / "nine"
    preprocess(PreprocessSettings(src=src, out=spec, length_percentiles=(0, 100), workers=1))
    run = tmp_path / "run"
    capsys.readouterr()
    assert main(["train", "mlp", "--data", str(spec), "--run-dir", str(run), "--conditional", "--latent-mixture", "2",
                 "--quiet"]) == 1
    assert capsys.readouterr().err == (
        f"error: --latent-mixture fits a mixture per digit, but the train split of {spec} has no "
        "clip of digit 9 (train on a set that holds every digit, or leave out --latent-mixture)\n")
    assert not run.exists()


def test_the_default_mixture_is_left_out_with_a_word_on_a_set_missing_a_digit(tmp_path, capsys):
    """Not asked for (the default), a mixture per digit that a set cannot give is left out, said once; 0 turns it
    off without a word."""
    from vaeaudio.training.train import _fitted
    from vaeaudio.util import progress

    src = copy_fsdd(tmp_path, takes=range(2), speakers=SPEAKERS[:2], digits=range(9))
    spec = tmp_path / "nine"
    preprocess(PreprocessSettings(src=src, out=spec, length_percentiles=(0, 100), workers=1))
    progress.configure()  # an earlier --quiet of this process would hide the line
    capsys.readouterr()
    settings = _fitted(TrainSettings(kind="mlp", data=spec), SpectrogramSet(spec), None)
    assert settings.latent_mixture == 0
    assert capsys.readouterr().err == "no latent mixture: the train split has no clip of digit 9 (the run draws from " \
                                      "N(0, I))\n"
    off = TrainSettings(kind="mlp", data=spec, latent_mixture=0)
    assert _fitted(off, SpectrogramSet(spec), None).latent_mixture == 0
    assert capsys.readouterr().err == ""


# -- 5. non-finite values: one line, nothing written --------------------------------------------------------------
def test_a_latent_value_beyond_float32_is_refused(tmp_path, capsys):
    out = tmp_path / "x.wav"
    assert main(["synth", "--z", "1e300", "0", str(out)]) == 2
    assert "values must be finite numbers below 3.4e+38" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize("damage", ["db_min", "latents"])
def test_non_finite_run_files_write_nothing(tiny_run, tmp_path, capsys, damage):
    run = Path(shutil.copytree(tiny_run, tmp_path / "run"))
    if damage == "db_min":
        text = (run / runs.CONFIG).read_text()
        (run / runs.CONFIG).write_text(re.sub(r'"db_min": [-0-9.e]+', '"db_min": NaN', text))
        said = f"error: {run / runs.CONFIG} is damaged: ('data', 'db_min')"
    else:
        m = latents.LatentMixture(np.ones((1, 1)), np.full((1, 1, 2), np.nan), np.tile(np.eye(2), (1, 1, 1, 1)))
        m.save(run / latents.FILE)
        said = f"error: {run / latents.FILE} is not a vaeaudio-latents/1 file (it holds NaN or Inf)"
    out = tmp_path / "out"
    assert main(["synth", "--run", str(run), "--random", "3", str(out), "--quiet"]) == 1
    assert capsys.readouterr().err.startswith(said)
    assert not out.exists()


# -- 6. reserved characters in run names ------------------------------------------------------------------------
class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.urls = []

    def handle_starttag(self, tag, attrs):
        self.urls += [v for k, v in attrs if k in ("src", "href") and v]


def test_every_url_of_a_report_survives_reserved_characters_in_run_names(tiny_run, spec_small, tmp_path):
    names = ["r#1", "r?2", "r%3", "r&4 x"]
    copies = [shutil.copytree(tiny_run, tmp_path / "runs" / n) for n in names]
    out = tmp_path / "page"
    assert main(["report", *map(str, copies), "--out", str(out), "--listen", "1", "--samples", "1", "--map-points",
                 "2", "--grid", "0", "--samples-per-digit", "0", "--no-judge", "--no-recogniser", "--griffin-lim-iters",
                 "2", "--quiet"]) == 0
    parser = _Links()
    parser.feed((out / "index.html").read_text())
    files = [u for u in parser.urls if not u.startswith("#")]
    assert sum(u.endswith(".wav") for u in files) >= 4 * 3  # a clip's two WAVs and 10 draws, per run
    for u in files:
        assert "#" not in u and "?" not in u, u
        assert (out / unquote(u)).is_file(), u
    html = (out / "index.html").read_text()
    for n in names:
        assert f'href="#run-{escape(quote(n))}"' in html


# -- 7. the source recordings are checked before they are played as originals --------------------------------
def test_a_replaced_deleted_or_text_recording_is_not_the_original(spec_copy, corpus):
    data = SpectrogramSet(spec_copy)
    test = data.arrays("test")
    paths = [str(p) for p in test["path"][:3]]
    assert data.recording(paths[0], test["spec"][0]) is not None and not data.unverified
    other = next(p for p in (corpus / "recordings").iterdir() if p.name != Path(paths[0]).name)
    shutil.copyfile(other, corpus / paths[0])  # replaced by another recording
    (corpus / paths[1]).unlink()
    (corpus / paths[2]).write_text("not audio")
    for i in range(3):
        assert data.recording(paths[i], test["spec"][i]) is None
    assert data.unverified == {paths[0]: "changed since preprocessing", paths[1]: "missing",
                               paths[2]: data.unverified[paths[2]]}
    assert data.unverified[paths[2]].startswith("unreadable (")


def test_evaluate_says_which_originals_it_left_out(tiny_run, spec_copy, corpus, tmp_path, capsys):
    run = Path(shutil.copytree(tiny_run, tmp_path / "run"))
    for p in SpectrogramSet(spec_copy).arrays("test")["path"]:
        (corpus / p).write_text("text")
    assert main(["evaluate", str(run), "--data", str(spec_copy), "--listen", "2", "--samples-per-digit", "0",
                 "--no-recogniser"]) == 0
    err = capsys.readouterr().err
    assert "note: 2 source recording(s) of" in err and "unreadable 2" in err
    listen = sorted(p.name for p in (run / "eval" / "listen").iterdir())
    assert len(listen) == 4 and not any("original" in n for n in listen)


def test_a_same_size_same_mtime_change_is_not_up_to_date(spec_copy, corpus, capsys):
    path = corpus / "recordings" / "3_theo_1.wav"
    st = path.stat()
    data = bytearray(path.read_bytes())
    data[-200:] = bytes(200)  # silence the end: same size
    path.write_bytes(bytes(data))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert path.stat().st_size == st.st_size and path.stat().st_mtime_ns == st.st_mtime_ns
    capsys.readouterr()
    assert main(["preprocess", "--src", str(corpus), "--out", str(spec_copy), "--length-percentiles", "0", "100",
                 "--workers", "1"]) == 0
    assert "up to date" not in capsys.readouterr().out

