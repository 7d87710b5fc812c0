"""Train / validation / test splits of a corpus, as index arrays (0 train, 1 val, 2 test).

- `split_by_take`: stratified by digit over all clips, as the reference
  (sklearn-style counts: ceil(test_fraction x n) to test, then
  ceil(val_fraction x rest) to validation); every speaker is in every split.
- `split_by_speaker`: whole speakers held out, so test loss measures unseen voices; validation is whole speakers
  too, or (`val_by="take"`) a stratified share of the training voices' clips.
"""

from __future__ import annotations

import math

import numpy as np

from vaeaudio.util.errors import DataError, UsageError


def _allocate(counts: np.ndarray, n_pick: int, rng: np.random.Generator) -> np.ndarray:
    """Split `n_pick` over classes in proportion to `counts` (largest remainder, ties at random)."""
    exact = counts * n_pick / counts.sum()
    alloc = np.floor(exact).astype(int)
    remainder = exact - alloc
    order = np.lexsort((rng.random(len(counts)), -remainder))
    alloc[order[: n_pick - alloc.sum()]] += 1
    return np.minimum(alloc, counts)


def _stratified_pick(labels: np.ndarray, fraction: float, rng: np.random.Generator, keep: int | None = None
                     ) -> np.ndarray:
    """Boolean mask choosing ceil(fraction * n) items, stratified by label; with `keep`, also at least one of every
    label that has more than `keep` items (so that `keep` stay behind)."""
    classes, counts = np.unique(labels, return_counts=True)
    n_pick = int(math.ceil(fraction * len(labels)))
    mask = np.zeros(len(labels), dtype=bool)
    alloc = _allocate(counts, n_pick, rng)
    if keep is not None:
        alloc = np.maximum(alloc, (counts > keep).astype(int))
    for cls, k in zip(classes, alloc):
        idx = np.flatnonzero(labels == cls)
        mask[rng.permutation(idx)[:k]] = True
    return mask


def split_by_take(digits: np.ndarray, test_fraction: float, val_fraction: float, seed: int,
                  every_class: bool = False) -> np.ndarray:
    """Split index per clip (0 train, 1 val, 2 test), stratified by digit (any label), as the reference.

    ceil(test_fraction * n) clips go to test, then ceil(val_fraction * rest) to val
    (28,198 clips -> 22,840 / 2,538 / 2,820). With `every_class` (the sets that are not
    digits), every class of 3 clips or more has at least one in each split.
    """
    rng = np.random.default_rng(seed)
    split = np.zeros(len(digits), dtype=np.int8)
    test = _stratified_pick(digits, test_fraction, rng, 2 if every_class else None)
    split[test] = 2
    rest = np.flatnonzero(~test)
    val = _stratified_pick(digits[rest], val_fraction, rng, 1 if every_class else None)
    split[rest[val]] = 1
    return split


def split_rest(labels: np.ndarray, test: np.ndarray, val_fraction: float, seed: int) -> np.ndarray:
    """Split index per clip when the test clips are given (mask `test` (n,), e.g. a CSV's fold): ceil(val_fraction
    x rest) of the others to val, stratified by label and at least one of every class of 2 clips or more there,
    the rest to train."""
    rng = np.random.default_rng(seed)
    split = np.where(test, 2, 0).astype(np.int8)
    rest = np.flatnonzero(~test)
    split[rest[_stratified_pick(labels[rest], val_fraction, rng, 1)]] = 1
    return split


def split_by_speaker(
    speakers: np.ndarray,
    digits: np.ndarray,
    test_fraction: float,
    val_fraction: float,
    seed: int,
    test_speakers: list[str] | None = None,
    tries: int = 1000,
    val_by: str = "speaker",
) -> tuple[np.ndarray, dict[str, list[str]]]:
    """Hold out whole speakers: returns the split index per clip and the speakers of each split.

    ceil(test_fraction * S) speakers go to test (or `test_speakers`), then
    ceil(val_fraction * rest) to val, at least one each and at least one left
    for training; with `val_by="take"` validation is ceil(val_fraction x rest)
    of the other speakers' clips instead (`split_rest`), so every speaker but the
    test ones trains. Draws (seeded) are repeated until every split holds every digit.
    """
    names = sorted(set(speakers.tolist()))
    keep = 1 if val_by == "take" else 2  # speakers left besides the test ones: train (and validation)
    if len(names) < keep + 1:
        raise DataError(f"--split-by speaker needs at least {keep + 1} speakers, found {len(names)}",
                        "use --split-by take")
    if test_speakers:
        unknown = sorted(set(test_speakers) - set(names))
        if unknown:
            raise UsageError(f"--test-speakers: unknown speaker(s) {', '.join(unknown)} (known: {', '.join(names)})")
        if len(set(test_speakers)) > len(names) - keep:
            raise UsageError("--test-speakers: leave at least " + ("one speaker for training" if keep == 1 else
                                                                   "two speakers for training and validation"))
    all_digits = set(digits.tolist())
    rng = np.random.default_rng(seed)
    for _ in range(tries):
        if test_speakers:
            test = sorted(set(test_speakers))
            pool = [s for s in names if s not in test]
        else:
            perm = [names[i] for i in rng.permutation(len(names))]
            n_test = min(max(1, math.ceil(test_fraction * len(names))), len(names) - keep)
            test, pool = sorted(perm[:n_test]), perm[n_test:]
        if val_by == "take":
            val = train = sorted(pool)
            split = split_rest(digits, np.isin(speakers, test), val_fraction, int(rng.integers(2**31)))
        else:
            pool = [pool[i] for i in rng.permutation(len(pool))]
            n_val = min(max(1, math.ceil(val_fraction * len(pool))), len(pool) - 1)
            val, train = sorted(pool[:n_val]), sorted(pool[n_val:])
            split = np.zeros(len(speakers), dtype=np.int8)
            split[np.isin(speakers, val)] = 1
            split[np.isin(speakers, test)] = 2
        if all(set(digits[split == k].tolist()) == all_digits for k in range(3)):
            return split, {"train": train, "val": val, "test": test}
    raise DataError("could not hold out speakers so that every split has every digit",
                    "choose --test-speakers yourself or use --split-by take")
