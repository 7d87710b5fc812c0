"""A Speech-Commands-shaped corpus of about 20,000 clips, end to end: preprocess, 1 training epoch, evaluate.

Builds, from the recordings of `--fsdd` (FSDD's 2,500 for the real size), what a
user who downloads Speech Commands has: word folders `zero/ ... nine/` of
`HASH_nohash_N.wav` (16 kHz, 16-bit, 1 s, the word in the middle), a
`_background_noise_/` folder, a README, and `validation_list.txt` /
`testing_list.txt` made by the dataset's own rule (`sc_which_set`: sha1 of the
speaker hash). Each source speaker is made into `--voices` speakers (each hash a
seeded draw that the rule puts in the split wanted: voice 9 of every 10 in val,
voice 10 in test), each played 0.88-1.12x faster, with its own gain, spectral tilt and
noise floor (as `full_scale.py` makes voices), so that 2,500 recordings x 8 voices
= 20,000 clips. Then, each stage its own process, as a user would run them:

    preprocess (auto: speech-commands, --classes zero,...,nine, 16 kHz, 1 s)
    -> train mlp --conditional, 1 epoch (the training split in memory)
    -> the same, streamed from the shards (--stream): its epoch against the in-memory one
    -> evaluate (trains and caches the classifier of the 10 words; --no-recogniser: its
       real-recording scores would decode all 16,000 training clips)

It prints each stage's wall time and peak RSS, and the streamed epoch over the in-memory one (from each run's
history.csv, so start-up is left out). Everything is written under
`--work` (default: a temporary folder, removed after).

Usage: python benchmarks/speech_commands.py --fsdd FSDD        # about 20,000 clips (needs the full FSDD)
       python benchmarks/speech_commands.py --voices 2          # a rehearsal on the embedded sample (500 clips)
       [--work DIR] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

sys.path.insert(0, str(Path(__file__).resolve().parent))  # common.py, whatever the working folder
import common  # noqa: E402
from full_scale import epoch_seconds, stage  # noqa: E402

from vaeaudio.corpus.layouts import sc_which_set  # noqa: E402
from vaeaudio.formats.classes import DIGIT_WORDS as WORDS  # noqa: E402

RATE = 16000


def voice(seed: int, split: int) -> dict:
    """A made-up voice: its hash (8 hex digits, as the dataset's; drawn until the dataset's rule puts it in `split`,
    0 train, 1 val, 2 test) and how it changes its source's recordings."""
    rng = np.random.default_rng(seed)
    name = f"{int(rng.integers(2**32)):08x}"
    while sc_which_set(name, 0.1, 0.1) != split:
        name = f"{int(rng.integers(2**32)):08x}"
    return {"hash": name, "speed": float(rng.uniform(0.88, 1.12)),
            "gain_db": float(rng.uniform(-12, 0)), "tilt": float(rng.uniform(-0.6, 0.6)),
            "snr_db": float(rng.uniform(25, 45))}


def render_clip(y: np.ndarray, sr: int, v: dict, rng: np.random.Generator) -> np.ndarray:
    """A recording (samples,) at `sr` Hz -> the voice's 1 s clip at 16 kHz, the word in the middle, in [-1, 1]."""
    out = soxr.resample(y.astype(np.float32), sr * v["speed"], RATE)[:RATE]
    out = np.concatenate([out[:1], out[1:] - v["tilt"] * out[:-1]])
    out = out / max(float(np.abs(out).max()), 1e-6) * 10 ** (v["gain_db"] / 20)
    clip = np.zeros(RATE, np.float32)
    start = (RATE - len(out)) // 2
    clip[start : start + len(out)] = out
    noise = rng.standard_normal(RATE) * np.sqrt(np.mean(out**2)) * 10 ** (-v["snr_db"] / 20)
    return np.clip(clip + noise, -1, 1).astype(np.float32)


