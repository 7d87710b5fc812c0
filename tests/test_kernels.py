"""The matmul kernel choice (`vaeaudio.models.kernels`, `--kernels`): every path computes the same product and
gradients, the choice is the fastest measured, cached per machine, said in one line, and not saved in models."""

from __future__ import annotations

import json
import re

import keras
import numpy as np
import pytest
import tensorflow as tf

from vaeaudio.models import kernel_cache, kernels
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
    cache = json.loads((tmp_path / kernel_cache.CACHE).read_text())
    assert cache["format"] == kernel_cache.FORMAT and len(cache["machines"]) == 1
    (entry,) = cache["machines"].values()
    assert entry["machine"] == kernel_cache.machine() and len(entry["rates"]) == 3

    calls.clear()  # a second run on this machine times nothing
    progress.configure(verbose=True)
    plan = kernels.plans([(64, 32)], 8, "float32", cache=tmp_path)[(64, 32)]
    progress.configure()
    assert plan == kernels.Plan("xla", "openblas", "onednn")
    lines = capsys.readouterr().err.strip().splitlines()
    assert calls == [] and len(lines) == 2 and f"cached in {tmp_path / kernel_cache.CACHE}" in lines[0]
    assert "64->32: forward xla 100/onednn 10/openblas 10, weight-grad openblas 100" in lines[1]

    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")  # another machine as far as the kernels go: timed again
    kernels.plans([(64, 32)], 8, "float32", cache=tmp_path)
    assert len(calls) == 3 and len(json.loads((tmp_path / kernel_cache.CACHE).read_text())["machines"]) == 2


def test_a_damaged_or_unwritable_cache_is_timed_again(tmp_path, monkeypatch, capsys):
    calls = []
    monkeypatch.setattr(kernels, "time_paths", _fake_rates(calls))
    monkeypatch.setattr(kernels, "MIN_FLOP", 1)
    progress.configure(quiet=False)
    (tmp_path / kernel_cache.CACHE).write_text("{not json")
    assert kernels.plans([(8, 8)], 2, "float32", cache=tmp_path)[(8, 8)].forward == "xla"
    assert len(calls) == 3 and json.loads((tmp_path / kernel_cache.CACHE).read_text())["format"] == kernel_cache.FORMAT
    fp = next(iter(json.loads((tmp_path / kernel_cache.CACHE).read_text())["machines"]))
    fmt = kernel_cache.FORMAT
    for bad in ([], {"format": fmt, "machines": []}, {"format": fmt, "machines": {fp: "x"}},
                {"format": fmt, "machines": {fp: {"rates": {"2x8x8:float32:forward": {"xla": "fast"}}}}}):
        (tmp_path / kernel_cache.CACHE).write_text(json.dumps(bad))  # valid JSON, wrong shape: timed again, rewritten
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


def _slots():
    return [((64, 32), "float32"), ((32, 64), "float32"), ((4, 2), "float32")]


