"""The train and val splits of a spectrogram set in memory, batched for training (`vaeaudio.train`).

Both splits are read once into float32 tensors x (n, bins, frames) in [0, 1]
with their digits (n,). Every epoch draws its own order from (seed, epoch), so
a run resumed at any step sees exactly the batches it would have seen; a
`tf.data` pipeline gathers and prefetches the batches (B, bins, frames). Under
a distribution strategy each worker's pipeline yields its own part of every
global batch.
"""

from __future__ import annotations

import math

import numpy as np

from .data import SpectrogramSet
from .errors import DataError


class Batches:
    """The train and val splits in memory, batched per epoch (see the module docstring)."""

    def __init__(self, train: np.ndarray, val: np.ndarray, batch_size: int, seed: int,
                 train_digits: np.ndarray | None = None, val_digits: np.ndarray | None = None):
        """`train`, `val`: spectrograms (n, bins, frames) float32 in [0, 1]; digits (n,) (zeros if None)."""
        import tensorflow as tf

        self.train, self.val = tf.constant(train), tf.constant(val)
        digits = lambda d, n: tf.constant(np.zeros(n, np.int32) if d is None else np.asarray(d, np.int32))  # noqa: E731
        self.train_digits, self.val_digits = digits(train_digits, len(train)), digits(val_digits, len(val))
        self.batch_size, self.seed = batch_size, seed

    @classmethod
    def load(cls, spec_set: SpectrogramSet, batch_size: int, seed: int) -> tuple[Batches, dict[str, float]]:
        """The splits of `spec_set`, and of its train clips: the median `db_min` and `db_max` (to undo the
        scaling) and the `mean` [0, 1] value (the level `synth --sharpen auto` matches)."""
        train = spec_set.arrays("train", ("spec", "digit", "db_min", "db_max"))
        val = spec_set.arrays("val", ("spec", "digit"))
        if not len(train["spec"]) or not len(val["spec"]):
            raise DataError(f"{spec_set.root} needs clips in both its train and val splits "
                            f"(has {len(train['spec'])} and {len(val['spec'])})", "re-run `vaeaudio preprocess` on more recordings")
        stats = {"db_min": float(np.median(train["db_min"])), "db_max": float(np.median(train["db_max"])),
                 "mean": float(np.mean(train["spec"], dtype=np.float64))}
        return cls(train.pop("spec"), val.pop("spec"), batch_size, seed, train["digit"], val["digit"]), stats

    def val_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """The val split as numpy: spectrograms (n, bins, frames) and digits (n,)."""
        return self.val.numpy(), self.val_digits.numpy()

    @property
    def sizes(self) -> tuple[int, int]:
        return int(self.train.shape[0]), int(self.val.shape[0])

    def steps(self) -> int:
        """Training steps per epoch (the last batch may be smaller)."""
        return math.ceil(self.sizes[0] / self.batch_size)

    def _batches(self, source, digits, order: np.ndarray, ctx=None):
        """Batches (x (B, bins, frames), digits (B,)) in `order`.

        With a `tf.distribute.InputContext` `ctx` of several replicas, each global
        batch of `order` is split into one part per input pipeline (worker) and
        that part into one piece per local replica; this pipeline yields its
        pieces, so every clip is seen once per epoch across workers.
        """
        import tensorflow as tf

        if ctx is None or ctx.num_replicas_in_sync == 1:
            ds = tf.data.Dataset.from_tensor_slices(order).batch(self.batch_size)
        else:
            local = ctx.num_replicas_in_sync // ctx.num_input_pipelines
            pieces = [piece for s in range(0, len(order), self.batch_size)
                      for piece in np.array_split(np.array_split(order[s : s + self.batch_size],
                                                                 ctx.num_input_pipelines)[ctx.input_pipeline_id], local)]
            ds = tf.data.Dataset.from_generator(lambda: iter(pieces), output_signature=tf.TensorSpec([None], tf.int64))
        return ds.map(lambda idx: (tf.gather(source, idx), tf.gather(digits, idx))).prefetch(2)

    def train_batches(self, epoch: int, skip: int = 0, ctx=None):
        """Epoch `epoch`'s shuffled batches, from batch `skip` on (this pipeline's pieces with `ctx`)."""
        order = np.random.default_rng([self.seed, epoch]).permutation(self.sizes[0])
        return self._batches(self.train, self.train_digits, order[skip * self.batch_size:], ctx)

    def val_batches(self, ctx=None):
        return self._batches(self.val, self.val_digits, np.arange(self.sizes[1]), ctx)
