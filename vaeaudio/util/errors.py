"""Errors the library raises; only `vaeaudio.cli` turns them into messages and exit codes.

Every error carries one line saying what went wrong (and which file), and an
optional hint saying what to do. `UsageError` means the command line itself was
wrong (exit 2); everything else is exit 1.
"""

from __future__ import annotations

import errno
import re


class VaeAudioError(Exception):
    """A failure the user can act on: `str(err)` is one line, `err.hint` says what to do."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None, output: str | None = None):
        super().__init__(message)
        self.hint = hint
        self.output = output  # results made before the failure, printed on stdout before the error line

    def line(self) -> str:
        """The error as the one line the CLI prints."""
        msg = str(self)
        return f"{msg} ({self.hint})" if self.hint else msg


class UsageError(VaeAudioError):
    """A flag or argument value is invalid; nothing was done."""

    exit_code = 2


class DataError(VaeAudioError):
    """Input data (a corpus, a spectrogram set, a file) is missing, foreign or unusable."""


class DownloadError(VaeAudioError):
    """Fetching, verifying or extracting a dataset failed."""


class ModelError(VaeAudioError):
    """A run directory or model file is missing, incomplete or not a vaeaudio model."""


class TrainingError(VaeAudioError):
    """Training stopped because it could not go on (for example a NaN loss)."""


class EnvironmentProblem(VaeAudioError):
    """The machine refused an operation: no space left, read-only, permission denied, a file vanished."""


#: errno -> (what happened, what to fix) for `environment_error`.
_FREE = "free some space (the half-written file was removed)"
_MODE = "check the owner and mode of the file and its folder (ls -l), or choose another folder"
_ERRNO_ADVICE = {
    errno.ENOSPC: ("no space left on the device", _FREE),
    errno.EROFS: ("the file system is read-only", "choose a writable folder, or remount it read-write"),
    errno.EACCES: ("permission denied", _MODE),
    errno.EPERM: ("operation not permitted", _MODE),
    errno.ENOENT: ("no such file or directory (it vanished, or was never there)",
                   "check the path; if another program removed it, put it back"),
    errno.ENAMETOOLONG: ("the file name is too long for the file system", "choose a shorter name"),
    errno.EISDIR: ("a folder is in the way of the file", "choose another name, or move the folder away"),
    errno.ENOTDIR: ("a file is in the way of a folder of the path", "choose another path, or move the file away"),
    errno.EBUSY: ("the folder is in use (a mount point, or the current folder)", "choose another folder"),
}
if hasattr(errno, "EDQUOT"):  # not on every platform
    _ERRNO_ADVICE[errno.EDQUOT] = ("disk quota exceeded", _FREE)


def environment_error(exc: BaseException, then: str = "run the command again") -> EnvironmentProblem | None:
    """The `EnvironmentProblem` for an `OSError` (or one it was raised from) whose errno is in `_ERRNO_ADVICE`;
    its hint is what to fix, and `then` what to do after.

    Libraries wrap OS errors (h5py puts the errno only into its message, Keras
    re-raises), so the chain of causes is searched and `errno = N` in a message counts.
    Returns None for anything else, which stays an internal error.
    """
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError):
            code = exc.errno
            if code is None:
                m = re.search(r"errno\s*=\s*(\d+)", str(exc))
                code = int(m.group(1)) if m else None
            if code in _ERRNO_ADVICE:
                what, fix = _ERRNO_ADVICE[code]
                hint = f"{fix}, then {then}"
                path = re.sub(r"\.tmp(\.keras)?$", "", str(exc.filename or _quoted_path(str(exc)) or ""))
                return EnvironmentProblem(f"{path}: {what}" if path else what, hint)
        exc = exc.__cause__ or exc.__context__
    return None


def _quoted_path(message: str) -> str | None:
    """A file name h5py quotes in its messages (`name = '/x/y.h5'`), if any."""
    m = re.search(r"name = '([^']+)'", message)
    return m.group(1) if m else None


class Interrupted(VaeAudioError):
    """Ctrl-C: the command stopped; the message says what was kept and how to go on."""

    exit_code = 130
