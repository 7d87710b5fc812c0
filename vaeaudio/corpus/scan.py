"""Find the recordings of a corpus: walk the source tree, parse `{digit}_{speaker}_{take}.wav` names, probe each file.

`scan` lists every file (following symlinked folders, reporting cycles,
unlistable folders and dangling links instead of skipping them), `parse_name`
turns a digit layout's path into a `Recording` or the reason it is not one (the
other layouts: `vaeaudio.corpus.layouts`), and `probe` (run in worker processes by
`vaeaudio.corpus.preprocess`) reads, hashes and decodes files, returning a drop kind
and reason for each one that cannot be used.
"""

from __future__ import annotations

import hashlib
import io
import math
import os
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from vaeaudio.sound import dsp
from vaeaudio.util.files import regular

#: Recordings longer than this (s, by their header) are dropped before they are read: a spoken digit lasts about
#: a second, and decoding takes 4-8 bytes of memory per byte of a 16-bit file (a 600 MB WAV took 3 GB).
MAX_SECONDS = 60.0

#: AudioMNIST's speaker metadata file (a JSON object keyed by speaker id), in its `data/` folder.
META_FILE = "audioMNIST_meta.txt"

#: Recording file names: digit, speaker id, take number.
#: Speaker ids are letters (any script: `josé`, `Влад` are ids, compared in Unicode NFC form), digits and hyphens.
NAME_RE = re.compile(r"^(?P<digit>[0-9])_(?P<speaker>(?:[^\W_]|-)+)_(?P<take>[0-9]+)\.wav$", re.IGNORECASE)

@dataclass(frozen=True)
class Recording:
    """A recording of the corpus: path relative to the source root, its class (an index into the set's classes; the
    digit itself in a digit layout), speaker id ('' where the layout has none) and take number."""

    path: str
    label: int
    speaker: str
    take: int


def parse_name(rel_path: str) -> Recording | str:
    """Parse `.../{digit}_{speaker}_{take}.wav`; return a `Recording` or the reason it is not one.

    When the parent folder and the speaker in the name are both numbers (AudioMNIST's
    `data/NN/d_NN_t.wav`) they must agree.
    """
    parts = rel_path.split("/")
    m = NAME_RE.match(unicodedata.normalize("NFC", parts[-1]))
    if not m:
        return ("name does not match {digit}_{speaker}_{take}.wav (the speaker id may hold letters of any "
                "script, digits and hyphens, but no spaces, dots or underscores)")
    speaker = m["speaker"]
    folder = parts[-2] if len(parts) > 1 else ""
    if folder.isdigit() and speaker.isdigit() and int(folder) != int(speaker):
        return f"speaker {speaker} in the name disagrees with folder {folder}"
    return Recording(rel_path, int(m["digit"]), speaker, int(m["take"]))


def probe(args: tuple[str, list[str], float, int]) -> list[tuple[str, int, int, str | None, str | None]]:
    """Worker: for each file, (sha256, resampled length in samples, channels, drop kind or None, reason or None).

    `args` = (source root, relative paths, silence floor in dBFS, target rate in Hz).
    A file that cannot be read (permissions, vanished, a dangling link) is a reason too.
    """
    root, paths, silence_dbfs, target_sr = args
    floor = 10.0 ** (silence_dbfs / 20.0)
    out = []
    for rel in paths:
        try:
            seconds = dsp.seconds_of(Path(root, rel))
            if seconds is not None and seconds > MAX_SECONDS:
                out.append(("", 0, 0, "length", f"{seconds:,.0f} s long: longer than {MAX_SECONDS:g} s (by its header; "
                                             "not decoded)"))
                continue
            data = regular(Path(root, rel)).read_bytes()
        except OSError as exc:
            out.append(("", 0, 0, "unreadable", unreadable_reason(Path(root, rel), exc)))
            continue
        digest = hashlib.sha256(data).hexdigest()
        if not data:
            out.append((digest, 0, 0, "empty", "empty file"))
            continue
        try:
            y, sr = dsp.decode(data)
        except Exception as exc:  # noqa: BLE001 - any decoder failure is a reason, not a crash
            out.append((digest, 0, 0, "unreadable", f"unreadable audio: {str(exc).splitlines()[0][:120]}"))
            continue
        channels = sf.info(io.BytesIO(data)).channels
        if y.size == 0:
            out.append((digest, 0, channels, "empty", "no audio samples"))
        elif not np.isfinite(y).all():
            out.append((digest, 0, channels, "nan", "contains NaN or Inf samples"))
        elif (peak := float(np.abs(y).max())) < floor:
            level = 20 * math.log10(peak) if peak > 0 else float("-inf")
            out.append((digest, 0, channels, "silent", f"silent (peak {level:.1f} dBFS)"))
        else:
            out.append((digest, dsp.resampled_length(len(y), sr, target_sr), channels, None, None))
    return out


