"""The one style of timestamp in vaeaudio's files: local time with its UTC offset, ISO 8601, to the second."""

from __future__ import annotations

from datetime import datetime


def timestamp(now: datetime | None = None) -> str:
    """`now` (default: this moment) as e.g. '2026-12-01T21:30:05+01:00'."""
    return (now or datetime.now()).astimezone().isoformat(timespec="seconds")
