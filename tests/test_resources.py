"""Generation runs in bounded memory (chunked, the same waves as one batch), is refused only when the disk
cannot hold it, and says when it replaces files; the modified inception score of 20,000 clips needs no n x n
matrix."""

from __future__ import annotations

import tracemalloc
from collections import namedtuple
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from vaeaudio.cli import main
from vaeaudio.listening import synth as synth_mod
from vaeaudio.settings import SynthSettings
from vaeaudio.util import resources


def _synth(run: Path, out: Path, n: int, chunk: int, monkeypatch, iters: int = 2):
    monkeypatch.setattr(resources, "chunk_clips", lambda per_clip: chunk)
    return synth_mod.synth(SynthSettings(run=run, random=n, out=out, griffin_lim_iters=iters, sharpen="1", seed=4))


def test_chunks_give_the_same_waves_as_one_batch(tiny_run, tmp_path, monkeypatch):
    sizes = []
    real = synth_mod.render
    monkeypatch.setattr(synth_mod, "render", lambda spec, *a, **k: sizes.append(len(spec)) or real(spec, *a, **k))
    one = _synth(tiny_run, tmp_path / "one", 40, 512, monkeypatch)
    assert sizes == [40]
    sizes.clear()
    many = _synth(tiny_run, tmp_path / "many", 40, 16, monkeypatch)
    assert sizes == [16, 16, 8]
    assert [f.name for f in one.files] == [f.name for f in many.files]
    for a, b in zip(one.files, many.files):
        assert a.read_bytes() == b.read_bytes()


def test_peak_memory_stays_flat_far_past_one_chunk(tiny_run, tmp_path, monkeypatch):
    """Ten chunks peak within 1.5x of one chunk (numpy's allocations, traced); one batch of all would be ~10x."""
    def peak(n: int) -> int:
        tracemalloc.start()
        _synth(tiny_run, tmp_path / f"n{n}", n, 16, monkeypatch, iters=1)
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return top

    one, ten = peak(16), peak(160)
    assert ten < 1.5 * one, (one, ten)
    assert len(list((tmp_path / "n160").glob("*.wav"))) == 160


def test_chunk_size_follows_available_memory(monkeypatch):
    per_clip = resources.render_bytes_per_clip(257, 69, 17640)
    assert per_clip == 849_696  # 0.85 MB per default clip
    monkeypatch.setattr(resources, "available_memory", lambda: 64 * per_clip * 4)
    assert resources.chunk_clips(per_clip) == 64
    monkeypatch.setattr(resources, "available_memory", lambda: 1 << 40)
    assert resources.chunk_clips(per_clip) == resources.MAX_CHUNK
    monkeypatch.setattr(resources, "available_memory", lambda: 0)
    assert resources.chunk_clips(per_clip) == resources.MIN_CHUNK


def test_generation_for_evaluate_is_chunked_too(tiny_cond_run, monkeypatch):
    from vaeaudio.formats.runs import load_config
    from vaeaudio.judging.generation import generate
    from vaeaudio.models.saving import load_model

    model, config = load_model(tiny_cond_run), load_config(tiny_cond_run)
    monkeypatch.setattr(resources, "chunk_clips", lambda per_clip: 16)
    chunks = list(generate(model, config, 4, 0, 2))
    assert [len(w) for w, _ in chunks] == [16, 16, 8]
    assert np.concatenate([d for _, d in chunks]).tolist() == np.repeat(np.arange(10), 4).tolist()
    monkeypatch.setattr(resources, "chunk_clips", lambda per_clip: 512)
    (whole, digits), = generate(model, config, 4, 0, 2)
    assert np.array_equal(whole, np.concatenate([w for w, _ in chunks])) and whole.dtype == np.float32


def test_a_request_that_cannot_fit_on_disk_is_refused(tiny_run, tmp_path, monkeypatch, capsys):
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(resources.shutil, "disk_usage", lambda p: usage(10**9, 10**9 - 10**6, 10**6))
    assert main(["synth", "--run", str(tiny_run), "--random", "100", str(tmp_path / "out"), "--quiet"]) == 2
    assert capsys.readouterr().err.strip() == (
        f"error: 100 WAV files of 0.8 s need 3.54 MB but {tmp_path} has 1 MB free "
        "(ask for fewer clips or choose a folder on a larger disk)")
    assert not (tmp_path / "out").exists()


def test_synth_says_when_it_replaces_files(tiny_run, tmp_path, capsys):
    args = ["synth", "--run", str(tiny_run), "--random", "3", str(tmp_path), "--griffin-lim-iters", "1"]
    assert main(args) == 0
    assert "replacing" not in capsys.readouterr().err
    assert main(args) == 0
    assert f"replacing 4 existing file(s) in {tmp_path}" in capsys.readouterr().err  # 3 WAVs and z.csv
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix != ".wav") == ["z.csv"]  # no .tmp left
    assert sf.info(str(next(tmp_path.glob("*.wav")))).frames == 17640


def test_modified_inception_score_needs_no_pairwise_matrix():
    """evaluate --samples-per-digit 2000 judged 20,000 clips: an n x n KL matrix took 2 x 3.2 GB."""
    from vaeaudio.judging.metrics import modified_inception_score

    p = np.random.default_rng(0).dirichlet(np.full(10, 0.3), 300)
    logp = np.log(p + 1e-12)
    pairwise = (p * logp).sum(1)[:, None] - p @ logp.T
    assert modified_inception_score(p) == pytest.approx(float(np.exp(pairwise.mean())), rel=1e-12)
    big = np.random.default_rng(1).dirichlet(np.full(10, 0.3), 20_000)
    tracemalloc.start()
    modified_inception_score(big)
    _, top = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert top < 10 * big.nbytes  # 16 MB, not 6.4 GB
