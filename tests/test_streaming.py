"""The train split streamed from the set's shards (`train --stream`) or held in memory once: which one `train`
chooses, the batches and their order, what a resumed run sees, and the memory each takes."""

from __future__ import annotations

import json
import math
import tracemalloc

import numpy as np
import pytest

from vaeaudio.cli import main
from vaeaudio.training.batches import Batches, OnDisk
from vaeaudio.training.split_plan import HELD, IN_FLIGHT, Stream, plan
from vaeaudio.util.errors import UsageError

BATCH = 8
N_TRAIN, N_VAL, SHARDS = 79, 9, 12  # `sharded`: 98 clips kept of 100, split by take, 7 a shard


@pytest.fixture(scope="module")
def sharded(tmp_path_factory, fsdd_small):
    """`fsdd_small` preprocessed into shards of 7 clips (a SpectrogramSet)."""
    from vaeaudio.corpus.preprocess import preprocess
    from vaeaudio.formats.spectrogram_set import SpectrogramSet
    from vaeaudio.settings import PreprocessSettings

    out = tmp_path_factory.mktemp("sharded") / "spectrograms"
    preprocess(PreprocessSettings(src=fsdd_small, out=out, length_percentiles=(0, 100), workers=1, shard_size=7))
    return SpectrogramSet(out)


def clip_bytes(spec_set) -> int:
    """Bytes of a clip held (float16)."""
    return 2 * math.prod(spec_set.shape)


def budget_for(spec_set, window: int, batch: int = BATCH) -> float:
    """The --memory-budget (MB) that leaves room for `window` clips besides the (float32) batches in flight."""
    return (2 * IN_FLIGHT * batch + window + 0.5) * clip_bytes(spec_set) / 1e6


def as_held(x: np.ndarray) -> np.ndarray:
    """Spectrograms as the batches give them: rounded to float16 (within 2^-12 of the shards'), as float32."""
    out = x.astype(np.float16).astype(np.float32)
    assert out.dtype == np.float32 and np.abs(out - x).max() <= 2.0**-12
    return out


def test_train_holds_the_split_in_memory_when_it_fits_the_budget_else_streams_it(sharded):
    assert (sharded.clips("train"), sharded.clips("val"), len(sharded.shards("train"))) == (N_TRAIN, N_VAL, SHARDS)
    split_mb = N_TRAIN * clip_bytes(sharded) / 1e6
    size = f"train split: 79 clips, {split_mb:.1f} MB of spectrograms (float16)"
    assert plan(sharded, BATCH, None, split_mb + 1) == (
        None, f"{size}, held in memory (within the --memory-budget of {split_mb + 1:.1f} MB)")
    small = budget_for(sharded, 16, batch=2)  # batches of 8 in flight (3.4 MB of float32) outweigh the split
    assert plan(sharded, 2, None, small) == (  # 8 blocks of 2 clips
        Stream(16, 2), f"{size}, streamed from its 12 shard(s) through a shuffle buffer of 16 clips (0.6 MB; over the "
                       f"--memory-budget of {small:.1f} MB)")
    assert plan(sharded, BATCH, False, budget_for(sharded, 300))[0] == Stream(288, 32)  # whole blocks of 32
    assert plan(sharded, BATCH, True, 0.001) == (None, f"{size}, held in memory (--in-memory)")
    stream, said = plan(sharded, BATCH, False, 1e6)
    assert stream == Stream(SHARDS * 32, 32) and said.endswith("(13.6 MB; --stream)")  # one window of every block
    with pytest.raises(UsageError, match=r"needs more than the --memory-budget of 0\.5 MB: the 6 batches of 8 clips "
                                         r"in flight take 3\.4 MB"):
        plan(sharded, BATCH, None, 0.5)
    # Several workers read the same batches: nothing may depend on a worker's own memory.
    assert plan(sharded, BATCH, None, None, multi_worker=True) == (
        None, f"{size}, held in memory (--distribute multi-worker without --memory-budget)")
    assert plan(sharded, 2, None, small, multi_worker=True)[0] == Stream(16, 2)
    with pytest.raises(UsageError, match="^--distribute multi-worker --stream needs --memory-budget: each worker"):
        plan(sharded, BATCH, False, None, multi_worker=True)


