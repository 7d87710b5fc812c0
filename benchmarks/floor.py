"""The machine's own floor for one training step of the reference MLP-VAE, measured here and now.

A step of batch B does, per Dense layer (input i, output o):
    forward             [B, i] x [i, o]                      2 B i o FLOP
    weight gradient     [i, B] x [B, o]  (x^T dy)            2 B i o FLOP
    input gradient      [B, o] x [o, i]  (dy W^T)            2 B i o FLOP, except for the first layer:
                                                             no gradient is taken of the data itself
and one Adam update of every parameter, which reads parameter, gradient and both
moments and writes parameter and moments: 7 x 4 bytes per parameter (float32).

Floor = sum over the step's matmuls of FLOP / the best rate any library here
reaches for that very shape and layout (TensorFlow's oneDNN kernels, the same
under XLA, numpy's OpenBLAS with OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE unset for
that measurement only, unless ONEDNN_MAX_CPU_ISA is set: then the run stands in
for a smaller CPU and OpenBLAS keeps the kernel it was given) + Adam bytes / the measured memory bandwidth (numpy
a = b + c on 512 MiB arrays: 3 x 4 bytes moved per element).

Usage: python benchmarks/floor.py [--json OUT]      (prints the per-shape table and the floor)
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # common.py, whatever the working folder
import common  # noqa: E402

BATCH = 128
BINS = 257 * 69  # 17,733
ENCODER = (BINS, 1024, 512, 256)
LATENT = 2


def mlp_matmuls(batch: int = BATCH, latent: int = LATENT) -> list[tuple[str, tuple[int, int, int], str]]:
    """(layer, (i, o, B), kind) for every matmul of one training step of the reference MLP; kind is
    'forward', 'weight-grad' or 'input-grad'."""
    layers = [(f"enc{j}", ENCODER[j], ENCODER[j + 1]) for j in range(3)]
    layers += [("z_mean", 256, latent), ("z_log_var", 256, latent)]
    dec = (latent, *reversed(ENCODER))  # 2 -> 256 -> 512 -> 1024 -> 17733
    layers += [(f"dec{j}", dec[j], dec[j + 1]) for j in range(4)]
    out = []
    for name, i, o in layers:
        out += [(name, (i, o, batch), "forward"), (name, (i, o, batch), "weight-grad")]
        if name != "enc0":
            out.append((name, (i, o, batch), "input-grad"))
    return out


def step_flop(batch: int = BATCH) -> int:
    """FLOP of one training step (matmuls only; bias adds and activations are < 0.1 %)."""
    return sum(2 * i * o * b for _, (i, o, b), _ in mlp_matmuls(batch))


def parameters(latent: int = LATENT) -> int:
    """Parameters of the reference MLP-VAE (37,650,761 at latent 2)."""
    dec = (latent, *reversed(ENCODER))
    enc = sum(ENCODER[j] * ENCODER[j + 1] + ENCODER[j + 1] for j in range(3)) + 2 * (256 * latent + latent)
    return enc + sum(dec[j] * dec[j + 1] + dec[j + 1] for j in range(4))


def _operands(kind: str, i: int, o: int, b: int, rng) -> tuple[np.ndarray, np.ndarray, bool, bool]:
    """The stored operands of a matmul as training holds them: x [b, i], W [i, o], dy [b, o]; and transposes."""
    x, w, dy = (rng.random(s, dtype=np.float32) for s in ((b, i), (i, o), (b, o)))
    return {"forward": (x, w, False, False), "weight-grad": (x, dy, True, False),
            "input-grad": (dy, w, False, True)}[kind]


def _time(fn, min_seconds: float = 0.4) -> float:
    """Seconds per call of `fn` (after one warm-up call), over at least `min_seconds`."""
    fn()
    n, t0 = 0, time.perf_counter()
    while True:
        fn()
        n += 1
        if time.perf_counter() - t0 >= min_seconds and n >= 3:
            return (time.perf_counter() - t0) / n


def tf_rates(shapes) -> dict[tuple, dict[str, float]]:
    """GFLOP/s per (i, o, b, kind) of TensorFlow's matmul, on its own kernels (oneDNN) and under XLA."""
    import tensorflow as tf

    rng, out = np.random.default_rng(0), {}
    for (i, o, b), kind in shapes:
        a, c, ta, tb = _operands(kind, i, o, b, rng)
        a, c = tf.constant(a), tf.constant(c)
        rates = {}
        for path, jit in (("onednn", False), ("xla", True)):
            f = tf.function(lambda a, c: tf.reduce_sum(tf.matmul(a, c, transpose_a=ta, transpose_b=tb)),  # noqa: B023
                            jit_compile=jit)
            rates[path] = 2 * i * o * b / _time(lambda: float(f(a, c))) / 1e9  # noqa: B023
        out[(i, o, b, kind)] = rates
    return out


