"""Benchmark training: vaeaudio's step vs a naive keras-io VAE, the matmul peak, bf16, epoch times.

All on real FSDD spectrograms (preprocessed once into a temporary folder and
tiled to the sizes needed), batch 128, in one run:

1. Steady-state training clips/s of the reference MLP (37.65 M parameters):
   vaeaudio's step (`vaeaudio.train.make_steps`, float32 and mixed_bfloat16) vs a
   naive keras-io-style VAE (a `keras.Model` with a plain `train_step`, compiled
   with defaults, `fit` on a numpy array). Target: >= 2.0x the naive VAE.
2. The machine's floor for that step (`floor.py`): every matmul of the step at the
   best rate any library here reaches for its shape (oneDNN, XLA, numpy/OpenBLAS),
   plus the Adam update's bytes at the measured memory bandwidth; the step's time
   as a multiple of it, and the floor of an epoch of 22,840 clips.
3. float32 vs mixed_bfloat16 after the same epochs on FSDD: final validation loss
   (target: within 1 %).
4. One epoch of 22,840 clips through vaeaudio's real training loop (`_fit`: history,
   TensorBoard, checkpoints), each model in its own process for its peak RSS:
   MLP in float32 and mixed_bfloat16 (goal <= 19 s), strided CNN (<= 2x the MLP),
   reference CNN (<= 500 s, RSS < 20 GiB).

Usage: python benchmarks/train_speed.py [--steps 30] [--bf16-epochs 5] [--epoch-clips 22840]
                                        [--models mlp,mlp-bf16,strided,reference]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

FSDD = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "fsdd"


def fsdd_set(tmp: Path) -> Path:
    """FSDD (2,500 clips) preprocessed with the default settings into `tmp/spec`."""
    from vaeaudio.preprocess import preprocess
    from vaeaudio.settings import PreprocessSettings

    out = tmp / "spec"
    preprocess(PreprocessSettings(src=FSDD, out=out))
    return out


def tiled(x: np.ndarray, n: int) -> np.ndarray:
    return np.ascontiguousarray(np.resize(x, (n, *x.shape[1:])))


def _settings(kind: str, precision: str = "float32", **extra):
    from vaeaudio.settings import TrainSettings

    arch = {"kind": "cnn", "arch": kind} if kind in ("strided", "reference") else {"kind": "mlp"}
    return TrainSettings(**arch, precision=precision, batch_size=128, epochs=1, seed=0, **extra)


def vaeaudio_rate(x: np.ndarray, steps: int, precision: str) -> float:
    """Steady-state clips/s of vaeaudio's training step (after 5 warm-up steps)."""
    from vaeaudio.batches import Batches
    from vaeaudio.train import build_model, make_steps

    model = build_model(_settings("mlp", precision), x.shape[1:])
    step, _ = make_steps(model)
    data = Batches(x, x[:128], 128, 0)
    batches = iter(data.train_batches(0))
    for _ in range(5):
        float(step(*next(batches))["total"])
    t0 = time.perf_counter()
    for _ in range(steps):
        float(step(*next(batches))["total"])  # the real loop reads the loss every step too
    return steps * 128 / (time.perf_counter() - t0)


def naive_rate(x: np.ndarray, steps: int) -> float:
    """Steady-state clips/s of a keras-io-style VAE trained with `fit` (compile defaults)."""
    import keras
    import tensorflow as tf
    from keras import layers, ops

    class Sampling(layers.Layer):
        def call(self, inputs):
            z_mean, z_log_var = inputs
            return z_mean + ops.exp(0.5 * z_log_var) * keras.random.normal(ops.shape(z_mean))

    class NaiveVAE(keras.Model):
        def __init__(self, encoder, decoder):
            super().__init__()
            self.encoder, self.decoder = encoder, decoder
            self.total_loss_tracker = keras.metrics.Mean(name="total_loss")

        def train_step(self, data):
            with tf.GradientTape() as tape:
                z_mean, z_log_var, z = self.encoder(data)
                reconstruction = self.decoder(z)
                rec = ops.mean(ops.sum(keras.losses.binary_crossentropy(data[..., None], reconstruction[..., None]),
                                       axis=(1, 2)))
                kl = ops.mean(ops.sum(-0.5 * (1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var)), axis=1))
                total = rec + kl
            grads = tape.gradient(total, self.trainable_weights)
            self.optimizer.apply_gradients(zip(grads, self.trainable_weights))
            self.total_loss_tracker.update_state(total)
            return {"loss": self.total_loss_tracker.result()}

    shape = x.shape[1:]
    inp = keras.Input(shape)
    h = layers.Flatten()(inp)
    for w in (1024, 512, 256):
        h = layers.Dense(w, activation="relu")(h)
    z_mean, z_log_var = layers.Dense(2)(h), layers.Dense(2)(h)
    encoder = keras.Model(inp, [z_mean, z_log_var, Sampling()([z_mean, z_log_var])])
    zin = keras.Input((2,))
    h = zin
    for w in (256, 512, 1024):
        h = layers.Dense(w, activation="relu")(h)
    decoder = keras.Model(zin, layers.Reshape(shape)(layers.Dense(int(np.prod(shape)), activation="sigmoid")(h)))
    vae = NaiveVAE(encoder, decoder)
    vae.compile(optimizer=keras.optimizers.Adam())
    vae.fit(x[: 5 * 128], epochs=1, batch_size=128, verbose=0)  # warm-up: tracing and compilation
    t0 = time.perf_counter()
    vae.fit(x[: steps * 128], epochs=1, batch_size=128, verbose=0)
    return steps * 128 / (time.perf_counter() - t0)


