"""HTTP(S) transfer of an archive, resumable: `fetch(url, part, timeout) -> (sha256 hex, bytes fetched now)`.

Streamed with `requests` in `CHUNK_BYTES` pieces into `part` (beside the destination), hashed on the fly. A broken
transfer is resumed with an HTTP Range request (`If-Range` guards against a changed file) when the server answers 206,
and restarted from byte 0 when it answers 200; `part.json` remembers the URL and validators, so the same command run
again resumes too. Sizes in bytes, timeouts in seconds; failures raise `DownloadError` with one line and a hint.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import requests
import urllib3

from vaeaudio.corpus.archive import CHUNK_BYTES
from vaeaudio.util import progress
from vaeaudio.util.errors import DownloadError

#: Automatic resumes of a transfer that broke off after making progress.
MAX_RESUMES = 20


def _hasher(path: Path, size: int):
    """A sha256 object fed with the first `size` bytes of `path`."""
    h = hashlib.sha256()
    with open(path, "rb") as f, progress.bar(size, f"sha256 {path.name}", unit="bytes") as bar:
        left = size
        while left > 0 and (buf := f.read(min(CHUNK_BYTES, left))):
            h.update(buf)
            left -= len(buf)
            bar.advance(len(buf))
    return h


def hash_file(path: Path) -> str:
    return _hasher(path, path.stat().st_size).hexdigest()


def part_meta(part: Path) -> Path:
    return part.with_name(part.name + ".json")


def _size(n: int) -> str:
    return f"{n / 1e6:,.1f} MB" if n >= 1e6 else f"{n:,} bytes"


def _why(exc: Exception) -> str:
    """A short reason from a requests exception (its text nests urllib3's)."""
    text = str(exc)
    if "IncompleteRead" in text or "Connection broken" in text:
        return "connection closed early"
    m = re.search(r"\[Errno -?\d+\] ([^'\")\]]+)", text)
    if m:
        return m.group(1).strip()
    if isinstance(exc, requests.Timeout) or "timed out" in text:
        return "timed out"
    return (text.splitlines() or [type(exc).__name__])[0][:200]


def _chunks(resp: requests.Response):
    """The body in pieces of at most `CHUNK_BYTES`, each yielded as soon as it arrives.

    urllib3 2's `read1` hands over what was received even when the connection
    then breaks (`iter_content` would drop up to a chunk of it), so a resume
    continues exactly where the bytes stopped.
    """
    read1 = getattr(resp.raw, "read1", None)
    if read1 is None:  # urllib3 1.x
        yield from resp.iter_content(CHUNK_BYTES)
        return
    while chunk := read1(CHUNK_BYTES, decode_content=True):
        yield chunk


def fetch(url: str, part: Path, timeout: float) -> tuple[str, int]:
    """Stream `url` into `part` (resuming it when possible); return (sha256 hex, bytes fetched now)."""
    meta_path = part_meta(part)
    fetched = resumes = 0
    session = requests.Session()
    while True:
        have, meta = 0, {}
        if part.is_file():
            try:
                meta = json.loads(meta_path.read_text())
            except (OSError, ValueError):
                meta = {}
            if meta.get("url") == url:
                have = part.stat().st_size
        headers = {"Accept-Encoding": "identity"}
        if have:
            headers["Range"] = f"bytes={have}-"
            if meta.get("etag") or meta.get("last_modified"):
                headers["If-Range"] = meta.get("etag") or meta["last_modified"]
        try:
            resp = session.get(url, stream=True, timeout=timeout, headers=headers)
        except requests.RequestException as exc:
            raise DownloadError(f"cannot fetch {url}: {_why(exc)}",
                                "check the network and --url (a mirror or a local archive path works too)") from None
        with resp:
            if resp.status_code == 416 and have:  # our part is not a prefix of what is there now
                part.unlink()
                continue
            if resp.status_code not in (200, 206):
                raise DownloadError(f"cannot fetch {url}: HTTP {resp.status_code} {resp.reason}".rstrip(),
                                    "check --url (a mirror or a local archive path works too)")
            offset = 0
            if resp.status_code == 206:
                m = re.match(r"bytes (\d+)-\d+/(\d+|\*)", resp.headers.get("Content-Range", ""))
                if not m or int(m.group(1)) != have:
                    part.unlink()
                    continue
                offset = have
                total = int(m.group(2)) if m.group(2) != "*" else None
                h = _hasher(part, have)
                progress.log(f"resuming {url} at {_size(have)}")
            else:
                if have:
                    progress.log("the server does not resume transfers; downloading again from the start")
                length = resp.headers.get("Content-Length")
                total = int(length) if length and length.isdigit() else None
                h = hashlib.sha256()
            meta = {"url": url, "etag": resp.headers.get("ETag"), "last_modified": resp.headers.get("Last-Modified")}
            meta_path.write_text(json.dumps(meta))
            size = offset
            try:
                with open(part, "ab" if offset else "wb") as f, \
                        progress.bar(None if total is None else total - offset, "download", unit="bytes") as bar:
                    for chunk in _chunks(resp):
                        f.write(chunk)
                        h.update(chunk)
                        size += len(chunk)
                        bar.advance(len(chunk))
                if total is not None and size != total:
                    raise requests.ConnectionError(f"connection closed after {size} of {total} bytes")
            except (requests.RequestException, urllib3.exceptions.HTTPError) as exc:
                fetched += size - offset
                if size > offset and resumes < MAX_RESUMES:
                    resumes += 1
                    progress.log(f"transfer broke off at {_size(size)} ({_why(exc)}); resuming")
                    continue
                raise DownloadError(f"download of {url} broke off at {_size(size)}: {_why(exc)}",
                                    "run the same command again to resume") from None
            except OSError as exc:
                raise DownloadError(f"cannot write {part}: {exc.strerror}",
                                    "free some disk space or choose another --dest") from None
        return h.hexdigest(), fetched + size - offset
