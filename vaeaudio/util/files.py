"""Atomic file replacement: write `NAME.tmp`, then `os.replace` it over `NAME`; never leave the `.tmp` behind.

Every file vaeaudio writes that a later command reads goes through `replacing`,
so a crash, a full disk or a read-only folder leaves either the old file or the
new one, and no half-written temporary file taking up space.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
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
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise


def write_bytes(path: Path, data: bytes) -> Path:
    """Write `data` to `path` atomically (`replacing`); returns `path`."""
    with replacing(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text(path: Path, text: str) -> Path:
    """Write `text` (UTF-8) to `path` atomically (`replacing`); returns `path`."""
    return write_bytes(path, text.encode("utf-8"))


def sha256_file(path: Path, block: int = 1 << 22) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(block):
            h.update(chunk)
    return h.hexdigest()
