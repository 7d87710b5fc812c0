"""The train and val splits of a spectrogram set, batched for training (`vaeaudio.training.train`): in memory, or
the train split streamed from the set's shards when it does not fit the memory budget (`split_plan.plan` decides).

Spectrograms are held as `HELD` (float16: half the bytes of the shards' float32, 0.02 dB off at most); the batches
they make are float32.

In memory (`Batches`): the train split is read once, shard by shard and a chunk at a time, into the variable it
lives in during training, x (n, bins, frames) in [0, 1], with its digits (n,), so it is held once (peak: the split
plus one chunk of `CHUNK_BYTES`). The val split of a run is not held (`OnDisk`): each evaluation reads it from its
shards in order, a batch at a time, as float32. Every epoch draws its own order from (seed, epoch), a permutation of the
whole split; one `tf.data` pipeline for all the epochs of a run gathers and prefetches the batches (B, bins, frames),
so no epoch waits for a pipeline to be built.

Streamed (`Streamed`, the train split): every epoch the shards are cut into blocks of
`Stream.block` consecutive clips, the blocks of all shards are shuffled together (the shards interleaved) and taken
`Stream.window` clips at a time (the shuffle buffer); a window is read block by block into one buffer, its clips
are shuffled and batched from there. The data held is that window plus the batches in flight
(`split_plan.IN_FLIGHT`), within the memory budget. The order is a function of (seed, epoch) and the run's
`Stream`, which the run records (config.json `data.stream`), so a run resumed at any step sees exactly the batches
it would have seen, in memory or streamed.

Under a distribution strategy each worker's pipeline yields its own part of every global batch (a streaming worker
reads every window and keeps its part).
"""

from __future__ import annotations

import math

import numpy as np

from vaeaudio.formats.shards import read_shard, read_spec
from vaeaudio.formats.spectrogram_set import SpectrogramSet
from vaeaudio.training.split_plan import HELD, PREFETCH, Stream
from vaeaudio.util.errors import DataError

#: Most bytes read at once into a split held in memory (on top of the split; 64 MB chunks left 100 MB more resident
#: after loading a 1.4 GB split than 4 MB ones).
CHUNK_BYTES = 4 << 20
#: Clips in each chunk of `train_chunks` (36 MB at the default shape; 4,096 held another 0.3 GB while the train
#: split's latents were stored).
CHUNK_CLIPS = 512


def _pieces(order: np.ndarray, batch_size: int, ctx=None):
    """The index batches of `order`, this input pipeline's pieces of them with `ctx`.

    With a `tf.distribute.InputContext` `ctx` of several replicas, each global
    batch of `order` is split into one part per input pipeline (worker) and
    that part into one piece per local replica; this pipeline yields its
    pieces, so every clip is seen once per epoch across workers.
    """
    for s in range(0, len(order), batch_size):
        batch = order[s : s + batch_size]
        if ctx is None or ctx.num_replicas_in_sync == 1:
            yield batch
        else:
            local = ctx.num_replicas_in_sync // ctx.num_input_pipelines
            yield from np.array_split(np.array_split(batch, ctx.num_input_pipelines)[ctx.input_pipeline_id], local)


def _parts(x: np.ndarray, digits: np.ndarray, batch_size: int, ctx):
    """This pipeline's pieces of the global batch (x (B, bins, frames) `HELD` or float32, digits (B,)) (`_pieces`),
    x as float32."""
    for part in _pieces(np.arange(len(x)), batch_size, ctx):
        piece = slice(part[0], part[-1] + 1) if len(part) else slice(0, 0)  # pieces are runs of a batch
        yield x[piece].astype(np.float32, copy=False), digits[piece]


