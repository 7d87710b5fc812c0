"""The model as training runs it: built and compiled for a run's settings (`build_model`), and its compiled
train and eval steps (`make_steps`)."""

from __future__ import annotations

import functools
import hashlib
import json
import math
import statistics
import time

import numpy as np

from vaeaudio.formats.classes import DIGIT_CLASSES
from vaeaudio.models import kernels
from vaeaudio.settings import TrainSettings
from vaeaudio.util import progress


def make_steps(model, xla: bool = True):
    """(train_step, eval_step): (x (B, bins, frames), digits (B,)) -> running means {name: scalar}, via `strategy.run`.

    Losses and gradients run on TensorFlow's own kernels (oneDNN on CPU: its
    convolutions and bfloat16 matmuls are faster than XLA's), except the
    large Dense products, on the kernels `build_model` chose. With `xla`,
    the optimizer update, memory-bound over every parameter, is one XLA-fused
    kernel; under a distribution strategy the optimizer all-reduces the
    gradients itself, so the update is left uncompiled there. Both steps
    return the first local replica's means (every replica holds the global ones).
    """
    import tensorflow as tf

    strategy = tf.distribute.get_strategy()
    update = None
    if xla and not tf.distribute.has_strategy():
        update = tf.function(model.apply_gradients, jit_compile=True)
    inner = {True: functools.partial(model.step, training=True, update=update),
             False: functools.partial(model.step, training=False)}

    @tf.function
    def train_step(x, digits):
        return strategy.experimental_local_results(strategy.run(inner[True], args=(x, digits)))[0]

    @tf.function
    def eval_step(x, digits):
        return strategy.experimental_local_results(strategy.run(inner[False], args=(x, digits)))[0]

    return train_step, eval_step


def build_model(settings: TrainSettings, shape: tuple[int, int], classes: int = len(DIGIT_CLASSES)):
    """The compiled (Adam, built) VAE for `settings` (conditioned, when it is conditional, on `classes` classes),
    built under the current strategy and precision, its Dense products on the kernels `settings.kernels` picks for
    this machine (and a line saying so on a CPU without native bfloat16 when bfloat16 is asked for)."""
    import keras
    import tensorflow as tf

    from vaeaudio.models.dense import choose_kernels, dense_layers
    from vaeaudio.models.layouts import build

    keras.utils.set_random_seed(settings.seed)
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(settings.precision)
    strategy = tf.distribute.get_strategy()
    try:
        with strategy.scope():
            model = build(settings, shape, classes)
            model.compile(optimizer=keras.optimizers.Adam(learning_rate=settings.lr))
            model.optimizer.build(model.trainable_variables)
    finally:
        keras.config.set_dtype_policy(previous)
    replica_batch = max(1, settings.batch_size // strategy.num_replicas_in_sync)
    if settings.precision == "mixed_bfloat16" and not kernels.native_bf16():
        largest = max((tuple(layer.kernel.shape) for layer in dense_layers(model)), key=math.prod)
        progress.log(f"--precision mixed_bfloat16: this CPU has no native bfloat16 (no AVX512_BF16 or AMX), so its "
                     f"largest layer's products take {kernels.bf16_slowdown(largest, replica_batch):.1f}x as long as "
                     "in float32 here; --precision float32 is the faster choice on it")
    timer = None
    if settings.kernels == "auto" and settings.distribute == "none":  # workers must not time steps apart
        timer = _step_timer(model, settings, shape, replica_batch)
    choose_kernels(model, replica_batch, settings.kernels, timer, _model_key(model, replica_batch, settings))
    return model


def _model_key(model, batch: int, settings: TrainSettings) -> str:
    """What fixes the cost of `model`'s training step: its layers' configs (names and seeds left out), batch,
    precision and whether the update is XLA-compiled; hashed."""
    def unnamed(node):
        if isinstance(node, dict):
            return {k: unnamed(v) for k, v in node.items() if k not in ("name", "seed")}
        return [unnamed(v) for v in node] if isinstance(node, list) else node

    config = json.dumps(unnamed(model.get_config()), sort_keys=True, default=str)
    key = f"{config}|{batch}|{settings.precision}|{settings.xla}"
    return f"{type(model).__name__}:{batch}:{settings.precision}:" + hashlib.sha256(key.encode()).hexdigest()[:16]


def _step_timer(model, settings: TrainSettings, shape: tuple[int, int], batch: int):
    """time_steps([setup, ...]) -> [seconds, ...]: for each `setup()` (which gives the layers one candidate's kernel
    plans), a training step of the freshly built `model` (x (batch, *shape) of uniform noise, label 0) traced and
    run twice to compile; then the steps are timed in turn, each at least `kernels.STEP_CALLS` times and for
    `kernels.STEP_SECONDS` in all per candidate, so that a change in the machine's load falls on every candidate
    alike; the median of each.

    The steps run at learning rate 0 and leave the model as built: its weights
    untouched, its other variables (random generators, normalisation statistics)
    and the optimizer's state (all zero when fresh, but the learning rate) put back.
    """
    import tensorflow as tf

    rng = np.random.default_rng(settings.seed)
    x = tf.constant(rng.random((batch, *shape), dtype=np.float32))
    labels = tf.zeros((batch,), tf.int32)
    optimizer = model.optimizer

    def time_steps(setups) -> list[float]:
        kept = [(v, v.numpy()) for v in model.non_trainable_variables]
        # the learning rate is kept; the rest of a fresh optimizer (moments, step count) is zero
        opt_kept = [(v, v.numpy()) for v in optimizer.variables if bool(tf.reduce_any(tf.not_equal(v, 0)))]
        rate = float(optimizer.learning_rate)
        optimizer.learning_rate = 0.0
        logger, level = tf.get_logger(), tf.get_logger().level
        logger.setLevel("ERROR")  # one trace per candidate is the point: not TensorFlow's warning about retracing
        try:
            steps = []
            for setup in setups:
                setup()
                train_step, _ = make_steps(model, settings.xla)
                for _ in range(2):
                    train_step(x, labels)["total"].numpy()
                steps.append(train_step)
            seconds, t0 = [[] for _ in steps], time.perf_counter()
            while (min(map(len, seconds)) < kernels.STEP_CALLS
                   or time.perf_counter() - t0 < kernels.STEP_SECONDS * len(steps)):
                for step, times in zip(steps, seconds):
                    t = time.perf_counter()
                    step(x, labels)["total"].numpy()
                    times.append(time.perf_counter() - t)
            return [statistics.median(times) for times in seconds]
        finally:
            for v in optimizer.variables:
                v.assign(tf.zeros_like(v))
            for v, value in [*kept, *opt_kept]:
                v.assign(value)
            optimizer.learning_rate = rate
            model.reset_metrics()
            logger.setLevel(level)

    return time_steps