def build_corpus(root: Path, source: common.Recordings, voices: int) -> dict:
    """Write the corpus under `root`; returns its counts per split."""
    splits = {"val": [], "test": []}
    n = 0
    for k, speaker in enumerate(source.speakers):
        for j in range(voices):
            n_voice = k * voices + j  # every 10th voice validates and the next tests: the dataset's 80/10/10
            which = {8: 1, 9: 2}.get(n_voice % 10, 0)
            v = voice(1000 * k + j, which)
            rng = np.random.default_rng(10_000 + 1000 * k + j)
            for (d, s, t), path in sorted(source.files.items()):
                if s != speaker:
                    continue
                y, sr = sf.read(path, dtype="float32")
                rel = f"{WORDS[d]}/{v['hash']}_nohash_{t}.wav"
                (root / WORDS[d]).mkdir(parents=True, exist_ok=True)
                sf.write(root / rel, render_clip(y, sr, v, rng), RATE, subtype="PCM_16")
                if which:
                    splits["val" if which == 1 else "test"].append(rel)
                n += 1
    (root / "validation_list.txt").write_text("".join(f"{p}\n" for p in sorted(splits["val"])))
    (root / "testing_list.txt").write_text("".join(f"{p}\n" for p in sorted(splits["test"])))
    noise = root / "_background_noise_"
    noise.mkdir()
    sf.write(noise / "white_noise.wav", (0.1 * np.random.default_rng(0).standard_normal(10 * RATE)).astype(
        np.float32), RATE, subtype="PCM_16")
    (root / "README.md").write_text("A Speech-Commands-shaped corpus made from FSDD by benchmarks/speech_commands.py\n")
    return {"clips": n, "val": len(splits["val"]), "test": len(splits["test"])}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common.add_arguments(ap, "speech_commands")
    ap.add_argument("--voices", type=int, default=8, help="speakers made of each source speaker (8: 20,000 clips "
                                                          "from FSDD's 2,500)")
    ap.add_argument("--work", type=Path, default=None, help="folder for everything (default: a temporary one)")
    args = ap.parse_args()
    if args.voices < 1:
        ap.error("--voices must be at least 1")
    source = common.recordings(args.fsdd)
    out = common.Report("speech_commands", args, source)
    with common.work_folder(args.work, "vaeaudio-sc-") as work:
        t0 = time.perf_counter()
        counts = build_corpus(work / "speech_commands", source, args.voices)
        build_s = time.perf_counter() - t0
        print(f"corpus: {counts['clips']:,} clips of 1 s at 16 kHz in 10 word folders, {counts['val']:,} listed for "
              f"validation and {counts['test']:,} for test; built in {build_s:.0f} s (not counted below)", flush=True)
        out.add("corpus", {**counts, "build_s": build_s})
        plan = [
            ("preprocess", ["preprocess", "--src", "speech_commands", "--out", "spec", "--classes", ",".join(WORDS),
                            "--sample-rate", str(RATE), "--clip-samples", str(RATE)]),
            ("train, 1 epoch in memory", ["train", "mlp", "--data", "spec", "--conditional", "--epochs", "1",
                                          "--run-dir", "runs/in-memory"]),
            ("train, 1 epoch streamed", ["train", "mlp", "--data", "spec", "--conditional", "--epochs", "1",
                                         "--stream", "--run-dir", "runs/streamed"]),
            ("evaluate", ["evaluate", "runs/in-memory", "--no-recogniser"]),
        ]
        rows = []
        for name, cmd in plan:
            try:
                rows.append(stage(name, cmd, work))
            except SystemExit as failed:
                out.skip(name, str(failed))
                raise
            r = rows[-1]
            print(f"{r['stage']:<26} {r['seconds']:8.1f} s   peak RSS {r['rss_gib']:5.2f} GiB   "
                  f"{r['out'][0][:80]}", flush=True)
            out.add("stages", rows)
        epoch = epoch_seconds(work / "runs/in-memory")
        streamed = epoch_seconds(work / "runs/streamed")
        manifest = json.loads((work / "spec" / "manifest.json").read_text())
        splits = {k: v["clips"] for k, v in manifest["splits"].items()}
        print(f"set: {splits['train']:,} / {splits['val']:,} / {splits['test']:,} clips (train / val / test); "
              f"epoch in memory {epoch:.1f} s ({splits['train'] / epoch:,.0f} clips/s), streamed {streamed:.1f} s "
              f"({splits['train'] / streamed:,.0f} clips/s): streamed / in memory {streamed / epoch:.2f}x")
        out.add("total", {"seconds": sum(r["seconds"] for r in rows), "splits": splits, "in_memory_epoch_s": epoch,
                          "streamed_epoch_s": streamed, "streamed_over_in_memory": streamed / epoch})
        out.finish()


if __name__ == "__main__":
    main()