def bf16_losses(spec: Path, epochs: int, tmp: Path) -> dict[str, float]:
    """Final validation loss of the reference MLP after `epochs` on FSDD, float32 vs mixed_bfloat16."""
    from vaeaudio.train import train

    out = {}
    for precision in ("float32", "mixed_bfloat16"):
        s = _settings("mlp", precision).model_copy(update={"data": spec, "epochs": epochs,
                                                           "run_dir": tmp / f"bf16-{precision}"})
        out[precision] = train(s).last["val_total"]
    return out


def one_epoch(kind: str, spec: Path, clips: int, epochs: int) -> None:
    """In a child process: `epochs` epochs of `clips` tiled FSDD clips; prints JSON with the last epoch's seconds."""
    import tensorflow as tf

    from vaeaudio import checkpoint
    from vaeaudio.batches import Batches
    from vaeaudio.data import SpectrogramSet
    from vaeaudio.distribute import Role
    from vaeaudio.train import _fit, build_model

    x = SpectrogramSet(spec).arrays("train", ("spec",))["spec"]
    data = Batches(tiled(x, clips), x[:512], 128, 0)
    del x
    with tempfile.TemporaryDirectory() as run:
        precision = "mixed_bfloat16" if kind.endswith("-bf16") else "float32"
        settings = _settings(kind.removesuffix("-bf16"), precision).model_copy(update={"epochs": epochs, "run_dir": Path(run)})
        model = build_model(settings, data.train.shape[1:])
        _fit(settings, Path(run), data, model, checkpoint.Position(0), [], tf.distribute.get_strategy(), Role())
        from vaeaudio.runs import read_history

        rows = read_history(Path(run))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB
    print(json.dumps({"kind": kind, "seconds": [r["seconds"] for r in rows], "rss_gib": rss,
                      "params": int(model.count_params())}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=30, help="timed steps of batch 128 per measurement")
    ap.add_argument("--bf16-epochs", type=int, default=5)
    ap.add_argument("--epoch-clips", type=int, default=22840)
    ap.add_argument("--models", default="mlp,mlp-bf16,strided,reference")
    ap.add_argument("--one-epoch", nargs=3, metavar=("KIND", "SPEC", "EPOCHS"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from vaeaudio import progress

    progress.configure(quiet=True)
    if args.one_epoch:
        kind, spec, epochs = args.one_epoch
        one_epoch(kind, Path(spec), args.epoch_clips, int(epochs))
        return
    print(f"host: {os.cpu_count()} CPU cores")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        spec = fsdd_set(tmp)
        from vaeaudio.data import SpectrogramSet

        x = tiled(SpectrogramSet(spec).arrays("train", ("spec",))["spec"], (args.steps + 10) * 128)
        print(f"1. reference MLP, batch 128, {args.steps} timed steps, real FSDD spectrograms {x.shape[1:]}:")
        ours = vaeaudio_rate(x, args.steps, "float32")
        bf16 = vaeaudio_rate(x, args.steps, "mixed_bfloat16")
        naive = naive_rate(x, args.steps)
        print(f"   naive keras-io VAE (fit)     : {naive:8.1f} clips/s")
        print(f"   vaeaudio float32             : {ours:8.1f} clips/s  {ours / naive:.2f}x naive (target >= 2.0x)")
        print(f"   vaeaudio mixed_bfloat16      : {bf16:8.1f} clips/s  {bf16 / naive:.2f}x naive, {bf16 / ours:.2f}x float32")
        import floor

        m = floor.measure()
        step = 128 / ours
        steps_per_epoch = -(-args.epoch_clips // 128)
        print("2. the floor of that step on this machine, per matmul shape (GFLOP/s):")
        print(floor.report(m))
        print(f"   vaeaudio float32 step {1e3 * step:.1f} ms = {step / m['floor_s']:.2f}x the floor "
              f"({m['step_flop'] / step / 1e9:.1f} GFLOP/s); epoch of {args.epoch_clips} clips: floor "
              f"{steps_per_epoch * m['floor_s']:.1f} s, steady-state steps {steps_per_epoch * step:.1f} s")
        del x
        losses = bf16_losses(spec, args.bf16_epochs, tmp)
        f32, b16 = losses["float32"], losses["mixed_bfloat16"]
        print(f"3. val loss after {args.bf16_epochs} epochs on FSDD: float32 {f32:.2f}, mixed_bfloat16 {b16:.2f} "
              f"({100 * (b16 - f32) / f32:+.2f} %, target within 1 %)")
        print(f"4. epochs of {args.epoch_clips} clips through the real training loop (one process each):")
        times = {}
        for kind in args.models.split(","):
            epochs = "1" if kind == "reference" else "2"  # 2: the second is steady state
            proc = subprocess.run([sys.executable, __file__, "--epoch-clips", str(args.epoch_clips),
                                   "--one-epoch", kind, str(spec), epochs], capture_output=True, text=True)
            if proc.returncode:
                print(f"   {kind}: failed ({proc.stderr.strip().splitlines()[-1:]})")
                continue
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            times[kind] = r["seconds"][-1]
            note = " (incl. XLA compilation)" if epochs == "1" else ""
            print(f"   {kind:10s} {r['params']:>11,} params: {times[kind]:7.1f} s/epoch{note}, "
                  f"{args.epoch_clips / times[kind]:7.1f} clips/s, peak RSS {r['rss_gib']:.1f} GiB")
        if "mlp" in times and "strided" in times:
            print(f"   strided / MLP epoch time: {times['strided'] / times['mlp']:.2f} (target <= 2)")


if __name__ == "__main__":
    main()
