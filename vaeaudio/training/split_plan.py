"""Where a run's train split lives while it trains (`plan`): held in memory, or streamed from the set's shards
through a shuffle buffer the memory budget bounds (`Stream`), with the constants both ways share. The batches
themselves: `vaeaudio.training.batches`."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from vaeaudio.formats.spectrogram_set import SpectrogramSet
from vaeaudio.util import resources
from vaeaudio.util.errors import UsageError

#: The dtype a split's spectrograms are held in, in memory or in a streamed window (the shards store float32): a
#: [0, 1] value to within 2^-12 of itself (0.02 dB of the default 80 dB range) in half the bytes, so that a split twice
#: the size fits in memory.
HELD = np.float16
#: Batches each pipeline prefetches.
PREFETCH = 2
#: Batches of a streamed split held besides its window: the one being assembled and the one yielded (numpy), its
#: tensor, the prefetched ones and the step's own.
IN_FLIGHT = 4 + PREFETCH
#: Most consecutive clips of a shard a streamed epoch reads at once (32 default-size clips: 2.3 MB), and the fewest
#: blocks a window holds (smaller blocks in a small window, so that it still mixes clips from several places).
BLOCK, MIN_BLOCKS = 32, 8

@dataclass(frozen=True)
class Stream:
    """How a streamed train split is read: up to `window` clips shuffled together (the shuffle buffer: `window //
    block` blocks), read in blocks of up to `block` consecutive clips of one shard (a shard's last may be shorter)."""

    window: int
    block: int

    @classmethod
    def of(cls, stream: dict | None) -> Stream | None:
        """The `Stream` a run recorded (config.json `data.stream`; None: held in memory)."""
        return None if stream is None else cls(**stream)

    def resumed(self) -> str:
        """The line `train --resume` says of a streamed run."""
        return f"train split: streamed as when the run started (shuffle buffer of {self.window:,} clips)"


def plan(spec_set: SpectrogramSet, batch_size: int, in_memory: bool | None = None,
         budget_mb: float | None = None, multi_worker: bool = False) -> tuple[Stream | None, str]:
    """None (hold the train split in memory) or the `Stream` to read it with, and the line that says which and why
    (for the log, once the run starts).

    `in_memory` True/False forces it (`--in-memory`/`--stream`); None holds the split in memory when its
    spectrograms fit the budget: `budget_mb` megabytes, else `resources.SPLIT_SHARE` of the memory available now.
    A streamed split's window takes the budget less the batches in flight; `UsageError` when that leaves no clip.
    With `multi_worker` every worker must read the same batches, so nothing may depend on its own memory: without
    `budget_mb` the split is held in memory, and `--stream` needs `budget_mb`."""
    n, clip = spec_set.clips("train"), np.dtype(HELD).itemsize * math.prod(spec_set.shape)
    split, shards = n * clip, len(spec_set.manifest.splits["train"].shards)
    shared = multi_worker and budget_mb is None and in_memory is None  # held in memory for that reason alone
    if multi_worker and budget_mb is None:
        if in_memory is False:
            raise UsageError("--distribute multi-worker --stream needs --memory-budget: each worker would size its "
                             "shuffle buffer from its own memory, and every worker must read the same batches",
                             "give every worker the same --memory-budget MB")
        in_memory = True
    if budget_mb is None:
        available = resources.available_memory()
        budget = int(available * resources.SPLIT_SHARE)
        why = f"{budget / 1e6:,.0f} MB budget ({resources.SPLIT_SHARE:.0%} of the {available / 1e6:,.0f} MB available)"
    else:
        budget = int(budget_mb * 1e6)
        why = f"--memory-budget of {budget / 1e6:,.1f} MB"
    size = f"{n:,} clips, {split / 1e6:,.1f} MB of spectrograms ({np.dtype(HELD).name})"
    if in_memory or (in_memory is None and split <= budget):
        reason = ("--distribute multi-worker without --memory-budget" if shared else
                  "--in-memory" if in_memory else "within the " + why)
        return None, f"train split: {size}, held in memory ({reason})"
    flight = IN_FLIGHT * batch_size * 4 * math.prod(spec_set.shape)  # float32 batches
    window = (budget - flight) // clip
    if window < 1:
        raise UsageError(f"streaming the train split ({size}) needs more than the {why}: the {IN_FLIGHT} batches of "
                         f"{batch_size} clips in flight take {flight / 1e6:,.1f} MB",
                         "raise --memory-budget or lower --batch-size")
    block = max(1, min(BLOCK, window // MIN_BLOCKS))
    blocks = sum(math.ceil(c / block) for c in (s.clips for s in spec_set.manifest.splits["train"].shards))
    stream = Stream(min(window // block, blocks) * block, block)
    reason = "--stream" if in_memory is False else "over the " + why
    return stream, (f"train split: {size}, streamed from its {shards} shard(s) through a shuffle buffer of "
                    f"{stream.window:,} clips ({stream.window * clip / 1e6:,.1f} MB; {reason})")
