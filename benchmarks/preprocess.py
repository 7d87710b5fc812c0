"""Benchmark `vaeaudio preprocess` against a naive single-process librosa loop.

Builds an AudioMNIST-shaped corpus (48 kHz mono 16-bit WAVs in data/NN/,
{digit}_{NN}_{take}.wav) by resampling ../shared/data/fsdd, then times in the
same run:
  naive     librosa.load(sr=22050) -> trim/pad -> librosa.stft -> amplitude_to_db -> min-max,
            one clip at a time, results kept in a list (no files written);
  vaeaudio  the full `preprocess` (probe, split, featurise, HDF5 shards, manifest) with --workers.

Usage: python benchmarks/preprocess.py [--clips 6000] [--workers 2] [--corpus DIR]
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

FSDD = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "fsdd" / "recordings"


def build_corpus(root: Path, clips: int) -> list[Path]:
    """AudioMNIST-shaped corpus of `clips` 48 kHz WAVs from FSDD (each copy a new speaker, gain-shifted)."""
    marker = root / f".complete-{clips}"
    files = sorted(FSDD.glob("*.wav"))
    out = []
    copies = math.ceil(clips / len(files))
    for c in range(copies):
        for f in files:
            if len(out) == clips:
                break
            digit, spk, take = f.stem.split("_")
            speaker = 1 + c * 5 + ("george", "jackson", "nicolas", "theo", "yweweler").index(spk)
            dest = root / "data" / f"{speaker:02d}" / f"{digit}_{speaker:02d}_{take}.wav"
            out.append(dest)
            if marker.exists():
                continue
            y, sr = sf.read(f, dtype="float32")
            dest.parent.mkdir(parents=True, exist_ok=True)
            sf.write(dest, soxr.resample(y, sr, 48000) * (1 - 0.02 * c), 48000, subtype="PCM_16")
    marker.touch()
    return out


def naive(files: list[Path]) -> float:
    import librosa

    t0 = time.perf_counter()
    specs = []
    for f in files:
        y, _ = librosa.load(f, sr=22050)
        excess = len(y) - 17640
        y = y[excess // 2 : excess // 2 + 17640] if excess > 0 else np.pad(y, (0, -excess))
        db = librosa.amplitude_to_db(np.abs(librosa.stft(y, n_fft=512, hop_length=256)), ref=np.max)
        specs.append((db - db.min()) / (db.max() - db.min()))
    return time.perf_counter() - t0


def vae(corpus: Path, workers: int) -> tuple[float, int]:
    from vaeaudio.corpus.preprocess import preprocess
    from vaeaudio.settings import PreprocessSettings
    from vaeaudio.util import progress

    progress.configure(quiet=True)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        res = preprocess(PreprocessSettings(src=corpus, out=Path(tmp) / "spec", workers=workers))
        seconds = time.perf_counter() - t0
    return seconds, sum(s.clips for s in res.manifest.splits.values())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=6000, help="corpus size (30000 = full AudioMNIST size)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--corpus", type=Path, default=Path(tempfile.gettempdir()) / "vaeaudio-bench-corpus")
    args = ap.parse_args()
    corpus = args.corpus / str(args.clips)
    t0 = time.perf_counter()
    files = build_corpus(corpus, args.clips)
    print(f"corpus: {len(files)} 48 kHz clips in {corpus} ({time.perf_counter() - t0:.1f} s to build/check)")
    # warm the page cache for both contenders alike
    for f in files:
        f.read_bytes()
    t_naive = naive(files)
    t_vae, kept = vae(corpus, args.workers)
    n = len(files)
    print(f"naive librosa loop : {t_naive:7.2f} s  {n / t_naive:8.0f} clips/s (1 process, no files written)")
    print(f"vaeaudio preprocess: {t_vae:7.2f} s  {n / t_vae:8.0f} clips/s ({args.workers} workers, "
          f"{kept} clips kept and written to shards)")
    print(f"ratio vaeaudio / naive: {t_naive / t_vae:.2f}x (target >= 1.7x with 2 workers)")


if __name__ == "__main__":
    sys.exit(main())
