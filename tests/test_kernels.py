"""The matmul kernel choice (`vaeaudio.models.kernels`, `--kernels`): every path computes the same product and
gradients, the choice is the fastest measured, cached per machine, said in one line, and not saved in models."""

from __future__ import annotations

import json
import re

import keras
import numpy as np
import pytest
import tensorflow as tf

from vaeaudio.models import kernels
from vaeaudio.models.dense import Dense, choose_kernels, dense_layers
from vaeaudio.settings import KERNEL_PATHS, TrainSettings
from vaeaudio.training.steps import build_model
from vaeaudio.util import progress


@pytest.mark.parametrize("forward", KERNEL_PATHS)
@pytest.mark.parametrize("grads", KERNEL_PATHS)
def test_every_path_gives_tensorflows_product_and_gradients(forward, grads):
    rng = np.random.default_rng(0)
    x = tf.constant(rng.standard_normal((6, 5), dtype=np.float32))
    w = tf.Variable(rng.standard_normal((5, 3), dtype=np.float32))

    def run(f):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = f(x, tf.convert_to_tensor(w))
            loss = tf.reduce_sum(tf.sin(y))
        return (y, *tape.gradient(loss, [x, w]))

    got = run(lambda a, b: kernels.matmul(a, b, kernels.Plan(forward, grads, grads)))
    want = run(tf.matmul)
    for g, e in zip(got, want):
        assert g.shape == e.shape
        np.testing.assert_allclose(g.numpy(), e.numpy(), rtol=1e-5, atol=1e-5)


def test_openblas_falls_back_to_tensorflow_in_bfloat16():
    a, c = tf.ones((4, 3), tf.bfloat16), tf.ones((3, 2), tf.bfloat16)
    out = kernels.product(a, c, False, False, "openblas")
    assert out.dtype == tf.bfloat16 and out.numpy().tolist() == [[3, 3]] * 4
    assert kernels.plans([(3, 2)], 4, "bfloat16", force="openblas") == {
        (3, 2): kernels.Plan("onednn", "onednn", "onednn")}


def _fake_rates(calls):
    def time_paths(b, i, o, dtype, product):
        calls.append((b, i, o, dtype, product))
        fast = {"forward": "xla", "weight-grad": "openblas", "input-grad": "onednn"}[product]
        return {p: (100.0 if p == fast else 10.0) for p in kernels._candidates(dtype)}
    return time_paths


def test_auto_keeps_the_fastest_path_per_product_and_caches_it(tmp_path, monkeypatch, capsys):
    calls = []
    monkeypatch.setattr(kernels, "time_paths", _fake_rates(calls))
    monkeypatch.setattr(kernels, "MIN_FLOP", 2 * 8 * 64 * 32)  # (64, 32) at batch 8 is timed; (4, 2) is not
    progress.configure(quiet=False)
    got = kernels.plans([(64, 32), (4, 2)], 8, "float32", cache=tmp_path)
    assert got == {(64, 32): kernels.Plan("xla", "openblas", "onednn"), (4, 2): kernels.Plan()}
    assert calls == [(8, 64, 32, "float32", p) for p in kernels.PRODUCTS]
    line = capsys.readouterr().err.strip()  # one short line; the rates only with --verbose
    assert re.fullmatch(r"matmul kernels \(forward/weight-grad/input-grad; timed in \d+\.\d s\): "
                        r"64x32 xla/openblas/onednn", line), line
    cache = json.loads((tmp_path / kernels.CACHE).read_text())
    assert cache["format"] == kernels.FORMAT and len(cache["machines"]) == 1
    (entry,) = cache["machines"].values()
    assert entry["machine"] == kernels.machine() and len(entry["rates"]) == 3

    calls.clear()  # a second run on this machine times nothing
    progress.configure(verbose=True)
    plan = kernels.plans([(64, 32)], 8, "float32", cache=tmp_path)[(64, 32)]
    progress.configure()
    assert plan == kernels.Plan("xla", "openblas", "onednn")
    lines = capsys.readouterr().err.strip().splitlines()
    assert calls == [] and len(lines) == 2 and f"cached in {tmp_path / kernels.CACHE}" in lines[0]
    assert "64->32: forward xla 100/onednn 10/openblas 10, weight-grad openblas 100" in lines[1]

    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")  # another machine as far as the kernels go: timed again
    kernels.plans([(64, 32)], 8, "float32", cache=tmp_path)
    assert len(calls) == 3 and len(json.loads((tmp_path / kernels.CACHE).read_text())["machines"]) == 2


