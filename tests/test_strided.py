"""The strided CNN's layout (revision 2: convolutions along time, the frequency bins as channels): its shapes, one
training step, and what becomes of runs of the earlier revision (2-D convolutions)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from vaeaudio.cli import main
from vaeaudio.formats import runs
from vaeaudio.models import revisions
from vaeaudio.settings import TrainSettings
from vaeaudio.sound import dsp


def _convs(part) -> list:
    return [layer for layer in part.layers if type(layer).__name__ in ("Conv2D", "Conv2DTranspose")]


def test_every_convolution_runs_along_time_with_the_bins_as_channels():
    from vaeaudio.models.cnn import build_strided

    default = build_strided((257, 69))  # one stride-2 layer of 256 (STRIDED_FILTERS)
    enc, dec = _convs(default.encoder), _convs(default.decoder)
    assert [tuple(c.kernel.shape) for c in enc] == [(1, 3, 257, 256)] and [c.strides for c in enc + dec] == [(1, 2)] * 2
    assert [tuple(c.kernel.shape) for c in dec] == [(1, 3, 257, 256)] and dec[0].output.shape == (None, 1, 69, 257)
    assert default.encoder.get_layer("flatten").output.shape == (None, 35 * 256)
    model = build_strided((257, 69), filters=(256, 256, 256))  # the default until 2026-12-02: mirrored in three
    enc, dec = _convs(model.encoder), _convs(model.decoder)
    assert [tuple(c.kernel.shape) for c in enc] == [(1, 3, 257, 256), (1, 3, 256, 256), (1, 3, 256, 256)]
    assert [tuple(c.output.shape) for c in enc] == [(None, 1, 35, 256), (None, 1, 18, 256), (None, 1, 9, 256)]
    # a transposed convolution's kernel is (h, w, out, in)
    assert [tuple(c.kernel.shape) for c in dec] == [(1, 3, 256, 256), (1, 3, 256, 256), (1, 3, 257, 256)]
    assert [tuple(c.output.shape) for c in dec] == [(None, 1, 18, 256), (None, 1, 35, 256), (None, 1, 69, 257)]
    assert [c.strides for c in enc + dec] == [(1, 2)] * 6
    assert model.encoder.get_layer("flatten").output.shape == (None, 9 * 256)
    assert model.decoder.output_shape == (None, 257, 69)


def test_the_bins_reach_the_first_convolution_as_channels_of_each_frame():
    """x[:, f, t] is channel f of frame t: a kernel that reads one bin at the middle tap gives that bin back."""
    import keras

    from vaeaudio.models.cnn import build_strided

    model = build_strided((6, 5), filters=(6,))
    conv = model.encoder.get_layer("enc_conv_0")
    kernel = np.zeros(conv.kernel.shape, np.float32)
    kernel[0, 1, np.arange(6), np.arange(6)] = 1.0  # out channel f = bin f of the frame at the middle tap
    conv.set_weights([kernel, np.zeros(6, np.float32)])
    x = np.random.default_rng(0).random((2, 6, 5), dtype=np.float32)
    probe = keras.Model(model.encoder.inputs[0], conv.output)
    out = np.asarray(probe(x))  # (2, 1, 3, 6): frames 0, 2, 4 (stride 2, 'same')
    np.testing.assert_allclose(out[:, 0], x[:, :, 0::2].transpose(0, 2, 1), rtol=1e-6)


def test_one_training_step_of_the_default_layout_on_a_tiny_batch():
    import keras
    import tensorflow as tf

    from vaeaudio.training.steps import build_model, make_steps

    settings = TrainSettings(kind="cnn", latent_dim=3, seed=1, kernels="onednn")
    model = build_model(settings, (33, 9))
    before = [v.numpy().copy() for v in model.trainable_variables]
    train_step, eval_step = make_steps(model)
    x = tf.constant(np.random.default_rng(0).random((4, 33, 9), dtype=np.float32))
    out = {k: float(v) for k, v in train_step(x, tf.zeros((4,), tf.int32)).items()}
    assert all(np.isfinite(v) for v in out.values())
    assert out["total"] == pytest.approx(out["reconstruction"] + out["kl"])
    assert 33 * 9 * 0.3 < out["reconstruction"] < 33 * 9 * 1.5  # nats per clip of 297 bins near log 2 each at start
    changed = [not np.array_equal(b, v.numpy()) for b, v in zip(before, model.trainable_variables)]
    # 2 convolutions (one stride-2 layer each way), 5 Dense layers and the label head (`--label-weight`): kernel
    # and bias each
    assert all(changed) and len(changed) == 2 * (2 + 5 + 1)
    assert int(model.optimizer.iterations) == 1
    keras.utils.clear_session()


def _old_run(tmp_path, layout: int | None) -> Path:
    """A run directory whose config is that of a strided CNN of `layout` (None: recorded before revisions)."""
    run = tmp_path / "runs" / "cnn-strided-old"
    run.mkdir(parents=True)
    settings = TrainSettings(kind="cnn", filters=(16, 32, 64, 128), run_dir=run, data=tmp_path / "spec")
    model = {"name": "cnn-strided", "parameters": 5_777_669} | ({} if layout is None else {"layout": layout})
    config = {"format": runs.FORMAT, "created": "2026-11-30T10:00:00+00:00",
              "settings": settings.model_dump(mode="json"),
              "data": {"root": str(tmp_path / "spec"), "manifest_sha256": "0" * 64, "identity": "0" * 64,
                       "shape": [257, 69], "clips": {"train": 100, "val": 10}, "db_min": -80.0, "db_max": 0.0,
                       "audio": dsp.Transform().as_dict()},
              "model": model, "versions": {}}
    (run / runs.CONFIG).write_text(json.dumps(config))
    return run


@pytest.mark.parametrize("layout", [None, 1])
def test_a_run_of_the_earlier_layout_is_refused_by_resume_in_one_line(tmp_path, capsys, layout):
    run = _old_run(tmp_path, layout)
    assert main(["train", "--resume", str(run)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "Traceback" not in err
    assert (f"cannot resume run {run.name}: its cnn-strided model is the layout's revision 1 (2-D 3x3 convolutions "
            "of 16-128 channels over (bins, frames)") in err
    assert "this vaeaudio builds revision 2" in err and "its model.keras still evaluates" in err


def test_only_the_strided_cnn_has_a_second_revision():
    assert revisions.revision(TrainSettings(kind="cnn")) == 2
    assert revisions.revision(TrainSettings(kind="cnn", arch="reference")) == 1
    assert revisions.revision(TrainSettings(kind="mlp")) == 1
    revisions.require_current({"name": "mlp"}, TrainSettings(kind="mlp"), "resume run r")  # before: revision 1
    revisions.require_current({"layout": 2}, TrainSettings(kind="cnn"), "resume run r")
    with pytest.raises(Exception, match="revision 3"):
        revisions.require_current({"layout": 3}, TrainSettings(kind="cnn"), "resume run r")
