"""The reference MLP-VAE (`docs/reference.md`), with optional dropout.

Shapes for a (257, 69) spectrogram, hidden (1024, 512, 256), latent 2:

    encoder: x (B, 257, 69) -> Flatten (B, 17733) -> Dense 1024 ReLU -> Dense 512 ReLU
             -> Dense 256 ReLU -> z_mean (B, 2), z_log_var (B, 2)    [18,816,772 parameters]
    decoder: z (B, 2) -> Dense 256 ReLU -> Dense 512 ReLU -> Dense 1024 ReLU
             -> Dense 17733 (logits) -> Reshape (B, 257, 69)            [18,833,989 parameters]

37,650,761 parameters in all, as the reference. The reference ends the decoder
in a sigmoid; here the decoder emits logits and `VAE.decode` applies the
sigmoid, so the loss can use the fused, exact logit form. With dropout P > 0,
`Dropout(P)` follows every hidden Dense layer of encoder and decoder. A
conditional model joins a one-hot class (B, C) (C = 10 for digits) to the flattened input and to z.
"""

from __future__ import annotations

import math

import keras

from vaeaudio.models.dense import Dense
from vaeaudio.models.vae import DIGITS, VAE, functional, with_digit


def _hidden(x, widths, dropout: float, seed: int, prefix: str):
    for i, width in enumerate(widths):
        x = Dense(width, activation="relu", name=f"{prefix}_dense_{i}")(x)
        if dropout:
            x = keras.layers.Dropout(dropout, seed=seed + i, name=f"{prefix}_dropout_{i}")(x)
    return x


def build_mlp(shape: tuple[int, int] = (257, 69), hidden=(1024, 512, 256), latent_dim: int = 2,
              dropout: float = 0.0, beta: float = 1.0, seed: int = 0, conditional: bool = False,
              classes: int = DIGITS, label_weight: float = 0.0) -> VAE:
    """The MLP-VAE for spectrograms of `shape` (bins, frames); `conditional` joins a one-hot class (of `classes`) to
    both inputs; `label_weight` > 0 gives an unconditional one the label head of `VAE`."""
    n = math.prod(shape)
    inputs = [keras.Input(shape, name="spectrogram")]
    h = with_digit(keras.layers.Flatten(name="flatten")(inputs[0]), inputs, conditional, classes)
    h = _hidden(h, hidden, dropout, seed, "enc")
    z_mean = Dense(latent_dim, name="z_mean")(h)
    z_log_var = Dense(latent_dim, name="z_log_var")(h)
    encoder = functional(inputs, [z_mean, z_log_var], "encoder")

    inputs = [keras.Input((latent_dim,), name="z")]
    h = _hidden(with_digit(inputs[0], inputs, conditional, classes), tuple(reversed(hidden)), dropout, seed + 100,
                "dec")
    logits = Dense(n, name="logits")(h)
    decoder = functional(inputs, keras.layers.Reshape(shape, name="unflatten")(logits), "decoder")
    return VAE(encoder, decoder, beta=beta, seed=seed, name="mlp_vae", label_weight=label_weight,
               label_classes=classes)
