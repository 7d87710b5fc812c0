"""Benchmark multi-worker training on this host: one process vs two workers, and the all-reduce cost.

1. `vaeaudio train mlp` (the reference MLP, 37.65 M parameters, batch 128) on
   the recordings of `--fsdd` (split by take) for `--epochs` epochs as one process, then as two
   `--distribute multi-worker` processes on 127.0.0.1; the last epoch's training clips/s of each.
2. The per-step communication: two workers all-reduce a float32 tensor of the
   MLP's 37,650,761 gradient values, timed over `--reps` repetitions (ms per step).

On one 2-core host two workers share the same cores, so expect no gain: this
measures correctness and overhead, not scaling.

Usage: python benchmarks/distribute.py [--fsdd DIR] [--epochs 2] [--reps 10] [--json OUT]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # common.py, whatever the working folder
import common  # noqa: E402

PARAMS = 37_650_761
BATCH = 128


def free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def tf_config(ports: list[int], index: int) -> str:
    return json.dumps({"cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]},
                       "task": {"type": "worker", "index": index}})


def last_rate(run: Path) -> float:
    with open(run / "history.csv", newline="") as f:
        return float(list(csv.DictReader(f))[-1]["samples_per_s"])


def train(spec: Path, run: Path, epochs: int, workers: int) -> float:
    """Train as `workers` processes (1 = no distribution); the chief's last-epoch clips/s."""
    cmd = [sys.executable, "-m", "vaeaudio.cli", "train", "mlp", "--recipe", "reference", "--data", str(spec),
           "--run-dir", str(run),
           "--epochs", str(epochs), "--batch-size", str(BATCH), "--quiet"]
    if workers == 1:
        subprocess.run(cmd, check=True)
        return last_rate(run)
    ports = free_ports(workers)
    procs = [subprocess.Popen([*cmd, "--distribute", "multi-worker"],
                              env={**os.environ, "TF_CONFIG": tf_config(ports, i)}, stdout=subprocess.DEVNULL)
             for i in range(workers)]
    if any(p.wait() for p in procs):
        raise SystemExit("a worker failed")
    return last_rate(run)


def probe(index: int, ports: list[int], reps: int) -> None:
    """In a worker process: time all-reduces of PARAMS float32 values; prints ms per all-reduce."""
    os.environ["TF_CONFIG"] = tf_config(ports, index)
    import tensorflow as tf

    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    grads = tf.ones([PARAMS], tf.float32)

    @tf.function
    def step():
        return strategy.run(lambda: tf.distribute.get_replica_context().all_reduce("sum", grads)[0])

    float(strategy.experimental_local_results(step())[0])  # warm-up
    t0 = time.perf_counter()
    for _ in range(reps):
        float(strategy.experimental_local_results(step())[0])
    print(json.dumps({"ms": 1000 * (time.perf_counter() - t0) / reps}))


def training(args, source: common.Recordings, out: common.Report, tmp: Path) -> None:
    """Section 1: the reference MLP as one process, then as two workers, on `source` split by take."""
    from vaeaudio.corpus.preprocess import preprocess
    from vaeaudio.settings import PreprocessSettings
    from vaeaudio.util.errors import VaeAudioError

    spec = tmp / "spec"
    try:
        clips = preprocess(PreprocessSettings(src=source.root, out=spec)).manifest.splits["train"].clips
    except VaeAudioError as exc:  # e.g. too few recordings to split
        out.skip("training", exc.line())
        return
    if clips < BATCH:
        out.skip("training", f"needs at least one batch of {BATCH} training clips, {source.root} gives {clips}")
        return
    one = train(spec, tmp / "one", args.epochs, 1)
    two = train(spec, tmp / "two", args.epochs, 2)
    print(f"reference MLP, batch {BATCH} (global), {clips} training clips, epoch {args.epochs} on "
          f"{os.cpu_count()} cores:")
    print(f"  one process          : {one:7.1f} clips/s")
    print(f"  two workers (1 host) : {two:7.1f} clips/s  ({two / one:.2f}x one process)")
    out.add("training", {"clips": clips, "epoch": args.epochs, "one_process_clips_s": one,
                         "two_workers_clips_s": two, "ratio": two / one})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common.add_arguments(ap, "distribute")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--probe", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.epochs < 1 or args.reps < 1:
        ap.error("--epochs and --reps must be at least 1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if args.probe:
        probe(int(args.probe[0]), [int(p) for p in args.probe[1].split(",")], args.reps)
        return
    from vaeaudio.util import progress

    source = common.recordings(args.fsdd)
    out = common.Report("distribute", args, source)
    progress.configure(quiet=True)
    with tempfile.TemporaryDirectory() as tmp:
        training(args, source, out, Path(tmp))
    ports = free_ports(2)
    procs = [subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--reps", str(args.reps), "--probe",
                               str(i), ",".join(map(str, ports))], stdout=subprocess.PIPE, text=True)
             for i in range(2)]
    ms = [json.loads(p.communicate()[0].strip().splitlines()[-1])["ms"] for p in procs]
    print(f"  all-reduce of {PARAMS:,} float32 gradients ({PARAMS * 4 / 2**20:.0f} MiB) between 2 workers: "
          f"{max(ms):.0f} ms per step")
    out.add("all-reduce", {"values": PARAMS, "mib": PARAMS * 4 / 2**20, "ms": max(ms)})
    out.finish()


if __name__ == "__main__":
    main()
