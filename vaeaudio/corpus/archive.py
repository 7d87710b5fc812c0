"""Safe archive extraction for `vaeaudio download`: check every entry, then copy only the corpus.

`extract_into(archive, ext, folder, limit)` scans a zip or tar archive entry by
entry before writing anything and raises `Refused` (naming the entry) for:
an absolute path or a `..` component, a symlink, hard link, device, fifo or
socket, an encrypted or duplicated entry, more than `MAX_ENTRIES` entries, a
declared uncompressed total above `limit` bytes, or an entry (>= `RATIO_MIN_BYTES`)
or whole archive expanding more than `MAX_RATIO` times (zip bomb). Tar members
also pass `tarfile.data_filter`. Then only `data/NN/*.wav` and
`data/audioMNIST_meta.txt` (at the top or under one top folder) are copied,
each limited to its declared size.
"""

from __future__ import annotations

import lzma
import os
import re
import stat
import tarfile
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from vaeaudio.corpus.scan import META_FILE
from vaeaudio.util import progress

#: Bytes per read and per copy buffer.
CHUNK_BYTES = 1 << 20
#: Largest expansion (uncompressed / compressed) accepted for an entry or the whole archive.
MAX_RATIO = 200
#: Entries (and archives) smaller than this, uncompressed, are exempt from the ratio check.
RATIO_MIN_BYTES = 1 << 20
#: Most entries an archive may hold.
MAX_ENTRIES = 1_000_000
#: Speaker folders of AudioMNIST (`data/01` .. `data/60`).
SPEAKER_DIR = re.compile(r"^\d{2}$")


class Refused(Exception):
    """The archive is unsafe or unusable (the message names the entry)."""


def extension(path: Path) -> str:
    with open(path, "rb") as f:
        head = f.read(262)
    if zipfile.is_zipfile(path):
        return ".zip"
    for magic, ext in ((b"\x1f\x8b", ".tar.gz"), (b"BZh", ".tar.bz2"), (b"\xfd7zXZ\x00", ".tar.xz")):
        if head.startswith(magic):
            return ext
    return ".tar" if head[257:262] == b"ustar" else ".bin"


