"""`Dense`: Keras's Dense layer whose product runs on the kernel `vaeaudio.models.kernels` chose for its shape.

Its config and weights are Keras's Dense's (saved as `vaeaudio>Dense`); its
`plan`, set after building by `choose_kernels`, is not saved: every process
chooses for the machine it runs on. Without a plan (or for inputs of
more than two axes) it is exactly `keras.layers.Dense`.
"""

from __future__ import annotations

import keras

from vaeaudio.models import kernels


@keras.saving.register_keras_serializable(package="vaeaudio")
class Dense(keras.layers.Dense):
    """`keras.layers.Dense` on a chosen matmul kernel: x (B, i) -> activation(x W + b) (B, o)."""

    plan: kernels.Plan | None = None

    def call(self, inputs, training=None):
        if self.plan is None or len(inputs.shape) != 2 or self.lora_enabled or self.quantization_mode:
            return super().call(inputs, training=training)
        x = kernels.matmul(inputs, keras.ops.convert_to_tensor(self.kernel), self.plan)
        if self.bias is not None:
            x = keras.ops.add(x, self.bias)
        return x if self.activation is None else self.activation(x)


def dense_layers(model: keras.Model) -> list[Dense]:
    """Every `Dense` layer inside `model` (its encoder and decoder included)."""
    return [layer for layer in model._flatten_layers() if isinstance(layer, Dense)]


def _assign(layers: list[Dense], plans: list[kernels.Plan]) -> None:
    for layer, plan in zip(layers, plans):  # all on oneDNN: Keras's own call, which oneDNN fuses with the bias
        layer.plan = None if plan == kernels.Plan() else plan


def choose_kernels(model: keras.Model, batch: int, force: str = "auto", time_step=None, model_key: str = "") -> None:
    """Give every `Dense` layer of `model` the plan `kernels.choose` picks for its shape at `batch` (see `--kernels`).

    `time_step()` -> seconds of one real training step of `model` as its layers' plans stand (re-traced): with it,
    'auto' compares whole steps (cached under `model_key`); without it, products timed alone.
    """
    layers = dense_layers(model)
    slots = [(tuple(int(n) for n in layer.kernel.shape), layer.compute_dtype) for layer in layers]

    def timed(plans: list[kernels.Plan]) -> float:
        _assign(layers, plans)
        return time_step()

    _assign(layers, kernels.choose(slots, batch, force, timed if time_step else None, model_key))
