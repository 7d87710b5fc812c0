"""The FSDD sample embedded in the package (`vaeaudio/sample/`: 250 recordings, 5 speakers x 10 digits x 5 takes,
8 kHz, with its `ATTRIBUTION.md`): the demo's corpus, the tests' recordings and the real clips an export is
checked on."""

from __future__ import annotations

from pathlib import Path

SAMPLE = Path(__file__).resolve().parents[1] / "sample"
