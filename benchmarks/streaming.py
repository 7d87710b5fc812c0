"""Streaming the train split against holding it in memory: epoch time and peak RSS of `train`, both in one run.

Builds a spectrogram set of about `--clips` training clips from the recordings of `--fsdd` (FSDD's 2,500 for the
intended size): `vaeaudio preprocess` on the recordings, then its train shards repeated (copied under new names,
listed in the manifest) until the train split has at least `--clips` clips. Then, each in its own process as a user
would run it, `train mlp --epochs 1` (the reference MLP) with the split in memory (`--in-memory`) and streamed
(`--stream --memory-budget` a quarter of the split plus the batches in flight: a shuffle buffer of a quarter), in turn,
`--repeats` times. It prints per run the training seconds of the epoch (from history.csv: clips / clips per s) and
the process's peak RSS against the split's size, and the streamed / in-memory ratio of the fastest of each; then
the cost of the input pipeline alone: one epoch of batches, without training, each way (wall and CPU seconds).

Usage: python benchmarks/streaming.py --fsdd FSDD            # about 20,000 clips (needs the full FSDD)
       python benchmarks/streaming.py --clips 2000            # a quick rehearsal on the embedded sample
       [--repeats N] [--work DIR] [--json OUT]
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # common.py, whatever the working folder
import common  # noqa: E402
from full_scale import stage  # noqa: E402

from vaeaudio.training.split_plan import IN_FLIGHT  # noqa: E402


def repeat_train_shards(spec: Path, clips: int) -> int:
    """Copy the train shards of the set at `spec` until its train split has at least `clips` clips (listing the
    copies in its manifest); returns the train split's clips."""
    manifest = json.loads((spec / "manifest.json").read_text())
    train = manifest["splits"]["train"]
    shards, k = list(train["shards"]), len(train["shards"])
    copies = max(1, math.ceil(clips / train["clips"]))
    for c in range(1, copies):
        for i, shard in enumerate(shards):
            name = f"train-{c * k + i:05d}.h5"
            shutil.copyfile(spec / shard["file"], spec / name)
            train["shards"].append({**shard, "file": name})
    train["clips"] *= copies
    train["digits"] = {d: n * copies for d, n in train["digits"].items()}
    (spec / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return train["clips"]


def epoch(run: Path) -> dict:
    """The one epoch of a run: training seconds (clips / clips per s) and clips per s."""
    with open(run / "history.csv", newline="") as f:
        row = list(csv.DictReader(f))[-1]
    config = json.loads((run / "config.json").read_text())
    rate = float(row["samples_per_s"])
    return {"train_s": config["data"]["clips"]["train"] / rate, "clips_per_s": rate, "stream": config["data"]["stream"]}


def pipeline(spec: Path, stream: dict | None) -> dict:
    """One epoch of batches from `train`'s input pipeline alone (no training), in this process: wall and CPU s."""
    import resource
    import time

    from vaeaudio.formats.spectrogram_set import SpectrogramSet
    from vaeaudio.training.batches import Batches
    from vaeaudio.training.split_plan import Stream
    from vaeaudio.util import progress

    progress.import_tensorflow_quietly()
    data, _ = Batches.load(SpectrogramSet(spec), 128, 42, stream and Stream(**stream))
    cpu = lambda: sum(resource.getrusage(resource.RUSAGE_SELF)[:2])
    t0, c0 = time.perf_counter(), cpu()
    clips = sum(int(x.shape[0]) for x, _ in data.train_batches(0))
    return {"clips": clips, "wall_s": time.perf_counter() - t0, "cpu_s": cpu() - c0}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common.add_arguments(ap, "streaming")
    ap.add_argument("--clips", type=int, default=20000, help="train clips in the set (its shards repeated)")
    ap.add_argument("--repeats", type=int, default=2, help="runs of each way (in memory, streamed), in turn")
    ap.add_argument("--work", type=Path, default=None, help="folder for everything (default: a temporary one)")
    args = ap.parse_args()
    if args.clips < 1 or args.repeats < 1:
        ap.error("--clips and --repeats must be at least 1")
    source = common.recordings(args.fsdd)
    out = common.Report("streaming", args, source)
    with common.work_folder(args.work, "vaeaudio-streaming-") as work:
        pre = stage("preprocess", ["preprocess", "--src", str(source.root), "--out", "spec"], work)
        n = repeat_train_shards(work / "spec", args.clips)
        manifest = json.loads((work / "spec" / "manifest.json").read_text())
        split_mb = n * 4 * math.prod(manifest["shape"]) / 1e6
        budget = split_mb / 4 + IN_FLIGHT * 128 * 4 * math.prod(manifest["shape"]) / 1e6  # + the batches in flight
        shards = len(manifest["splits"]["train"]["shards"])
        print(f"set: {n:,} train clips ({split_mb:,.0f} MB of spectrograms, {shards} shards), val "
              f"{manifest['splits']['val']['clips']:,}; preprocess {pre['seconds']:.0f} s", flush=True)
        out.add("set", {"train_clips": n, "split_mb": split_mb, "shape": manifest["shape"], "budget_mb": budget,
                        "preprocess_s": pre["seconds"]})
        ways = {"in memory": ["--in-memory"], "streamed": ["--stream", "--memory-budget", f"{budget:.0f}"]}
        rows = []
        for r in range(args.repeats):
            for way, flags in ways.items():
                run = work / "runs" / f"{way.replace(' ', '-')}-{r}"
                s = stage(way, ["train", "mlp", "--data", "spec", "--epochs", "1", "--run-dir", str(run), *flags],
                          work)
                row = {"way": way, "repeat": r, **epoch(run), "wall_s": s["seconds"],
                       "rss_mb": s["rss_gib"] * 2**30 / 1e6}
                rows.append(row)
                print(f"{way:<10} epoch {row['train_s']:6.1f} s ({row['clips_per_s']:5.0f} clips/s)   peak RSS "
                      f"{row['rss_mb']:6,.0f} MB = split {split_mb:,.0f} MB {row['rss_mb'] - split_mb:+,.0f} MB   "
                      f"(process {row['wall_s']:.0f} s)", flush=True)
                out.add("runs", rows)
        best = {way: min((r for r in rows if r["way"] == way), key=lambda r: r["train_s"]) for way in ways}
        ratio = best["streamed"]["train_s"] / best["in memory"]["train_s"]
        rss = {way: max(r["rss_mb"] for r in rows if r["way"] == way) for way in ways}
        print(f"streamed / in memory (fastest epoch of each): {ratio:.3f}x (target <= 1.25x); peak RSS in memory "
              f"{rss['in memory']:,.0f} MB (split + {rss['in memory'] - split_mb:,.0f} MB; target <= split + 1,500 "
              f"MB), streamed {rss['streamed']:,.0f} MB ({rss['streamed'] / split_mb:.2f}x the split)")
        alone = {way: pipeline(work / "spec", best[way]["stream"]) for way in ways}
        print("the input pipeline alone, one epoch of batches without training: " + ", ".join(
            f"{way} {a['wall_s']:.1f} s ({a['cpu_s']:.1f} s of CPU)" for way, a in alone.items()))
        out.add("pipeline", alone)
        out.add("summary", {"ratio": ratio, "in_memory_s": best["in memory"]["train_s"],
                            "streamed_s": best["streamed"]["train_s"], "rss_mb": rss, "split_mb": split_mb})
        out.finish()


if __name__ == "__main__":
    main()
