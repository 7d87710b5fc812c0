"""vaeaudio.judging.metrics against hand computations on tiny sets."""

import numpy as np
import pytest

from vaeaudio.judging import metrics
from vaeaudio.sound import plots


def test_knn_accuracy_by_hand():
    train = np.array([[0.0], [1.0], [2.0], [10.0], [11.0], [12.0]])
    labels = np.array([0, 0, 0, 1, 1, 1])
    test = np.array([[0.5], [11.5], [5.0], [7.0]])
    # 3-NN: 0.5 -> {0,1,2}: 0;  11.5 -> {11,12,10}: 1;  5 -> {2,1,0}: 0;  7 -> {10,2,11}: 1 (2 votes of 3)
    assert metrics.knn_predict(train, labels, test, k=3).tolist() == [0, 1, 0, 1]
    assert metrics.knn_accuracy(train, labels, test, np.array([0, 1, 1, 1]), k=3) == 0.75


def test_knn_tie_goes_to_the_nearest_label():
    train = np.array([[0.0], [3.0]])
    assert metrics.knn_predict(train, np.array([4, 7]), np.array([[2.0], [1.0]]), k=2).tolist() == [7, 4]


def test_silhouette_by_hand():
    z = np.array([[0.0], [1.0], [4.0], [6.0]])
    y = np.array([0, 0, 1, 1])
    # point 0: a=1, b=(4+6)/2=5 -> 0.8; point 1: a=1, b=4 -> 0.75
    # point 2: a=2, b=(4+3)/2=3.5 -> 1-2/3.5; point 3: a=2, b=(6+5)/2=5.5 -> 1-2/5.5
    expected = np.mean([0.8, 0.75, 1 - 2 / 3.5, 1 - 2 / 5.5])
    assert metrics.silhouette(z, y) == pytest.approx(expected, abs=1e-12)


def test_silhouette_singleton_cluster_scores_zero_and_one_cluster_is_nan():
    z = np.array([[0.0], [1.0], [5.0]])
    # singleton point 2 contributes 0; point 0: a=1,b=5 -> .8; point 1: a=1,b=4 -> .75
    assert metrics.silhouette(z, np.array([0, 0, 1])) == pytest.approx((0.8 + 0.75) / 3)
    assert np.isnan(metrics.silhouette(z, np.array([2, 2, 2])))


def test_pca_projects_onto_the_main_axes():
    rng = np.random.default_rng(0)
    z = np.zeros((200, 5))
    z[:, 3] = rng.normal(0, 10, 200)
    z[:, 1] = rng.normal(0, 3, 200)
    p, var = plots.pca_2d(z)
    assert p.shape == (200, 2) and var[0] > var[1] > 0.05 and var.sum() == pytest.approx(1.0)
    assert abs(np.corrcoef(p[:, 0], z[:, 3])[0, 1]) > 0.999


def test_inception_score_by_hand():
    # two confident, different predictions: p(y) = (.5, .5); KL = log 2 for each -> IS = 2
    assert metrics.inception_score(np.array([[1.0, 0.0], [0.0, 1.0]])) == pytest.approx(2.0, rel=1e-9)
    # all identical -> IS = 1
    assert metrics.inception_score(np.array([[0.3, 0.7]] * 5)) == pytest.approx(1.0)
    p = np.array([[0.9, 0.1], [0.2, 0.8]])
    m = p.mean(0)
    expected = np.exp(np.mean([(row * np.log(row / m)).sum() for row in p]))
    assert metrics.inception_score(p) == pytest.approx(expected, rel=1e-9)


def test_modified_inception_score_by_hand():
    p = np.array([[0.9, 0.1], [0.2, 0.8]])
    kl = lambda a, b: (a * np.log(a / b)).sum()  # noqa: E731
    expected = np.exp(np.mean([kl(p[i], p[j]) for i in range(2) for j in range(2)]))
    assert metrics.modified_inception_score(p) == pytest.approx(expected, rel=1e-9)
    assert metrics.modified_inception_score(np.array([[0.5, 0.5]] * 3)) == pytest.approx(1.0)


def test_frechet_distance_by_hand():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(4000, 3))
    assert metrics.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    # same covariance, mean shifted by (3, 0, 0): distance = 9
    assert metrics.frechet_distance(a, a + [3.0, 0, 0]) == pytest.approx(9.0, rel=1e-6)
    # 1-D: variances s and 4s (s = 1000/999, the unbiased variance of +-1) -> (sqrt(s) - sqrt(4s))^2 = s
    x = np.array([[-1.0], [1.0]] * 500)
    assert metrics.frechet_distance(x, 2 * x) == pytest.approx(1000 / 999, rel=1e-9)
