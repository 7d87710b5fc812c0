"""Benchmark synthesis: batched Griffin-Lim vs a loop of librosa.griffinlim, and a cold `vaeaudio synth`.

1. `--clips` real clips (from `--fsdd`, 257 x 69 magnitudes), 64 iterations: `vaeaudio.sound.dsp.griffin_lim`
   on the whole batch vs `librosa.griffinlim` per clip, in the same run (each after one untimed clip), with
   the spectral convergence of both (target: >= 3x faster at equal quality).
2. Wall time of a cold `vaeaudio synth --z 0.5 -1.2 out.wav` process vs a cold
   `python -c "import tensorflow"` (target: <= 2x). Needs a run: `--run RUN`, or
   one is trained for a single epoch on the recordings of `--fsdd`.

Usage: python benchmarks/synth.py [--fsdd DIR] [--clips 100] [--iters 64] [--run RUN] [--repeat 3] [--json OUT]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # common.py, whatever the working folder
import common  # noqa: E402


def magnitudes(source: common.Recordings, n: int) -> np.ndarray:
    """The magnitudes of `n` recordings spread evenly over `source` (every speaker and digit)."""
    from vaeaudio.sound import dsp

    files = source.paths()
    files = files[:: max(1, len(files) // n)][:n]
    waves = np.stack([dsp.to_clip(*dsp.read(f)) for f in files])
    return np.abs(dsp.stft(waves)).astype(np.float32)


def convergence(mag: np.ndarray, waves: np.ndarray) -> float:
    from vaeaudio.sound import dsp

    rebuilt = np.abs(dsp.stft(waves))
    return float(np.mean([np.linalg.norm(rebuilt[i] - mag[i]) / np.linalg.norm(mag[i]) for i in range(len(mag))]))


def griffin_lim(source: common.Recordings, n: int, iters: int) -> dict:
    import librosa

    from vaeaudio.sound import dsp

    mag = magnitudes(source, n)
    # one untimed clip each first: librosa's first call loads its modules and compiles (seconds)
    dsp.griffin_lim(mag[:1], n_iter=iters)
    librosa.griffinlim(mag[0], n_iter=iters, hop_length=256, n_fft=512, length=17640)
    t0 = time.perf_counter()
    ours = dsp.griffin_lim(mag, n_iter=iters)
    t_ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    theirs = np.stack([librosa.griffinlim(m, n_iter=iters, hop_length=256, n_fft=512, length=17640) for m in mag])
    t_theirs = time.perf_counter() - t0
    print(f"griffin-lim, {n} clips x {iters} iterations:")
    print(f"  librosa.griffinlim per clip : {t_theirs:6.2f} s  {n / t_theirs:7.1f} clips/s  "
          f"spectral convergence {convergence(mag, theirs):.4f}")
    print(f"  vaeaudio batched            : {t_ours:6.2f} s  {n / t_ours:7.1f} clips/s  "
          f"spectral convergence {convergence(mag, ours):.4f}")
    print(f"  ratio: {t_theirs / t_ours:.1f}x (target >= 3x)")
    return {"clips": n, "iters": iters, "librosa_s": t_theirs, "librosa_clips_s": n / t_theirs,
            "librosa_convergence": convergence(mag, theirs), "vaeaudio_s": t_ours, "vaeaudio_clips_s": n / t_ours,
            "vaeaudio_convergence": convergence(mag, ours), "ratio": t_theirs / t_ours}


def tiny_run(root: Path, source: common.Recordings) -> Path:
    """A reference MLP trained for one epoch on `source`."""
    from vaeaudio.corpus.preprocess import preprocess
    from vaeaudio.settings import PreprocessSettings, TrainSettings
    from vaeaudio.training.train import train
    from vaeaudio.util import progress

    progress.configure(quiet=True)
    preprocess(PreprocessSettings(src=source.root, out=root / "spec"))
    settings = TrainSettings(kind="mlp", data=root / "spec", run_dir=root / "run", epochs=1, recipe="reference")
    return train(settings).run_dir


def cold(cmd: list[str], repeat: int = 3) -> float:
    """Best wall seconds of `repeat` runs of `cmd`; exits with its last line of stderr if it fails."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode:
            said = [line for line in done.stderr.splitlines() if line.strip()]
            raise SystemExit(f"{Path(cmd[0]).name} {cmd[1]} failed (exit {done.returncode}): "
                             f"{said[-1] if said else '?'}")
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common.add_arguments(ap, "synth")
    ap.add_argument("--clips", type=int, default=100)
    ap.add_argument("--iters", type=int, default=64)
    ap.add_argument("--run", type=Path, help="a finished run (default: train a 1-epoch one on the --fsdd recordings)")
    ap.add_argument("--repeat", type=int, default=3, help="cold processes timed each; the best is kept")
    args = ap.parse_args()
    if args.clips < 1 or args.iters < 1 or args.repeat < 1:
        ap.error("--clips, --iters and --repeat must be at least 1")
    source = common.recordings(args.fsdd)
    out = common.Report("synth", args, source)
    if len(source.files) < args.clips:
        out.skip("griffin-lim", f"needs {args.clips} recordings, {source.root} has {len(source.files)} "
                                f"(ask for --clips {len(source.files)} or fewer)")
    else:
        out.add("griffin-lim", griffin_lim(source, args.clips, args.iters))
    with tempfile.TemporaryDirectory() as tmp:
        run = args.run or tiny_run(Path(tmp), source)
        vaeaudio = str(Path(sys.executable).with_name("vaeaudio"))
        t_synth = cold([vaeaudio, "synth", "--run", str(run), "--z", "0.5", "-1.2", str(Path(tmp) / "out.wav")],
                       args.repeat)
    t_tf = cold([sys.executable, "-c", "import tensorflow"], args.repeat)
    print(f"cold process, best of {args.repeat}:")
    print(f"  python -c 'import tensorflow'       : {t_tf:5.2f} s")
    print(f"  vaeaudio synth --z 0.5 -1.2 out.wav : {t_synth:5.2f} s")
    print(f"  ratio: {t_synth / t_tf:.2f}x (target <= 2x)")
    out.add("cold", {"import_tensorflow_s": t_tf, "synth_s": t_synth, "ratio": t_synth / t_tf, "best_of": args.repeat})
    out.finish()


if __name__ == "__main__":
    sys.exit(main())
