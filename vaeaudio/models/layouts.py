"""Every VAE layout, by the settings that name it; importing this module registers vaeaudio's Keras classes."""

from __future__ import annotations

from vaeaudio.models.cnn import build_reference, build_strided
from vaeaudio.models.mlp import build_mlp
from vaeaudio.models.vae import DIGITS, VAE


def build(settings, shape: tuple[int, int], classes: int = DIGITS) -> VAE:
    """The VAE for `settings` (a `TrainSettings`) and spectrograms of `shape` (bins, frames), conditioned (when
    `settings.conditional`) on `classes` classes."""
    common = {"latent_dim": settings.latent_dim, "beta": settings.beta, "seed": settings.seed,
              "conditional": settings.conditional, "classes": classes}
    if settings.kind == "mlp":
        model = build_mlp(shape, hidden=settings.hidden, dropout=settings.dropout, **common)
    elif settings.arch == "reference":
        model = build_reference(shape, regularize=settings.regularize, **common)
    else:
        model = build_strided(shape, filters=settings.filters, regularize=settings.regularize, **common)
    if not settings.label_weight:
        return model
    # the same model with a label head (`VAE`): unconditional runs of `--label-weight W`
    return VAE(model.encoder, model.decoder, beta=settings.beta, seed=settings.seed, name=model.name,
               label_weight=settings.label_weight, label_classes=classes)
