"""Benchmark synthesis: batched Griffin-Lim vs a loop of librosa.griffinlim, and a cold `vaeaudio synth`.

1. 100 real clips (FSDD, 257 x 69 magnitudes), 64 iterations: `vaeaudio.sound.dsp.griffin_lim`
   on the whole batch vs `librosa.griffinlim` per clip, in the same run, with the
   spectral convergence of both (target: >= 3x faster at equal quality).
2. Wall time of a cold `vaeaudio synth --z 0.5 -1.2 out.wav` process vs a cold
   `python -c "import tensorflow"` (target: <= 2x). Needs a run: `--run RUN`, or
   one is trained for a single epoch on the embedded demo sample.

Usage: python benchmarks/synth.py [--clips 100] [--iters 64] [--run RUN]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

FSDD = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "fsdd" / "recordings"


def magnitudes(n: int) -> np.ndarray:
    from vaeaudio.sound import dsp

    files = sorted(FSDD.glob("*.wav"))[:: max(1, 2500 // n)][:n]
    waves = np.stack([dsp.to_clip(*dsp.read(f)) for f in files])
    return np.abs(dsp.stft(waves)).astype(np.float32)


def convergence(mag: np.ndarray, waves: np.ndarray) -> float:
    from vaeaudio.sound import dsp

    rebuilt = np.abs(dsp.stft(waves))
    return float(np.mean([np.linalg.norm(rebuilt[i] - mag[i]) / np.linalg.norm(mag[i]) for i in range(len(mag))]))


def griffin_lim(n: int, iters: int) -> None:
    import librosa

    from vaeaudio.sound import dsp

    mag = magnitudes(n)
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


def tiny_run(root: Path) -> Path:
    from vaeaudio.corpus.preprocess import preprocess
    from vaeaudio.demo import SAMPLE
    from vaeaudio.settings import PreprocessSettings, TrainSettings
    from vaeaudio.training.train import train
    from vaeaudio.util import progress

    progress.configure(quiet=True)
    preprocess(PreprocessSettings(src=SAMPLE, out=root / "spec"))
    return train(TrainSettings(kind="mlp", data=root / "spec", run_dir=root / "run", epochs=1)).run_dir


def cold(cmd: list[str], repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=100)
    ap.add_argument("--iters", type=int, default=64)
    ap.add_argument("--run", type=Path, help="a finished run (default: train a 1-epoch one on the demo sample)")
    args = ap.parse_args()
    griffin_lim(args.clips, args.iters)
    with tempfile.TemporaryDirectory() as tmp:
        run = args.run or tiny_run(Path(tmp))
        vaeaudio = str(Path(sys.executable).with_name("vaeaudio"))
        t_synth = cold([vaeaudio, "synth", "--run", str(run), "--z", "0.5", "-1.2", str(Path(tmp) / "out.wav")])
    t_tf = cold([sys.executable, "-c", "import tensorflow"])
    print("cold process, best of 3:")
    print(f"  python -c 'import tensorflow'       : {t_tf:5.2f} s")
    print(f"  vaeaudio synth --z 0.5 -1.2 out.wav : {t_synth:5.2f} s")
    print(f"  ratio: {t_synth / t_tf:.2f}x (target <= 2x)")


if __name__ == "__main__":
    sys.exit(main())
