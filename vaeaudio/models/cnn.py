"""Convolutional VAEs: the reference notebook's CNN, and a fast strided one (the default).

`build_reference` — exactly the reference CNN (`docs/reference.md`), for (257, 69) and latent 2:

    encoder: x (B, 257, 69) -> (B, 257, 69, 1) -> Conv2D 32 3x3 same ReLU -> Conv2D 64 3x3 same ReLU
             -> Flatten (B, 1,134,912) -> Dense 256 ReLU -> z_mean, z_log_var (B, 2)   [290,557,572 parameters]
    decoder: z (B, 2) -> Dense 256 (linear) -> Dense 1,134,912 ReLU -> (B, 257, 69, 64)
             -> Conv2DTranspose 32 3x3 same ReLU -> Conv2DTranspose 1 3x3 same (logits)
             -> (B, 257, 69)                                                          [291,691,905 parameters]

582,249,477 parameters; the two Dense layers next to the 1.1 M-wide activation
hold 99.8 % of them. `regularize` adds L2 0.001 on every conv kernel and
Dropout 0.2 after the flatten and after the encoder's Dense 256.

`build_strided` — convolutions along time, the frequency bins as channels: the
spectrogram is read time-major (B, frames, bins) as a one-row image (B, 1, frames,
bins), and each 1 x 3 convolution of stride 2 halves the frames (ceil), all
bins at once; the decoder mirrors them with stride-2 transposed convolutions
whose output padding restores the exact sizes, the last one back to the bins.
For (257, 69), filters (256,) (the default), latent 2:

    encoder: (B, 257, 69) -> Permute (B, 69, 257) -> (B, 1, 69, 257) -> Conv 256 -> (B, 1, 35, 256)
             -> Flatten (B, 8960) -> Dense 256 ReLU -> z_mean, z_log_var (B, 2)
    decoder: z (B, 2) -> Dense 256 ReLU -> Dense 8960 ReLU -> (B, 1, 35, 256)
             -> ConvT 257 (logits) -> (B, 1, 69, 257) -> (B, 69, 257) -> Permute (B, 257, 69)

4,993,797 parameters (encoder 2,492,676, decoder 2,501,121; all convs ReLU except the last). `--filters
256,256,256` (the default until 2026-12-02; 2,366,725 parameters) halves the frames twice more, to 9: its
conditional model's digits were heard 0.81-0.87x as often as the recordings of its voices against 1.00-1.02x with
one layer, its speech smoother in time (docs/intelligibility.md). This is the layout's revision 2
(`vaeaudio.models.revisions`): revision 1 (until 2026-12) stacked 2-D 3 x 3 convolutions of (16, 32, 64, 128)
channels over (bins, frames), 5,777,669 parameters, and took 2.0x the reference MLP's time per epoch, its
small-channel convolutions slow on every CPU kernel; revision 2 with three layers took about 0.4x
(docs/performance.md). `regularize` acts as for the reference. Decoders end in logits; `VAE.decode` applies the
sigmoid. A conditional model joins a one-hot class (B, C) (C = 10 for digits) to the flattened features (before
Dense 256) and to z.
"""

from __future__ import annotations

import math

import keras

from vaeaudio.models.dense import Dense
from vaeaudio.models.vae import DIGITS, VAE, functional, with_digit
from vaeaudio.settings import STRIDED_FILTERS


def _conv_kwargs(regularize: bool) -> dict:
    return {"kernel_regularizer": keras.regularizers.L2(0.001)} if regularize else {}


def _encoder_head(h, latent_dim: int, regularize: bool, seed: int, x_in, conditional: bool, classes: int
                  ) -> keras.Model:
    """Flatten -> [Dropout] -> [join digit] -> Dense 256 ReLU -> [Dropout] -> (z_mean, z_log_var)."""
    inputs = [x_in]
    h = keras.layers.Flatten(name="flatten")(h)
    if regularize:
        h = keras.layers.Dropout(0.2, seed=seed, name="flatten_dropout")(h)
    h = with_digit(h, inputs, conditional, classes)
    h = Dense(256, activation="relu", name="enc_dense")(h)
    if regularize:
        h = keras.layers.Dropout(0.2, seed=seed + 1, name="dense_dropout")(h)
    z_mean = Dense(latent_dim, name="z_mean")(h)
    z_log_var = Dense(latent_dim, name="z_log_var")(h)
    return functional(inputs, [z_mean, z_log_var], "encoder")