class OnDisk:
    """A split read from its shards whenever it is wanted, never held: the val split of a run (one batch at a time
    while it is evaluated, so a split of any size takes a batch of memory), as float32, the values the shards hold
    (nothing held, nothing to round)."""

    def __init__(self, spec_set: SpectrogramSet, split: str):
        self.shape, self._shards = spec_set.shape, spec_set.shards(split)  # (path, clips)
        self._starts = np.cumsum([0] + [clips for _, clips in self._shards])
        self.digits = np.concatenate([read_shard(path, ("digit",), len(spec_set.classes))["digit"]
                                      for path, _ in self._shards]).astype(np.int32)

    def __len__(self) -> int:
        return len(self.digits)

    def read(self, start: int, stop: int) -> np.ndarray:
        """Clips start..stop-1 of the split, (k, bins, frames) float32."""
        out = np.empty((stop - start, *self.shape), np.float32)
        for (path, _), first, end in zip(self._shards, self._starts, self._starts[1:]):
            if max(start, first) < min(stop, end):
                read_spec(path, out, [(max(start, first) - first, min(stop, end) - first, max(start, first) - start)])
        return out

    def batches(self, batch_size: int, ctx=None):
        """The split in order as (x (B, bins, frames) float32, digits (B,)) numpy, this pipeline's pieces with
        `ctx`."""
        for s in range(0, len(self), batch_size):
            stop = min(len(self), s + batch_size)
            yield from _parts(self.read(s, stop), self.digits[s:stop], batch_size, ctx)