def test_a_split_held_in_memory_is_read_straight_into_its_variable(sharded):
    ref = sharded.arrays("train", ("spec", "digit", "db_min", "db_max"))
    Batches.load(sharded, BATCH, seed=3)  # once before memory is traced: what its first call imports is not data
    tracemalloc.start()  # sees numpy's allocations, not TensorFlow's
    try:
        data, stats = Batches.load(sharded, BATCH, seed=3)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < ref["spec"].nbytes / 4  # numpy never held the split: each shard went into the variable
    assert data.train.dtype == HELD  # half the bytes of the shards' float32
    assert np.array_equal(data.train.numpy(), ref["spec"].astype(np.float16))
    assert data.train_digits.numpy().tolist() == ref["digit"].tolist()
    assert stats == {"db_min": float(np.median(ref["db_min"])), "db_max": float(np.median(ref["db_max"])),
                     "mean": pytest.approx(float(np.mean(ref["spec"], dtype=np.float64)), rel=1e-12)}
    val = sharded.arrays("val", ("spec", "digit"))
    assert isinstance(data.val, OnDisk) and data.sizes == (N_TRAIN, N_VAL)  # read, not held: the shards' float32
    x, d = data.val_arrays(4)
    assert x.shape == (4, *sharded.shape) and np.array_equal(x, val["spec"][:4])
    assert d.tolist() == val["digit"][:4].tolist()
    got = [(x.numpy(), d.numpy()) for x, d in data.val_batches()]  # 9 clips across two shards of 7, in order
    assert [len(x) for x, _ in got] == [8, 1] and all(x.dtype == np.float32 for x, _ in got)
    assert np.array_equal(np.concatenate([x for x, _ in got]), val["spec"])
    assert np.concatenate([d for _, d in got]).tolist() == val["digit"].tolist()
    import tensorflow as tf

    parts = [[x.numpy() for x, _ in data.val_batches(tf.distribute.InputContext(2, pid, 2))] for pid in (0, 1)]
    assert [len(x) for x in parts[0]] == [4, 1] and [len(x) for x in parts[1]] == [4, 0]  # each worker its part
    assert np.array_equal(np.concatenate([np.concatenate(p) for p in zip(*parts)]), val["spec"])
    x, _ = next(iter(data.train_batches(0)))
    assert x.dtype == np.float32 and np.array_equal(x.numpy(), as_held(ref["spec"][data.order(0)[:BATCH]]))
    assert [len(c) for c, _ in data.train_chunks(30)] == [30, 30, 19]


def test_rows_read_from_a_split_in_memory_are_copied_alone(sharded):
    import tensorflow as tf

    ref = {"train": sharded.arrays("train", ("spec",))["spec"]}
    data, _ = Batches.load(sharded, BATCH, seed=3)
    for _ in data.train_batches(0):  # gathered from: a dense read of the variable now copies all of it
        pass  # the whole epoch, so that no prefetch still allocates while the reads below are measured
    try:
        tf.config.experimental.reset_memory_stats("CPU:0")
    except ValueError:
        pytest.skip("TensorFlow keeps no allocator statistics here (its oneDNN allocator is off)")
    held = tf.config.experimental.get_memory_info("CPU:0")["current"]
    for k, (chunk, _) in enumerate(data.train_chunks(10)):
        assert chunk.dtype == tf.float32 and np.array_equal(chunk.numpy(), as_held(ref["train"][10 * k : 10 * k + 10]))
    # two chunks at most, as float32 (1.4 MB) and float16 (0.7 MB); a slice of the variable read a copy of the whole
    # split, 79 clips (2.8 MB as float16), for each
    assert tf.config.experimental.get_memory_info("CPU:0")["peak"] - held < ref["train"].nbytes / 2


