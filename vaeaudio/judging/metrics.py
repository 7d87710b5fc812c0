"""Numbers that replace judging latent spaces "by eye", in plain numpy.

- `knn_accuracy`: fit on train latent means, predict each test clip's digit by
  a majority vote of its k nearest train neighbours (Euclidean; ties go to the
  nearest neighbour's label). 1.0 = digits perfectly separable locally.
- `silhouette`: mean over points of (b - a) / max(a, b), a = mean distance to
  the point's own cluster, b = the smallest mean distance to another cluster
  (Rousseeuw 1987). -1..1; near 0 = heavily overlapping digits.
- `pca_2d`: the projection used to plot latents of more than 2 dimensions.

Generated audio, judged by the digit classifier (`vaeaudio.judging.classifier`):
- `inception_score`, `modified_inception_score` on its probabilities;
- `frechet_distance` between its features of generated and real clips.
"""

from __future__ import annotations

import numpy as np


def _sq_dists(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances (len(a), len(b)) in float64."""
    a = a.astype(np.float64)
    b = b.astype(np.float64)
    d = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    return np.maximum(d, 0.0)


def knn_predict(train_z: np.ndarray, train_y: np.ndarray, query_z: np.ndarray, k: int = 5,
                chunk: int = 1024) -> np.ndarray:
    """Labels (m,) predicted for query points (m, d) by k-NN over train points (n, d) with labels (n,)."""
    k = min(k, len(train_z))
    labels = np.unique(train_y)
    out = np.empty(len(query_z), dtype=train_y.dtype)
    for s in range(0, len(query_z), chunk):
        d = _sq_dists(query_z[s : s + chunk], train_z)
        nearest = np.argsort(d, axis=1, kind="stable")[:, :k]  # (c, k), closest first
        votes = (train_y[nearest][:, :, None] == labels[None, None, :]).sum(1)  # (c, L)
        best = votes.max(1, keepdims=True)
        # tie-break: among the labels with the most votes, the one met first in distance order
        first_rank = np.where(train_y[nearest][:, :, None] == labels[None, None, :],
                              np.arange(k)[None, :, None], k).min(1)
        first_rank = np.where(votes == best, first_rank, k + 1)
        out[s : s + chunk] = labels[first_rank.argmin(1)]
    return out


def knn_accuracy(train_z, train_y, test_z, test_y, k: int = 5) -> float:
    """Fraction of test points whose k-NN label (fit on train) equals their own."""
    return float((knn_predict(np.asarray(train_z), np.asarray(train_y), np.asarray(test_z), k)
                  == np.asarray(test_y)).mean())


def silhouette(z: np.ndarray, labels: np.ndarray) -> float:
    """Mean silhouette coefficient of points (n, d) clustered by `labels` (n,); NaN if < 2 clusters."""
    z = np.asarray(z)
    labels = np.asarray(labels)
    classes = np.unique(labels)
    if len(classes) < 2 or len(z) < 3:
        return float("nan")
    d = np.sqrt(_sq_dists(z, z))
    onehot = (labels[:, None] == classes[None, :]).astype(np.float64)  # (n, L)
    sums = d @ onehot  # (n, L): summed distance to every cluster
    counts = onehot.sum(0)
    own = (onehot * sums).sum(1)
    own_n = counts[np.argmax(onehot, 1)]
    a = np.where(own_n > 1, own / np.maximum(own_n - 1, 1), 0.0)
    other = np.where(onehot > 0, np.inf, sums / counts[None, :])
    b = other.min(1)
    s = np.where(own_n > 1, (b - a) / np.maximum(np.maximum(a, b), 1e-12), 0.0)
    return float(s.mean())


def inception_score(probs: np.ndarray, eps: float = 1e-12) -> float:
    """exp(E_x KL(p(y|x) || p(y))) over class probabilities (n, C); 1..C, higher = confident and varied."""
    p = np.asarray(probs, dtype=np.float64)
    marginal = p.mean(0, keepdims=True)
    kl = (p * (np.log(p + eps) - np.log(marginal + eps))).sum(1)
    return float(np.exp(kl.mean()))


def modified_inception_score(probs: np.ndarray, eps: float = 1e-12) -> float:
    """exp(E_{x_i, x_j} KL(p(y|x_i) || p(y|x_j))) over all ordered pairs (Gurumurthy et al. 2017).

    Rewards samples that are confident and differ from one another (within-class
    diversity included); 1 when every sample has the same prediction.
    """
    p = np.asarray(probs, dtype=np.float64)
    logp = np.log(p + eps)
    # KL(p_i || p_j) = sum_c p_ic log p_ic - sum_c p_ic log p_jc; its mean over all n^2 pairs is
    # mean_i sum_c p_ic log p_ic - sum_c mean_i p_ic mean_j log p_jc: O(n) memory, not an n x n matrix
    # (which grows with the square of the samples evaluate generates, and would be built twice).
    return float(np.exp((p * logp).sum(1).mean() - p.mean(0) @ logp.mean(0)))


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Frechet distance between Gaussians fitted to features a (n, d) and b (m, d).

    ||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)), as FID but on the digit
    classifier's features; 0 for identical distributions.
    """
    import warnings

    from scipy import linalg

    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    mu = a.mean(0) - b.mean(0)
    sa, sb = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    with warnings.catch_warnings():  # a singular product is handled below, as the FID reference code does
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        covmean = linalg.sqrtm(sa @ sb)
        if not np.isfinite(covmean).all():
            offset = np.eye(len(sa)) * 1e-6
            covmean = linalg.sqrtm((sa + offset) @ (sb + offset))
    return float(max(mu @ mu + np.trace(sa + sb - 2.0 * covmean.real), 0.0))
