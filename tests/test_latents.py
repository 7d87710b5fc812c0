"""vaeaudio.formats.latents: the per-digit latent mixture, its file, and the recipe that stores one for synth."""

from __future__ import annotations

import json

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from vaeaudio.cli import main
from vaeaudio.formats import latents
from vaeaudio.settings import RECIPES, TrainSettings
from vaeaudio.settings.training import CONDITIONAL_DEFAULTS
from vaeaudio.util.errors import ModelError, UsageError


def _fit(*args, **kwargs) -> latents.LatentMixture:
    """`latents.fit` on one thread: these mixtures are fitted to a few hundred points each, where scikit-learn's
    thread pools only wait on each other (ten times slower on a busy 2-core machine)."""
    import sklearn.mixture  # noqa: F401  (loads the thread pools, so that the limit reaches them)

    with threadpool_limits(1):
        return latents.fit(*args, **kwargs)


def _clusters(n_per_digit=200, seed=0):
    """Digit d's points around (d, -d) with standard deviation 0.1: (10 n, 2) and their digits."""
    rng = np.random.default_rng(seed)
    digits = np.repeat(np.arange(10), n_per_digit)
    z = np.column_stack([digits, -digits]) + 0.1 * rng.standard_normal((len(digits), 2))
    return z, digits


def test_a_per_digit_mixture_draws_where_that_digit_lies(tmp_path):
    z, digits = _clusters()
    mixture = _fit(z, digits, components=2, seed=0)
    assert mixture.weights.shape == (10, 2) and mixture.means.shape == (10, 2, 2)
    assert mixture.cholesky.shape == (10, 2, 2, 2)
    assert np.allclose(mixture.weights.sum(1), 1) and mixture.conditional
    draws = mixture.sample(2000, np.full(2000, 3), np.random.default_rng(1))
    assert draws.dtype == np.float32 and draws.shape == (2000, 2)
    assert np.allclose(draws.mean(0), [3, -3], atol=0.02) and np.allclose(draws.std(0), 0.1, atol=0.01)
    single = _fit(z, digits, components=1)  # temperature scales the spread about each component's mean
    assert np.allclose(single.sample(2000, np.full(2000, 3), np.random.default_rng(1), temperature=0.5).std(0),
                       0.05, atol=0.005)
    again = latents.LatentMixture.load(mixture.save(tmp_path / latents.FILE))
    assert all(np.array_equal(getattr(again, k), getattr(mixture, k)) for k in ("weights", "means", "cholesky"))
    assert not list(tmp_path.glob("*.tmp*"))


def test_an_unconditional_mixture_and_the_prior():
    z, _ = _clusters(50)
    mixture = _fit(z, None, components=3)
    assert mixture.weights.shape == (1, 3) and not mixture.conditional
    assert latents.draw(5, 2, None, np.random.default_rng(0), mixture).shape == (5, 2)
    prior = latents.draw(4, 3, None, np.random.default_rng(7), None, temperature=2.0)
    assert np.allclose(prior, np.random.default_rng(7).standard_normal((4, 3)) * 2.0)


def test_a_digit_of_one_clip_gets_one_narrow_component():
    z = np.arange(20, dtype=float).reshape(10, 2)
    mixture = _fit(z, np.arange(10), components=3)
    assert np.array_equal(mixture.weights[:, 0], np.ones(10)) and np.array_equal(mixture.means[:, 0], z)
    assert np.allclose(mixture.cholesky[4, 0], 0.01 * np.eye(2))


def test_a_class_of_few_clips_gets_few_components_that_keep_its_spread():
    """20 clips of a class in 16 dimensions (the demo's sample) make one component, not five of 4 clips that shrink
    to the regularising width: its draws spread as the clips do, not within 0.01 of one of them."""
    rng = np.random.default_rng(0)
    z, digits = rng.standard_normal((200, 16)), np.repeat(np.arange(10), 20)
    mixture = _fit(z, digits, components=5)
    assert np.array_equal((mixture.weights > 0).sum(1), np.ones(10))
    draws = mixture.sample(1000, np.full(1000, 7), np.random.default_rng(1))
    assert np.allclose(draws.mean(0), z[digits == 7].mean(0), atol=0.15)
    assert 0.6 < np.sqrt(np.linalg.eigvalsh(np.cov(draws.T))).mean() < 1.2
    big = _fit(rng.standard_normal((1000, 16)), np.repeat(np.arange(10), 100), components=5)
    assert np.array_equal((big.weights > 0).sum(1), np.full(10, 3))  # 100 clips: 100 // 32 = 3 components


