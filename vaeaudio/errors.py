"""Errors the library raises; only `vaeaudio.cli` turns them into messages and exit codes.

Every error carries one line saying what went wrong (and which file), and an
optional hint saying what to do. `UsageError` means the command line itself was
wrong (exit 2); everything else is exit 1.
"""

from __future__ import annotations


class VaeAudioError(Exception):
    """A failure the user can act on: `str(err)` is one line, `err.hint` says what to do."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.hint = hint

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
