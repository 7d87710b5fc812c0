"""Atomic file replacement: write `NAME.tmp`, then `os.replace` it over `NAME`; never leave the `.tmp` behind.

Every file vaeaudio writes that a later command reads goes through `replacing`,
so a crash, a full disk or a read-only folder leaves either the old file or the
new one, and no half-written temporary file taking up space.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def replacing(path: Path, suffix: str = ".tmp", fsync: bool = True) -> Iterator[Path]:
    """Yield the temporary path `path + suffix` to write; on success it replaces `path`, on any failure it is removed.

    With `fsync` the temporary file is flushed to disk before the rename.
    """
    path = Path(path)
    tmp = path.with_name(path.name + suffix)
    try:
        yield tmp
        if fsync:
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        _name_file(exc, path)
        raise


def _name_file(exc: BaseException, path: Path) -> None:
    """Give `path` to the OS errors in `exc`'s chain that name no file (a write() that found the disk full), so
    that the message says which file could not be written."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and not exc.filename:
            with contextlib.suppress(AttributeError, TypeError):
                exc.filename = str(path)
        exc = exc.__cause__ or exc.__context__


class NotRegularFile(OSError):
    """A path that names a FIFO, a device, a socket or a folder where a file was expected."""

    def __init__(self, path: Path, mode: int):
        kind = ("a FIFO" if stat.S_ISFIFO(mode) else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
                else "a folder" if stat.S_ISDIR(mode) else "a socket" if stat.S_ISSOCK(mode) else "not a file")
        super().__init__(errno.EINVAL, f"not a regular file ({kind})", str(path))


def regular(path: Path) -> Path:
    """`path`, when it is a regular file or a link to one; else `NotRegularFile`, before anything opens it (a FIFO
    blocks its reader forever, /dev/zero never ends). Every file vaeaudio reads whose path a user or a cache gave
    passes here first."""
    mode = os.stat(path).st_mode
    if not stat.S_ISREG(mode):
        raise NotRegularFile(path, mode)
    return Path(path)


def read_json(path: Path):
    """The JSON value in the regular file `path`; `OSError` if it cannot be read, `ValueError` if it is not JSON
    (not UTF-8, malformed, or nested too deep to parse)."""
    text = regular(path).read_text(encoding="utf-8")
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("nested too deeply") from None


def write_bytes(path: Path, data: bytes) -> Path:
    """Write `data` to `path` atomically (`replacing`); returns `path`."""
    with replacing(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text(path: Path, text: str) -> Path:
    """Write `text` (UTF-8) to `path` atomically (`replacing`); returns `path`."""
    return write_bytes(path, text.encode("utf-8"))


def sha256_file(path: Path, block: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes, read `block` bytes at a time into one buffer."""
    h, buffer = hashlib.sha256(), bytearray(block)
    view = memoryview(buffer)
    with open(path, "rb") as f:
        while n := f.readinto(buffer):
            h.update(view[:n])
    return h.hexdigest()
