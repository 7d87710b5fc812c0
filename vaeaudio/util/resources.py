"""Memory and disk budgets: how many clips to handle at once, whether a training split fits in memory, and whether
the output fits on disk.

Generation (`vaeaudio.listening.synth`, `vaeaudio.judging.generation`) decodes, renders and
writes clips a chunk at a time, so any accepted request runs at a flat peak
memory: a chunk takes at most a quarter of the memory available when it starts
(`MemAvailable` in /proc/meminfo), between `MIN_CHUNK` and `MAX_CHUNK` clips.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path

from vaeaudio.util.errors import UsageError

#: Fewest and most clips handled at once (512 default-size clips take about 435 MB while rendered).
MIN_CHUNK, MAX_CHUNK = 16, 512
#: Share of the available memory one chunk may take.
MEMORY_SHARE = 0.25
#: Share of the available memory `train` lets a train split take by default (a larger one is streamed from its
#: shards, `vaeaudio.training.batches`); the model, its optimizer and TensorFlow need the rest.
SPLIT_SHARE = 0.5


def available_memory() -> int:
    """Bytes of memory available to a new allocation: `MemAvailable`, else free pages, else 1 GiB."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, AttributeError):
        return 1 << 30


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity mask where the OS has one, else the machine's)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


def _busy_cpu_seconds() -> float | None:
    """CPU seconds every CPU of this machine has spent on anything but idling since boot (steal included: a
    virtual machine's neighbours take it), from /proc/stat; None where it cannot be read."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            ticks = [int(v) for v in f.readline().split()[1:]]
        return (sum(ticks[:8]) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")  # less idle and iowait
    except (OSError, ValueError, IndexError, AttributeError):
        return None


def busy_elsewhere(fn):
    """(fn(), the share of this machine's CPU time (0-1) that other processes used while it ran, from /proc/stat
    less this process's own CPU time; None where that cannot be read (not Linux) or `fn` took under a second (the
    counters tick every 10 ms: a shorter call's share would be mostly rounding)."""
    busy0, own0, t0 = _busy_cpu_seconds(), os.times(), time.perf_counter()
    out = fn()
    busy1, own1, wall = _busy_cpu_seconds(), os.times(), time.perf_counter() - t0
    if busy0 is None or busy1 is None or wall < 1.0:
        return out, None
    own = (own1.user + own1.system) - (own0.user + own0.system)
    return out, min(1.0, max(0.0, (busy1 - busy0 - own) / (wall * (os.cpu_count() or 1))))


def process_context():
    """The multiprocessing context of worker pools: fork where it is cheap and safe (Linux, before TensorFlow
    started its threads; it needs no `if __name__ == "__main__"` guard in user scripts), else spawn."""
    from multiprocessing import get_context

    return get_context("fork" if sys.platform == "linux" and "tensorflow" not in sys.modules else "spawn")


def render_bytes_per_clip(bins: int, frames: int, clip_samples: int) -> int:
    """Peak bytes one clip takes from decoding to WAV: about 8 float32 copies of its spectrogram (decoder output,
    sharpened, dB, magnitude, transposed, complex phase) and 4 of its waveform (0.85 MB at the default size)."""
    return 4 * (8 * bins * frames + 4 * clip_samples)


def chunk_clips(bytes_per_clip: int) -> int:
    """How many clips to handle at once, from the memory available now (see the module docstring)."""
    fit = int(available_memory() * MEMORY_SHARE) // max(1, bytes_per_clip)
    return max(MIN_CHUNK, min(MAX_CHUNK, fit))


def human_bytes(n: float) -> str:
    """A size in bytes as people read it, never rounded to 0: '512 B', '35.3 KB', '1.20 GB'."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if n >= scale:
            v = n / scale
            return f"{v:,.0f} {unit}" if v >= 100 else f"{v:.3g} {unit}"
    return f"{n:,.0f} B"


def require_disk(folder: Path, needed: int, what: str) -> None:
    """`UsageError` unless the file system of `folder` (or its nearest existing parent) has `needed` bytes free."""
    where = Path(folder).absolute()
    while not where.exists() and where != where.parent:
        where = where.parent
    free = shutil.disk_usage(where).free
    if needed > free:
        raise UsageError(f"{what} need {human_bytes(needed)} but {where} has {human_bytes(free)} free",
                         "ask for fewer clips or choose a folder on a larger disk")
