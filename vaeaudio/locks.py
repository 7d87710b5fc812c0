"""Exclusive locks on folders being written: a run directory, a spectrogram set, a download destination.

`hold(folder, what)` takes an OS file lock (`fcntl.flock`, exclusive, non-blocking)
on `folder/.lock` and writes this process's pid into it. The kernel releases the
lock when the process ends in any way (kill -9 included), so no lock is ever
stale; the file itself stays behind, harmless. A second process gets a
`UsageError` naming the holder's pid. Locks are per open file, so a second
`hold` of the same folder inside one process is refused too.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from typing import Iterator

from .errors import UsageError

#: Name of the lock file inside a locked folder.
LOCK = ".lock"


@contextlib.contextmanager
def hold(folder: Path, what: str) -> Iterator[Path]:
    """Hold the lock of `folder` (created if missing) for the block; `what` names it in the refusal ("run directory")."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            raise UsageError(f"{what} {folder} is in use by another vaeaudio process (pid {holder})",
                             "wait for it to finish, or stop it") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield path
    finally:
        os.close(fd)  # releases the lock
