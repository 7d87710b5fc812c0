"""The train and val splits of a spectrogram set in memory, batched for training (`vaeaudio.training.train`).

Both splits are read once into float32 variables x (n, bins, frames) in [0, 1]
with their digits (n,). Every epoch draws its own order from (seed, epoch), so
a run resumed at any step sees exactly the batches it would have seen; one
`tf.data` pipeline for all the epochs of a run gathers and prefetches the
batches (B, bins, frames), so no epoch waits for a pipeline to be built. Under
a distribution strategy each worker's pipeline yields its own part of every
global batch.
"""

from __future__ import annotations

import math

import numpy as np

from vaeaudio.formats.spectrogram_set import SpectrogramSet
from vaeaudio.util.errors import DataError


class Batches:
    """The train and val splits in memory, batched per epoch (see the module docstring)."""

    def __init__(self, train: np.ndarray, val: np.ndarray, batch_size: int, seed: int,
                 train_digits: np.ndarray | None = None, val_digits: np.ndarray | None = None):
        """`train`, `val`: spectrograms (n, bins, frames) float32 in [0, 1]; digits (n,) (zeros if None).

        Each split is held once, in a non-trainable variable: the input pipelines read it through its handle
        (a captured constant would be copied into every pipeline built on it, and a full-size corpus's split is too
        large to copy)."""
        import tensorflow as tf

        held = lambda a, dtype: tf.Variable(np.asarray(a, dtype), trainable=False)
        self.train, self.val = held(train, np.float32), held(val, np.float32)
        digits = lambda d, n: held(np.zeros(n, np.int32) if d is None else d, np.int32)
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
                            f"(has {len(train['spec'])} and {len(val['spec'])})",
                            "re-run `vaeaudio preprocess` on more recordings")
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

    def _pieces(self, order: np.ndarray, ctx=None):
        """The index batches of `order`, this input pipeline's pieces of them with `ctx`.

        With a `tf.distribute.InputContext` `ctx` of several replicas, each global
        batch of `order` is split into one part per input pipeline (worker) and
        that part into one piece per local replica; this pipeline yields its
        pieces, so every clip is seen once per epoch across workers.
        """
        for s in range(0, len(order), self.batch_size):
            batch = order[s : s + self.batch_size]
            if ctx is None or ctx.num_replicas_in_sync == 1:
                yield batch
            else:
                local = ctx.num_replicas_in_sync // ctx.num_input_pipelines
                yield from np.array_split(np.array_split(batch, ctx.num_input_pipelines)[ctx.input_pipeline_id], local)

    def _batches(self, source, digits, pieces):
        """One pipeline of batches (x (B, bins, frames), digits (B,)) gathered from `source` by the index
        batches of `pieces` (a dataset of (flat indices, batch lengths), one element an epoch), prefetched.

        The index batches are made by numpy once an epoch: a Python generator per batch would
        hold every step up, and a small model's step is short enough for that to show."""
        import tensorflow as tf

        ds = pieces.flat_map(lambda flat, lengths: tf.data.Dataset.from_tensor_slices(
            tf.RaggedTensor.from_row_lengths(flat, lengths)))
        def gather(idx):
            idx = tf.reshape(idx, [-1])  # a ragged row's rank is not known statically; Keras's fit needs it
            return tf.gather(source, idx), tf.gather(digits, idx)
        return ds.map(gather).prefetch(2)

    def _epoch_pieces(self, order: np.ndarray, ctx) -> tuple[np.ndarray, np.ndarray]:
        """`_pieces` of `order` as (their indices one after another (n,) int64, their lengths (k,) int64)."""
        parts = list(self._pieces(order, ctx))
        return (np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64),
                np.asarray([len(p) for p in parts], np.int64))

    def order(self, epoch: int) -> np.ndarray:
        """Epoch `epoch`'s shuffle of the train split: a permutation of its indices, drawn from (seed, epoch)."""
        return np.random.default_rng([self.seed, epoch]).permutation(self.sizes[0])

    def train_batches(self, epoch: int, skip: int = 0, ctx=None, epochs: int = 1):
        """The shuffled batches of `epochs` epochs from `epoch` on, one after another, in one pipeline (so an
        epoch starts without building one), the first from batch `skip` on (this pipeline's pieces with `ctx`)."""
        import tensorflow as tf

        def pieces(e):
            e = int(e)
            return self._epoch_pieces(self.order(e)[(skip if e == epoch else 0) * self.batch_size:], ctx)
        epochs_ = tf.data.Dataset.range(epoch, epoch + epochs).map(
            lambda e: tf.numpy_function(pieces, [e], (tf.int64, tf.int64), stateful=False))
        return self._batches(self.train, self.train_digits, epochs_)

    def val_batches(self, ctx=None):
        import tensorflow as tf

        return self._batches(self.val, self.val_digits, tf.data.Dataset.from_tensors(
            self._epoch_pieces(np.arange(self.sizes[1]), ctx)))