def test_a_damaged_or_unwritable_cache_is_timed_again(tmp_path, monkeypatch, capsys):
    calls = []
    monkeypatch.setattr(kernels, "time_paths", _fake_rates(calls))
    monkeypatch.setattr(kernels, "MIN_FLOP", 1)
    progress.configure(quiet=False)
    (tmp_path / kernels.CACHE).write_text("{not json")
    assert kernels.plans([(8, 8)], 2, "float32", cache=tmp_path)[(8, 8)].forward == "xla"
    assert len(calls) == 3 and json.loads((tmp_path / kernels.CACHE).read_text())["format"] == kernels.FORMAT
    fp = next(iter(json.loads((tmp_path / kernels.CACHE).read_text())["machines"]))
    for bad in ([], {"format": kernels.FORMAT, "machines": []}, {"format": kernels.FORMAT, "machines": {fp: "x"}},
                {"format": kernels.FORMAT, "machines": {fp: {"rates": {"2x8x8:float32:forward": {"xla": "fast"}}}}}):
        (tmp_path / kernels.CACHE).write_text(json.dumps(bad))  # valid JSON, wrong shape: timed again, rewritten
        calls.clear()
        assert kernels.plans([(8, 8)], 2, "float32", cache=tmp_path)[(8, 8)].forward == "xla" and len(calls) == 3
    blocked = tmp_path / "file"
    blocked.write_text("")
    kernels.plans([(8, 8)], 2, "float32", cache=blocked / "sub")  # its parent is a file: nothing cached, no error
    assert "kernel choice not cached" in capsys.readouterr().err and len(calls) == 6


def test_dense_on_any_plan_is_kerass_dense_and_saves_as_it(tmp_path):
    inp = keras.Input((7,))
    model = keras.Model(inp, Dense(4, activation="relu", name="d")(inp))
    x = np.random.default_rng(1).standard_normal((3, 7)).astype(np.float32)
    plain = model.predict(x, verbose=0)
    (layer,) = dense_layers(model)
    layer.plan = kernels.Plan("xla", "openblas", "xla")
    np.testing.assert_allclose(model(x).numpy(), plain, rtol=1e-5, atol=1e-6)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    assert isinstance(loaded.get_layer("d"), Dense) and loaded.get_layer("d").plan is None
    np.testing.assert_allclose(loaded(x).numpy(), plain, rtol=1e-6)


def test_train_settings_choose_the_kernels(monkeypatch):
    model = build_model(TrainSettings(kind="mlp", hidden=(8,), kernels="xla", batch_size=4), (6, 5))
    assert {layer.plan for layer in dense_layers(model)} == {kernels.Plan("xla", "xla", "xla")}
    choose_kernels(model, 4, "onednn")  # all oneDNN: Keras's own call
    assert {layer.plan for layer in dense_layers(model)} == {None}


def test_bfloat16_without_native_support_says_so_in_one_line(monkeypatch, capsys):
    monkeypatch.setattr(kernels, "native_bf16", lambda m=None: False)
    monkeypatch.setattr(kernels, "bf16_slowdown", lambda shape, batch, cache=None: 2.5 if shape == (30, 8) else 0)
    progress.configure(quiet=False)
    build_model(TrainSettings(kind="mlp", hidden=(8,), precision="mixed_bfloat16", batch_size=4), (6, 5))
    err = [line for line in capsys.readouterr().err.splitlines() if "bfloat16" in line]
    assert err == ["--precision mixed_bfloat16: this CPU has no native bfloat16 (no AVX512_BF16 or AMX), so its "
                   "largest layer's products take 2.5x as long as in float32 here; --precision float32 is the faster "
                   "choice on it"]


def test_native_bf16_reads_the_cpu_flags():
    assert kernels.native_bf16({"flags": ["avx2", "avx512_bf16"]})
    assert kernels.native_bf16({"flags": ["amx_bf16"]})
    assert not kernels.native_bf16({"flags": ["avx2", "fma", "avx512f"]})
    # oneDNN held below the CPU's own ISA
    assert not kernels.native_bf16({"flags": ["avx512_bf16"], "env": {"ONEDNN_MAX_CPU_ISA": "AVX2"}})
    assert kernels.native_bf16({"flags": ["avx512_bf16"], "env": {"ONEDNN_MAX_CPU_ISA": "avx512_core_bf16"}})
