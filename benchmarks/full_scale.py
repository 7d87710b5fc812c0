"""vaeaudio end to end at AudioMNIST's real size, on this machine: every stage timed, with its peak RSS.

Builds an AudioMNIST-shaped corpus from the recordings of `--fsdd` (FSDD's 2,500 for the real size):
60 "speakers" x 10 digits x 50 takes = 30,000 mono 16-bit
48 kHz WAVs in `data/NN/{digit}_{NN}_{take}.wav` plus `data/audioMNIST_meta.txt`.
Speaker NN is the source's speakers in turn (FSDD's 5: NN mod 5) made into another voice: played 0.84-1.16x
faster (pitch and tempo), its own gain (-12..0 dB), spectral tilt and noise floor
(SNR 25-45 dB), so the 60 differ. The corpus is zipped (stored, like GitHub's
archive layout `AudioMNIST-master/data/...`), served from 127.0.0.1, and the CLI
runs on it as a user would, each stage its own process:

    download -> preprocess -> train mlp (1 epoch) -> train cnn (1 epoch, strided)
    -> evaluate (the MLP run; trains and caches the digit classifier, and hears the set's own clips once: a cold
       start for this set, whatever an earlier run of the benchmark left in the cache folder)
    -> evaluate again (the same run and set: both read back) -> synth (20 draws)
    -> preprocess --n-fft 1024 -> train mlp on that set (1 epoch: its train split is 3.2 GB)

It prints wall time and peak RSS per stage (a training stage's against its train split), the total, and the
projected time of the reference report's 100-epoch runs from the measured epochs. Everything is
written under `--work` (default: a fresh temporary folder, removed after). Each voice's takes are
distinct source recordings: the embedded sample (5 takes) makes at most 3,000 clips.

Usage: python benchmarks/full_scale.py --fsdd FSDD          # 30,000 clips (needs the full FSDD)
       python benchmarks/full_scale.py --clips 600          # a quick rehearsal on the embedded sample
                                                            # (clips are spread over the 60 speakers)
       [--work DIR] [--json OUT]
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

sys.path.insert(0, str(Path(__file__).resolve().parent))  # common.py, whatever the working folder
import common  # noqa: E402

RATE = 48000
SPEAKERS, TAKES = 60, 50


def voice(speaker: int, sources: list[str]) -> dict:
    """The made-up voice of speaker 1..60: its source speaker (of `sources`) and how it is changed."""
    rng = np.random.default_rng(speaker)
    return {"source": sources[(speaker - 1) % len(sources)], "speed": float(rng.uniform(0.84, 1.16)),
            "gain_db": float(rng.uniform(-12, 0)), "tilt": float(rng.uniform(-0.6, 0.6)),
            "snr_db": float(rng.uniform(25, 45))}


def render_take(y: np.ndarray, sr: int, v: dict, rng) -> np.ndarray:
    """An FSDD recording (samples,) at `sr` Hz -> the speaker's take at 48 kHz, float32 in [-1, 1]."""
    out = soxr.resample(y.astype(np.float32), sr * v["speed"], RATE)  # read as faster: higher and shorter
    out = np.concatenate([out[:1], out[1:] - v["tilt"] * out[:-1]])  # first-order tilt: > 0 brighter, < 0 darker
    out = out / max(float(np.abs(out).max()), 1e-6) * 10 ** (v["gain_db"] / 20)
    noise = rng.standard_normal(len(out)) * np.sqrt(np.mean(out**2)) * 10 ** (-v["snr_db"] / 20)
    return np.clip(out + noise, -1, 1).astype(np.float32)


def most_clips(source: common.Recordings) -> int:
    """The most clips `source` makes without using a recording twice for one voice: 60 x 10 x the takes that every
    digit of every source speaker has (at most 50; each voice's take t of digit d is its source's t-th take)."""
    takes = min((len(source.takes(d, s)) for d in range(10) for s in source.speakers), default=0)
    return SPEAKERS * 10 * min(takes, TAKES)