def test_auto_keeps_the_plan_whose_whole_step_is_fastest_and_caches_it(tmp_path, monkeypatch, capsys):
    """Products timed alone favour the per-product winners (xla/openblas/onednn) and OpenBLAS everywhere over
    oneDNN; in the step, oneDNN wins: it is kept, the step times are cached per machine and model, and another
    machine chooses again."""
    def time_paths(b, i, o, dtype, product):  # the per-product winners 100 GFLOP/s, the rest 80
        fast = {"forward": "xla", "weight-grad": "openblas", "input-grad": "onednn"}[product]
        return {p: (100.0 if p == fast else 80.0) for p in kernels._candidates(dtype)}

    monkeypatch.setattr(kernels, "time_paths", time_paths)
    monkeypatch.setattr(kernels, "MIN_FLOP", 2 * 8 * 32 * 32)  # (64, 32), (32, 64) at batch 8 are large
    step_ms = {"onednn": 9.0, "xla": 11.0, "openblas": 14.0, "per-product": 10.0}
    timed = []

    def time_steps(candidates):
        return [time_step(plans) for plans in candidates]

    def time_step(plans):
        paths = {path for plan in plans[:2] for path in (plan.forward, plan.weight_grad, plan.input_grad)}
        assert plans[2] == kernels.Plan()  # a small layer keeps oneDNN in every candidate
        name = paths.pop() if len(paths) == 1 else "per-product"
        timed.append(name)
        return step_ms[name] / 1e3

    progress.configure(quiet=False)
    got = kernels.choose(_slots(), 8, time_steps=time_steps, model_key="m1", cache=tmp_path)
    assert got == [kernels.Plan()] * 3
    assert sorted(timed) == ["onednn", "openblas", "per-product", "xla"]
    line = capsys.readouterr().err.strip()
    assert re.fullmatch(r"matmul kernels: onednn, the fastest whole step here \(9\.0 ms; per-product 10\.0 ms; "
                        r"xla 11\.0 ms; openblas 14\.0 ms; steps timed in \d+\.\d s\)", line), line
    (entry,) = json.loads((tmp_path / kernel_cache.CACHE).read_text())["machines"].values()
    assert entry["steps"]["m1"]["onednn"] == 0.009 and len(entry["steps"]["m1"]) == 4

    timed.clear()  # the same machine and model: nothing timed
    assert kernels.choose(_slots(), 8, time_steps=time_steps, model_key="m1", cache=tmp_path) == [kernels.Plan()] * 3
    assert timed == [] and "steps cached in" in capsys.readouterr().err
    step_ms["onednn"] = 20.0  # another model: timed again, the per-product plan wins there
    got = kernels.choose(_slots(), 8, time_steps=time_steps, model_key="m2", cache=tmp_path)
    assert got[:2] == [kernels.Plan("xla", "openblas", "onednn")] * 2 and len(timed) == 4
    timed.clear()
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")  # another machine: timed again
    kernels.choose(_slots(), 8, time_steps=time_steps, model_key="m1", cache=tmp_path)
    assert len(timed) == 4 and len(json.loads((tmp_path / kernel_cache.CACHE).read_text())["machines"]) == 2


def test_a_candidate_that_cannot_win_by_its_products_is_not_timed(tmp_path, monkeypatch, capsys):
    def time_paths(b, i, o, dtype, product):  # OpenBLAS 4x slower than the rest on every product
        return {"onednn": 100.0, "xla": 90.0, "openblas": 25.0}

    monkeypatch.setattr(kernels, "time_paths", time_paths)
    monkeypatch.setattr(kernels, "MIN_FLOP", 1)
    timed = []
    progress.configure(quiet=False)
    kernels.choose(_slots()[:1], 8, time_steps=lambda cands: [timed.append(p[0].forward) or 0.01 for p in cands],
                   model_key="m", cache=tmp_path)
    assert sorted(timed) == ["onednn", "xla"]
    assert "openblas not tried (4.00x the best by its products alone)" in capsys.readouterr().err


def test_fixed_kernels_and_no_timer_keep_the_per_product_choice(tmp_path, monkeypatch):
    monkeypatch.setattr(kernels, "time_paths", _fake_rates([]))
    monkeypatch.setattr(kernels, "MIN_FLOP", 1)
    never = lambda candidates: pytest.fail("timed a step")  # noqa: E731
    assert kernels.choose(_slots(), 8, "xla", never, "m", tmp_path) == [kernels.Plan("xla", "xla", "xla")] * 3
    assert kernels.choose(_slots(), 8, cache=tmp_path) == [kernels.Plan("xla", "openblas", "onednn")] * 3


def test_timing_steps_leaves_the_model_as_built(monkeypatch):
    """The whole-step choice runs real steps (at learning rate 0) on the built model: its weights, optimizer
    state and random generators are those of a model built without timing."""
    monkeypatch.setattr(kernels, "MIN_FLOP", 1)
    settings = TrainSettings(kind="mlp", hidden=(16,), batch_size=4)
    plain = build_model(settings.model_copy(update={"kernels": "onednn"}), (6, 5))
    timed = []
    monkeypatch.setattr(kernels, "choose", lambda slots, batch, force, time_steps, key, cache=None: (
        timed.extend(time_steps([[kernels.Plan("xla", "xla", "xla")] * len(slots), [kernels.Plan()] * len(slots)])),
        [kernels.Plan()] * len(slots))[1])
    model = build_model(settings, (6, 5))
    assert len(timed) == 2 and min(timed) > 0
    for a, b in zip([*plain.variables, *plain.optimizer.variables], [*model.variables, *model.optimizer.variables],
                    strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)
    assert float(model.optimizer.learning_rate) == pytest.approx(1e-3)


