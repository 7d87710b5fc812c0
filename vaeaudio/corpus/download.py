"""Fetch, verify and safely extract AudioMNIST: `download(settings) -> DownloadResult`.

Steps, each of which either completes or leaves `dest` untouched:

1. `dest` check: a folder holding our marker (`DEST/.vaeaudio-download.json`:
   archive sha256, file count, url) whose files are all there makes the call a
   no-op (no network). A missing or empty `dest` is filled; anything else
   (a file, a foreign or damaged folder) is refused with a hint, never deleted.
2. Fetch (`--url` http(s), or a local path read in place; `vaeaudio.corpus.fetch`): streamed with
   `requests` in `CHUNK_BYTES` pieces to `DEST.download.part` beside `dest`,
   hashed (SHA-256) on the fly. A broken transfer is resumed with an HTTP Range
   request (`If-Range` guards against a changed file) when the server answers
   206, and restarted from byte 0 when it answers 200 (servers that ignore
   Range, such as Python's http.server); the same command run again resumes too.
3. Verify: with `--sha256`, a mismatch sets the archive aside as
   `DEST.rejected-<sha12>.<ext>` and fails.
4. Scan every entry before writing anything (archive type from its content,
   zip or tar[.gz|.bz2|.xz]). The whole archive is refused if any entry has an
   absolute path, a `..` component, is a symlink, hard link, device, fifo or
   socket, if the declared uncompressed total exceeds `max_extract_bytes`, or
   if an entry (>= `RATIO_MIN_BYTES`) or the whole archive expands more than
   `MAX_RATIO` times (zip bomb). Tar members also pass `tarfile.data_filter`.
5. Extract only `data/NN/*.wav` and `data/audioMNIST_meta.txt` (under any one
   top folder) into a hidden temporary folder beside `dest`, copying at most
   each entry's declared size, then write the marker and rename the folder to
   `dest` in one step. Failure removes the temporary folder.

Sizes are in bytes, times in seconds. Nothing is printed except through
`vaeaudio.util.progress`; failures raise `DownloadError` with one line and a hint.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

from vaeaudio.corpus import fetch
from vaeaudio.corpus.archive import SPEAKER_DIR, Refused, extension, extract_into
from vaeaudio.corpus.scan import META_FILE
from vaeaudio.settings import DownloadSettings
from vaeaudio.util import locks, progress
from vaeaudio.util.clock import timestamp
from vaeaudio.util.errors import DownloadError

#: Marker written into `dest` after a complete extraction (JSON).
MARKER = ".vaeaudio-download.json"
MARKER_FORMAT = "vaeaudio-download/1"
#: Sentinel inside a temporary extraction folder: proves it is ours (stale ones are removed).
SENTINEL = ".vaeaudio-extracting"



@dataclass
class DownloadResult:
    """What `download` did; `summary()` is what the CLI prints."""

    dest: Path
    url: str
    archive_sha256: str
    files: int  #: files in dest/data (recordings + meta)
    recordings: int  #: .wav files
    speakers: int  #: speaker folders
    bytes: int  #: uncompressed bytes extracted
    seconds: float
    already_complete: bool  #: True when dest was already complete and nothing was done
    downloaded_bytes: int = 0  #: bytes fetched over the network in this call
    archive_kept: Path | None = None

    def summary(self) -> str:
        """A few lines: files, speakers, size, time, archive sha256, no-op or not."""
        state = "already complete in" if self.already_complete else "extracted into"
        lines = [
            f"AudioMNIST {state} {self.dest}" + (" (nothing to do)" if self.already_complete else ""),
            f"  files     {self.files:,} ({self.recordings:,} recordings, {self.speakers} speakers)",
            f"  size      {self.bytes / 1e6:,.1f} MB",
            f"  time      {self.seconds:.1f} s"
            + (f" (downloaded {self.downloaded_bytes / 1e6:,.1f} MB)" if self.downloaded_bytes else ""),
            f"  sha256    {self.archive_sha256}",
        ]
        if self.archive_kept:
            lines.append(f"  archive   {self.archive_kept}")
        return "\n".join(lines)


def download(settings: DownloadSettings) -> DownloadResult:
    """Fetch, verify and extract the archive at `settings.url` into `settings.dest` (see module doc)."""
    start = time.perf_counter()
    dest = Path(settings.dest)
    want = settings.sha256.lower() if settings.sha256 else None
    marker = _existing(dest, want)
    if marker is not None:
        return DownloadResult(dest, marker.get("url", ""), marker["archive_sha256"], marker["files"],
                              marker["recordings"], marker["speakers"], marker["bytes"],
                              time.perf_counter() - start, already_complete=True)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DownloadError(f"cannot create {dest.parent}: {exc.strerror}", "choose another --dest") from None
    with locks.hold(dest, "download destination", dest.parent / f".{dest.name}.lock"):
        marker = _existing(dest, want)  # another download may have finished while this one waited
        if marker is not None:
            return DownloadResult(dest, marker.get("url", ""), marker["archive_sha256"], marker["files"],
                                  marker["recordings"], marker["speakers"], marker["bytes"],
                                  time.perf_counter() - start, already_complete=True)
        return _download(settings, dest, want, start)


def _download(settings: DownloadSettings, dest: Path, want: str | None, start: float) -> DownloadResult:
    """`download` with the lock of `dest` held."""
    _remove_stale(dest)

    local = _local_path(settings.url)
    if local is not None:
        if not local.is_file():
            what = "is not a file" if local.exists() else "does not exist"
            raise DownloadError(f"archive {local} {what}",
                                "give --url an http(s) URL or the path of a .zip/.tar.gz file")
        archive, sha, fetched = local, fetch.hash_file(local), 0
    else:
        archive = dest.parent / f"{dest.name}.download.part"
        sha, fetched = fetch.fetch(settings.url, archive, settings.timeout)
    where = settings.url if local is None else str(local)

    if want and sha != want:
        aside = _set_aside(archive, dest, sha) if local is None else None
        kept = f"archive kept as {aside}" if aside else "file left as is"
        raise DownloadError(f"archive from {where} has sha256 {sha}, expected {want}",
                            f"{kept}; check --url and --sha256")
    try:
        ext, counts = _extract(archive, dest, settings.max_extract_bytes, where, sha)
    except Refused as exc:
        aside = _set_aside(archive, dest, sha) if local is None else None
        kept = f"archive kept as {aside}; " if aside else ""
        raise DownloadError(f"refused archive from {where}: {exc}",
                            f"{kept}nothing was extracted; check --url") from None

    kept_as = None
    if local is None:
        if settings.keep_archive:
            kept_as = dest.parent / f"{dest.name}-{sha[:12]}{ext}"
            os.replace(archive, kept_as)
        else:
            archive.unlink()
        fetch.part_meta(archive).unlink(missing_ok=True)
    files, recordings, speakers, nbytes = counts
    return DownloadResult(dest, settings.url, sha, files, recordings, speakers, nbytes,
                          time.perf_counter() - start, already_complete=False,
                          downloaded_bytes=fetched, archive_kept=kept_as)


# -- dest -----------------------------------------------------------------------------


def _existing(dest: Path, want: str | None) -> dict | None:
    """The marker of a complete earlier download in `dest`, None when `dest` may be filled, else refuse."""
    if not dest.exists() and not dest.is_symlink():
        return None
    if not dest.is_dir():
        raise DownloadError(f"--dest {dest} exists and is not a folder", "choose another --dest")
    marker = dest / MARKER
    if not marker.is_file():
        if any(dest.iterdir()):
            raise DownloadError(f"--dest {dest} is not empty and was not written by `vaeaudio download` (no {MARKER})",
                                "move it away or choose another --dest; an existing copy can go straight to "
                                "`vaeaudio preprocess --src`")
        return None
    try:
        info = json.loads(marker.read_text())
        if info.get("format") != MARKER_FORMAT:
            raise ValueError("unknown format")
        missing = {"archive_sha256", "files", "recordings", "speakers", "bytes"} - set(info)
        if missing:
            raise ValueError(f"missing {', '.join(sorted(missing))}")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DownloadError(f"download marker {marker} is unreadable ({exc})",
                            f"delete {dest} (written by vaeaudio) and run again") from None
    if want and info["archive_sha256"] != want:
        raise DownloadError(f"{dest} already holds an extraction of archive sha256 {info['archive_sha256']}, "
                            "not the --sha256 given",
                            f"delete {dest} or choose another --dest to download again")
    found = sum(1 for _ in _our_files(dest))
    if found != info["files"]:
        raise DownloadError(f"{dest} no longer matches its download marker: "
                            f"{found} of {info['files']} extracted files found",
                            f"delete {dest} (written by vaeaudio) and run again")
    return info


def _our_files(root: Path):
    """Files under `root/data` that an extraction writes (recordings and meta)."""
    data = root / "data"
    if (data / META_FILE).is_file():
        yield data / META_FILE
    if not data.is_dir():
        return
    for sub in os.scandir(data):
        if sub.is_dir(follow_symlinks=False) and SPEAKER_DIR.match(sub.name):
            for f in os.scandir(sub.path):
                if f.name.endswith(".wav") and f.is_file(follow_symlinks=False):
                    yield Path(f.path)


def _remove_stale(dest: Path) -> None:
    """Remove temporary extraction folders of ours left by an interrupted run."""
    for tmp in dest.parent.glob(f".{dest.name}.extracting-*"):
        if tmp.is_dir() and not tmp.is_symlink() and (tmp / SENTINEL).is_file():
            progress.log(f"removing {tmp}, left by an interrupted extraction")
            shutil.rmtree(tmp, ignore_errors=True)


def _set_aside(archive: Path, dest: Path, sha: str) -> Path:
    aside = dest.parent / f"{dest.name}.rejected-{sha[:12]}{extension(archive)}"
    os.replace(archive, aside)
    fetch.part_meta(archive).unlink(missing_ok=True)
    return aside


# -- fetch ----------------------------------------------------------------------------


def _local_path(url: str) -> Path | None:
    """The path `url` names when it is not http(s); None for http(s) URLs."""
    parsed = urlparse(url)
    if parsed.scheme in ("http", "https"):
        return None
    if parsed.scheme == "file":
        return Path(unquote(parsed.path))
    if parsed.scheme and len(parsed.scheme) > 1:  # not a Windows drive letter
        raise DownloadError(f"--url {url}: unsupported scheme {parsed.scheme!r}", "give an http(s) URL or a local path")
    return Path(url).expanduser()


# -- scan and extract -----------------------------------------------------------------


def _extract(archive: Path, dest: Path, limit: int, where: str, sha: str) -> tuple[str, tuple[int, int, int, int]]:
    """Scan then extract `archive` into a temporary folder renamed to `dest`; return (extension, counts)."""
    ext = extension(archive)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.extracting-", dir=dest.parent))
    try:
        (tmp / SENTINEL).touch()
        try:
            counts = extract_into(archive, ext, tmp, limit)
        except OSError as exc:
            raise DownloadError(f"cannot write into {tmp}: {exc.strerror}",
                                "free some disk space or choose another --dest") from None
        marker = {"format": MARKER_FORMAT, "url": where, "archive_sha256": sha, "files": counts[0],
                  "recordings": counts[1], "speakers": counts[2], "bytes": counts[3],
                  "completed": timestamp()}
        (tmp / MARKER).write_text(json.dumps(marker, indent=1) + "\n")
        (tmp / SENTINEL).unlink()
        try:
            if dest.is_dir():
                dest.rmdir()  # empty, checked before; fails if something appeared meanwhile
            os.rename(tmp, dest)
        except OSError as exc:
            raise DownloadError(f"cannot move the extraction into {dest}: {exc.strerror}",
                                f"make sure {dest} is absent or empty and run again") from None
        return ext, counts
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