def unreadable_reason(path: Path, exc: OSError) -> str:
    """Why the file or folder `path` could not be read, for the manifest's `dropped` list (never raises: a link
    into a folder that cannot be searched is a reason too)."""
    if isinstance(exc, FileNotFoundError):
        try:
            return f"dangling symlink to {os.readlink(path)}"
        except OSError:
            return "vanished while preprocess was running"
    return f"cannot be read: {exc.strerror or exc}"


def scan(src: Path, exclude: Path | None = None) -> tuple[list[str], str, list[dict]]:
    """All files under `src` (relative POSIX paths, sorted), a fingerprint of the tree, and what could not be scanned.

    Symlinked folders are followed; a folder reached a second time (a symlink
    cycle, or two links to one folder) is scanned once and the other path
    reported. Hidden folders and files (`.git`, download's `.vaeaudio-download.json`,
macOS's `._*`, ...) and `exclude` (the output folder,
    when it lies inside `src`) are skipped. The fingerprint hashes each path,
    size, mtime and ctime. Folders that cannot be listed and dangling symlinks come back
    as `dropped` entries ({path, kind, reason}), never silently skipped.
    """
    files, problems = [], []
    h = hashlib.sha256()
    excluded = exclude.resolve() if exclude is not None else None

    def rel_of(p: Path) -> str:
        return p.relative_to(src).as_posix()

    def unlistable(exc: OSError) -> None:
        where = Path(exc.filename)
        problems.append({"path": rel_of(where) + "/", "kind": "unreadable",
                         "reason": "folder " + unreadable_reason(where, exc)})

    root_st = os.stat(src)
    visited = {(root_st.st_dev, root_st.st_ino): "."}
    for dirpath, dirnames, filenames in os.walk(src, onerror=unlistable, followlinks=True):
        keep = []
        for d in sorted(dirnames):
            full = Path(dirpath, d)
            if d.startswith(".") or full.resolve() == excluded:
                continue
            try:
                st = full.stat()
            except OSError as exc:
                problems.append({"path": rel_of(full) + "/", "kind": "unreadable",
                                 "reason": "folder " + unreadable_reason(full, exc)})
                continue
            key = (st.st_dev, st.st_ino)
            if key in visited:
                problems.append({"path": rel_of(full) + "/", "kind": "symlink-loop",
                                 "reason": f"the same folder as {visited[key]}/, scanned once "
                                           "(symlink cycle or second link)"})
                continue
            visited[key] = rel_of(full)
            keep.append(d)
        dirnames[:] = keep
        for name in filenames:
            if name.startswith("."):  # hidden: download's marker, locks, macOS's ._ twins; not recordings
                continue
            full = Path(dirpath, name)
            try:
                st = full.stat()
            except OSError as exc:  # a dangling symlink, or a file removed since the folder was listed
                problems.append({"path": rel_of(full), "kind": "unreadable", "reason": unreadable_reason(full, exc)})
                continue
            files.append((rel_of(full), st.st_size, st.st_mtime_ns, st.st_ctime_ns))
    files.sort()
    for rel, size, mtime, ctime in files:  # ctime: a rewrite that keeps the size and restores the mtime changes it
        h.update(f"{rel}\0{size}\0{mtime}\0{ctime}\n".encode())
    for p in sorted(problems, key=lambda d: d["path"]):
        h.update(f"{p['path']}\0{p['reason']}\n".encode())
    return [f[0] for f in files], h.hexdigest(), problems
