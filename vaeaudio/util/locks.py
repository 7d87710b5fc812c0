"""Exclusive locks on folders being written: a run directory, a spectrogram set, a download destination.

`hold(folder, what)` takes an OS file lock (`fcntl.flock`, exclusive, non-blocking)
on the folder itself (an open descriptor of it: nothing that can be deleted
from under the holder) and writes this process's pid into `folder/.lock`, for
the refusal to name; that file is removed when the block ends. The kernel
releases the lock when the process ends in any way (kill -9 included), so no
lock is ever stale. A second process gets a `UsageError` naming the holder's
pid. Locks are per open file, so a second `hold` of the same folder inside one
process is refused too. A folder that must not exist yet (a download
destination) is locked through a lock file beside it instead.
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

    The lock is on `folder` itself (created if missing; its pid in `folder/.lock`), or
    on `lock_file` for a folder that must not exist yet (a download destination).
    """
    folder = Path(folder)
    if lock_file is None:
        with _hold_folder(folder, what) as path:
            yield path
        return
    path = Path(lock_file)
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


@contextlib.contextmanager
def _hold_folder(folder: Path, what: str) -> Iterator[Path]:
    """`hold` on the folder's own descriptor; yields its pid file `folder/.lock`."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        try:
            holder = path.read_text(encoding="ascii", errors="replace").strip() or "unknown"
        except OSError:
            holder = "unknown"
        raise UsageError(f"{what} {folder} is in use by another vaeaudio process (pid {holder})",
                         "wait for it to finish, or stop it") from None
    try:
        with contextlib.suppress(OSError):
            path.write_text(f"{os.getpid()}\n", encoding="ascii")
        yield path
    finally:
        with contextlib.suppress(OSError):
            path.unlink()
        os.close(fd)  # releases the lock
