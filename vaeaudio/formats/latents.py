"""Where the training clips sit in latent space, to draw new points from there instead of from N(0, I).

A VAE's prior N(0, I) is only what the KL term pulls the posteriors towards: the
training clips' encoder means occupy part of it, and prior draws that land
between them decode to blurred averages that a listener does not hear as a
word. `fit` fits a Gaussian mixture (full covariances, K components) to the
encoder means of the training clips, one mixture per class (one in all in runs
made before 2026-12-02 without a conditional model); `LatentMixture.sample`
draws from it: a conditional run from the class asked for, an unconditional one
from each class in turn, so that its draws cover the classes instead of
crowding where most training clips sit.

Stored in a run as `latents.npz` (`FORMAT`, written atomically):

    weights (G, K), means (G, K, L), cholesky (G, K, L, L) of the covariances,
    G = the set's classes (10 digits), or 1 (older unconditional runs), K components, L latent dimensions.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vaeaudio.formats.classes import DIGIT_CLASSES, MAX_CLASSES
from vaeaudio.util.errors import ModelError, UsageError
from vaeaudio.util.files import regular, replacing

FILE = "latents.npz"
FORMAT = "vaeaudio-latents/1"
#: Added to the covariances' diagonal when fitting (latent units squared): keeps a component of few clips proper.
REG_COVAR = 1e-4
#: Least training clips per latent dimension for each component of a class: a full covariance fitted to fewer
#: shrinks to REG_COVAR (the demo's 20 clips a digit made 5 components of 4 clips each in 16 dimensions, and every
#: draw of a digit landed within 0.01 of one clip: five sevens, one sound).
POINTS_PER_DIM = 2


@dataclass(frozen=True)
class LatentMixture:
    """A Gaussian mixture per group (digit) in latent space; see the module docstring for the shapes."""

    weights: np.ndarray  # (G, K), rows sum to 1
    means: np.ndarray  # (G, K, L)
    cholesky: np.ndarray  # (G, K, L, L), lower triangular

    @property
    def conditional(self) -> bool:
        """Whether it holds a mixture per class (G > 1), whether the run is conditional or not."""
        return len(self.weights) > 1

    def sample(self, n: int, digits: np.ndarray | None, rng: np.random.Generator,
               temperature: float = 1.0) -> np.ndarray:
        """n points (n, L) float32: from class `digits[i]`'s mixture (one per class), else from the one mixture.
        A mixture per class with no `digits` (an unconditional run's draws) takes the classes in turn, point i from
        class i mod G, so that its draws cover every class evenly. `temperature` scales each draw's distance from its
        component's mean."""
        if not self.conditional:
            groups = np.zeros(n, int)
        else:
            groups = np.arange(n) % len(self.weights) if digits is None else np.asarray(digits, int)
        comp = np.array([rng.choice(self.weights.shape[1], p=self.weights[g]) for g in groups], dtype=int)
        eps = rng.standard_normal((n, self.means.shape[-1]))
        z = self.means[groups, comp] + temperature * np.einsum("nij,nj->ni", self.cholesky[groups, comp], eps)
        return z.astype(np.float32)

    def save(self, path: Path) -> Path:
        """Write to `path` (.npz) atomically."""
        with replacing(path, ".tmp.npz") as tmp:  # numpy insists on the .npz suffix
            np.savez(tmp, format=np.array(FORMAT), weights=self.weights, means=self.means, cholesky=self.cholesky)
        return path

    @classmethod
    def load(cls, path: Path, latent_dim: int | None = None, conditional: bool | None = None) -> LatentMixture:
        """Read a mixture written by `save`; a foreign or damaged file, or one that does not fit a run of
        `latent_dim` dimensions (conditional or not), is a `ModelError`."""
        try:
            with np.load(regular(path), allow_pickle=False) as f:
                if str(f["format"]) != FORMAT:
                    raise ValueError(f"format {f['format']}")
                arrays = [f[k] for k in ("weights", "means", "cholesky")]
                if not all(np.issubdtype(a.dtype, np.number) and not np.iscomplexobj(a) for a in arrays):
                    raise ValueError("it holds values that are not real numbers")
                mixture = cls(*(a.astype(np.float64) for a in arrays))
            mixture.check(latent_dim, conditional)
            return mixture
        except Exception as exc:  # noqa: BLE001 - numpy raises many kinds (EOFError for an empty file) for a bad one
            raise _unusable(path, exc) from None

    def check(self, latent_dim: int | None = None, conditional: bool | None = None, classes: int | None = None
              ) -> None:
        """`ValueError` unless the arrays have the shapes of the module docstring (for `latent_dim`, `conditional`
        and the run's number of `classes` when given), are finite, and each group's weights are >= 0 and sum to 1."""
        g, k = self.weights.shape if self.weights.ndim == 2 else (0, 0)
        dim = self.means.shape[-1] if self.means.ndim == 3 else 0
        if not g or self.means.shape != (g, k, dim) or self.cholesky.shape != (g, k, dim, dim) or g > MAX_CLASSES:
            raise ValueError(f"shapes {self.weights.shape}, {self.means.shape}, {self.cholesky.shape} are not "
                             f"(G, K), (G, K, L), (G, K, L, L) with G 1 or a set's classes (at most {MAX_CLASSES})")
        if g > 1 and classes is not None and g != classes:
            raise ValueError(f"{g} group(s); the run has {classes} classes")
        if latent_dim is not None and dim != latent_dim:
            raise ValueError(f"{dim} latent dimensions; the run has {latent_dim}")
        if conditional and g == 1:  # an unconditional run may have one mixture in all, or one per class
            raise ValueError("1 group; the run is conditional: it draws from a mixture per class")
        if not all(np.isfinite(a).all() for a in (self.weights, self.means, self.cholesky)):
            raise ValueError("it holds NaN or Inf")
        if (self.weights < 0).any() or not np.allclose(self.weights.sum(1), 1.0, atol=1e-6):
            raise ValueError("the weights of a group are negative or do not sum to 1")


def _unusable(path: Path, exc: Exception) -> ModelError:
    why = (str(exc).splitlines() or [type(exc).__name__])[0][:160]
    return ModelError(f"{path} is not a {FORMAT} file ({why})",
                      "delete it to sample from N(0, I), or retrain the run")


def fit(z: np.ndarray, digits: np.ndarray | None, components: int, seed: int = 0,
        classes: int = len(DIGIT_CLASSES)) -> LatentMixture:
    """A mixture of `components` full-covariance Gaussians fitted by EM to latent points z (n, L), one per class
    0..classes-1 of the labels `digits` (n,) when given (each class needs a clip; a class gets at most one component
    per `POINTS_PER_DIM` x L of its clips, at least one, the rest padded with zero weight; a single clip gets one
    narrow component at its point)."""
    from sklearn.mixture import GaussianMixture
    from threadpoolctl import threadpool_limits

    groups = [z] if digits is None else [z[np.asarray(digits) == d] for d in range(classes)]
    dim = z.shape[1]
    weights, means, chol = (np.zeros((len(groups), components)), np.zeros((len(groups), components, dim)),
                            np.tile(np.eye(dim), (len(groups), components, 1, 1)))
    missing = [g for g, points in enumerate(groups) if not len(points)]
    if missing:
        raise ModelError(f"no training clip of class {missing[0]} to fit the latent mixture to",
                         "train on a set that holds every class")
    with threadpool_limits(1):  # small fits: thread pools cost far more than they give, worst beside TensorFlow's
        for g, points in enumerate(groups):
            if len(points) == 1:  # one clip: one component there, of the regularising width
                weights[g, 0], means[g, 0], chol[g, 0] = 1.0, points[0], np.sqrt(REG_COVAR) * np.eye(dim)
                continue
            k = max(1, min(components, len(points) // (POINTS_PER_DIM * dim)))
            gm = GaussianMixture(k, covariance_type="full", reg_covar=REG_COVAR, random_state=seed).fit(points)
            weights[g, :k], means[g, :k], chol[g, :k] = gm.weights_, gm.means_, np.linalg.cholesky(gm.covariances_)
    return LatentMixture(weights / weights.sum(1, keepdims=True), means, chol)


def store(run: Path, z: np.ndarray, digits: np.ndarray | None, components: int, seed: int = 0,
          classes: int = len(DIGIT_CLASSES)) -> Path:
    """Fit the mixture to the training clips' encoder means `z` (n, L) [with their class labels `digits` (n,): a
    mixture per class] and write it to `run/latents.npz`."""
    return fit(z, digits, components, seed, classes).save(Path(run) / FILE)


def load(run: Path) -> LatentMixture | None:
    """The mixture stored in `run` (checked against the run's latent size and conditioning), or None when it has
    none."""
    from vaeaudio.formats.runs import load_config

    path = Path(run) / FILE
    if not path.exists():
        return None
    mixture = LatentMixture.load(path)
    config = load_config(run)
    trained = config.settings
    try:
        mixture.check(trained.get("latent_dim"), trained.get("conditional"), len(config.classes()))
    except ValueError as exc:
        raise _unusable(path, exc) from None
    return mixture


def choose(run: Path, prior: str) -> LatentMixture | None:
    """The mixture to draw from for `--prior` 'auto' (the run's, if it stored one), 'mixture' (the run's; refused
    when it has none) or 'normal' (None: N(0, I))."""
    mixture = load(run) if prior != "normal" else None
    if prior == "mixture" and mixture is None:
        raise UsageError(f"--prior mixture: run {Path(run).name} stored no latent mixture ({FILE})",
                         "train with --latent-mixture K (or --recipe intelligible), or use --prior normal")
    return mixture


def draw(n: int, latent_dim: int, digits: np.ndarray | None, rng: np.random.Generator,
         mixture: LatentMixture | None = None, temperature: float = 1.0) -> np.ndarray:
    """n latent points (n, latent_dim) float32: from `mixture` (per digit of `digits` (n,) when it is
    conditional), or from the prior N(0, temperature^2 I) when there is none."""
    if mixture is not None:
        return mixture.sample(n, digits, rng, temperature)
    return (rng.standard_normal((n, latent_dim)) * temperature).astype(np.float32)
