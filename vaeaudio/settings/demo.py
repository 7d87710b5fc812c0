"""Settings of `demo`."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from vaeaudio.settings.base import Settings


class DemoSettings(Settings):
    """`vaeaudio demo`: the whole pipeline offline on the embedded FSDD sample."""

    out: Path = Field(Path("demo"), description="Folder for everything the demo writes (spectrograms, runs, WAVs).")
    epochs: int = Field(150, ge=1, le=10_000, description="Training epochs of the demo's conditional MLP-VAE (the "
                                                             "intelligible recipe's model, 16 clips a step).")
    seed: int = Field(42, ge=0, le=2**31 - 1, description="Seed of the split, training and sampling.")
    judge: bool = Field(False, description="Judge with a digit classifier too, beside the independent recogniser "
                                           "that always listens (trains one on the sample first: a fifth more time).")