def _target(name: str) -> tuple[str, str | None]:
    """Check an entry name; return (prefix, path under dest) for entries we extract, else (prefix, None)."""
    if "\x00" in name:
        raise Refused(f"entry {name!r} has a NUL byte in its name")
    norm = name.replace("\\", "/")
    if norm.startswith("/") or re.match(r"^[A-Za-z]:", norm):
        raise Refused(f"entry {name!r} has an absolute path")
    parts = [p for p in norm.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise Refused(f"entry {name!r} points outside the archive (..)")
    for i in (0, 1):  # data/... at the top, or under one top folder
        rel = parts[i:]
        if len(parts) > i and rel[0] == "data":
            if rel == ["data", META_FILE] or (len(rel) == 3 and SPEAKER_DIR.match(rel[1]) and rel[2].endswith(".wav")):
                return "/".join(parts[:i]), "/".join(rel)
    return "", None


def _plan_zip(zf: zipfile.ZipFile, archive_size: int, limit: int) -> list[tuple]:
    """Check every entry; return (entry, prefix, path under dest, size) for those to extract."""
    infos = zf.infolist()
    if len(infos) > MAX_ENTRIES:
        raise Refused(f"{len(infos):,} entries (more than {MAX_ENTRIES:,})")
    total, plan = 0, []
    for info in infos:
        mode = info.external_attr >> 16
        kind = stat.S_IFMT(mode)
        if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
            raise Refused(f"entry {info.filename!r} is a {_kind_name(kind)}")
        if info.flag_bits & 0x1:
            raise Refused(f"entry {info.filename!r} is encrypted")
        total += info.file_size
        if total > limit:
            raise Refused(f"entries declare more than {limit:,} bytes uncompressed (--max-extract-bytes)")
        if info.file_size >= RATIO_MIN_BYTES and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            raise Refused(f"entry {info.filename!r} expands "
                          f"{info.file_size / max(info.compress_size, 1):,.0f} times (zip bomb?)")
        prefix, rel = _target(info.filename)
        if rel is not None and not info.is_dir():
            plan.append((info, prefix, rel, info.file_size))
    if total >= RATIO_MIN_BYTES and total > MAX_RATIO * max(archive_size, 1):
        raise Refused(f"entries expand {total / archive_size:,.0f} times the archive size (zip bomb?)")
    return plan


def _plan_tar(tf: tarfile.TarFile, archive_size: int, limit: int, tmp: Path) -> list[tuple]:
    """As `_plan_zip`, for a tar archive (also passes `tarfile.data_filter` where available)."""
    total, count, plan = 0, 0, []
    for m in tf:  # lazy: stops early on a bomb
        count += 1
        if count > MAX_ENTRIES:
            raise Refused(f"more than {MAX_ENTRIES:,} entries")
        if m.issym() or m.islnk():
            raise Refused(f"entry {m.name!r} is a {'symbolic' if m.issym() else 'hard'} link")
        if not (m.isfile() or m.isdir()):
            raise Refused(f"entry {m.name!r} is a device, fifo or other special file")
        total += m.size
        if total > limit:
            raise Refused(f"entries declare more than {limit:,} bytes uncompressed (--max-extract-bytes)")
        prefix, rel = _target(m.name)
        if hasattr(tarfile, "data_filter"):
            try:
                tarfile.data_filter(m, str(tmp))
            except tarfile.FilterError as exc:
                raise Refused(f"entry {m.name!r}: {exc}") from None
        if rel is not None and m.isfile():
            plan.append((m, prefix, rel, m.size))
    if total >= RATIO_MIN_BYTES and total > MAX_RATIO * max(archive_size, 1):
        raise Refused(f"entries expand {total / archive_size:,.0f} times the archive size (tar bomb?)")
    return plan


def _kind_name(kind: int) -> str:
    return {stat.S_IFLNK: "symbolic link", stat.S_IFCHR: "character device", stat.S_IFBLK: "block device",
            stat.S_IFIFO: "fifo", stat.S_IFSOCK: "socket"}.get(kind, f"special file (mode {kind:o})")


def _check_plan(plan) -> tuple[int, int, int, int]:
    if not any(rel.endswith(".wav") for _, _, rel, _ in plan):
        raise Refused("it holds no data/NN/*.wav recordings (is it AudioMNIST?)")
    prefixes = {p for _, p, _, _ in plan}
    if len(prefixes) > 1:
        raise Refused(f"it holds more than one data/ folder ({', '.join(sorted(prefixes)[:3])})")
    seen: set[str] = set()
    for _, _, rel, _ in plan:
        key = rel.casefold()
        if key in seen:
            raise Refused(f"entry {rel!r} appears twice")
        seen.add(key)
    recordings = sum(1 for _, _, rel, _ in plan if rel.endswith(".wav"))
    speakers = len({rel.split("/")[1] for _, _, rel, _ in plan if rel.endswith(".wav")})
    return len(plan), recordings, speakers, sum(s for *_, s in plan)


def _copy(src, dst, size: int, name: str) -> None:
    """Copy exactly `size` bytes; an entry longer or shorter than declared is refused."""
    left = size
    while buf := src.read(min(CHUNK_BYTES, left + 1)):
        left -= len(buf)
        if left < 0:
            raise Refused(f"entry {name!r} is larger than it declares")
        dst.write(buf)
    if left:
        raise Refused(f"entry {name!r} is shorter than it declares")


def _write(plan, tmp: Path, open_entry) -> None:
    """Copy each planned entry to `tmp/rel`, with a progress bar over files."""
    for d in sorted({str(PurePosixPath(rel).parent) for _, _, rel, _ in plan}):
        (tmp / d).mkdir(parents=True, exist_ok=True)
    base = os.path.join(tmp, "")  # plain strings: pathlib's per-file overhead adds up over 30,000 small files
    with progress.bar(len(plan), "extract", unit="files") as bar:
        for entry, _, rel, size in plan:
            with open_entry(entry) as src, open(base + rel, "wb") as dst:
                _copy(src, dst, size, rel)
            bar.advance(1)


def extract_into(archive: Path, ext: str, folder: Path, limit: int) -> tuple[int, int, int, int]:
    """Check every entry of `archive`, then copy the corpus into `folder`.

    Returns (files, recordings, speakers, bytes). Raises `Refused` for an unsafe,
    damaged or foreign archive (nothing useful written), `OSError` for disk errors.
    """
    size = archive.stat().st_size
    try:
        if ext == ".zip":
            with zipfile.ZipFile(archive) as zf:
                plan = _plan_zip(zf, size, limit)
                counts = _check_plan(plan)
                _write(plan, folder, zf.open)
        elif tarfile.is_tarfile(archive):
            with tarfile.open(archive, "r:*") as tf:
                plan = _plan_tar(tf, size, limit, folder)
                counts = _check_plan(plan)
                _write(plan, folder, tf.extractfile)
        else:
            with open(archive, "rb") as f:
                head = f.read(16)
            raise Refused(f"it is neither a zip nor a tar archive (starts with {head!r})")
    except (zipfile.BadZipFile, tarfile.TarError, zlib.error, lzma.LZMAError, EOFError,
            NotImplementedError, RuntimeError) as exc:
        raise Refused(f"the archive is damaged ({type(exc).__name__}: {exc})") from None
    except OSError as exc:
        if exc.errno is None:  # gzip/bz2 report bad data as OSError without errno
            raise Refused(f"the archive is damaged ({type(exc).__name__}: {exc})") from None
        raise
    return counts
