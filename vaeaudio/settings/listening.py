"""Settings of what makes sound to listen to: `synth` and `report`."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator, model_validator

from vaeaudio.settings.base import ITERS_HELP, PHASE_HELP, PHASES, PRIOR_HELP, Flag, Phase, Prior, Settings, Sharpen
from vaeaudio.settings.judging import EvaluateSettings

#: The largest finite float32: a latent value beyond it is Inf to the model.
FLOAT32_MAX = 3.4028234663852886e38


class SynthSettings(Settings):
    """`vaeaudio synth`: decode latent points of a trained run to WAV files."""

    run: Annotated[Path | None, Flag("RUN")] = Field(None, description="Run directory (default: runs/latest), or "
                                                     "an export folder (`vaeaudio export`: no TensorFlow needed).")
    z: list[float] | None = Field(None, description="Decode the latent point given as Z values before OUT.wav: one "
                                                    "value per latent dimension (negative values welcome).")
    random: int | None = Field(None, ge=1, le=100_000, description="Decode N random draws, from where --prior says.")
    digit: Annotated[int | None, Flag("D")] = Field(None, ge=0, le=9, description="Digit 0-9 to make (conditional "
                                                    "runs on digit sets only; default: digits 0-9 in turn).")
    label: Annotated[str | None, Flag("NAME")] = Field(
        None, description="Class to make, by name, as the run's set names it (conditional runs only; default: each "
                          "class in turn); --digit D is the short form for digit sets.")
    grid: int | None = Field(None, ge=1, le=256, description="Decode an N x N grid over the prior's quantiles "
                                                             "(2-D latents only).")
    out: Path = Field(description="Output WAV file (with --z) or folder (with --random / --grid).")
    seed: int = Field(0, ge=0, le=2**31 - 1, description="Seed of --random draws and of Griffin-Lim's initial phase.")
    temperature: float = Field(1.0, gt=0, le=10, description="Standard deviation of --random draws (1 = the prior); "
                               "drawing from a latent mixture, the scale of each draw's distance from its "
                               "component's mean (1 = as fitted).")
    griffin_lim_iters: int | None = Field(None, ge=1, le=10_000, description=ITERS_HELP)
    sharpen: Sharpen = Field("auto", description="Raise the decoded [0, 1] spectrogram to the power P before undoing "
                             "the dB scaling: > 1 restores the contrast a VAE blurs, 1 = as decoded; 'auto' = 1.5 x "
                             "the P that gives generated spectrograms the mean level of the training clips, the "
                             "contrast a speech recogniser hears best (not applied with --phase zero, which "
                             "reproduces the reference).")
    prior: Prior = Field("auto", description=PRIOR_HELP)
    phase: Phase = Field(PHASES[0], description=PHASE_HELP)

    @field_validator("z")
    @classmethod
    def _finite(cls, v):
        if v is not None:
            if not v:
                raise ValueError("give one value per latent dimension before OUT.wav, e.g. --z 0.5 -1.2 out.wav")
            if not all(math.isfinite(x) and abs(x) < FLOAT32_MAX for x in v):
                raise ValueError(f"values must be finite numbers below {FLOAT32_MAX:.3g} in size (no NaN or Inf: the "
                                 "model computes in float32)")
        return v

    @model_validator(mode="after")
    def _one_mode(self):
        modes = [name for name, value in (("--z", self.z), ("--random", self.random), ("--grid", self.grid))
                 if value is not None]
        if self.digit is not None and self.label is not None:
            raise ValueError("give --digit or --label, not both")
        if len(modes) != 1:
            raise ValueError("choose exactly one of --z Z... OUT.wav, --random N OUTDIR, --grid N OUTDIR"
                             + (f" (got {', '.join(modes)})" if modes else ""))
        if self.z is not None and self.out.suffix.lower() != ".wav":
            raise ValueError(f"--z writes one file: the last argument must end in .wav (got {str(self.out)!r})")
        if self.z is None and self.out.suffix.lower() == ".wav":
            mode = modes[0]
            raise ValueError(f"{mode} writes a folder of WAVs: the last argument is a folder, not {str(self.out)!r} "
                             f"(e.g. {self.out.with_suffix('')}/)")
        return self


class ReportSettings(EvaluateSettings):
    """`vaeaudio report`: one page (index.html with its PNGs and WAVs) to look at and listen to runs.

    Every `evaluate` field is here too: the page reuses RUN/eval/ when it was made with the same values.
    """

    out: Path | None = Field(None, description="Folder of the page: index.html, its assets and one folder per run "
                             "(default: RUN/report for one run, report/ for several); an earlier report there is "
                             "replaced.")
    samples: int = Field(3, ge=0, le=20, description="Generated clips on the page per digit (conditional runs), or "
                         "rows of 10 random draws (others), drawn as --prior says; 0 = none.")
    grid: int = Field(5, ge=0, le=16, description="Decoded points per side of the playable latent map's grid "
                                                  "(2-D latents, unconditional runs; 0 = no grid).")
    map_points: int = Field(60, ge=0, le=2000, description="Test clips placed on the playable latent map (each plays "
                                                           "its recording).")
