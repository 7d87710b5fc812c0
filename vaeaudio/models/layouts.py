"""Every VAE layout, by the settings that name it; importing this module registers vaeaudio's Keras classes."""

from __future__ import annotations

from vaeaudio.models.cnn import build_reference, build_strided
from vaeaudio.models.mlp import build_mlp
from vaeaudio.models.vae import DIGITS, VAE


def build(settings, shape: tuple[int, int], classes: int = DIGITS) -> VAE:
    """The VAE for `settings` (a `TrainSettings`) and spectrograms of `shape` (bins, frames), conditioned (when
    `settings.conditional`) on `classes` classes."""
    common = {"latent_dim": settings.latent_dim, "beta": settings.beta, "seed": settings.seed,
              "conditional": settings.conditional, "classes": classes, "label_weight": settings.label_weight}
    if settings.kind == "mlp":
        return build_mlp(shape, hidden=settings.hidden, dropout=settings.dropout, **common)
    if settings.arch == "reference":
        return build_reference(shape, regularize=settings.regularize, **common)
    return build_strided(shape, filters=settings.filters, regularize=settings.regularize, **common)