def _read_split(spec_set: SpectrogramSet, split: str, into=None) -> tuple[np.ndarray, np.ndarray, float]:
    """A split's digits (n,) int32 and its clips' dB minima and maxima (n,) float32, its mean [0, 1] value, with its
    spectrograms assigned into the variable `into` (n, bins, frames) a chunk at a time when given (read and summed
    only when None)."""
    shards = spec_set.shards(split)
    labels = [read_shard(path, ("digit", "db_min", "db_max"), len(spec_set.classes)) for path, _ in shards]
    n, per = sum(c for _, c in shards), max(1, CHUNK_BYTES // (4 * math.prod(spec_set.shape)))
    chunk = np.empty((min(per, max([c for _, c in shards], default=0)), *spec_set.shape), np.float32)
    total, at = 0.0, 0
    for path, clips in shards:
        for first in range(0, clips, per):
            stop = min(clips, first + per)
            part = chunk[: stop - first]
            read_spec(path, part, [(first, stop, 0)])
            total += float(part.sum(dtype=np.float64))
            if into is not None:  # in place (slicing the variable, `into[a:b].assign`, would copy all of it)
                _assign_rows(into, at, part.astype(HELD))
            at += len(part)
    cat = lambda name, dtype: np.concatenate([x[name] for x in labels]).astype(dtype) if labels else np.zeros(0, dtype)
    mean = total / max(1, n * math.prod(spec_set.shape))
    return cat("digit", np.int32), np.stack([cat("db_min", np.float32), cat("db_max", np.float32)]), mean


class Batches:
    """The train split in memory, batched per epoch, and the val split (see the module docstring)."""

    def __init__(self, train, val, batch_size: int, seed: int, train_digits: np.ndarray | None = None,
                 val_digits: np.ndarray | None = None):
        """`train`: spectrograms (n, bins, frames) in [0, 1], numpy (copied into a `HELD` variable) or the `HELD`
        variable itself; `val` the same or an `OnDisk` split (which has its own digits); digits (n,) (zeros if
        None).

        A split held is held once, in a non-trainable variable: the input pipelines read it through its handle
        (a captured constant would be copied into every pipeline built on it, and a full-size corpus's split is too
        large to copy)."""
        self.train = _held(train, HELD)
        self.train_digits = _held(np.zeros(int(self.train.shape[0]), np.int32) if train_digits is None
                                  else train_digits, np.int32)
        self._val(val, val_digits)
        self.batch_size, self.seed = batch_size, seed

    def _val(self, val, digits: np.ndarray | None) -> None:
        """Keep the val split: `OnDisk` as it is, spectrograms in a `HELD` variable with their digits."""
        self.val = val if isinstance(val, OnDisk) else _held(val, HELD)
        if not isinstance(val, OnDisk):
            self.val_digits = _held(np.zeros(int(self.val.shape[0]), np.int32) if digits is None else digits,
                                    np.int32)

    @classmethod
    def load(cls, spec_set: SpectrogramSet, batch_size: int, seed: int,
             stream: Stream | None = None) -> tuple[Batches, dict[str, float]]:
        """The splits of `spec_set`, the train split streamed as `stream` says (None: in memory), and of its train
        clips: the median `db_min` and `db_max` (to undo the scaling) and the `mean` [0, 1] value (the level
        `synth --sharpen auto` matches). The train split, held in memory, is read straight into its variable; the val
        split is read from its shards when evaluated (`OnDisk`)."""
        n_train, n_val = spec_set.clips("train"), spec_set.clips("val")
        if not n_train or not n_val:
            raise DataError(f"{spec_set.root} needs clips in both its train and val splits "
                            f"(has {n_train} and {n_val})", "re-run `vaeaudio preprocess` on more recordings")
        val = OnDisk(spec_set, "val")
        train = None if stream else _zeros((n_train, *spec_set.shape))
        train_digits, db, mean = _read_split(spec_set, "train", train)
        stats = {"db_min": float(np.median(db[0])), "db_max": float(np.median(db[1])), "mean": mean}
        if stream:
            return Streamed(spec_set, stream, val, batch_size, seed, train_digits), stats
        return cls(train, val, batch_size, seed, train_digits), stats

    def val_arrays(self, n: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The val split's first `n` clips (all if None) as numpy: spectrograms (n, bins, frames) and digits (n,)."""
        n = self.sizes[1] if n is None else min(n, self.sizes[1])
        if isinstance(self.val, OnDisk):
            return self.val.read(0, n), self.val.digits[:n]
        return _rows(self.val, 0, n).numpy().astype(np.float32), _rows(self.val_digits, 0, n).numpy()

    def train_chunks(self, clips: int = CHUNK_CLIPS):
        """The train split in order, `clips` at a time: (spectrograms (k, bins, frames) float32 tensor, digits (k,)
        numpy), each chunk a copy of its rows alone."""
        import tensorflow as tf

        n = self.sizes[0]
        for s in range(0, n, clips):
            yield (tf.cast(_rows(self.train, s, min(n, s + clips)), tf.float32),
                   _rows(self.train_digits, s, min(n, s + clips)).numpy())

    @property
    def sizes(self) -> tuple[int, int]:
        """Clips in the train and val splits."""
        return self._train_size(), len(self.val) if isinstance(self.val, OnDisk) else int(self.val.shape[0])

    def _train_size(self) -> int:
        return int(self.train.shape[0])

    def steps(self) -> int:
        """Training steps per epoch (the last batch may be smaller)."""
        return math.ceil(self.sizes[0] / self.batch_size)

    def _batches(self, source, digits, pieces):
        """One pipeline of batches (x (B, bins, frames) float32, digits (B,)) gathered from `source` by the index
        batches of `pieces` (a dataset of (flat indices, batch lengths), one element an epoch), prefetched.

        The index batches are made by numpy once an epoch: a Python generator per batch would
        hold every step up, and a small model's step is short enough for that to show."""
        import tensorflow as tf

        ds = pieces.flat_map(lambda flat, lengths: tf.data.Dataset.from_tensor_slices(
            tf.RaggedTensor.from_row_lengths(flat, lengths)))
        def gather(idx):
            idx = tf.reshape(idx, [-1])  # a ragged row's rank is not known statically; Keras's fit needs it
            return tf.cast(tf.gather(source, idx), tf.float32), tf.gather(digits, idx)
        return ds.map(gather).prefetch(PREFETCH)

    def _epoch_pieces(self, order: np.ndarray, ctx) -> tuple[np.ndarray, np.ndarray]:
        """`_pieces` of `order` as (their indices one after another (n,) int64, their lengths (k,) int64)."""
        parts = list(_pieces(order, self.batch_size, ctx))
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
        """The val split in order, batched (this pipeline's pieces with `ctx`): x (B, bins, frames) float32, digits
        (B,)."""
        import tensorflow as tf

        if isinstance(self.val, OnDisk):
            spec = (tf.TensorSpec((None, *self.val.shape), tf.float32), tf.TensorSpec((None,), tf.int32))
            return tf.data.Dataset.from_generator(lambda: self.val.batches(self.batch_size, ctx),
                                                  output_signature=spec).prefetch(PREFETCH)
        return self._batches(self.val, self.val_digits, tf.data.Dataset.from_tensors(
            self._epoch_pieces(np.arange(self.sizes[1]), ctx)))


def _held(a, dtype):
    """`a` as a non-trainable variable (copied when numpy; itself when a variable already)."""
    import tensorflow as tf

    return a if isinstance(a, tf.Variable) else tf.Variable(np.asarray(a, dtype), trainable=False)


def _rows(variable, start: int, stop: int):
    """variable[start:stop] as a tensor of those rows alone.

    A slice of the variable (`variable[a:b]`) reads all of it first, and once rows were assigned into it or a
    pipeline gathered from it that read is a copy of the whole split (TensorFlow's copy-on-read mode for variables
    updated or read in part), which the slice and any numpy view of it keep alive; a gather copies only its rows."""
    import tensorflow as tf

    return tf.gather(variable, tf.range(start, stop))


def _assign_rows(variable, at: int, rows: np.ndarray) -> None:
    """variable[at : at + len(rows)] = rows, in place."""
    import tensorflow as tf

    shape = rows.shape
    tf.raw_ops.ResourceStridedSliceAssign(ref=variable.handle, begin=[at] + [0] * (len(shape) - 1),
                                          end=[at + shape[0], *shape[1:]], strides=[1] * len(shape), value=rows)


def _zeros(shape: tuple[int, ...]):
    """A non-trainable `HELD` variable of zeros: the place a split is read into."""
    import tensorflow as tf

    return tf.Variable(tf.zeros(shape, HELD), trainable=False)


class Streamed(Batches):
    """The train split streamed from its shards (see the module docstring)."""

    def __init__(self, spec_set: SpectrogramSet, stream: Stream, val, batch_size: int, seed: int,
                 train_digits: np.ndarray, val_digits: np.ndarray | None = None):
        """`val`, `val_digits` as for `Batches`; `train_digits` (n,) the train split's digits in shard order."""
        self.shape, self.stream = spec_set.shape, stream
        self._shards = spec_set.shards("train")  # (path, clips)
        #: Every block of the split: (its first clip's index in the split, shard, first, stop in the shard).
        self._blocks, at = [], 0
        for k, (_, clips) in enumerate(self._shards):
            for first in range(0, clips, stream.block):
                self._blocks.append((at + first, k, first, min(clips, first + stream.block)))
            at += clips
        self._digits = np.asarray(train_digits, np.int32)
        self.train_digits = _held(self._digits, np.int32)
        self._val(val, val_digits)
        self.batch_size, self.seed = batch_size, seed

    def _train_size(self) -> int:
        return len(self._digits)

    def windows(self, epoch: int) -> list[tuple[list[tuple[int, int, int, int]], np.ndarray]]:
        """Epoch `epoch`'s windows in reading order, drawn from (seed, epoch): each its blocks (as `_blocks` has
        them, in buffer order) and the order of its clips (indices into the window)."""
        rng = np.random.default_rng([self.seed, epoch])
        blocks = rng.permutation(len(self._blocks))
        per = self.stream.window // self.stream.block
        out = []
        for w in range(0, len(blocks), per):
            chosen = [self._blocks[b] for b in blocks[w : w + per]]
            out.append((chosen, rng.permutation(sum(stop - first for _, _, first, stop in chosen))))
        return out

    @staticmethod
    def _indices(chosen) -> np.ndarray:
        """The split indices of a window's clips, in buffer order."""
        return np.concatenate([np.arange(at, at + stop - first) for at, _, first, stop in chosen])

    def order(self, epoch: int) -> np.ndarray:
        """Epoch `epoch`'s order of the train split's indices (`windows`): each clip once."""
        return np.concatenate([self._indices(chosen)[perm] for chosen, perm in self.windows(epoch)])

    def _read(self, chosen, buffer: np.ndarray) -> None:
        """A window's blocks into `buffer` (k, bins, frames) `HELD`, each shard opened once, its blocks read in file
        order."""
        at, by_shard = 0, {}
        for _, shard, first, stop in chosen:
            by_shard.setdefault(shard, []).append((first, stop, at))
            at += stop - first
        for shard, rows in sorted(by_shard.items()):
            read_spec(self._shards[shard][0], buffer, sorted(rows))

    def stream_batches(self, epoch: int, skip: int = 0, ctx=None, epochs: int = 1):
        """The batches of `train_batches` as numpy (x (B, bins, frames) float32, digits (B,) int32), read a window
        at a time into one `HELD` buffer (windows wholly before batch `skip` are not read)."""
        buffer, bs = np.empty((min(self.stream.window, self.sizes[0]), *self.shape), HELD), self.batch_size
        for e in range(epoch, epoch + epochs):
            first = (skip if e == epoch else 0) * bs  # clips of the epoch passed over
            held_x, held_d = [], []  # the start of a batch that runs into the next window (copies)
            seen = 0
            for chosen, perm in self.windows(e):
                seen += len(perm)
                if seen <= first:
                    continue
                self._read(chosen, buffer)
                rows, digits = perm[max(0, first - (seen - len(perm))) :], self._digits[self._indices(chosen)]
                if held_x:  # finish the batch begun in an earlier window
                    take = rows[: bs - sum(map(len, held_x))]
                    held_x.append(buffer[take]), held_d.append(digits[take])
                    rows = rows[len(take) :]
                    if sum(map(len, held_x)) < bs:
                        continue
                    yield from _parts(np.concatenate(held_x), np.concatenate(held_d), bs, ctx)
                    held_x, held_d = [], []
                for s in range(0, len(rows), bs):
                    if s + bs > len(rows):
                        held_x, held_d = [buffer[rows[s:]]], [digits[rows[s:]]]
                    else:
                        yield from _parts(buffer[rows[s : s + bs]], digits[rows[s : s + bs]], bs, ctx)
            if held_x:
                yield from _parts(np.concatenate(held_x), np.concatenate(held_d), bs, ctx)

    def train_batches(self, epoch: int, skip: int = 0, ctx=None, epochs: int = 1):
        """As `Batches.train_batches`, in the streamed order (`order`)."""
        import tensorflow as tf

        spec = (tf.TensorSpec((None, *self.shape), tf.float32), tf.TensorSpec((None,), tf.int32))
        return tf.data.Dataset.from_generator(lambda: self.stream_batches(epoch, skip, ctx, epochs),
                                              output_signature=spec).prefetch(PREFETCH)

    def train_chunks(self, clips: int = CHUNK_CLIPS):
        """The train split in order, `clips` at a time (at most a window): (spectrograms float32, rounded to `HELD` as
        in memory, digits) numpy, the spectrograms in one buffer that the next chunk overwrites."""
        clips = min(clips, self.stream.window)
        buffer, at = np.empty((clips, *self.shape), np.float32), 0
        for path, n in self._shards:
            for first in range(0, n, clips):
                stop = min(n, first + clips)
                part = buffer[: stop - first]
                read_spec(path, part, [(first, stop, 0)])
                part[...] = part.astype(HELD)
                yield part, self._digits[at + first : at + stop]
            at += n