def test_the_step_times_are_keyed_by_what_fixes_a_steps_cost():
    from vaeaudio.training.steps import _model_key

    base = TrainSettings(kind="mlp", hidden=(16,), batch_size=4)
    key = lambda s: _model_key(build_model(s, (6, 5)), 4, s)  # noqa: E731
    assert key(base) == key(base.model_copy(update={"seed": 7}))  # names and seeds cost nothing
    assert key(base) != key(base.model_copy(update={"hidden": (32,)}))
    assert key(base) != key(base.model_copy(update={"xla": False}))


def test_steps_timed_while_the_machine_was_busy_are_timed_again(tmp_path, monkeypatch, capsys):
    """Step times taken while other processes used over `DISTURBED` of the CPU are used once, marked in the cache
    and timed again next run (all candidates: one load for all); once timed quiet, they are kept."""
    monkeypatch.setattr(kernels, "time_paths", lambda b, i, o, dtype, product: dict.fromkeys(
        kernels._candidates(dtype), 100.0))  # every path alike by its products: all three timed in the step
    monkeypatch.setattr(kernels, "MIN_FLOP", 1)
    shares, timed = [0.6, 0.1], []
    monkeypatch.setattr(kernels.resources, "busy_elsewhere", lambda fn: (fn(), shares.pop(0)))
    step_ms = {"onednn": 9.0, "xla": 8.0, "openblas": 30.0}

    def time_steps(candidates):
        timed.append(len(candidates))
        return [step_ms[c[0].forward] / 1e3 for c in candidates]

    progress.configure(quiet=False)
    kernels.choose(_slots()[:1], 8, time_steps=time_steps, model_key="m", cache=tmp_path)
    assert "while other processes took 60% of the CPU: timed again next run)" in capsys.readouterr().err
    (entry,) = json.loads((tmp_path / kernel_cache.CACHE).read_text())["machines"].values()
    assert entry["disturbed"] == {"m": 0.6}
    kernels.choose(_slots()[:1], 8, time_steps=time_steps, model_key="m", cache=tmp_path)  # busy before: again
    (entry,) = json.loads((tmp_path / kernel_cache.CACHE).read_text())["machines"].values()
    assert entry["disturbed"] == {} and timed == [3, 3]
    err = capsys.readouterr().err
    assert "steps timed in" in err and "other processes" not in err
    assert kernels.choose(_slots()[:1], 8, time_steps=time_steps, model_key="m", cache=tmp_path) == [
        kernels.Plan("xla", "xla", "xla")]
    assert len(timed) == 2 and "steps cached in" in capsys.readouterr().err  # quiet before: kept


def test_busy_elsewhere_is_the_others_share_of_the_cpu(monkeypatch):
    """3 CPU-seconds busy on the machine in 2 s of wall time on 2 CPUs, 1 of them this process's: the others took
    2 / 4 = half; under a second of wall time, or no /proc/stat, says nothing."""
    from vaeaudio.util import resources

    clock, busy, own = iter([0.0, 2.0]), iter([100.0, 103.0]), iter([(5.0, 0.5), (5.5, 1.0)])
    monkeypatch.setattr(resources.time, "perf_counter", lambda: next(clock))
    monkeypatch.setattr(resources, "_busy_cpu_seconds", lambda: next(busy))
    monkeypatch.setattr(resources.os, "times", lambda: type("T", (), dict(zip(("user", "system"), next(own))))())
    monkeypatch.setattr(resources.os, "cpu_count", lambda: 2)
    assert resources.busy_elsewhere(lambda: "out") == ("out", 0.5)
    clock, busy, own = iter([0.0, 0.5]), iter([100.0, 101.0]), iter([(5.0, 0.5), (5.5, 1.0)])
    assert resources.busy_elsewhere(lambda: 1) == (1, None)
    monkeypatch.setattr(resources, "_busy_cpu_seconds", lambda: None)
    clock, own = iter([0.0, 2.0]), iter([(5.0, 0.5), (5.5, 1.0)])
    assert resources.busy_elsewhere(lambda: 1) == (1, None)
    monkeypatch.undo()
    assert resources._busy_cpu_seconds() is None or resources._busy_cpu_seconds() > 0
