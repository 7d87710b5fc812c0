"""VAE layouts: `build(settings, shape)` returns the model a `TrainSettings` describes.

Every layout maps x (B, bins, frames) in [0, 1] through an encoder to
(z_mean, z_log_var) (B, latent) and back through a decoder to logits
(B, bins, frames); see `vae.py` for the shared model and losses.
"""

from __future__ import annotations

from vaeaudio.models.cnn import build_reference, build_strided
from vaeaudio.models.dense import Dense, choose_kernels, dense_layers
from vaeaudio.models.mlp import build_mlp
from vaeaudio.models.vae import VAE, Sampling, loss_terms

__all__ = ["VAE", "Dense", "Sampling", "build", "choose_kernels", "dense_layers", "build_mlp", "build_reference", "build_strided", "loss_terms"]


def build(settings, shape: tuple[int, int]) -> VAE:
    """The VAE for `settings` (a `TrainSettings`) and spectrograms of `shape` (bins, frames)."""
    common = {"latent_dim": settings.latent_dim, "beta": settings.beta, "seed": settings.seed,
              "conditional": settings.conditional}
    if settings.kind == "mlp":
        return build_mlp(shape, hidden=settings.hidden, dropout=settings.dropout, **common)
    if settings.arch == "reference":
        return build_reference(shape, regularize=settings.regularize, **common)
    return build_strided(shape, filters=settings.filters, regularize=settings.regularize, **common)
