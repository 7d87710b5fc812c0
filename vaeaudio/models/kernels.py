"""The fastest matrix-product kernel this CPU has, chosen per shape by timing, and remembered per machine.

A Dense layer y = x W (x (B, i), W (i, o)) costs three products per training step:

    forward       x W          (B, i) x (i, o)     -> (B, o)
    weight-grad   x^T dy       (i, B) x (B, o)     -> (i, o)
    input-grad    dy W^T       (B, o) x (o, i)     -> (B, i)

each 2 B i o FLOP. Which kernel runs them fastest depends on the CPU and the
shape: on an AVX-512 CPU TensorFlow's oneDNN kernels win the reference MLP's
forward and weight-grad products but lose its transposed input-grad to XLA's;
with oneDNN held to AVX2, XLA's wins the forward products too (the rates:
docs/performance.md). So no fixed choice is right.

Nor is a choice made from products timed alone: a product that wins in
isolation can lose in the step (one through `tf.numpy_function` copies its
operands, holds the interpreter and competes with TensorFlow's threads for the
same cores). So `choose` works in two stages: `rates` times every path once per
product shape and gives the per-product winners; then, when the caller can run
its real training steps (`time_steps`), the whole step is timed for each
candidate plan (one path for every product: oneDNN, XLA, OpenBLAS; and the
per-product winners), leaving out those whose products alone would take more
than `PRUNE` times the best, and the fastest step wins. Both are cached in
`<cache>/kernels.json` (`vaeaudio.models.kernel_cache`) under a fingerprint of
the machine (CPU model and flags, cores, library versions, the variables that
steer the kernels), the step times also under the model's shape, so later runs
on the same machine start at once; step times taken while other processes used
more than `DISTURBED` of the CPU serve that run only and are timed again next run.

Paths: 'onednn' (TensorFlow's own MatMul), 'xla' (the same product compiled by
XLA, nested in the step), 'openblas' (numpy's BLAS through `tf.numpy_function`;
float32 only). `matmul(x, w, plan)` runs a product on its plan's paths and
differentiates through the same choice. Products below `MIN_FLOP` keep oneDNN:
timing them costs more than any difference.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vaeaudio.models import kernel_cache
from vaeaudio.settings import KERNEL_PATHS
from vaeaudio.util import progress, resources

#: Products smaller than this (2 B i o FLOP) are not timed: they keep oneDNN. Below it, where a product takes only
#: milliseconds, the launch of a nested XLA kernel and the fusions oneDNN loses (MatMul + BiasAdd + ReLU) outweigh
#: any gain: the strided CNN's products, moved to their fastest paths, made its step slower.
MIN_FLOP = 2e9
PRODUCTS = ("forward", "weight-grad", "input-grad")
#: A whole-step candidate whose products alone (at their timed rates) would take more than this times the best
#: candidate's is not timed in the step: in-situ effects seen so far cost 25-35 %, not 50.
PRUNE = 1.5
#: Step times taken while other processes used more than this share of the CPU (`resources.busy_elsewhere`) are
#: used once and timed again next run: a busy machine once made oneDNN the choice where XLA was 1.22x faster.
DISTURBED = 0.25
#: Least steps, and least seconds, a candidate's step is timed for (after two that compile).
STEP_CALLS, STEP_SECONDS = 5, 0.5


@dataclass(frozen=True)
class Plan:
    """The path of each product of one Dense layer: forward, weight-grad, input-grad."""

    forward: str = "onednn"
    weight_grad: str = "onednn"
    input_grad: str = "onednn"


def _operands(product: str, b: int, i: int, o: int) -> tuple[tuple[int, int], tuple[int, int], bool, bool]:
    """(shape of a, shape of c, transpose_a, transpose_b) of `product` for a layer (i -> o) at batch b, as stored."""
    return {"forward": ((b, i), (i, o), False, False), "weight-grad": ((b, i), (b, o), True, False),
            "input-grad": ((b, o), (i, o), False, True)}[product]


@functools.cache
def _xla(ta: bool, tb: bool):
    import tensorflow as tf

    return tf.function(lambda a, c: tf.linalg.matmul(a, c, transpose_a=ta, transpose_b=tb), jit_compile=True)


def _numpy_product(ta: bool, tb: bool):
    def product(a, c):
        return np.matmul(a.T if ta else a, c.T if tb else c)
    return product


def product(a, c, ta: bool, tb: bool, path: str):
    """op(a) x op(c) on `path` ('onednn', 'xla' or 'openblas'); op transposes where `ta`/`tb` say."""
    import tensorflow as tf

    if path == "xla":
        return _xla(ta, tb)(a, c)
    if path == "openblas" and a.dtype == tf.float32:
        out = tf.numpy_function(_numpy_product(ta, tb), [a, c], tf.float32, stateful=False)
        out.set_shape([a.shape[1 if ta else 0], c.shape[0 if tb else 1]])
        return out
    return tf.linalg.matmul(a, c, transpose_a=ta, transpose_b=tb)


def matmul(x, w, plan: Plan):
    """x (B, i) x w (i, o) -> (B, o) on `plan`'s forward path; its gradients on the plan's other two paths."""
    import tensorflow as tf

    @tf.custom_gradient
    def f(x, w):
        def grad(dy):
            return product(dy, w, False, True, plan.input_grad), product(x, dy, True, False, plan.weight_grad)
        return product(x, w, False, False, plan.forward), grad

    return f(tf.convert_to_tensor(x), tf.convert_to_tensor(w))  # values, not variables: the tape sees the read


def native_bf16(m: dict | None = None) -> bool:
    """Whether oneDNN computes bfloat16 natively here: the CPU has AVX512_BF16 or AMX, and ONEDNN_MAX_CPU_ISA
    (if set) does not hold oneDNN below them."""
    m = m or kernel_cache.machine()
    cap = m.get("env", {}).get("ONEDNN_MAX_CPU_ISA", "ALL").upper()
    if cap != "ALL" and not any(isa in cap for isa in ("BF16", "AMX", "AVX10")):
        return False
    return "avx512_bf16" in m["flags"] or "amx_bf16" in m["flags"]


def _time(fn, min_seconds: float = 0.1, min_calls: int = 3) -> float:
    """Seconds of the fastest call of `fn` after one warm-up call (which compiles): the least disturbed one."""
    fn()
    best, n, t0 = float("inf"), 0, time.perf_counter()
    while n < min_calls or time.perf_counter() - t0 < min_seconds:
        t = time.perf_counter()
        fn()
        best, n = min(best, time.perf_counter() - t), n + 1
    return best


def _candidates(dtype: str) -> tuple[str, ...]:
    return KERNEL_PATHS if dtype == "float32" else tuple(p for p in KERNEL_PATHS if p != "openblas")


def time_paths(b: int, i: int, o: int, dtype: str, product_: str) -> dict[str, float]:
    """GFLOP/s of every path for one product of a layer (i -> o) at batch b in `dtype`."""
    import tensorflow as tf

    sa, sc, ta, tb = _operands(product_, b, i, o)
    a = tf.random.uniform(sa, dtype=tf.float32)
    c = tf.random.uniform(sc, dtype=tf.float32)
    a, c = tf.cast(a, dtype), tf.cast(c, dtype)
    rates = {}
    for path in _candidates(dtype):
        f = tf.function(lambda a, c: tf.reduce_sum(tf.cast(product(a, c, ta, tb, path), tf.float32)))  # noqa: B023
        rates[path] = 2 * b * i * o / _time(lambda: float(f(a, c))) / 1e9  # noqa: B023
    return rates


def _key(b: int, i: int, o: int, dtype: str, product_: str) -> str:
    return f"{b}x{i}x{o}:{dtype}:{product_}"


def rates(shapes: list[tuple[int, int]], batch: int, dtype: str, cache: Path | None = None) -> tuple[dict, str]:
    """GFLOP/s of every path for every product of each layer shape (i, o) at `batch` in `dtype`, keyed by
    `_key`, and how they were had ('timed in N s' or 'cached in PATH'): from this machine's cache where it has
    them, else timed now and added to it."""
    m, fp, path, entry = kernel_cache.here(cache)
    known = entry.get("rates", {})
    new, t0 = {}, time.perf_counter()
    for i, o in sorted(set(shapes)):
        for p in PRODUCTS:
            k = _key(batch, i, o, dtype, p)
            if not isinstance(known.get(k), dict) or set(known[k]) != set(_candidates(dtype)):
                new[k] = time_paths(batch, i, o, dtype, p)
    if new:
        kernel_cache.write(path, fp, m, new)
    return {**known, **new}, (f"timed in {time.perf_counter() - t0:.1f} s" if new else f"cached in {path}")


def _winners(big: list[tuple[int, int]], batch: int, dtype: str, measured: dict) -> tuple[dict, list[str]]:
    """({shape: Plan} of the fastest path per product of each of `big` by `measured` (from `rates`), and one
    'i->o: forward PATH RATE/other RATE, ...' text per shape for the log)."""
    out, said = {}, []
    for i, o in big:
        best = {p: max(measured[_key(batch, i, o, dtype, p)].items(), key=lambda kv: kv[1]) for p in PRODUCTS}
        out[(i, o)] = Plan(*(best[p][0] for p in PRODUCTS))
        said.append(f"{i}->{o}: " + ", ".join(
            f"{p} {best[p][0]} {best[p][1]:.0f}" + "".join(
                f"/{q} {r:.0f}" for q, r in measured[_key(batch, i, o, dtype, p)].items() if q != best[p][0])
            for p in PRODUCTS))
    return out, said


def _say_rates(dtype: str, batch: int, said: list[str]) -> None:
    progress.detail(f"matmul kernel rates ({dtype}, batch {batch}; the fastest path's GFLOP/s / the others'): "
                    + "; ".join(said))


def plans(shapes: list[tuple[int, int]], batch: int, dtype: str, force: str = "auto",
          cache: Path | None = None) -> dict[tuple[int, int], Plan]:
    """A `Plan` per layer shape (i, o) at `batch` in `dtype` ('float32' or 'bfloat16'), chosen per product.

    `force` other than 'auto' puts every product on that path (openblas only in
    float32, else oneDNN). With 'auto', products of at least `MIN_FLOP` get the
    fastest path by `rates`; one short log line says what was chosen and whether it was timed or cached, and
    with --verbose one more gives the rates it was chosen from.
    """
    if force != "auto":
        path = force if force in _candidates(dtype) else "onednn"
        return {s: Plan(path, path, path) for s in shapes}
    big = sorted({s for s in shapes if _big(s, batch)})
    out = {s: Plan() for s in shapes}
    if not big:
        return out
    measured, how = rates(big, batch, dtype, cache)
    winners, said = _winners(big, batch, dtype, measured)
    out.update(winners)
    progress.log(f"matmul kernels ({'/'.join(PRODUCTS)}; {how}): "
                 + ", ".join(f"{i}x{o} {p.forward}/{p.weight_grad}/{p.input_grad}" for (i, o), p in winners.items()))
    _say_rates(dtype, batch, said)
    return out


def _big(shape: tuple[int, int], batch: int) -> bool:
    return 2 * batch * shape[0] * shape[1] >= MIN_FLOP


#: A Dense layer as the kernel choice sees it: its kernel's shape (i, o) and its compute dtype.
Slot = tuple[tuple[int, int], str]


def _products_seconds(slots: list[Slot], plans_: list[Plan], batch: int, measured: dict) -> float:
    """Seconds the large products of `slots` on `plans_` take at their rates timed alone (`measured`)."""
    total = 0.0
    for ((i, o), dtype), plan in zip(slots, plans_):
        if _big((i, o), batch):
            for p, path in zip(PRODUCTS, (plan.forward, plan.weight_grad, plan.input_grad)):
                total += 2 * batch * i * o / (measured[_key(batch, i, o, dtype, p)][path] * 1e9)
    return total


def _name(slots: list[Slot], plans_: list[Plan], batch: int) -> str:
    """A candidate's name: its one path ('onednn', 'xla', 'openblas'), or its large layers' paths
    ('per-product 1024x512 xla/openblas/onednn, ...')."""
    paths = {path for (shape, _), plan in zip(slots, plans_) if _big(shape, batch)
             for path in (plan.forward, plan.weight_grad, plan.input_grad)}
    if len(paths) == 1:
        return paths.pop()
    return "per-product " + ", ".join(sorted({f"{i}x{o} {plan.forward}/{plan.weight_grad}/{plan.input_grad}"
                                              for ((i, o), _), plan in zip(slots, plans_) if _big((i, o), batch)}))


def choose(slots: list[Slot], batch: int, force: str = "auto", time_steps=None, model_key: str = "",
           cache: Path | None = None) -> list[Plan]:
    """A `Plan` for each slot (a Dense layer's kernel shape and compute dtype) at `batch`, in order.

    `force` other than 'auto': every product on that path (see `plans`). 'auto'
    without `time_steps`: the per-product winners (`plans`). 'auto' with
    `time_steps([plans, ...]) -> [seconds, ...]` (a real training step of the
    caller's model on each list of plans, timed in turn so that a change of load
    falls on all alike): the candidates (one path for every product, and the
    per-product winners; those whose products alone would take over `PRUNE` x the
    best left out) are timed in the step and the fastest is kept; the step times
    are cached per machine under `model_key` (what fixes the step's cost: the
    model's layers, batch, dtype), and one log line gives them.
    """
    by_dtype: dict[str, list[tuple[int, int]]] = {}
    for shape, dtype in slots:
        by_dtype.setdefault(dtype, []).append(shape)
    if force != "auto" or time_steps is None or not any(_big(s, batch) for s, _ in slots):
        chosen = {d: plans(shapes, batch, d, force, cache) for d, shapes in by_dtype.items()}
        return [chosen[d][s] for s, d in slots]
    measured, winners, hows = {}, {}, []
    for dtype, shapes in by_dtype.items():
        big = sorted({s for s in shapes if _big(s, batch)})
        if big:
            known, how = rates(big, batch, dtype, cache)
            measured.update(known)
            hows.append(how)
            found, said = _winners(big, batch, dtype, known)
            winners.update({(s, dtype): p for s, p in found.items()})
            _say_rates(dtype, batch, said)
    candidates = {}
    for path in KERNEL_PATHS:
        uniform = [Plan(*(3 * (path if path in _candidates(d) else "onednn",))) if _big(s, batch) else Plan()
                   for s, d in slots]
        candidates.setdefault(_name(slots, uniform, batch), uniform)
    per_product = [winners.get((s, d), Plan()) for s, d in slots]
    candidates.setdefault(_name(slots, per_product, batch), per_product)
    estimate = {name: _products_seconds(slots, p, batch, measured) for name, p in candidates.items()}
    floor = min(estimate.values())
    pruned = {name: e / floor for name, e in estimate.items() if e > PRUNE * floor}

    m, fp, path, known = kernel_cache.here(cache)
    # steps timed while other processes took the CPU are timed again (all of them: one load for all)
    known_steps = {} if model_key in known.get("disturbed", {}) else known.get("steps", {}).get(model_key, {})
    t0 = time.perf_counter()
    todo = [name for name in candidates if name not in pruned and name not in known_steps]
    new, share = resources.busy_elsewhere(lambda: dict(zip(todo, map(float, time_steps(
        [candidates[name] for name in todo]))))) if todo else ({}, None)
    disturbed = share if share is not None and share > DISTURBED else None
    if new:
        kernel_cache.write(path, fp, m, {}, {model_key: new}, {model_key: disturbed})
    steps = {name: s for name, s in {**known_steps, **new}.items() if name in candidates and name not in pruned}
    best = min(steps, key=steps.get)
    how = f"steps timed in {time.perf_counter() - t0:.1f} s" if new else f"steps cached in {path}"
    if disturbed is not None:
        how += f" while other processes took {disturbed:.0%} of the CPU: timed again next run"
    short = lambda name: name.split(" ")[0]  # 'per-product 1024x512 xla/...' -> 'per-product'
    others = [f"{short(name)} {steps[name] * 1e3:.1f} ms" for name in sorted(steps, key=steps.get) if name != best]
    others += [f"{short(name)} not tried ({r:.2f}x the best by its products alone)"
               for name, r in sorted(pruned.items())]
    progress.log(f"matmul kernels: {short(best)}, the fastest whole step here ({steps[best] * 1e3:.1f} ms; "
                 + "; ".join([*others, how]) + ")")
    progress.detail("matmul kernel candidates: " + "; ".join(candidates))
    return candidates[best]


def bf16_slowdown(shape: tuple[int, int], batch: int, cache: Path | None = None) -> float:
    """How many times longer the three products of a layer `shape` (i, o) take in bfloat16 than in float32
    here, each on its fastest path (timed once per machine, cached with the kernel choice)."""
    f32, _ = rates([shape], batch, "float32", cache)
    b16, _ = rates([shape], batch, "bfloat16", cache)
    seconds = lambda r, dtype: sum(1 / max(r[_key(batch, *shape, dtype, p)].values()) for p in PRODUCTS)
    return seconds(b16, "bfloat16") / seconds(f32, "float32")