def test_a_streamed_epoch_is_the_split_once_in_its_order_within_the_budget(sharded):
    budget = budget_for(sharded, 16)
    data, stats = Batches.load(sharded, BATCH, seed=3, stream=plan(sharded, BATCH, False, budget)[0])
    ref = sharded.arrays("train", ("spec", "digit"))
    assert data.sizes == (N_TRAIN, N_VAL) and data.steps() == 10
    for epoch in (0, 1):
        order = data.order(epoch)
        assert sorted(order.tolist()) == list(range(N_TRAIN))
        assert len({i // 7 for i in order[:16]}) > 1  # a window mixes several shards
        batches = list(data.stream_batches(epoch))
        assert [len(x) for x, _ in batches] == [8] * 9 + [7]
        assert all(x.dtype == np.float32 for x, _ in batches)
        assert np.array_equal(np.concatenate([x for x, _ in batches]), as_held(ref["spec"][order]))
        assert np.concatenate([d for _, d in batches]).tolist() == ref["digit"][order].tolist()
    assert data.order(0).tolist() != data.order(1).tolist()
    assert stats["mean"] == pytest.approx(float(np.mean(ref["spec"], dtype=np.float64)), rel=1e-12)
    z = np.concatenate([x.copy() for x, _ in data.train_chunks()])  # each chunk until the next is read
    assert np.array_equal(z, as_held(ref["spec"]))  # in split order, as held in memory, for the latent mixture
    tracemalloc.start()
    try:
        for _ in data.stream_batches(2):
            pass
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak <= budget * 1e6 < ref["spec"].nbytes  # a window and a few batches, not the split


def test_a_fresh_pipeline_at_epoch_k_gives_the_batches_a_whole_run_saw(sharded):
    """What `train --resume` relies on: a pipeline built anew at epoch k (and step s) of a streamed run."""
    import tensorflow as tf

    stream = Stream(16, 2)
    whole = [(x.numpy(), d.numpy()) for x, d in Batches.load(sharded, BATCH, 3, stream)[0].train_batches(0, epochs=3)]
    assert len(whole) == 30
    fresh = Batches.load(sharded, BATCH, 3, stream)[0]
    for got, want in (([*fresh.train_batches(2)], whole[20:]), ([*fresh.train_batches(1, skip=4, epochs=2)],
                                                                 whole[14:])):
        assert len(got) == len(want)
        assert all(np.array_equal(x, wx) and np.array_equal(d, wd) for (x, d), (wx, wd) in zip(got, want))
    parts = []  # two workers: each its part of every global batch
    for pid in range(2):
        ctx = tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=pid, num_replicas_in_sync=2)
        parts.append([x.numpy() for x, _ in fresh.train_batches(0, ctx=ctx)])
    assert [len(p) for p in parts[0]] == [4] * 9 + [4] and [len(p) for p in parts[1]] == [4] * 9 + [3]
    assert all(np.array_equal(np.concatenate([a, b]), w[0]) for a, b, w in zip(*parts, whole[:10]))


def _history(run):
    return (run / "history.csv").read_text().splitlines()


@pytest.mark.slow
def test_a_streamed_run_resumes_as_if_never_stopped(sharded, tmp_path, capsys):
    tiny = ["--data", str(sharded.root), "--hidden", "32,16", "--batch-size", "16", "--seed", "3", "--deterministic",
            "--quiet"]
    stream = ["--stream", "--memory-budget", f"{budget_for(sharded, 24, 16):.3f}", "--latent-mixture", "2"]
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    assert main(["train", "mlp", "--run-dir", str(whole), "--epochs", "3", *tiny, *stream]) == 0
    assert main(["train", "mlp", "--run-dir", str(parts), "--epochs", "2", *tiny, *stream]) == 0
    assert main(["train", "--resume", str(parts), "--epochs", "3"]) == 0
    assert "train split: streamed as when the run started (shuffle buffer of 24 clips)" in capsys.readouterr().err
    config = json.loads((parts / "config.json").read_text())
    assert config["data"]["stream"] == {"window": 24, "block": 3} and config["settings"]["in_memory"] is False
    a, b = (np.array([row.split(",")[1:7] for row in _history(r)[1:]], float) for r in (whole, parts))
    assert a.shape == (3, 6) and np.allclose(a, b, rtol=1e-4)
    means = [np.load(r / "latents.npz")["means"] for r in (whole, parts)]  # fitted to the split read in chunks
    assert means[0].shape == (10, 2, 16) and np.allclose(*means, rtol=1e-3, atol=1e-3)  # a mixture per digit
    held = tmp_path / "held"
    assert main(["train", "mlp", "--run-dir", str(held), "--epochs", "1", "--in-memory", *tiny]) == 0
    assert json.loads((held / "config.json").read_text())["data"]["stream"] is None