def test_errors_name_the_file_and_what_to_do(tmp_path):
    with pytest.raises(ModelError, match="no training clip of class 9"):
        _fit(np.zeros((9, 2)), np.arange(9), components=1)
    bad = tmp_path / latents.FILE
    np.savez(bad, format=np.array("something-else/1"))
    with pytest.raises(ModelError, match=f"{bad} is not a vaeaudio-latents/1 file"):
        latents.load(tmp_path)
    bad.unlink()
    assert latents.choose(tmp_path, "auto") is None and latents.choose(tmp_path, "normal") is None
    with pytest.raises(UsageError) as err:
        latents.choose(tmp_path, "mixture")
    assert err.value.line() == (f"--prior mixture: run {tmp_path.name} stored no latent mixture (latents.npz) "
                                "(train with --latent-mixture K (or --recipe intelligible), or use --prior normal)")


def test_recipe_fills_what_is_not_given():
    recipe = RECIPES["intelligible"]
    plain = TrainSettings(kind="mlp")  # the unconditional defaults (latent 16, the mixture per class)
    assert (plain.conditional, plain.latent_dim, plain.latent_mixture, plain.recipe) == (False, 16, 5, None)
    # so every field below but the latent size and the mixture was filled
    assert [k for k, v in recipe.items() if getattr(plain, k) == v] == ["latent_dim", "latent_mixture"]
    s = TrainSettings(kind="mlp", recipe="intelligible")
    assert {k: getattr(s, k) for k in recipe} == recipe and s.conditional and s.latent_mixture > 0
    s = TrainSettings(kind="mlp", recipe="intelligible", latent_dim=4)  # a flag given wins over the recipe
    assert {k: getattr(s, k) for k in recipe} == {**recipe, "latent_dim": 4}


def test_conditional_alone_brings_the_recipes_settings():
    """--conditional fills in the intelligible recipe's latent size, mixture and epochs for the flags not given;
    an unconditional run keeps the reference's epochs, has latent 16 too (docs/intelligibility.md: the label head), and
    fits the mixture too (0 = none)."""
    assert CONDITIONAL_DEFAULTS == {"latent_dim": 16, "latent_mixture": 5, "epochs": 100}
    s = TrainSettings(kind="mlp", conditional=True)
    assert (s.latent_dim, s.latent_mixture, s.epochs, s.recipe) == (16, 5, 100, None)
    s = TrainSettings(kind="mlp", conditional=True, latent_dim=2, latent_mixture=0, epochs=3)  # given ones win
    assert (s.latent_dim, s.latent_mixture, s.epochs) == (2, 0, 3)
    s = TrainSettings(kind="mlp")
    assert (s.latent_dim, s.latent_mixture, s.epochs) == (16, 5, 50)
    assert TrainSettings(kind="mlp", latent_mixture=0).latent_mixture == 0
    again = TrainSettings.model_validate(TrainSettings(kind="mlp", conditional=True, epochs=7).model_dump())
    assert (again.latent_dim, again.epochs) == (16, 7)  # a run's stored settings read back as they were


