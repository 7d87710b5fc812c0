"""Benchmark training against this machine's own floor and against naive Keras, all in one run.

On real spectrograms of the recordings of `--fsdd` (default: the embedded sample; FSDD's 2,500 for the
figures of docs/performance.md), preprocessed into a temporary folder and tiled to the sizes needed, batch 128:

1. The kernels: per matmul shape of the reference MLP's step, the rate of every
   path (oneDNN, XLA, numpy/OpenBLAS with its variables unset; `floor.py`) and
   the path `vaeaudio.models.kernels` chose for each product (`--kernels auto`).
2. Epochs of `--epoch-clips` clips through vaeaudio's real loop, each in its own
   process (peak RSS), run while this process is still small, the models taken in
   turn `--rounds` times (the median): MLP float32 and mixed_bfloat16 and the
   strided CNN (second epoch; target: the strided CNN's epoch <= the MLP's), the
   reference CNN (first epoch), against the same layouts written naively
   (keras-io style, `fit`, first epoch): target faster, RSS < 20 GiB.
3. The step: vaeaudio's steady-state step (float32, mixed_bfloat16, and with each
   single path), a naive keras-io VAE (`fit`), and the step / floor ratio, the
   floor being every matmul at its shape's best rate plus Adam's bytes at the
   measured memory bandwidth (target <= 1.15x), measured again before each of 4
   rounds of the steps and compared round by round; `--kernels auto` against the
   best fixed choice measured here (target >= 0.97x).
4. No overhead between steps: the recordings split by speaker (FSDD: 1,384 training clips) and by
   take (1,903), trained through `vaeaudio.training.train.train`; steady-state work of an
   epoch (clips / 128 x the steady-state step) / its training seconds from
   history.csv (target >= 0.9). A split with fewer than 128 training clips is skipped.
5. float32 vs mixed_bfloat16 after the same epochs on the take split: validation loss.
6. The classifier (`vaeaudio classifier train`): its epochs against its steady-state step.

Another CPU's kernels can be approximated on this one: ONEDNN_MAX_CPU_ISA=AVX2 OPENBLAS_CORETYPE=Haswell holds
oneDNN and OpenBLAS to AVX2 (XLA's matmuls are Eigen's, built for AVX2 in TensorFlow's wheel anyway).

Usage: python benchmarks/train_speed.py [--fsdd DIR] [--sections 1,2,3,4,5,6] [--quick] [--rounds 2] [--steps 20]
           [--epoch-clips 22840] [--cnn-clips 22840] [--bf16-epochs 3] [--json OUT]
           [--models mlp,mlp-bf16,strided,naive-strided,reference,naive-reference]
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

sys.path.insert(0, str(Path(__file__).resolve().parent))  # common.py and floor.py, whatever the working folder
import common  # noqa: E402
import floor  # noqa: E402

BATCH = 128


def fsdd_set(tmp: Path, source: common.Recordings, split_by: str = "take") -> tuple[Path | None, str]:
    """The recordings preprocessed with the default settings, split by `split_by`, into `tmp/spec-<split_by>`;
    (None, why) when they cannot be (e.g. too few speakers to hold some out)."""
    from vaeaudio.corpus.preprocess import preprocess
    from vaeaudio.settings import PreprocessSettings
    from vaeaudio.util.errors import VaeAudioError

    out = tmp / f"spec-{split_by}"
    try:
        preprocess(PreprocessSettings(src=source.root, out=out, split_by=split_by))
    except VaeAudioError as exc:
        return None, f"{source.root} split by {split_by}: {exc.line()}"
    return out, ""


def tiled(x: np.ndarray, n: int) -> np.ndarray:
    """`x` (k, ...) repeated to n rows, written into one new array (np.resize holds two more copies on the way)."""
    out = np.empty((n, *x.shape[1:]), x.dtype)
    for s in range(0, n, len(x)):
        out[s : s + len(x)] = x[: n - s]
    return out


def _settings(kind: str, precision: str = "float32", **extra):
    from vaeaudio.settings import TrainSettings

    arch = {"kind": "cnn", "arch": kind} if kind in ("strided", "reference") else {"kind": "mlp"}
    if kind == "reference":  # at the default 1e-3 its first Adam step blows the 1.1 M-wide layers up (NaN by step 4)
        extra.setdefault("lr", 1e-4)
    return TrainSettings(**arch, precision=precision, batch_size=BATCH, epochs=1, seed=0, recipe="reference",
                         **extra)


def stepper(x: np.ndarray, precision: str = "float32", kernels: str = "auto"):
    """One step of vaeaudio's reference-MLP training (reading the loss, as the real loop does), built with
    `kernels`, after 5 warm-up steps: a function of no arguments."""
    from vaeaudio.training.batches import Batches
    from vaeaudio.training.steps import build_model, make_steps

    model = build_model(_settings("mlp", precision, kernels=kernels), x.shape[1:])
    step, _ = make_steps(model)
    batches = iter(Batches(x, x[:BATCH], BATCH, 0).train_batches(0, epochs=10_000))
    run = lambda: float(step(*next(batches))["total"])  # noqa: E731
    for _ in range(5):
        run()
    return run


def step_seconds_interleaved(steppers: dict, steps: int, rounds: int = 4) -> dict[str, float]:
    """Median seconds per step of each of `steppers`, timed in `rounds` rounds of steps/rounds steps each, taken in
    turn, so that a change in the machine's load falls on every one alike."""
    times = {name: [] for name in steppers}
    for _ in range(rounds):
        for name, run in steppers.items():
            for _ in range(max(1, steps // rounds)):
                t0 = time.perf_counter()
                run()
                times[name].append(time.perf_counter() - t0)
    return {name: float(np.median(t)) for name, t in times.items()}


def naive_vae(kind: str, shape: tuple[int, int]):
    """The layout `kind` ('mlp', 'strided', 'reference') written as the keras-io VAE example: sigmoid decoder,
    Keras's binary cross-entropy, `fit` with compile defaults."""
    import math

    import keras
    import tensorflow as tf
    from keras import layers, ops

    from vaeaudio.settings import STRIDED_FILTERS

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

    inp, zin = keras.Input(shape), keras.Input((2,))
    if kind == "mlp":
        h = layers.Flatten()(inp)
        for w in (1024, 512, 256):
            h = layers.Dense(w, activation="relu")(h)
        d = zin
        for w in (256, 512, 1024):
            d = layers.Dense(w, activation="relu")(d)
        out = layers.Reshape(shape)(layers.Dense(math.prod(shape), activation="sigmoid")(d))
    elif kind == "reference":
        h = layers.Reshape((*shape, 1))(inp)
        h = layers.Conv2D(32, 3, padding="same", activation="relu")(h)
        h = layers.Conv2D(64, 3, padding="same", activation="relu")(h)
        h = layers.Dense(256, activation="relu")(layers.Flatten()(h))
        d = layers.Dense(math.prod(shape) * 64, activation="relu")(layers.Dense(256)(zin))
        d = layers.Conv2DTranspose(32, 3, padding="same", activation="relu")(layers.Reshape((*shape, 64))(d))
        out = layers.Reshape(shape)(layers.Conv2DTranspose(1, 3, padding="same", activation="sigmoid")(d))
    else:  # strided: along time, the bins as channels, with the output padding that restores (257, 69)
        (bins, frames), sizes = shape, [shape[1]]
        h = layers.Reshape((1, frames, bins))(layers.Permute((2, 1))(inp))
        for f in STRIDED_FILTERS:
            h = layers.Conv2D(f, (1, 3), strides=(1, 2), padding="same", activation="relu")(h)
            sizes.append(math.ceil(sizes[-1] / 2))
        h = layers.Dense(256, activation="relu")(layers.Flatten()(h))
        d = layers.Dense(sizes[-1] * STRIDED_FILTERS[-1], activation="relu")(layers.Dense(256, activation="relu")(zin))
        d = layers.Reshape((1, sizes[-1], STRIDED_FILTERS[-1]))(d)
        outs = [*reversed(STRIDED_FILTERS[:-1]), bins]
        for i, f in enumerate(outs):
            pad = sizes[-2 - i] - (2 * sizes[-1 - i] - 1)
            d = layers.Conv2DTranspose(f, (1, 3), strides=(1, 2), padding="same", output_padding=(0, pad),
                                       activation="sigmoid" if i == len(outs) - 1 else "relu")(d)
        out = layers.Permute((2, 1))(layers.Reshape((frames, bins))(d))
    z_mean, z_log_var = layers.Dense(2)(h), layers.Dense(2)(h)
    encoder = keras.Model(inp, [z_mean, z_log_var, Sampling()([z_mean, z_log_var])])
    vae = NaiveVAE(encoder, keras.Model(zin, out))
    vae.compile(optimizer=keras.optimizers.Adam())
    return vae


def naive_step_seconds(x: np.ndarray, steps: int) -> float:
    """Seconds per step of the naive keras-io MLP-VAE in `fit` (after a warm-up fit that traces it)."""
    vae = naive_vae("mlp", x.shape[1:])
    vae.fit(x[: 5 * BATCH], epochs=1, batch_size=BATCH, verbose=0)
    t0 = time.perf_counter()
    vae.fit(x[: steps * BATCH], epochs=1, batch_size=BATCH, verbose=0)
    return (time.perf_counter() - t0) / steps


def overhead(spec: Path, run: Path, step: float, epochs: int = 4) -> dict:
    """Train the reference MLP on `spec` through `vaeaudio.training.train.train`; the epochs' training seconds (from
    history.csv: clips / clips per second) against clips / 128 x the steady-state `step`."""
    from vaeaudio.training.train import train

    result = train(_settings("mlp").model_copy(update={"data": spec, "epochs": epochs, "run_dir": run}))
    from vaeaudio.formats.runs import load_config, read_history

    n = load_config(run).data.clips["train"]
    seconds = [n / r["samples_per_s"] for r in read_history(run)[1:]]  # the first epoch traces the step
    work = n / BATCH * step
    return {"clips": n, "train_s": seconds, "work_s": work, "ratio": work / float(np.median(seconds)),
            "val_total": result.last["val_total"]}


def bf16_losses(spec: Path, epochs: int, tmp: Path) -> dict[str, float]:
    """Final validation loss of the reference MLP after `epochs` on FSDD, float32 vs mixed_bfloat16."""
    from vaeaudio.training.train import train

    return {p: train(_settings("mlp", p).model_copy(update={"data": spec, "epochs": epochs,
                                                            "run_dir": tmp / f"bf16-{p}"})).last["val_total"]
            for p in ("float32", "mixed_bfloat16")}


def classifier_epochs(spec: Path, out: Path, epochs: int = 5) -> dict:
    """`vaeaudio classifier train` for `epochs` epochs (validation each epoch), its epochs after the first from
    its config; against its steady-state step (the compiled train function in a loop on a repeating dataset) x the
    steps of an epoch. Also the judge's prediction rate (`Judge.predict`)."""
    import keras
    import tensorflow as tf

    from vaeaudio.formats.spectrogram_set import SpectrogramSet
    from vaeaudio.judging import classifier, judge
    from vaeaudio.settings import ClassifierSettings

    s = ClassifierSettings(data=spec, out=out, epochs=epochs, patience=epochs)
    seconds = classifier.train(s).config["epoch_seconds"][1:]  # the first epoch traces
    tr = SpectrogramSet(spec).arrays("train", ("spec", "digit"))
    x, y = tr["spec"], tr["digit"].astype(np.int32)
    model = judge.build(x.shape[1:], s.seed, s.noise_floor)
    model.compile(optimizer=keras.optimizers.Adam(s.lr), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    n = len(x) // s.batch_size
    batches = iter(tf.data.Dataset.from_tensor_slices((x[: n * s.batch_size], y[: n * s.batch_size]))
                   .batch(s.batch_size).repeat())
    model.make_train_function()
    for _ in range(3):
        model.train_function(batches)
    t0 = time.perf_counter()
    for _ in range(n):
        model.train_function(batches)
    step = (time.perf_counter() - t0) / n
    trained = judge.Judge(out)
    trained.predict(x[:512])
    t0 = time.perf_counter()
    trained.predict(x)
    return {"clips": len(x), "seconds": seconds, "step_s": step, "work_s": len(x) / s.batch_size * step,
            "predict_clips_s": len(x) / (time.perf_counter() - t0)}


def epoch_child(kind: str, spec: Path, clips: int, epochs: int) -> None:
    """In a child process: `epochs` epochs of `clips` tiled FSDD clips; prints JSON with every epoch's seconds."""
    import tensorflow as tf

    from vaeaudio.formats.spectrogram_set import SpectrogramSet

    x = tiled(SpectrogramSet(spec).arrays("train", ("spec",))["spec"], clips)
    if kind.startswith("naive-"):
        vae = naive_vae(kind.removeprefix("naive-"), x.shape[1:])
        seconds = []
        for _ in range(epochs):
            t0 = time.perf_counter()
            vae.fit(x, epochs=1, batch_size=BATCH, shuffle=True, verbose=0)
            seconds.append(time.perf_counter() - t0)
        params = sum(int(np.prod(w.shape)) for w in vae.trainable_weights)
    else:
        from vaeaudio.formats.runs import read_history
        from vaeaudio.training import checkpoint
        from vaeaudio.training.batches import Batches
        from vaeaudio.training.distribute import Role
        from vaeaudio.training.epochs import fit
        from vaeaudio.training.steps import build_model

        data = Batches(x, x[:512], BATCH, 0)
        del x
        with tempfile.TemporaryDirectory() as run:
            precision = "mixed_bfloat16" if kind.endswith("-bf16") else "float32"
            settings = _settings(kind.removesuffix("-bf16"), precision).model_copy(update={"epochs": epochs,
                                                                                         "run_dir": Path(run)})
            model = build_model(settings, tuple(data.train.shape[1:]))
            fit(settings, Path(run), data, model, checkpoint.Position(0), [], tf.distribute.get_strategy(), Role())
            seconds = [r["seconds"] for r in read_history(Path(run))]
        params = model.count_params()
    print(json.dumps({"kind": kind, "seconds": seconds, "rss_gib": peak_rss_gib(), "params": int(params)}))


def peak_rss_gib() -> float:
    """This process's peak resident memory in GiB (VmHWM: ru_maxrss would carry the parent's over the exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def real_loop_epochs(args, spec: Path) -> dict:
    """Epochs through the real loop and the naive ones, each in its own process (run first, while this process
    holds little: the reference CNN's children peak at 16-18 GiB), the models taken in turn `args.rounds` times so
    that a change of the machine's load falls on each alike; per model the median over the rounds."""
    kinds = args.models.split(",")
    print(f"2. epochs through the real loop, one process each, the models in turn {args.rounds} times (our MLP and "
          "strided CNN: 2nd epoch; the others: 1st, incl. tracing):", flush=True)
    rounds, figures = [], {}
    for r in range(args.rounds):
        times = {}
        for kind in kinds:
            if "failed" in figures.get(kind, {}):
                continue
            clips = args.cnn_clips if kind.endswith("reference") else args.epoch_clips
            epochs = "2" if kind.startswith("mlp") or kind == "strided" else "1"
            proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--epoch-child", kind, str(spec),
                                   str(clips), epochs], capture_output=True, text=True)
            if proc.returncode:
                said = [line for line in proc.stderr.splitlines() if line.strip()
                        and line[:5] not in ("E0000", "I0000", "W0000") and not line.startswith("WARNING: All log")]
                why = (f"killed by signal {-proc.returncode}" + (": out of memory?" if proc.returncode == -9 else "")
                       if proc.returncode < 0 else f"exit {proc.returncode}: {said[-1] if said else '?'}")
                print(f"   {kind}: failed ({why})", flush=True)
                figures[kind] = {"clips": clips, "failed": why}
                continue
            res = json.loads(proc.stdout.strip().splitlines()[-1])
            times[kind] = res["seconds"][-1]
            print(f"   round {r + 1}: {kind:16s} {res['params']:>12,} params, {clips} clips: "
                  f"{times[kind]:7.1f} s/epoch, {clips / times[kind]:7.1f} clips/s, peak RSS "
                  f"{res['rss_gib']:.1f} GiB", flush=True)
            figures.setdefault(kind, {"clips": clips, "params": res["params"], "epoch": len(res["seconds"]),
                                      "epoch_s_by_round": [], "rss_gib": 0.0})
            figures[kind]["epoch_s_by_round"].append(times[kind])
            figures[kind]["rss_gib"] = max(figures[kind]["rss_gib"], res["rss_gib"])
        rounds.append(times)
    for f in figures.values():
        if "failed" not in f:
            f["epoch_s"] = float(np.median(f["epoch_s_by_round"]))
            f["clips_s"] = f["clips"] / f["epoch_s"]
    ratios = {}
    for a, b, target in (("mlp-bf16", "mlp", "bf16 must be faster where native"),
                         ("strided", "mlp", "target <= 1: the strided CNN at least as fast as the MLP"),
                         ("strided", "naive-strided", "target < 1"), ("reference", "naive-reference", "target < 1")):
        by_round = [t[a] / t[b] for t in rounds if a in t and b in t]
        if by_round:
            ratios[f"{a} / {b}"] = float(np.median(by_round))
            print(f"   {a} / {b} epoch: {ratios[f'{a} / {b}']:.2f} (by round: "
                  f"{', '.join(f'{v:.2f}' for v in by_round)}; {target})", flush=True)
    return {"models": figures, "ratios": ratios}


def cpu() -> str:
    """The CPU's model name and the vector flags that decide the kernels."""
    from vaeaudio.models import kernel_cache, kernels

    m = kernel_cache.machine()
    return (f"{m['cpu']}, {m['cores']} cores usable, flags {' '.join(m['flags'])}; native bfloat16: "
            f"{'yes' if kernels.native_bf16(m) else 'no'}" + (f"; {m['env']}" if m["env"] else ""))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common.add_arguments(ap, "train_speed")
    ap.add_argument("--steps", type=int, default=20, help="timed steps of batch 128 per step measurement")
    ap.add_argument("--bf16-epochs", type=int, default=3)
    ap.add_argument("--epoch-clips", type=int, default=22840, help="clips of the MLP and strided CNN epochs")
    ap.add_argument("--cnn-clips", type=int, default=22840, help="clips of the reference CNN epochs (ours and naive)")
    ap.add_argument("--models", default="mlp,mlp-bf16,strided,naive-strided,reference,naive-reference",
                    help="section 2's epochs, comma-separated")
    ap.add_argument("--sections", default="1,2,3,4,5,6", help="the sections to run, comma-separated (4 runs 3 too)")
    ap.add_argument("--quick", action="store_true", help="sections 1 and 3 only (the kernels and the step)")
    ap.add_argument("--rounds", type=int, default=2, help="section 2: the models' epochs taken in turn this many "
                    "times (each in its own process; the median)")
    ap.add_argument("--epoch-child", nargs=4, metavar=("KIND", "SPEC", "CLIPS", "EPOCHS"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from vaeaudio.util import progress

    if args.epoch_child:
        progress.configure(quiet=True)
        kind, spec, clips, epochs = args.epoch_child
        epoch_child(kind, Path(spec), int(clips), int(epochs))
        return
    known = {"mlp", "mlp-bf16", "strided", "naive-strided", "reference", "naive-reference", "naive-mlp"}
    if unknown := set(args.models.split(",")) - known:
        ap.error(f"--models: unknown {', '.join(sorted(unknown))} (choose from {', '.join(sorted(known))})")
    if min(args.steps, args.bf16_epochs, args.epoch_clips, args.cnn_clips, args.rounds) < 1:
        ap.error("--steps, --bf16-epochs, --epoch-clips, --cnn-clips and --rounds must be at least 1")
    try:
        sections = {1, 3} if args.quick else {int(v) for v in args.sections.split(",")} | {1}
    except ValueError:
        ap.error(f"--sections: {args.sections!r} is not numbers separated by commas")
    if unknown := sections - set(range(1, 7)):
        ap.error(f"--sections: no section {', '.join(map(str, sorted(unknown)))} (1 to 6)")
    source = common.recordings(args.fsdd)
    out = common.Report("train_speed", args, source)
    print(f"CPU: {cpu()}", flush=True)
    print(f"source: {source.describe()}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        progress.configure(quiet=True)
        spec, why = {}, {}
        for split in ("take", "speaker"):
            spec[split], why[split] = fsdd_set(tmp, source, split)

        from vaeaudio.formats.spectrogram_set import SpectrogramSet
        from vaeaudio.models import kernels
        from vaeaudio.settings import KERNEL_PATHS
        from vaeaudio.util.errors import VaeAudioError

        print("1. the reference MLP's matmuls: GFLOP/s of every path per shape, and what `--kernels auto` chose",
              flush=True)
        m = floor.measure()
        print(floor.report(m))
        progress.configure(quiet=False)  # the kernel choice's own log line
        plans = kernels.plans([(17733, 1024), (1024, 17733)], BATCH, "float32")
        progress.configure(quiet=True)
        for (i, o), plan in plans.items():
            print(f"   chosen for the layer {i} -> {o}: forward {plan.forward}, weight-grad {plan.weight_grad}, "
                  f"input-grad {plan.input_grad}")
        out.add("1 kernels", {"floor": m, "chosen": {f"{i}->{o}": {"forward": p.forward, "weight_grad": p.weight_grad,
                                                                   "input_grad": p.input_grad}
                                                     for (i, o), p in plans.items()}})
        if spec["take"] is None:  # every other section trains on the take split
            for section in ("2 epochs", "3 step", "4 overhead", "5 bf16 loss", "6 classifier"):
                out.skip(section, why["take"])
            out.finish()
            return

        if 2 in sections:
            out.add("2 epochs", real_loop_epochs(args, spec["take"]))
        if {3, 4} & sections:  # section 4 compares its epochs with this step
            x = tiled(SpectrogramSet(spec["take"]).arrays("train", ("spec",))["spec"], (args.steps + 10) * BATCH)
            print(f"3. the step (batch {BATCH}, median of {args.steps} in 4 rounds, each choice's steps taken in "
                  "turn, the floor measured again before each round):", flush=True)
            steppers = {p: stepper(x, kernels=p) for p in KERNEL_PATHS}
            progress.configure(quiet=False)  # the whole-step kernel choice's own line, with the step times it compared
            steppers["auto"] = stepper(x)
            progress.configure(quiet=True)
            # oneDNN held below its bfloat16 ISA on a CPU that has it aborts on bfloat16 matmuls (a real CPU without
            # bfloat16 falls back to Eigen's kernels): no bfloat16 step in such a stand-in run.
            if not ("ONEDNN_MAX_CPU_ISA" in os.environ and not kernels.native_bf16()):
                steppers["bf16"] = stepper(x, "mixed_bfloat16")
            rounds, floors, by_round = 4, [], []
            names = list(steppers)
            for r in range(rounds):  # the floor measured between the steps: a change of load falls on both alike
                floors.append(floor.measure()["floor_s"])
                # each round starts with another choice: none is always the first after the floor's measurement
                turn = names[r % len(names):] + names[:r % len(names)]
                by_round.append(step_seconds_interleaved({n: steppers[n] for n in turn}, max(1, args.steps // rounds),
                                                         rounds=1))
            del steppers
            timed = {name: float(np.median([r[name] for r in by_round])) for name in by_round[0]}
            ratios = [r["auto"] / f for r, f in zip(by_round, floors)]
            floor_s = float(np.median(floors))
            single, step, bf16 = {p: timed[p] for p in KERNEL_PATHS}, timed["auto"], timed.get("bf16")
            naive = naive_step_seconds(x, args.steps)
            del x
            steps = {}
            rows = [("naive keras-io VAE (fit)", naive), *((f"vaeaudio, --kernels {p}", t) for p, t in single.items()),
                    ("vaeaudio, --kernels auto", step)] + ([("vaeaudio, mixed_bfloat16", bf16)] if bf16 else [])
            for name, s in rows:
                print(f"   {name:28s} {1e3 * s:7.1f} ms  {BATCH / s:7.1f} clips/s  {s / floor_s:.2f}x the floor  "
                      f"{naive / s:.2f}x naive")
                steps[name] = {"ms": 1e3 * s, "clips_s": BATCH / s, "per_floor": s / floor_s,
                               "vs_naive": naive / s}
            best_fixed = min(single, key=single.get)
            print(f"   --kernels auto against the best fixed choice ({best_fixed}): "
                  f"{single[best_fixed] / step:.2f}x as fast (target >= 0.97)")
            print(f"   floor {1e3 * floor_s:.1f} ms (median of {rounds}, each measured before a round of the "
                  f"steps: {', '.join(f'{1e3 * f:.1f}' for f in floors)} ms): step / floor = "
                  f"{float(np.median(ratios)):.2f} (by round: {', '.join(f'{r:.2f}' for r in ratios)}; "
                  f"target <= 1.15); {m['step_flop'] / step / 1e9:.0f} GFLOP/s; "
                  + (f"bf16 step {step / bf16:.2f}x as fast as float32" if bf16 else
                     "no bfloat16 step (oneDNN held below its bfloat16 ISA: this stand-in would abort on it)"),
                  flush=True)
            out.add("3 step", {"steps": steps, "floor_ms": 1e3 * floor_s,
                               "floors_ms": [1e3 * f for f in floors],
                               "step_per_floor": float(np.median(ratios)), "step_per_floor_by_round": ratios,
                               "auto_vs_best_fixed": single[best_fixed] / step,
                               "gflops": m["step_flop"] / step / 1e9, "bf16_speedup": step / bf16 if bf16 else None})

        if 4 in sections:
            print("4. overhead between steps: steady-state work of an epoch / its training seconds (history.csv)",
                  flush=True)
            overheads = {}
            for split in ("speaker", "take"):
                if spec[split] is None:
                    out.skip(f"4 overhead by {split}", why[split])
                    continue
                clips = SpectrogramSet(spec[split]).manifest.splits["train"].clips
                if clips < BATCH:
                    out.skip(f"4 overhead by {split}", f"needs at least {BATCH} training clips (one batch), "
                                                       f"{source.root} split by {split} gives {clips}")
                    continue
                try:
                    r = overheads[split] = overhead(spec[split], tmp / f"run-{split}", step)
                except VaeAudioError as exc:  # e.g. no validation clips
                    out.skip(f"4 overhead by {split}", exc.line())
                    continue
                print(f"   split by {split}: {r['clips']} clips, epochs "
                      f"{', '.join(f'{s:.2f}' for s in r['train_s'])} s, "
                      f"steady-state work {r['work_s']:.2f} s -> {r['ratio']:.2f} (target >= 0.9)", flush=True)
                out.add("4 overhead", overheads)

        if 5 in sections:
            try:
                losses = bf16_losses(spec["take"], args.bf16_epochs, tmp)
            except VaeAudioError as exc:
                out.skip("5 bf16 loss", exc.line())
            else:
                f32, b16 = losses["float32"], losses["mixed_bfloat16"]
                print(f"5. val loss after {args.bf16_epochs} epochs, split by take: float32 {f32:.2f}, "
                      f"mixed_bfloat16 {b16:.2f} ({100 * (b16 - f32) / f32:+.2f} %)", flush=True)
                out.add("5 bf16 loss", {"epochs": args.bf16_epochs, "float32": f32, "mixed_bfloat16": b16,
                                        "change_percent": 100 * (b16 - f32) / f32})

        if 6 in sections:
            from vaeaudio.settings import ClassifierSettings

            batch = ClassifierSettings.model_fields["batch_size"].default
            clips = SpectrogramSet(spec["take"]).manifest.splits["train"].clips
            if clips < batch:
                out.skip("6 classifier", f"needs at least {batch} training clips (one batch), {source.root} split by "
                                         f"take gives {clips}")
            else:
                try:
                    c = classifier_epochs(spec["take"], tmp / "classifier")
                except VaeAudioError as exc:
                    out.skip("6 classifier", exc.line())
                else:
                    print(f"6. classifier, split by take ({c['clips']} clips): epochs "
                          f"{', '.join(f'{t:.2f}' for t in c['seconds'])} s (incl. validation); steady-state step "
                          f"{1e3 * c['step_s']:.1f} ms -> work {c['work_s']:.2f} s, "
                          f"{c['work_s'] / float(np.median(c['seconds'])):.2f} of an epoch; the judge predicts "
                          f"{c['predict_clips_s']:.0f} clips/s", flush=True)
                    out.add("6 classifier", {**c, "work_per_epoch": c["work_s"] / float(np.median(c["seconds"]))})
        out.finish()


if __name__ == "__main__":
    main()
