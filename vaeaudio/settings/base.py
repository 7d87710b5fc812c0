"""The base of every verb's settings, the command-line marker `Flag`, and the field types several verbs share."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError

from vaeaudio.util.errors import UsageError


@dataclass(frozen=True)
class Flag:
    """How a field reads on the command line where its type does not say: `Annotated[float, Flag("SECONDS")]`.

    `metavar` names the value in help; `argument` makes the field positional, named by its metavar;
    `also` is an option that gives a positional's values too; `off` names a boolean's negative flag
    (`--in-memory/--stream`; default `--no-NAME`).
    """

    metavar: str | None = None
    argument: bool = False
    also: str | None = None
    off: str | None = None


def _sharpen(value):
    """'auto', or a power from 0.25 to 8 (numbers may come as text from the command line)."""
    if isinstance(value, str) and value.strip().lower() == "auto":
        return "auto"
    try:
        power = float(value)
    except (TypeError, ValueError):
        power = math.nan
    if not 0.25 <= power <= 8:  # also refuses NaN
        raise ValueError("must be 'auto' or a power from 0.25 to 8")
    return power


#: A sharpening power P, or "auto": the P that gives generated spectrograms the training clips' mean level.
Sharpen = Annotated[Literal["auto"] | float, BeforeValidator(_sharpen), Flag("auto|P")]
#: Where random latent points come from: the run's latent mixture if it stored one (auto), it, or N(0, I).
Prior = Literal["auto", "mixture", "normal"]
PRIOR_HELP = ("Where random latent points come from: 'normal' = the prior N(0, T^2 I); 'mixture' = the Gaussian "
              "mixture fitted to the training clips' latents that a run trained with --latent-mixture stores "
              "(per digit); 'auto' = the mixture when the run has one, else the prior.")
#: How phase is estimated to turn a spectrogram into sound (`vaeaudio.sound.render`), the default first.
PHASES = ("pghi", "pghi+gl", "griffin-lim", "zero")
Phase = Literal[PHASES]
PHASE_HELP = ("How phase is estimated: 'pghi' = Phase Gradient Heap Integration (no iterations; a model's digits "
              "are heard best through it); 'pghi+gl' = PGHI then a few fast Griffin-Lim iterations (a little closer "
              "for a recording's own spectrogram); 'griffin-lim' = Griffin-Lim from a random phase; 'zero' = the "
              "reference report's zero-phase inverse STFT (buzzy), for comparison.")
#: --griffin-lim-iters' help: its default depends on --phase.
ITERS_HELP = ("Griffin-Lim iterations: of --phase griffin-lim (default 200), or after PGHI with --phase pghi+gl "
              "(default 2).")


class Settings(BaseModel):
    """Base for stage settings: strict fields, helpers for the CLI."""

    model_config = ConfigDict(extra="forbid", validate_default=True)

    @classmethod
    def default(cls, name: str):
        """The default value of field `name`."""
        return cls.model_fields[name].get_default(call_default_factory=True)

    @classmethod
    def help(cls, name: str) -> str:
        """The field's description, used as its flag's help text."""
        return cls.model_fields[name].description or ""

    @classmethod
    def flag(cls, name: str) -> Flag:
        """The field's `Flag` marker (an empty one when its type says it all)."""
        return next((m for m in cls.model_fields[name].metadata if isinstance(m, Flag)), Flag())

    @classmethod
    def option(cls, name: str) -> str:
        """How the command line names field `name`: `--foo-bar` for `foo_bar`, or a positional's metavar."""
        flag = cls.flag(name) if name in cls.model_fields else Flag()
        return flag.metavar if flag.argument else f"--{name.replace('_', '-')}"

    @classmethod
    def build(cls, **values):
        """Validate `values` into a model; a bad value raises `UsageError` naming its flag."""
        try:
            return cls(**values)
        except ValidationError as exc:
            err = exc.errors()[0]
            loc = [str(p) for p in err.get("loc", ()) if not isinstance(p, int)]
            msg = err["msg"].removeprefix("Value error, ")
            if not loc:  # a check across fields: its message names the flags itself
                raise UsageError(msg) from None
            given = err.get("input")
            shown = "" if isinstance(given, dict) or given is None else f" (got {given!r})"
            raise UsageError(f"{cls.option(loc[0])}: {msg}{shown}") from None