def build_reference(shape: tuple[int, int] = (257, 69), latent_dim: int = 2, regularize: bool = False,
                    beta: float = 1.0, seed: int = 0, conditional: bool = False,
                  classes: int = DIGITS, label_weight: float = 0.0) -> VAE:
    """The reference notebook's CNN-VAE for spectrograms of `shape` (bins, frames); `label_weight` as `build_mlp`."""
    reg = _conv_kwargs(regularize)
    x_in = keras.Input(shape, name="spectrogram")
    h = keras.layers.Reshape((*shape, 1), name="channel")(x_in)
    h = keras.layers.Conv2D(32, 3, padding="same", activation="relu", name="enc_conv_0", **reg)(h)
    h = keras.layers.Conv2D(64, 3, padding="same", activation="relu", name="enc_conv_1", **reg)(h)
    encoder = _encoder_head(h, latent_dim, regularize, seed, x_in, conditional, classes)

    z_in = [keras.Input((latent_dim,), name="z")]
    h = Dense(256, name="dec_dense_0")(with_digit(z_in[0], z_in, conditional, classes))
    h = Dense(math.prod(shape) * 64, activation="relu", name="dec_dense_1")(h)
    h = keras.layers.Reshape((*shape, 64), name="unflatten")(h)
    h = keras.layers.Conv2DTranspose(32, 3, padding="same", activation="relu", name="dec_conv_0", **reg)(h)
    h = keras.layers.Conv2DTranspose(1, 3, padding="same", name="logits", **reg)(h)
    decoder = functional(z_in, keras.layers.Reshape(shape, name="squeeze")(h), "decoder")
    return VAE(encoder, decoder, beta=beta, seed=seed, name="cnn_reference_vae", label_weight=label_weight,
               label_classes=classes)


def build_strided(shape: tuple[int, int] = (257, 69), filters=STRIDED_FILTERS, latent_dim: int = 2,
                  regularize: bool = False, beta: float = 1.0, seed: int = 0, conditional: bool = False,
                  classes: int = DIGITS, label_weight: float = 0.0) -> VAE:
    """The strided CNN-VAE for spectrograms of `shape` (bins, frames): convolutions along time with the bins as
    channels; see the module docstring. `label_weight` as `build_mlp`."""
    reg = _conv_kwargs(regularize)
    bins, frames = shape
    sizes = [frames]
    for _ in filters:
        sizes.append(math.ceil(sizes[-1] / 2))

    x_in = keras.Input(shape, name="spectrogram")
    h = keras.layers.Permute((2, 1), name="time_major")(x_in)
    h = keras.layers.Reshape((1, frames, bins), name="channel")(h)
    for i, f in enumerate(filters):
        h = keras.layers.Conv2D(f, (1, 3), strides=(1, 2), padding="same", activation="relu", name=f"enc_conv_{i}",
                                **reg)(h)
    encoder = _encoder_head(h, latent_dim, regularize, seed, x_in, conditional, classes)

    z_in = [keras.Input((latent_dim,), name="z")]
    h = Dense(256, activation="relu", name="dec_dense_0")(with_digit(z_in[0], z_in, conditional, classes))
    h = Dense(sizes[-1] * filters[-1], activation="relu", name="dec_dense_1")(h)
    h = keras.layers.Reshape((1, sizes[-1], filters[-1]), name="unflatten")(h)
    outs = [*reversed(filters[:-1]), bins]
    for i, f in enumerate(outs):
        pad = sizes[-2 - i] - (2 * sizes[-1 - i] - 1)  # 'same', k 3, s 2 gives 2n - 1 + pad
        last = i == len(outs) - 1
        h = keras.layers.Conv2DTranspose(f, (1, 3), strides=(1, 2), padding="same", output_padding=(0, pad),
                                         activation=None if last else "relu",
                                         name="logits" if last else f"dec_conv_{i}", **reg)(h)
    h = keras.layers.Reshape((frames, bins), name="squeeze")(h)
    decoder = functional(z_in, keras.layers.Permute((2, 1), name="bins_major")(h), "decoder")
    return VAE(encoder, decoder, beta=beta, seed=seed, name="cnn_strided_vae", label_weight=label_weight,
               label_classes=classes)
