"""`--sharpen auto`: the power a run's decoded spectrograms are raised to before they become sound."""

from __future__ import annotations

import math

import numpy as np

from vaeaudio.formats import latents

#: Sharpening power of `--sharpen auto` for runs that predate the recorded training level
#: (config.json without `data.mean`).
SHARPEN = 1.25
#: `--sharpen auto` raises the power that gives generated spectrograms the training clips' mean level by this factor:
#: an independent recogniser hears generated digits best a little sharper than that (docs/intelligibility.md).
AUTO_CONTRAST = 1.5
#: Seed of the draws 'auto' decodes: fixed, so a run gets the same power from every command whatever its --seed.
DRAWS_SEED = 0


def sharpen_power(sharpen: float | str, model, config, mixture=None, n: int = 64) -> float:
    """The sharpening power to use: `sharpen` itself, or for 'auto' `AUTO_CONTRAST` x the P at which n
    decoded draws from the prior (or from the run's latent `mixture`, `vaeaudio.formats.latents`; each class in
    turn for a conditional run) have the training clips' mean level: mean(spec^P) = `config.data.mean`,
    found by bisection over [0.25, 8] (the result is kept in [0.25, 8] too).

    A VAE's blur lifts quiet bins, so its mean level sits above the data's: P > 1 pushes it back
    down. How much depends on the model: a larger latent's output is already sharper and needs less
    (even P < 1), and draws from the latent mixture sit near the data's level. Matching the level is
    not yet what a listener hears best: the recogniser hears mixture draws best somewhat sharper than
    that, hence `AUTO_CONTRAST` (the figures: docs/intelligibility.md). Runs without a recorded mean
    get `SHARPEN`.
    """
    if sharpen != "auto":
        return float(sharpen)
    target = config.data.mean
    if target is None:
        return SHARPEN
    digits = np.arange(n) % model.classes if model.conditional else None
    z = latents.draw(n, model.latent_dim, digits, np.random.default_rng(DRAWS_SEED), mixture)
    log_spec = np.log(np.maximum(model.decode_all(z, digits).astype(np.float64), 1e-30))
    lo, hi = 0.25, 8.0
    for _ in range(24):  # mean(spec^P) falls as P grows; halve log(hi / lo) each time
        mid = math.sqrt(lo * hi)
        lo, hi = (mid, hi) if np.exp(mid * log_spec).mean() > target else (lo, mid)
    return round(min(8.0, max(0.25, AUTO_CONTRAST * math.sqrt(lo * hi))), 3)
