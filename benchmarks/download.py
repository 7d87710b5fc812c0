"""Benchmark: `vaeaudio.corpus.download.download` against a plain download + `ZipFile.extractall`.

Builds (once, cached in the system temp folder) an AudioMNIST-shaped zip:
`--speakers` (60) x 10 digits x 50 takes = 30,000 WAVs of `--samples` 16-bit samples
each, plus the meta file and a README (no recordings needed). Serves it from 127.0.0.1 and times, best
of `--repeat` alternating runs each (trees deleted and `sync` between runs, not
timed), into `--work` (default /dev/shm, a RAM disk: on a shared disk the
time to create 30,000 files swings several-fold from run to run):

- end to end: `download()` (stream + sha256 + scan + safe extraction + rename)
  vs `requests` streamed to a file then `zipfile.ZipFile(f).extractall(dir)`;
- extraction alone: `download()` with `--url` the local archive path (sha256 of
  the file + scan + safe extraction) vs `extractall` of the same file.

Ratio = plain time / vaeaudio time (1.0 = as fast; target >= 0.8).

Usage: python benchmarks/download.py [--samples 2000] [--speakers 60] [--repeat 3] [--work DIR] [--json OUT]
"""

from __future__ import annotations

import argparse
import functools
import io
import os
import shutil
import sys
import tempfile
import threading
import time
import wave
import zipfile
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests

from vaeaudio.corpus.download import download
from vaeaudio.settings import DownloadSettings
from vaeaudio.util import progress

sys.path.insert(0, str(Path(__file__).resolve().parent))  # common.py, whatever the working folder
import common  # noqa: E402


def build(samples: int, speakers: int = 60) -> Path:
    """The cached benchmark archive of `speakers` speakers' WAVs of `samples` samples."""
    cache = Path(tempfile.gettempdir()) / "vaeaudio-bench"
    cache.mkdir(exist_ok=True)
    path = cache / (f"audiomnist-{samples}.zip" if speakers == 60 else f"audiomnist-{samples}-{speakers}.zip")
    if path.exists():
        return path
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(48000)
        w.writeframes(bytes((i * 37) % 251 for i in range(2 * samples)))
    wav = buf.getvalue()
    tmp = path.with_suffix(".tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        zf.writestr("AudioMNIST-master/README.md", b"# AudioMNIST\n")
        zf.writestr("AudioMNIST-master/data/audioMNIST_meta.txt", b'{"01": {}}')
        for s in range(1, speakers + 1):
            for d in range(10):
                for t in range(50):
                    zf.writestr(f"AudioMNIST-master/data/{s:02d}/{d}_{s:02d}_{t}.wav", wav)
    tmp.rename(path)
    return path


def plain(url: str, work: Path) -> None:
    archive = work / "plain.zip"
    with requests.get(url, stream=True, timeout=60) as r, open(archive, "wb") as f:
        r.raise_for_status()
        for chunk in r.iter_content(1 << 20):
            f.write(chunk)
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(work / "plain")
    archive.unlink()


def timed(fn, work: Path) -> float:
    """Seconds `fn` takes, from an empty `work` with dirty pages written back first."""
    for p in work.iterdir():
        shutil.rmtree(p) if p.is_dir() else p.unlink()
    os.sync()
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def best_pair(ours, theirs, work: Path, repeat: int) -> tuple[float, float]:
    """Best of `repeat` runs each, alternating (so neither side inherits the other's writeback)."""
    a, b = [], []
    for i in range(repeat):
        for fn, out in ([(ours, a), (theirs, b)] if i % 2 == 0 else [(theirs, b), (ours, a)]):
            out.append(timed(fn, work))
    return min(a), min(b)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=2000, help="16-bit samples per WAV (2000 = 4 KB)")
    ap.add_argument("--speakers", type=int, default=60, help="speakers of 500 WAVs each (60 = AudioMNIST)")
    ap.add_argument("--repeat", type=int, default=3, help="runs per measurement; the best is kept")
    ap.add_argument("--work", type=Path, default=Path("/dev/shm") if Path("/dev/shm").is_dir() else None,
                    help="folder for the extracted trees (default /dev/shm: a RAM disk, so disk noise does "
                         "not swamp the CPU cost being compared; give a disk folder to include it)")
    common.add_arguments(ap, "download", fsdd=False)
    args = ap.parse_args()
    if args.samples < 1 or args.repeat < 1 or not 1 <= args.speakers <= 99:
        ap.error("--samples and --repeat must be at least 1, --speakers 1 to 99")
    out = common.Report("download", args)
    progress.configure(quiet=True)
    archive = build(args.samples, args.speakers)
    with zipfile.ZipFile(archive) as zf:
        infos = [i for i in zf.infolist() if i.filename.endswith((".wav", ".txt"))]
    files, nbytes = len(infos), sum(i.file_size for i in infos)

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=str(archive.parent))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{httpd.server_address[1]}/{archive.name}"

    with tempfile.TemporaryDirectory(prefix="vaeaudio-bench-", dir=args.work) as d:
        work = Path(d)
        rows = []
        for label, ours, theirs in [
            ("download + extract", lambda: download(DownloadSettings(dest=work / "ours", url=url)),
             lambda: plain(url, work)),
            ("extract (local archive)", lambda: download(DownloadSettings(dest=work / "ours", url=str(archive))),
             lambda: zipfile.ZipFile(archive).extractall(work / "plain")),
        ]:
            t_ours, t_plain = best_pair(ours, theirs, work, args.repeat)
            rows.append((label, t_ours, t_plain))
    httpd.shutdown()

    print(f"archive: {archive} ({archive.stat().st_size / 1e6:.1f} MB, {files:,} files, {nbytes / 1e6:.1f} MB "
          f"extracted); best of {args.repeat}, trees written under {work.parent}")
    print(f"{'':26}{'vaeaudio':>24}{'plain extractall':>28}{'ratio':>8}")
    for label, t_ours, t_plain in rows:
        def fmt(t):
            return f"{t:5.2f} s {files / t:7,.0f} f/s {nbytes / t / 1e6:5.1f} MB/s"
        print(f"{label:26}{fmt(t_ours):>24}  {fmt(t_plain):>26}{t_plain / t_ours:8.2f}")
    print("ratio = plain time / vaeaudio time (target >= 0.8)")
    out.add("archive", {"mb": archive.stat().st_size / 1e6, "files": files, "extracted_mb": nbytes / 1e6,
                        "best_of": args.repeat, "work": work.parent})
    for label, t_ours, t_plain in rows:
        out.add(label, {"vaeaudio_s": t_ours, "vaeaudio_files_s": files / t_ours,
                        "vaeaudio_mb_s": nbytes / t_ours / 1e6, "plain_s": t_plain, "plain_files_s": files / t_plain,
                        "plain_mb_s": nbytes / t_plain / 1e6, "ratio": t_plain / t_ours})
    out.finish()


if __name__ == "__main__":
    main()
