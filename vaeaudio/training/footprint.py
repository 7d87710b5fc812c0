"""How much memory a training run will take, estimated from its settings before any model is built.

    parameters   counted from the layout (`vaeaudio.models.mlp`, `vaeaudio.models.cnn`): exact
    weights      4 B per parameter, and as much again for their gradients and for each of Adam's two slots: 16 B
    activations  every layer's output per clip, `ACTIVATION_COPIES` times (the value, its gradient, temporaries),
                 4 B each, times the batch
    data         the clips held in memory as `split_plan.HELD` (float16): the train split or its stream's window,
                 and the batches in flight

`require` refuses (one line, with the figures) a run whose estimate exceeds the memory available now
(`vaeaudio.util.resources.available_memory`), instead of an out-of-memory kill or an internal
`ResourceExhaustedError` after the model was built.
"""

from __future__ import annotations

import math

import numpy as np

from vaeaudio.settings import TrainSettings
from vaeaudio.training.split_plan import HELD
from vaeaudio.util.errors import UsageError
from vaeaudio.util.resources import available_memory, human_bytes

#: Bytes per parameter while training: the float32 weight, its gradient and Adam's two slots.
BYTES_PER_PARAMETER = 16
#: Float32 copies of each layer's output per clip held by a training step (value, gradient, temporaries).
ACTIVATION_COPIES = 4


def _dense(widths: list[int]) -> int:
    """Parameters of a chain of Dense layers widths[0] -> widths[1] -> ... (weights and biases)."""
    return sum(i * o + o for i, o in zip(widths, widths[1:]))


def _conv(c_in: int, c_out: int, taps: int = 9) -> int:
    """Parameters of a (transposed) convolution of `taps` taps (9: 3 x 3) c_in -> c_out channels."""
    return taps * c_in * c_out + c_out


def layers(settings: TrainSettings, shape: tuple[int, int], classes: int) -> tuple[int, int]:
    """(parameters, activation values per clip) of the VAE `settings` build for spectrograms of `shape` from a set
    of `classes` classes (the conditional one-hot's width and the label head's outputs)."""
    n, c, dim = math.prod(shape), classes * settings.conditional, settings.latent_dim
    head = _dense([dim, classes]) if settings.label_weight else 0  # the label head of `--label-weight`
    if settings.kind == "mlp":
        hidden = list(settings.hidden)
        params = (_dense([n + c, *hidden]) + 2 * _dense([hidden[-1], dim])
                  + _dense([dim + c, *reversed(hidden), n]))
        return params + head, n + 2 * sum(hidden) + 3 * dim + n
    if settings.arch == "reference":
        flat = n * 64
        params = (_conv(1, 32) + _conv(32, 64) + _dense([flat + c, 256]) + 2 * _dense([256, dim])
                  + _dense([dim + c, 256, flat]) + _conv(64, 32) + _conv(32, 1))
        return params + head, 2 * (n * 32 + n * 64 + 256) + 3 * dim + n
    bins, frames = shape
    sizes, filters = [frames], list(settings.filters)
    for _ in filters:
        sizes.append(math.ceil(sizes[-1] / 2))
    flat = sizes[-1] * filters[-1]
    convs = sum(_conv(a, b, 3) for a, b in zip([bins, *filters], filters))
    convs += sum(_conv(a, b, 3) for a, b in zip(filters[::-1], [*filters[-2::-1], bins]))
    params = convs + _dense([flat + c, 256]) + 2 * _dense([256, dim]) + _dense([dim + c, 256, flat])
    maps = sum(s * f for s, f in zip(sizes[1:], filters))
    return params + head, 2 * (maps + 256) + 3 * dim + n


def estimate(settings: TrainSettings, shape: tuple[int, int], clips: int, classes: int) -> dict[str, int]:
    """Bytes a run of `settings` takes while training with `clips` clips of `shape` held in memory, from a set of
    `classes` classes: {"parameters" (a count), "weights", "activations", "data", "total"}."""
    params, per_clip = layers(settings, shape, classes)
    out = {"parameters": params, "weights": BYTES_PER_PARAMETER * params,
           "activations": 4 * ACTIVATION_COPIES * per_clip * settings.batch_size,
           "data": np.dtype(HELD).itemsize * math.prod(shape) * clips}
    out["total"] = out["weights"] + out["activations"] + out["data"]
    return out


def require(settings: TrainSettings, shape: tuple[int, int], clips: int, classes: int) -> dict[str, int]:
    """`estimate`, or `UsageError` with its figures when it exceeds the memory available now."""
    need, free = estimate(settings, shape, clips, classes), available_memory()
    if need["total"] > free:
        raise UsageError(f"this model needs about {human_bytes(need['total'])} of memory to train "
                         f"({need['parameters']:,} parameters: {human_bytes(need['weights'])} with gradients and "
                         f"Adam's state; activations of a batch of {settings.batch_size}: "
                         f"{human_bytes(need['activations'])}; data {human_bytes(need['data'])}), but "
                         f"{human_bytes(free)} is available", "choose narrower layers or a smaller --batch-size")
    return need
