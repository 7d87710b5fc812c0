"""How close to the recording a clip sounds: STOI of clips against the recordings they came from.

STOI (short-time objective intelligibility; Taal et al., IEEE TASLP 2011, by
`pystoi`) compares the degraded signal's short-time band envelopes with the
clean reference's, 0..1 (1: the same envelopes). It needs speech of more than a
second or two to be valid, and a one-second spoken digit is mostly silence
(which STOI drops), so clips are joined per speaker, in order, and each speaker's
joined clips give one score; the figure is their mean with its standard error
over speakers.
"""

from __future__ import annotations

import numpy as np

#: Least seconds of joined clips a speaker needs to be scored (STOI's 384 ms frames after dropping silence).
MIN_SECONDS = 2.0


def stoi_by_group(reference: np.ndarray, degraded: np.ndarray, groups: np.ndarray, sample_rate: int) -> dict:
    """STOI of `degraded` (n, samples) against `reference` (n, samples), both at `sample_rate` Hz, the clips of
    each group (n,) (a speaker) joined in order first.

    Returns {"mean", "se" (standard error over groups; None for one group), "groups" (scored), "clips" (in the
    scored groups), "per_group" {group: STOI}}; "mean" is None when no group has `MIN_SECONDS` of audio.
    """
    from pystoi import stoi

    reference, degraded, groups = np.asarray(reference), np.asarray(degraded), np.asarray(groups)
    if reference.shape != degraded.shape or len(groups) != len(reference):
        raise ValueError(f"reference {reference.shape}, degraded {degraded.shape} and groups ({len(groups)},) differ")
    per_group, clips = {}, 0
    for g in sorted(set(groups.tolist()), key=str):
        rows = np.flatnonzero(groups == g)
        if len(rows) * reference.shape[1] < MIN_SECONDS * sample_rate:
            continue
        per_group[str(g)] = float(stoi(reference[rows].ravel().astype(np.float64),
                                       degraded[rows].ravel().astype(np.float64), sample_rate, extended=False))
        clips += len(rows)
    values = np.array(list(per_group.values()))
    return {"mean": float(values.mean()) if len(values) else None,
            "se": float(values.std(ddof=1) / np.sqrt(len(values))) if len(values) > 1 else None,
            "groups": len(values), "clips": clips, "per_group": per_group}