@pytest.mark.slow
def test_recipe_run_stores_a_mixture_that_synth_draws_from(spec_small, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "mlp", "--recipe", "intelligible", "--data", str(spec_small), "--run-dir", str(run),
                 "--hidden", "32,16", "--latent-dim", "3", "--epochs", "1", "--quiet"]) == 0
    settings = json.loads((run / "config.json").read_text())["settings"]
    assert (settings["recipe"], settings["conditional"], settings["latent_dim"], settings["latent_mixture"]) == \
        ("intelligible", True, 3, 5)
    mixture = latents.load(run)
    assert mixture.means.shape == (10, 5, 3)
    capsys.readouterr()
    out = tmp_path / "wavs"
    assert main(["synth", "--run", str(run), "--random", "4", "--digit", "7", "--griffin-lim-iters", "2",
                 str(out)]) == 0
    assert "drawing from run's latent mixture" in capsys.readouterr().err
    table = np.loadtxt(out / "z.csv", delimiter=",", skiprows=1)
    assert np.all(table[:, 0] == 7)
    assert np.allclose(table[:, 1:], mixture.sample(4, np.full(4, 7), np.random.default_rng(0)), atol=1e-5)
    assert main(["synth", "--run", str(run), "--random", "4", "--prior", "normal", "--griffin-lim-iters", "2",
                 str(tmp_path / "normal")]) == 0
    table = np.loadtxt(tmp_path / "normal" / "z.csv", delimiter=",", skiprows=1)
    assert np.allclose(table[:, 1:], np.random.default_rng(0).standard_normal((4, 3)), atol=1e-5)
    # the report's generated clips come from the same place as synth's
    page = tmp_path / "page"
    assert main(["report", str(run), "--out", str(page), "--no-judge", "--samples", "1", "--listen", "0",
                 "--samples-per-digit", "0", "--griffin-lim-iters", "2", "--prior", "mixture", "--no-recogniser",
                 "--quiet"]) == 0
    assert "draws from the run's latent mixture decoded for each digit" in (page / "index.html").read_text()


def test_an_unconditional_runs_mixture_per_class_draws_every_class_in_turn():
    """A mixture fitted per class to an unconditional run's latents: with no class asked for, draw i comes from
    class i mod G, so ten draws land one near each class's cluster."""
    rng = np.random.default_rng(0)
    centres = np.stack([np.cos(np.arange(10) * 0.6), np.sin(np.arange(10) * 0.6)], 1) * 10
    labels = np.repeat(np.arange(10), 30)
    z = centres[labels] + rng.standard_normal((300, 2)) * 0.1
    mixture = latents.fit(z, labels, 2, seed=0)
    assert mixture.weights.shape == (10, 2) and mixture.conditional
    draws = mixture.sample(20, None, np.random.default_rng(1))
    nearest = np.linalg.norm(draws[:, None] - centres[None], axis=-1).argmin(1)
    assert nearest.tolist() == list(range(10)) * 2
    mixture.check(latent_dim=2, conditional=False, classes=10)  # an unconditional run may hold one per class
    with pytest.raises(ValueError, match="1 group; the run is conditional"):
        latents.fit(z, None, 2).check(latent_dim=2, conditional=True, classes=10)


def test_what_the_recogniser_heard_in_unconditional_draws_spreads_over_the_classes():
    from vaeaudio.judging.generation import _spread

    even = _spread(np.array([0, 1, 2, 0, 1, 2]), ["a", "b", "c"])
    assert even["entropy_ratio"] == pytest.approx(1.0) and even["heard_share"] == {"a": 1 / 3, "b": 1 / 3, "c": 1 / 3}
    one = _spread(np.array([2, 2, 2, -1]), ["a", "b", "c"])
    assert one["entropy_ratio"] == pytest.approx(0.0) and one["nothing_heard"] == 0.25 and one["clips"] == 4
    half = _spread(np.array([0, 1]), ["a", "b", "c", "d"])
    assert half["entropy_ratio"] == pytest.approx(np.log(2) / np.log(4))


@pytest.mark.slow
def test_an_unconditional_run_stores_a_mixture_per_class_that_synth_draws_in_turn(spec_small, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "mlp", "--data", str(spec_small), "--run-dir", str(run), "--hidden", "32,16",
                 "--epochs", "1", "--quiet"]) == 0  # no flag: the mixture is the default
    mixture = latents.load(run)
    settings = json.loads((run / "config.json").read_text())["settings"]
    assert (settings["conditional"], settings["latent_mixture"], settings["label_weight"]) == (False, 5, 3000.0)
    assert mixture.means.shape == (10, 5, 16)  # one per digit of the set, though the model is unconditional
    capsys.readouterr()
    assert main(["synth", "--run", str(run), "--random", "10", "--phase", "zero", str(tmp_path / "wavs")]) == 0
    table = np.loadtxt(tmp_path / "wavs" / "z.csv", delimiter=",", skiprows=1)
    drawn = mixture.sample(10, None, np.random.default_rng(0))
    assert table.shape[0] == 10 and drawn.shape == (10, 16)
