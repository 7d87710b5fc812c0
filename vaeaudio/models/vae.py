"""The VAE shared by every layout: a `Sampling` layer and one `VAE` model with a single step.

Shapes (B clips, F x T spectrogram bins, L latent dims; (257, 69) and 2 by default):

    encoder: x (B, F, T) in [0, 1]  ->  z_mean (B, L), z_log_var (B, L)
    Sampling: z = z_mean + exp(z_log_var / 2) * eps,  eps ~ N(0, I)
    decoder: z (B, L)  ->  logits (B, F, T)   (the reconstruction is sigmoid(logits))

A conditional VAE's encoder and decoder take the class too, one-hot (B, C) over the
set's C classes (10 for digits), as a second input (named `digit`): [x, d] -> moments
and [z, d] -> logits. Methods take the labels as integers (B,) (`digits`, the name
predating classes) and ignore them for an unconditional model.

Losses, in nats per clip (as the reference report, `docs/reference.md`):

    reconstruction = sum over the F x T bins of binary cross-entropy(x, sigmoid(logits))
    KL             = sum over L of -0.5 (1 + z_log_var - z_mean^2 - exp(z_log_var))
    total          = reconstruction + beta x KL

An unconditional model may carry a label head (`label_weight` W > 0, over `label_classes` C): a Dense
layer from z_mean (B, L) to class logits (B, C), whose cross-entropy with the clip's class, x W, is added
to the loss optimised, so that the encoder puts the class into the latent while the decoder still sees z
alone. It is not part of the reported losses, and nothing but training uses it.

Binary cross-entropy is computed from the logits (`sigmoid_cross_entropy_with_logits`),
which is the same quantity without the clipping and the log(0) hazards of the
probability form, in one fused pass. Weight penalties of the layers (L2) are
added to the optimised loss but not to the reported one, so reported losses
stay comparable with unregularised runs and with the reference report.

`VAE.step(x, training)` is the one place that computes losses, gradients, the
optimizer update and the running metrics; `vaeaudio.training.train` runs it
through `strategy.run`.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from vaeaudio.formats.classes import DIGIT_CLASSES
from vaeaudio.formats.runs import LOSSES

#: The classes of a conditional model when none are given: the ten digits.
DIGITS = len(DIGIT_CLASSES)


@keras.saving.register_keras_serializable(package="vaeaudio")
class Sampling(keras.layers.Layer):
    """Reparameterised draw z = z_mean + exp(z_log_var / 2) * eps from (z_mean, z_log_var), each (B, L).

    Its random state is a seeded `keras.random.SeedGenerator`, so a checkpoint
    that saves the model's variables also saves where the random stream is.
    """

    def __init__(self, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs):
        z_mean, z_log_var = inputs
        eps = keras.random.normal(tf.shape(z_mean), dtype=z_mean.dtype, seed=self.seed_generator)
        return z_mean + tf.exp(0.5 * z_log_var) * eps

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}

    def reseed(self, seed: int) -> None:
        """Restart the random stream from `seed` (a loaded model resumes the stream its checkpoint saved)."""
        state = self.seed_generator.state
        state.assign(np.asarray([seed, 0], dtype=state.dtype.name if hasattr(state.dtype, "name") else state.dtype))


def with_digit(h, inputs: list, conditional: bool, classes: int = DIGITS):
    """`h` (B, n), or, for a conditional model, `h` joined with a new one-hot class input (B, classes) added to
    `inputs` (its columns come last: a layer taking it has the label's rows last in its kernel)."""
    if not conditional:
        return h
    digit = keras.Input((classes,), name="digit")
    inputs.append(digit)
    return keras.layers.Concatenate(name="with_digit")([h, digit])


def functional(inputs: list, outputs, name: str) -> keras.Model:
    """A functional model of `inputs` (one tensor, or several for a conditional model) to `outputs`."""
    return keras.Model(inputs if len(inputs) > 1 else inputs[0], outputs, name=name)


def loss_terms(x, logits, z_mean, z_log_var):
    """Per-clip (reconstruction, KL), each (B,) float32, from x (B, ...), logits like x and (B, L) moments."""
    x = tf.cast(x, tf.float32)
    bce = tf.nn.sigmoid_cross_entropy_with_logits(labels=x, logits=tf.cast(logits, tf.float32))
    reconstruction = tf.reduce_sum(tf.reshape(bce, (tf.shape(bce)[0], -1)), axis=1)
    z_mean, z_log_var = tf.cast(z_mean, tf.float32), tf.cast(z_log_var, tf.float32)
    kl = tf.reduce_sum(-0.5 * (1.0 + z_log_var - tf.square(z_mean) - tf.exp(z_log_var)), axis=1)
    return reconstruction, kl


@keras.saving.register_keras_serializable(package="vaeaudio")
class VAE(keras.Model):
    """Encoder + `Sampling` + decoder, with keras-io style loss trackers.

    `encoder` maps x (B, F, T) to [z_mean, z_log_var]; `decoder` maps z (B, L) to
    logits (B, F, T). Calling the model returns the reconstruction sigmoid(logits).
    """

    def __init__(self, encoder: keras.Model, decoder: keras.Model, beta: float = 1.0, seed: int | None = None,
                 label_weight: float = 0.0, label_classes: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.encoder = encoder
        self.decoder = decoder
        self.beta = float(beta)
        self.seed = seed
        self.sampling = Sampling(seed=seed, name="sampling")
        self.conditional = len(encoder.inputs) == 2
        self.label_weight, self.label_classes = float(label_weight), int(label_classes)
        self.label_head = None
        if self.label_weight:
            if self.conditional or self.label_classes < 1:
                raise ValueError("a label head is for an unconditional model of 1 or more classes")
            self.label_head = keras.layers.Dense(self.label_classes, name="label_head", dtype="float32")
            self.label_head.build((None, int(decoder.inputs[0].shape[-1])))
        self.trackers = {name: keras.metrics.Mean(name=name) for name in LOSSES}
        self.built = True  # encoder and decoder are built functional models; Sampling has no weights

    @property
    def metrics(self):
        return list(self.trackers.values())

    def _with(self, v, digits):
        """`v`, or [v, one-hot digits] for a conditional model."""
        if not self.conditional:
            return v
        if digits is None:
            raise ValueError("a conditional VAE needs the digits")
        return [v, tf.one_hot(tf.cast(digits, tf.int32), self.classes,
                              dtype=v.dtype if hasattr(v, "dtype") else tf.float32)]

    def encode(self, x, digits=None, training=False):
        """x (B, F, T) [and digits (B,)] -> (z_mean, z_log_var), each (B, L)."""
        return self.encoder(self._with(tf.convert_to_tensor(x), digits), training=training)

    def decode(self, z, digits=None, training=False):
        """z (B, L) [and digits (B,)] -> reconstruction (B, F, T) in [0, 1] (float32)."""
        logits = self.decoder(self._with(tf.convert_to_tensor(z), digits), training=training)
        return tf.sigmoid(tf.cast(logits, tf.float32))

    @property
    def classes(self) -> int:
        """C, the number of classes a conditional model is conditioned on (0 for an unconditional one)."""
        return int(self.encoder.inputs[1].shape[-1]) if self.conditional else 0

    @property
    def latent_dim(self) -> int:
        """L, the size of the latent space."""
        return int(self.decoder.inputs[0].shape[-1])

    def decode_all(self, z, digits=None, batch: int = 256) -> np.ndarray:
        """`decode` of any number of points z (n, L) [and digits (n,)], `batch` at a time -> (n, F, T) numpy float32."""
        parts = [np.asarray(self.decode(z[s : s + batch], None if digits is None else digits[s : s + batch]))
                 for s in range(0, len(z), batch)]
        return np.concatenate(parts) if parts else np.zeros((0, *self.decoder.output_shape[1:]), np.float32)

    def encode_all(self, x, digits=None, batch: int = 256) -> np.ndarray:
        """Encoder means (n, L) numpy float32 of any number of clips x (n, F, T) [and digits (n,)], `batch` at a
        time."""
        parts = [np.asarray(self.encode(x[s : s + batch], None if digits is None else digits[s : s + batch])[0],
                            np.float32) for s in range(0, len(x), batch)]
        return np.concatenate(parts) if parts else np.zeros((0, self.latent_dim), np.float32)

    def call(self, x, digits=None, training=False):
        z_mean, z_log_var = self.encode(x, digits, training=training)
        return self.decode(self.sampling([z_mean, z_log_var]), digits, training=training)

    def terms(self, x, digits=None, training=False):
        """(z_mean (B, L), reconstruction (B,), KL (B,)) of a batch x (B, F, T): one encoder pass, one z drawn per
        clip."""
        x = tf.convert_to_tensor(x)
        z_mean, z_log_var = self.encoder(self._with(x, digits), training=training)
        z = self.sampling([z_mean, z_log_var])
        logits = self.decoder(self._with(z, digits), training=training)
        return (z_mean, *loss_terms(x, logits, z_mean, z_log_var))

    def losses_for(self, x, digits=None, training=False):
        """Per-clip (reconstruction, KL) for a batch x (B, F, T), drawing one z per clip."""
        return self.terms(x, digits, training)[1:]

    def step(self, x, digits=None, training: bool = False, update=None):
        """One step on batch x (B, F, T) and its digits (B,): losses, and with `training` gradients and the update.

        `update(grads)` applies the gradients (default: `optimizer.apply` to the
        trainable variables; `vaeaudio.training.train` passes an XLA-compiled one). Under a
        strategy with several replicas, the loss each replica differentiates is its
        sum over the global batch's clip count (the optimizer sums the gradients),
        and the running means cover the global batch.
        Updates the running per-clip means and returns them as {name: scalar}.
        """
        ctx = tf.distribute.get_replica_context()
        replicas = ctx.num_replicas_in_sync if ctx is not None else 1
        with tf.GradientTape() as tape:
            z_mean, reconstruction, kl = self.terms(x, digits, training=training)
            total = reconstruction + self.beta * kl
            if replicas > 1:  # sums over the whole global batch, from every replica
                sums = tf.stop_gradient(ctx.all_reduce(tf.distribute.ReduceOp.SUM, tf.stack([
                    tf.reduce_sum(reconstruction), tf.reduce_sum(kl), tf.reduce_sum(total),
                    tf.cast(tf.shape(total)[0], tf.float32)])))
                # the optimizer sums the replicas' gradients
                objective = tf.reduce_sum(total) / tf.maximum(sums[3], 1.0)
            else:
                objective = tf.reduce_mean(total)
            if training and self.losses:
                objective += tf.add_n([tf.cast(p, tf.float32) for p in self.losses]) / replicas
            if training and self.label_head is not None:
                objective += self.label_weight * self.label_loss(z_mean, digits, sums[3] if replicas > 1 else None)
        if training:
            grads = tape.gradient(objective, self.trainable_variables)
            (update or self.apply_gradients)(grads)
        for i, (name, value) in enumerate(zip(LOSSES, (reconstruction, kl, total))):
            if replicas > 1:  # every replica's means cover the global batch
                self.trackers[name].update_state(sums[i] / tf.maximum(sums[3], 1.0), sample_weight=sums[3])
            else:
                self.trackers[name].update_state(value)
        return {name: t.result() for name, t in self.trackers.items()}

    def label_loss(self, z_mean, digits, clips=None):
        """The label head's mean cross-entropy (scalar, nats per clip) of z_mean (B, L) against the classes
        `digits` (B,); over `clips` (the global batch's count) instead of B when given."""
        logits = self.label_head(tf.cast(z_mean, tf.float32))
        ce = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.cast(digits, tf.int32), logits=logits)
        return tf.reduce_mean(ce) if clips is None else tf.reduce_sum(ce) / tf.maximum(clips, 1.0)

    def apply_gradients(self, grads) -> None:
        """Adam (or the compiled optimizer) update of the trainable variables with `grads`."""
        self.optimizer.apply(grads, self.trainable_variables)

    def get_config(self):
        return {
            **super().get_config(),
            "encoder": keras.saving.serialize_keras_object(self.encoder),
            "decoder": keras.saving.serialize_keras_object(self.decoder),
            "beta": self.beta,
            "seed": self.seed,
            "label_weight": self.label_weight,
            "label_classes": self.label_classes,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        encoder = keras.saving.deserialize_keras_object(config.pop("encoder"))
        decoder = keras.saving.deserialize_keras_object(config.pop("decoder"))
        return cls(encoder, decoder, **config)
