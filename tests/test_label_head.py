"""The unconditional defaults: the label head (`--label-weight`), latent 16, and `--recipe reference` for the
reference's model: settings, the loss the head adds, and saving."""

from __future__ import annotations

import types

import numpy as np
import pytest

from vaeaudio.cli import main
from vaeaudio.formats.runs import RunConfig
from vaeaudio.settings import TrainSettings
from vaeaudio.settings.training import LABEL_WEIGHT


def test_unconditional_runs_get_the_label_head_and_the_reference_recipe_takes_it_away():
    s = TrainSettings(kind="mlp")
    assert (s.latent_dim, s.label_weight, s.latent_mixture, s.beta) == (16, LABEL_WEIGHT, 5, 1.0) == (16, 3000, 5, 1)
    ref = TrainSettings(kind="mlp", recipe="reference")
    assert (ref.latent_dim, ref.label_weight, ref.latent_mixture, ref.beta) == (2, 0.0, 0, 1.0)
    assert ref.describe() == "mlp" and s.describe() == "mlp (latent 16, labels x 3000)"
    assert TrainSettings(kind="mlp", recipe="reference", label_weight=5).label_weight == 5.0  # given ones win
    assert TrainSettings(kind="cnn", conditional=True).label_weight == 0.0  # the class is the model's input there
    with pytest.raises(ValueError, match="applies to unconditional runs"):
        TrainSettings(kind="mlp", conditional=True, label_weight=1)


def test_the_label_weight_is_kept_in_a_runs_settings_and_older_runs_read_back_without_a_head():
    stored = TrainSettings(kind="mlp", label_weight=7).model_dump(mode="json")
    assert stored["label_weight"] == 7.0
    assert RunConfig.train_settings(types.SimpleNamespace(settings=stored)).label_weight == 7.0
    older = {k: v for k, v in TrainSettings(kind="mlp", latent_dim=2).model_dump(mode="json").items()
             if k != "label_weight"}
    again = RunConfig.train_settings(types.SimpleNamespace(settings=older))
    assert (again.label_weight, again.latent_dim) == (0.0, 2)


def test_a_conditional_run_with_a_label_weight_is_refused_in_one_line(tmp_path, capsys):
    assert main(["train", "mlp", "--conditional", "--label-weight", "5", "--data", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "--label-weight applies to unconditional runs" in err and err.count("\n") == 1


def test_the_head_adds_its_cross_entropy_to_the_loss_optimised_not_to_the_losses_reported(tmp_path):
    import keras
    import tensorflow as tf

    from vaeaudio.models.layouts import build

    model = build(TrainSettings(kind="mlp", hidden=(8,), latent_dim=3, label_weight=5.0, seed=1), (6, 5), classes=4)
    assert tuple(model.label_head.kernel.shape) == (3, 4) and (model.label_weight, model.label_classes) == (5.0, 4)
    assert build(TrainSettings(kind="mlp", hidden=(8,), latent_dim=3, label_weight=0), (6, 5)).label_head is None
    x = np.random.default_rng(0).random((7, 6, 5), dtype=np.float32)
    y = np.array([0, 1, 2, 3, 0, 1, 2])
    z = np.asarray(model.encode(x)[0], np.float64)
    logits = z @ model.label_head.kernel.numpy() + model.label_head.bias.numpy()
    ce = np.log(np.exp(logits).sum(1)) - logits[np.arange(7), y]
    assert float(model.label_loss(z.astype(np.float32), y)) == pytest.approx(ce.mean(), rel=1e-5)
    assert float(model.label_loss(z.astype(np.float32), y, tf.constant(14.0))) == pytest.approx(ce.sum() / 14, rel=1e-5)

    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    head = model.label_head.kernel.numpy().copy()
    out = {k: float(v) for k, v in model.step(tf.constant(x), tf.constant(y), training=True).items()}
    assert out["total"] == pytest.approx(out["reconstruction"] + out["kl"])  # beta 1; the head's term not in it
    assert not np.array_equal(head, model.label_head.kernel.numpy())  # the head learns

    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True, compile=False)
    assert (loaded.label_weight, loaded.label_classes) == (5.0, 4)
    np.testing.assert_array_equal(loaded.label_head.kernel.numpy(), model.label_head.kernel.numpy())
    keras.utils.clear_session()
