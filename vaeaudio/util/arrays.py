"""Small array helpers several stages share."""

from __future__ import annotations

import numpy as np


def evenly(n: int, k: int) -> np.ndarray:
    """Indices (min(k, n),) int of k items picked evenly from n, first and last included; empty when n or k is 0."""
    if n <= 0 or k <= 0:
        return np.zeros(0, int)
    return np.linspace(0, n - 1, min(k, n)).round().astype(int)
