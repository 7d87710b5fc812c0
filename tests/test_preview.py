"""train --preview-every: TensorBoard audio and image summaries of reconstructions, prior draws and the latent map."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from vaeaudio.formats.runs import load_config


def summaries(run: Path) -> dict[int, dict[str, tuple[str, np.ndarray]]]:
    """{step: {tag: (plugin, tensor)}} of the audio and image summaries in RUN/tb/."""
    import tensorflow as tf

    found: dict[int, dict] = defaultdict(dict)
    for path in sorted((run / "tb").glob("events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                plugin = value.metadata.plugin_data.plugin_name
                if plugin in ("audio", "images"):
                    found[event.step][value.tag] = (plugin, tf.make_ndarray(value.tensor))
    return dict(found)


def check_audio(tensor: np.ndarray, clips: int, transform) -> list[str]:
    """Each row: a WAV at the set's rate, one channel, one clip long, not silent; returns the labels."""
    import tensorflow as tf

    assert tensor.shape == (clips, 2)
    for wav, _ in tensor:
        wave, rate = tf.audio.decode_wav(wav)
        assert int(rate) == transform.sample_rate and tuple(wave.shape) == (transform.clip_samples, 1)
        assert 0.5 < float(tf.reduce_max(tf.abs(wave))) <= 1.0
    return [label.decode() for _, label in tensor]


def check_image(tensor: np.ndarray) -> tuple[int, int]:
    """[width, height, PNG]: the PNG decodes to that size, in colour; returns (height, width)."""
    import tensorflow as tf

    assert tensor.shape == (3,)
    width, height = int(tensor[0]), int(tensor[1])
    image = tf.io.decode_png(tensor[2]).numpy()
    assert image.shape == (height, width, 3) and image.std() > 10
    return height, width


@pytest.mark.slow  # the trained runs come by name, where the conftest hook does not see them
@pytest.mark.parametrize("fixture, epochs, prior", [("tiny_run", 3, [f"draw {i}" for i in range(4)]),
                                                    ("tiny_cond_run", 2, [f"digit {d}" for d in range(10)])])
def test_default_previews_hold_audio_and_images(request, fixture, epochs, prior):
    """Default: 4 previews per run, so every epoch of these short runs has one."""
    run = request.getfixturevalue(fixture)
    transform = load_config(run).transform()
    found = summaries(run)
    assert sorted(found) == list(range(1, epochs + 1))
    for tags in found.values():
        assert sorted(tags) == ["preview/latent_map", "preview/prior", "preview/reconstruction", "preview/spectrograms"]
        assert {plugin for plugin, _ in tags.values()} == {"audio", "images"}
        labels = check_audio(tags["preview/reconstruction"][1], 4, transform)
        assert all(label.startswith("val clip ") for label in labels)
        assert check_audio(tags["preview/prior"][1], len(prior), transform) == prior
        h, w = check_image(tags["preview/spectrograms"][1])
        assert w > 400 and h > 300
        check_image(tags["preview/latent_map"][1])


@pytest.mark.slow
def test_preview_every_n_and_off(spec_small, tmp_path):
    from vaeaudio.cli import main

    for every, steps in (("2", [2, 3]), ("0", [])):
        run = tmp_path / f"every-{every}"
        assert main(["train", "mlp", "--data", str(spec_small), "--run-dir", str(run), "--hidden", "16,8",
                     "--epochs", "3", "--batch-size", "64", "--preview-every", every, "--quiet"]) == 0
        assert sorted(summaries(run)) == steps
        assert load_config(run).settings["preview_every"] == int(every)