def _numpy_child(shapes: list) -> None:
    """In a child process with the OpenBLAS variables unset: print JSON of numpy's GFLOP/s per shape."""
    rng, rates = np.random.default_rng(0), []
    for (i, o, b), kind in shapes:
        a, c, ta, tb = _operands(kind, i, o, b, rng)
        a, c = (a.T if ta else a), (c.T if tb else c)
        rates.append(2 * i * o * b / _time(lambda: a @ c) / 1e9)  # noqa: B023
    a, b_, c = (np.ones(2**27, np.float32) for _ in range(3))  # 512 MiB each
    bandwidth = 3 * a.nbytes / _time(lambda: np.add(b_, c, out=a)) / 1e9
    try:
        from threadpoolctl import threadpool_info

        kernel = [f"{p.get('internal_api')} {p.get('architecture')}" for p in threadpool_info()
                  if p.get("user_api") == "blas"]
    except ImportError:  # threadpoolctl is optional: it only names the kernel
        kernel = ["(install threadpoolctl to name it)"]
    print(json.dumps({"rates": rates, "bandwidth_gbs": bandwidth, "kernel": kernel}))


def numpy_rates(shapes) -> tuple[list[float], float, list[str]]:
    """numpy's GFLOP/s per shape, memory bandwidth in GB/s and the BLAS kernel, from a child process."""
    # With ONEDNN_MAX_CPU_ISA set the run stands in for a smaller CPU: OpenBLAS keeps the kernel it was given too.
    keep = "ONEDNN_MAX_CPU_ISA" in os.environ
    env = {k: v for k, v in os.environ.items() if keep or k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--numpy-child", json.dumps(shapes)], env=env,
                          capture_output=True, text=True, check=True)
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    return r["rates"], r["bandwidth_gbs"], r["kernel"]


def measure(batch: int = BATCH) -> dict:
    """Rates of every path per distinct matmul of the step, the best, and the floor of the step in seconds."""
    shapes = sorted({((i, o, b), kind) for _, (i, o, b), kind in mlp_matmuls(batch)})
    tf = tf_rates(shapes)
    npy, bandwidth, kernel = numpy_rates([[list(s), k] for s, k in shapes])
    rows, matmul_s = [], 0.0
    count = {s: sum(1 for _, sh, k in mlp_matmuls(batch) if (sh, k) == s) for s in shapes}
    for (shape, kind), np_rate in zip(shapes, npy):
        rates = {**tf[(*shape, kind)], "numpy": np_rate}
        best = max(rates, key=rates.get)
        flop = 2 * math.prod(shape) * count[(shape, kind)]
        matmul_s += flop / (rates[best] * 1e9)
        rows.append({"shape": shape, "kind": kind, "count": count[(shape, kind)], "rates": rates, "best": best,
                     "flop": flop})
    adam_bytes = 7 * 4 * parameters()
    return {"rows": rows, "matmul_s": matmul_s, "adam_bytes": adam_bytes, "bandwidth_gbs": bandwidth,
            "adam_s": adam_bytes / (bandwidth * 1e9), "floor_s": matmul_s + adam_bytes / (bandwidth * 1e9),
            "step_flop": step_flop(batch), "numpy_kernel": kernel}


def report(m: dict) -> str:
    """The per-shape table and the floor, as printed lines."""
    lines = ["   matmul [i x o], batch B     kind         n   oneDNN    XLA  numpy  GFLOP/s  best"]
    for r in m["rows"]:
        i, o, b = r["shape"]
        rt = r["rates"]
        lines.append(f"   [{i:>5} x {o:>5}], B {b:<4} {r['kind']:<12} {r['count']}  {rt['onednn']:7.1f} "
                     f"{rt['xla']:6.1f} {rt['numpy']:6.1f}           {r['best']}")
    lines.append(f"   step: {m['step_flop'] / 1e9:.2f} GFLOP in matmuls (not 6 x parameters: the data needs no "
                 f"gradient) -> {1e3 * m['matmul_s']:.1f} ms at the best rate per shape")
    lines.append(f"   Adam: {m['adam_bytes'] / 1e9:.2f} GB moved per step at {m['bandwidth_gbs']:.1f} GB/s "
                 f"-> {1e3 * m['adam_s']:.1f} ms;  floor of a step: {1e3 * m['floor_s']:.1f} ms "
                 f"(numpy BLAS: {', '.join(m['numpy_kernel'])})")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common.add_arguments(ap, "floor", fsdd=False)
    args = ap.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    out = common.Report("floor", args)
    m = measure()
    print(report(m))
    out.add("floor", m)
    out.finish()


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--numpy-child":
        _numpy_child([(tuple(s), k) for s, k in json.loads(sys.argv[2])])
    else:
        main()