def build_corpus(work: Path, source: common.Recordings, clips: int) -> tuple[Path, int]:
    """The zip of an AudioMNIST-shaped corpus of `clips` WAVs (spread over 60 speakers); returns (zip, files)."""
    per_speaker = max(1, clips // SPEAKERS)
    takes = [(d, t) for t in range(TAKES) for d in range(10)][:per_speaker]
    archive = work / "AudioMNIST-master.zip"
    speakers = source.speakers
    meta = {f"{s:02d}": {"accent": "made from FSDD", "gender": "male", **voice(s, speakers)}
            for s in range(1, SPEAKERS + 1)}
    n = 0
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("AudioMNIST-master/README.md", "AudioMNIST-shaped corpus made from FSDD\n")
        zf.writestr("AudioMNIST-master/data/audioMNIST_meta.txt", json.dumps(meta))
        for s in range(1, SPEAKERS + 1):
            v, rng = voice(s, speakers), np.random.default_rng(1000 + s)
            for d, t in takes:
                y, sr = sf.read(source.files[(d, v["source"], source.takes(d, v["source"])[t])], dtype="float32")
                wav = work / "tmp.wav"
                sf.write(wav, render_take(y, sr, v, rng), RATE, subtype="PCM_16")
                zf.write(wav, f"AudioMNIST-master/data/{s:02d}/{d}_{s:02d}_{t}.wav")
                n += 1
    (work / "tmp.wav").unlink()
    return archive, n


def serve(folder: Path) -> tuple[ThreadingHTTPServer, int]:
    """An HTTP server for `folder` on 127.0.0.1 (a free port), serving in a thread."""
    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(folder)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, server.server_address[1]


# Runs the CLI and, at exit, writes its own peak RSS (VmHWM) to the file $VAEAUDIO_BENCH_RSS: the rusage a
# parent gets from wait4 would carry the parent's own resident size over the fork.
_CLI_WITH_PEAK = ("import atexit, os, runpy, sys\n"
                  "def peak():\n"
                  "    hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM:')][0].split()[1]\n"
                  "    open(os.environ['VAEAUDIO_BENCH_RSS'], 'w').write(hwm)\n"
                  "atexit.register(peak)\n"
                  "sys.argv = ['vaeaudio', *sys.argv[1:]]\n"
                  "runpy.run_module('vaeaudio.cli', run_name='__main__')\n")


def stage(name: str, args: list[str], cwd: Path) -> dict:
    """Run `vaeaudio ARGS` in its own process: wall seconds, its own peak RSS (GiB), the summary's last line."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err, \
            tempfile.NamedTemporaryFile("r") as rss:
        t0 = time.perf_counter()
        code = subprocess.run([sys.executable, "-c", _CLI_WITH_PEAK, "--quiet", *args], cwd=cwd, stdout=out,
                              stderr=err, text=True, env={**os.environ, "VAEAUDIO_BENCH_RSS": rss.name}).returncode
        seconds = time.perf_counter() - t0
        out.seek(0), err.seek(0)
        lines, problem = out.read().strip().splitlines(), err.read().strip().splitlines()
        peak_kib = int(rss.read() or 0)
    if code:
        raise SystemExit(f"{name} failed (exit {code}): {problem[-1:]}")
    return {"stage": name, "seconds": seconds, "rss_gib": peak_kib / 2**20, "out": lines[-1:] or [""]}


def forget_heard(spec: Path) -> None:
    """Remove what an earlier evaluate heard in the set at `spec` (`vaeaudio.judging.setcache`; the same corpus
    made again is the same set), so that the first evaluate here starts cold."""
    from vaeaudio.formats.spectrogram_set import SpectrogramSet
    from vaeaudio.judging import setcache
    from vaeaudio.util.cache import cache_dir

    shutil.rmtree(cache_dir() / setcache.FOLDER / SpectrogramSet(spec).identity()[:16], ignore_errors=True)


def epoch_seconds(run: Path) -> float:
    """Seconds of the last epoch in a run's history.csv."""
    import csv

    with open(run / "history.csv", newline="") as f:
        return float(list(csv.DictReader(f))[-1]["seconds"])


def split_gib(spec: Path) -> float:
    """GiB of spectrograms (float32) in the train split of the set at `spec`."""
    manifest = json.loads((spec / "manifest.json").read_text())
    return manifest["splits"]["train"]["clips"] * 4 * int(np.prod(manifest["shape"])) / 2**30


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common.add_arguments(ap, "full_scale")
    ap.add_argument("--clips", type=int, default=30000, help="WAVs in the corpus (30,000 = AudioMNIST)")
    ap.add_argument("--work", type=Path, default=None, help="folder for everything (default: a temporary one)")
    args = ap.parse_args()
    if args.clips < 1:
        ap.error("--clips must be at least 1")
    source = common.recordings(args.fsdd)
    out = common.Report("full_scale", args, source)
    most = most_clips(source)
    if most == 0:
        out.skip("corpus", f"needs every digit 0-9 from every speaker of {source.root}; some are missing")
        raise SystemExit(1)
    clips = args.clips
    if clips > most:
        print(f"corpus: {source.root} makes at most {most:,} clips without reusing a recording "
              f"({most // (10 * SPEAKERS)} takes per digit and speaker): building {most:,}, not {clips:,} "
              f"(--fsdd with the full FSDD for AudioMNIST's size)")
        clips = most
    rows, t_all = [], time.perf_counter()
    with common.work_folder(args.work, "vaeaudio-full-") as work:
        t0 = time.perf_counter()
        archive, n = build_corpus(work, source, clips)
        build_s = time.perf_counter() - t0
        print(f"corpus: {n:,} WAVs at 48 kHz, {archive.stat().st_size / 1e9:.2f} GB zip, built in "
              f"{build_s:.0f} s (not counted below)", flush=True)
        out.add("corpus", {"clips_asked": args.clips, "clips": n, "zip_gb": archive.stat().st_size / 1e9,
                           "build_s": build_s})
        server, port = serve(work)
        try:
            url = f"http://127.0.0.1:{port}/{archive.name}"
            plan = [
                ("download", ["download", "--url", url, "--dest", "AudioMNIST"]),
                ("preprocess", ["preprocess", "--src", "AudioMNIST", "--out", "spec"]),
                ("train mlp, 1 epoch", ["train", "mlp", "--recipe", "reference", "--data", "spec", "--epochs", "1",
                                        "--run-dir", "runs/mlp"]),
                ("train cnn, 1 epoch", ["train", "cnn", "--data", "spec", "--epochs", "1", "--run-dir", "runs/cnn"]),
                ("evaluate (mlp)", ["evaluate", "runs/mlp"]),
                ("evaluate again", ["evaluate", "runs/mlp"]),
                ("synth 20 draws", ["synth", "--run", "runs/mlp", "--random", "20", "synth"]),
                # A set past the 2 GB a graph constant may hold (the train split is 3.2 GB at 513 bins, full size):
                ("preprocess n-fft 1024",
                 ["preprocess", "--src", "AudioMNIST", "--out", "spec1024", "--n-fft", "1024"]),
                ("train mlp on it",
                 ["train", "mlp", "--recipe", "reference", "--data", "spec1024", "--epochs", "1",
                  "--run-dir", "runs/mlp1024"]),
            ]
            for name, cmd in plan:
                if name == "evaluate (mlp)":
                    forget_heard(work / "spec")
                try:
                    rows.append(stage(name, cmd, work))
                except SystemExit as failed:
                    out.skip(name, str(failed))
                    raise
                r = rows[-1]
                if cmd[0] == "train":  # a training stage's peak against its train split's spectrograms
                    r["split_gib"] = split_gib(work / cmd[cmd.index("--data") + 1])
                    r["out"] = [f"train split {r['split_gib']:.2f} GiB, peak RSS = split + "
                                f"{r['rss_gib'] - r['split_gib']:.2f} GiB; {r['out'][0]}"]
                print(f"{r['stage']:<20} {r['seconds']:8.1f} s   peak RSS {r['rss_gib']:5.2f} GiB   "
                      f"{r['out'][0][:120]}", flush=True)
                out.add("stages", rows)
        finally:
            server.shutdown()
        total = sum(r["seconds"] for r in rows)
        print(f"{'total':<20} {total:8.1f} s   ({(time.perf_counter() - t_all) / 60:.1f} min with the corpus)")
        first, again = (next(r["seconds"] for r in rows if r["stage"] == name)
                        for name in ("evaluate (mlp)", "evaluate again"))
        print(f"evaluate: {first:.0f} s on a set it meets first (target <= 180 s; 1,169-1,395 s before the per-set "
              f"cache), {again:.0f} s again ({first / again:.1f}x faster)")
        out.add("evaluate", {"first_s": first, "again_s": again, "ratio": first / again})
        manifest = json.loads((work / "spec" / "manifest.json").read_text())
        kept, train = sum(s["clips"] for s in manifest["splits"].values()), manifest["splits"]["train"]["clips"]
        print(f"clips kept: {kept:,} (train {train:,})")
        mlp, cnn = epoch_seconds(work / "runs/mlp"), epoch_seconds(work / "runs/cnn")
        print(f"projected 100 epochs: MLP {100 * mlp / 3600:.1f} h ({mlp:.0f} s/epoch; the report: 5.3 h on a GPU), "
              f"strided CNN {100 * cnn / 3600:.1f} h ({cnn:.0f} s/epoch)")
        out.add("total", {"seconds": total, "with_corpus_s": time.perf_counter() - t_all, "kept": kept,
                          "train": train, "mlp_epoch_s": mlp, "cnn_epoch_s": cnn, "mlp_100_epochs_h": 100 * mlp / 3600,
                          "cnn_100_epochs_h": 100 * cnn / 3600})
        out.finish()


if __name__ == "__main__":
    main()
