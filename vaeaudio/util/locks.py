"""Exclusive locks on folders being written: a run directory, a spectrogram set, a download destination.

`hold(folder, what)` takes an OS file lock (`fcntl.flock`, exclusive, non-blocking)
on `folder/.lock` and writes this process's pid into it; the file is removed
when the block ends. The kernel releases the lock when the process ends in any
way (kill -9 included), so no lock is ever stale: a `.lock` file left by a
killed process is simply locked again by the next one. A second process gets a
`UsageError` naming the holder's pid. Locks are per open file, so a second
`hold` of the same folder inside one process is refused too.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from vaeaudio.util.errors import UsageError

#: Name of the lock file inside a locked folder.
LOCK = ".lock"


@contextlib.contextmanager
def hold(folder: Path, what: str, lock_file: Path | None = None) -> Iterator[Path]:
    """Hold the lock of `folder` for the block; `what` names it in the refusal ("run directory").

    The lock file is `folder/.lock` (`folder` is created if missing), or
    `lock_file` for a folder that must not exist yet (a download destination).
    """
    folder = Path(folder)
    path = Path(lock_file) if lock_file is not None else folder / LOCK
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise UsageError(f"{what} {folder} is in use by another vaeaudio process (pid {holder})",
                             "wait for it to finish, or stop it") from None
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)  # the holder before us removed the file after we opened it: lock the new one
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield path
    finally:
        with contextlib.suppress(OSError):
            path.unlink()  # removed while still locked, so a waiting process re-checks (above)
        os.close(fd)  # releases the lock
