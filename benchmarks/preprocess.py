"""Benchmark `vaeaudio preprocess` against a naive single-process librosa loop.

Builds an AudioMNIST-shaped corpus of `--clips` 48 kHz mono 16-bit WAVs (data/NN/{digit}_{NN}_{take}.wav) by
resampling the recordings of `--fsdd` (each pass over them as new speakers, gain-shifted; cached under
`--corpus`), then times in the same run:
  naive     librosa.load(sr=22050) -> trim/pad -> librosa.stft -> amplitude_to_db -> min-max,
            one clip at a time, results kept in a list (no files written; after one untimed clip);
  vaeaudio  the full `preprocess` (probe, split, featurise, HDF5 shards, manifest) with --workers.

Usage: python benchmarks/preprocess.py [--fsdd DIR] [--clips 6000] [--workers 2] [--corpus DIR] [--json OUT]
"""

from __future__ import annotations

import argparse
import hashlib
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

sys.path.insert(0, str(Path(__file__).resolve().parent))  # common.py, whatever the working folder
import common  # noqa: E402


def build_corpus(root: Path, source: common.Recordings, clips: int) -> list[Path]:
    """AudioMNIST-shaped corpus of `clips` 48 kHz WAVs from `source` (each pass over it new speakers, gain-shifted)."""
    marker = root / f".complete-{clips}"
    files, speakers = source.paths(), source.speakers
    out = []
    for c in range(math.ceil(clips / len(files))):
        for f in files:
            if len(out) == clips:
                break
            digit, spk, take = common.NAME.match(f.name).groups()
            speaker = 1 + c * len(speakers) + speakers.index(spk)
            dest = root / "data" / f"{speaker:02d}" / f"{digit}_{speaker:02d}_{take}.wav"
            out.append(dest)
            if marker.exists():
                continue
            y, sr = sf.read(f, dtype="float32")
            dest.parent.mkdir(parents=True, exist_ok=True)
            # a gain of its own per pass (1, 0.98, ... 0.52, then 0.5 x 0.98^k: never 0, never repeated)
            gain = 1 - 0.02 * c if c < 25 else 0.5 * 0.98 ** (c - 25)
            sf.write(dest, soxr.resample(y, sr, 48000) * gain, 48000, subtype="PCM_16")
    marker.touch()
    return out


def naive_clip(f: Path) -> np.ndarray:
    import librosa

    y, _ = librosa.load(f, sr=22050)
    excess = len(y) - 17640
    y = y[excess // 2 : excess // 2 + 17640] if excess > 0 else np.pad(y, (0, -excess))
    db = librosa.amplitude_to_db(np.abs(librosa.stft(y, n_fft=512, hop_length=256)), ref=np.max)
    return (db - db.min()) / max(float(db.max() - db.min()), 1e-12)


def naive(files: list[Path]) -> float:
    naive_clip(files[0])  # untimed: librosa's first call loads its modules and compiles (seconds)
    t0 = time.perf_counter()
    specs = [naive_clip(f) for f in files]
    del specs
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
    common.add_arguments(ap, "preprocess")
    ap.add_argument("--clips", type=int, default=6000, help="corpus size (30000 = full AudioMNIST size)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--corpus", type=Path, default=Path(tempfile.gettempdir()) / "vaeaudio-bench-corpus",
                    help="where the built corpus is cached")
    args = ap.parse_args()
    if args.clips < 1 or args.workers < 1:
        ap.error("--clips and --workers must be at least 1")
    source = common.recordings(args.fsdd)
    out = common.Report("preprocess", args, source)
    print(f"source: {source.describe()}")
    # one cached corpus per source folder and size
    corpus = args.corpus / f"{hashlib.sha256(str(source.root).encode()).hexdigest()[:8]}-{args.clips}"
    t0 = time.perf_counter()
    files = build_corpus(corpus, source, args.clips)
    print(f"corpus: {len(files)} 48 kHz clips in {corpus} ({time.perf_counter() - t0:.1f} s to build/check)")
    # warm the page cache for both contenders alike
    for f in files:
        f.read_bytes()
    t_naive = naive(files)
    from vaeaudio.util.errors import VaeAudioError

    try:
        t_vae, kept = vae(corpus, args.workers)
    except VaeAudioError as exc:  # e.g. too few clips to split: one line, not a traceback
        out.skip("preprocess", f"vaeaudio preprocess failed on {len(files)} clips: {exc.line()}")
        raise SystemExit(1) from None
    n = len(files)
    print(f"naive librosa loop : {t_naive:7.2f} s  {n / t_naive:8.0f} clips/s (1 process, no files written)")
    print(f"vaeaudio preprocess: {t_vae:7.2f} s  {n / t_vae:8.0f} clips/s ({args.workers} workers, "
          f"{kept} clips kept and written to shards)")
    print(f"ratio vaeaudio / naive: {t_naive / t_vae:.2f}x (target >= 1.7x with 2 workers)")
    out.add("preprocess", {"clips": n, "naive_s": t_naive, "naive_clips_s": n / t_naive, "vaeaudio_s": t_vae,
                           "vaeaudio_clips_s": n / t_vae, "workers": args.workers, "kept": kept,
                           "ratio": t_naive / t_vae})
    out.finish()


if __name__ == "__main__":
    sys.exit(main())
