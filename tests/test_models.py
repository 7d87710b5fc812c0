"""The VAE layouts (parameter counts, shapes), the loss on known inputs, and safe-mode saving."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest

from vaeaudio.models.cnn import build_reference, build_strided
from vaeaudio.models.mlp import build_mlp
from vaeaudio.models.vae import VAE, loss_terms

SHAPE = (257, 69)


def _layers(model: VAE, kind: str) -> list:
    return [layer for part in (model.encoder, model.decoder) for layer in part.layers if type(layer).__name__ == kind]


def test_mlp_is_the_reference_layout():
    model = build_mlp(SHAPE)
    assert model.count_params() == 37_650_761
    assert model.encoder.count_params() == 18_816_772 and model.decoder.count_params() == 18_833_989
    assert [layer.units for layer in _layers(model, "Dense")] == [1024, 512, 256, 2, 2, 256, 512, 1024, 17733]
    assert not _layers(model, "Dropout")


def test_mlp_dropout_follows_every_hidden_layer():
    model = build_mlp((8, 4), hidden=(16, 8), dropout=0.3)
    drops = _layers(model, "Dropout")
    assert [d.rate for d in drops] == [0.3] * 4
    for part in (model.encoder, model.decoder):  # each Dropout directly after a hidden Dense
        names = [layer.name for layer in part.layers]
        for i, name in enumerate(names):
            if "dropout" in name:
                assert "dense" in names[i - 1]


def _parameters(model: VAE) -> dict[str, int]:
    return {layer.name: layer.count_params() for part in (model.encoder, model.decoder) for layer in part.layers}


def test_reference_cnn_is_the_reference_layout():
    """582,249,477 parameters at (257, 69), counted from small builds (the real one takes 2.3 GB and 20 s): only
    the Dense 256 after the flatten and the Dense before the unflatten see the bins x frames x 64 activation, so
    the count is affine in bins x frames; two builds fix the line, a third checks it, and each growing layer
    grows by its own kernel (and bias) per position."""
    shapes = [(3, 2), (4, 3), (5, 5)]
    built = {math.prod(shape): build_reference(shape) for shape in shapes}
    (n0, small), (n1, other), (n2, third) = built.items()
    layers = {name: (count, _parameters(other)[name]) for name, count in _parameters(small).items()}
    grow = {name: (b - a) // (n1 - n0) for name, (a, b) in layers.items() if a != b}
    assert grow == {"enc_dense": 64 * 256, "dec_dense_1": 256 * 64 + 64}  # kernel rows / columns, and the bias

    def extrapolate(n: int) -> tuple[int, int]:
        """(model, encoder) parameters at bins x frames = n."""
        return (small.count_params() + (n - n0) * sum(grow.values()),
                small.encoder.count_params() + (n - n0) * grow["enc_dense"])

    assert extrapolate(n2) == (third.count_params(), third.encoder.count_params())
    assert extrapolate(math.prod(SHAPE)) == (582_249_477, 290_557_572)
    regularized = build_reference((9, 5), regularize=True)
    assert regularized.count_params() == build_reference((9, 5)).count_params()
    assert [d.rate for d in _layers(regularized, "Dropout")] == [0.2, 0.2]
    convs = _layers(regularized, "Conv2D") + _layers(regularized, "Conv2DTranspose")
    assert len(convs) == 4 and all(c.kernel_regularizer is not None for c in convs)


@pytest.mark.parametrize("shape", [SHAPE, (64, 32), (33, 7)])
def test_strided_cnn_restores_the_exact_shape(shape):
    model = build_strided(shape, filters=(4, 8, 16), latent_dim=3)
    x = np.random.default_rng(0).random((2, *shape), dtype=np.float32)
    z_mean, z_log_var = model.encode(x)
    assert z_mean.shape == (2, 3) and z_log_var.shape == (2, 3)
    y = np.asarray(model.decode(z_mean))
    assert y.shape == (2, *shape) and ((y >= 0) & (y <= 1)).all()


def test_strided_cnn_default_size_matches_its_docstring():
    model = build_strided(SHAPE)
    assert (model.count_params(), model.encoder.count_params(), model.decoder.count_params()) == (
        4_993_797, 2_492_676, 2_501_121)
    three = build_strided(SHAPE, filters=(256, 256, 256))  # the default until 2026-12-02, still what its runs hold
    assert three.count_params() == 2_366_725


def test_loss_terms_match_a_hand_computation():
    rng = np.random.default_rng(1)
    x = rng.random((3, 5, 4)).astype(np.float32)
    logits = rng.normal(size=(3, 5, 4)).astype(np.float32)
    mu, log_var = rng.normal(size=(3, 2)).astype(np.float32), rng.normal(size=(3, 2)).astype(np.float32)
    rec, kl = (np.asarray(t) for t in loss_terms(x, logits, mu, log_var))
    p = 1 / (1 + np.exp(-logits.astype(np.float64)))
    bce = -(x * np.log(p) + (1 - x) * np.log(1 - p))
    np.testing.assert_allclose(rec, bce.reshape(3, -1).sum(1), rtol=1e-5)
    np.testing.assert_allclose(kl, (-0.5 * (1 + log_var - mu**2 - np.exp(log_var))).sum(1), rtol=1e-5)
    # a known case by hand: x = 0.5, logit 0 -> log 2 per bin; mu = 0, log_var = 0 -> KL 0
    rec, kl = loss_terms(np.full((1, 2, 2), 0.5, np.float32), np.zeros((1, 2, 2), np.float32),
                         np.zeros((1, 3), np.float32), np.zeros((1, 3), np.float32))
    assert float(rec[0]) == pytest.approx(4 * np.log(2), rel=1e-6) and float(kl[0]) == 0.0


def test_step_reports_total_as_reconstruction_plus_beta_kl():
    model = build_mlp((6, 5), hidden=(8,), latent_dim=2, beta=4.0, seed=3)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    x = np.random.default_rng(2).random((4, 6, 5), dtype=np.float32)
    out = {k: float(v) for k, v in model.step(x, training=False).items()}
    assert out["total"] == pytest.approx(out["reconstruction"] + 4.0 * out["kl"], rel=1e-5)
    assert out["kl"] > 0


@pytest.mark.parametrize("builder", [lambda: build_mlp((6, 5), hidden=(8,), dropout=0.2),
                                     lambda: build_strided((16, 8), filters=(2, 4), regularize=True)])
def test_model_saves_and_loads_in_safe_mode(tmp_path, builder):
    model = builder()
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert isinstance(loaded, VAE) and loaded.count_params() == model.count_params()
    z = np.random.default_rng(0).normal(size=(3, 2)).astype(np.float32)
    np.testing.assert_array_equal(np.asarray(loaded.decode(z)), np.asarray(model.decode(z)))


def test_decode_all_batches_like_one_decode():
    model = build_mlp((6, 5), hidden=(8,), latent_dim=3, conditional=True)
    assert model.latent_dim == 3
    z = np.random.default_rng(1).normal(size=(7, 3)).astype(np.float32)
    digits = np.arange(7) % 10
    out = model.decode_all(z, digits, batch=3)  # batches of 3, 3, 1
    assert out.shape == (7, 6, 5) and out.dtype == np.float32
    np.testing.assert_allclose(out, np.asarray(model.decode(z, digits)), rtol=1e-6, atol=1e-7)
    assert model.decode_all(z[:0], digits[:0]).shape == (0, 6, 5)


@pytest.mark.parametrize("builder", [build_mlp, build_strided, build_reference])
def test_conditional_models_take_the_digit_on_both_sides(builder):
    shape = (16, 8)
    plain, cond = builder(shape), builder(shape, conditional=True)
    assert not plain.conditional and cond.conditional
    assert [tuple(i.shape) for i in cond.encoder.inputs] == [(None, *shape), (None, 10)]
    assert [tuple(i.shape) for i in cond.decoder.inputs] == [(None, 2), (None, 10)]
    # the one-hot digit adds 10 inputs to the first Dense layer of each side: 1024 + 256 units (MLP), 256 + 256 (CNNs)
    assert cond.count_params() - plain.count_params() == 10 * (1024 + 256 if builder is build_mlp else 256 + 256)
    z = np.zeros((10, 2), np.float32)
    out = np.asarray(cond.decode(z, np.arange(10)))
    assert out.shape == (10, *shape) and np.abs(out[0] - out[7]).max() > 0  # the digit changes the output
    with pytest.raises(ValueError, match="needs the digits"):
        cond.decode(z)
    x = np.random.default_rng(0).random((3, *shape), dtype=np.float32)
    rec, kl = cond.losses_for(x, np.array([1, 2, 3]))
    assert rec.shape == (3,) and kl.shape == (3,)


def test_a_saved_model_never_holds_its_weights_in_memory_again(tmp_path):
    import tracemalloc

    from vaeaudio.models import saving

    model = build_mlp((16, 16), hidden=(512,) * 4)  # 1.8 M parameters, 7.4 MB of weights, none over 1.1 MB
    weights = 4 * model.count_params()
    path = tmp_path / "model.keras"
    saving.save_model(path, model)  # once before tracing: what its first call imports is not weights
    tracemalloc.start()  # sees Python's allocations: Keras's in-memory way held the weights in a BytesIO
    try:
        saving.save_model(path, model)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert weights > 7e6 and peak < weights / 2  # a variable or two at a time (Keras copies each as it writes it)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.keras", "model.keras.sha256"]  # no temporary left
    loaded = saving.load_file(path, "")
    z = np.random.default_rng(0).normal(size=(3, 2)).astype(np.float32)
    np.testing.assert_array_equal(np.asarray(loaded.decode(z)), np.asarray(model.decode(z)))
