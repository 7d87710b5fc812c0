"""vaeaudio's cache folder: what is measured once per machine (e.g. the kernel choice)."""

from __future__ import annotations

import os
from pathlib import Path

#: Environment variable naming vaeaudio's cache folder (default $XDG_CACHE_HOME/vaeaudio or ~/.cache/vaeaudio).
CACHE_ENV = "VAEAUDIO_CACHE"


def cache_dir() -> Path:
    """The folder of what vaeaudio measures once per machine (e.g. the kernel choice): $VAEAUDIO_CACHE, else
    $XDG_CACHE_HOME/vaeaudio, else ~/.cache/vaeaudio."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "vaeaudio"
