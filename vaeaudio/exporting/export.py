"""`vaeaudio export`: a finished run -> a folder of ONNX graphs and `export.json` (`vaeaudio.formats.exports`).

    RUN/model.keras --graphs.graph--> decoder.onnx (+ sigmoid: the normalised spectrogram), encoder.onnx
                    --onnx.checker, onnxruntime vs Keras on real clips (max abs difference <= TOLERANCE)-->
                    export.json (audio settings, dB range, latent size, classes, latent mixture, --sharpen auto's
                    power, source run and its digests, every file's sha256, the validation's figures)

Only the deterministic parts are exported: the encoder's moments, not the
`Sampling` layer's draw (a random operator that some converters turn into a
file runtimes refuse); sampling, the latent mixture and phase reconstruction
stay with the runtime (`vaeaudio.exporting.runtime`, synth, the API).

The clips compared are real recordings: the FSDD sample embedded in the
package (`SAMPLE`), cut and featurised with the run's own audio settings. A
graph whose weights pass `EXTERNAL_OVER` bytes keeps them in `NAME.onnx.data`
beside it (ONNX external data, memory-mapped by onnxruntime). The folder
is written as a hidden sibling and moved into place when whole; it replaces an
earlier export, never another folder.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vaeaudio import __version__
from vaeaudio.corpus.sample import SAMPLE
from vaeaudio.formats import exports, latents
from vaeaudio.formats.runs import CONFIG, load_config, resolve_run
from vaeaudio.settings import ExportSettings
from vaeaudio.sound import dsp
from vaeaudio.util import progress
from vaeaudio.util.arrays import evenly
from vaeaudio.util.clock import timestamp
from vaeaudio.util.errors import ModelError, UsageError
from vaeaudio.util.files import sha256_file

#: Largest max abs difference allowed between onnxruntime and Keras: on the normalised spectrogram (values in
#: [0, 1]) and on the latent moments (relative to their largest magnitude, at least 1).
TOLERANCE = 1e-5
#: Real clips the graphs are compared on (and as many latent points drawn from N(0, I) for the decoder).
CHECK_CLIPS = 20
#: A graph whose weights pass this many bytes keeps them in an external data file, which onnxruntime memory-maps
#: instead of parsing: the reference MLP's decoder (75 MB) loads in 0.14 s instead of 0.6 s (docs/usage.md#export-
#: use-a-model-without-tensorflow), and one protobuf file cannot pass 2 GiB (the reference CNN's graphs: 1.16 GB).
#: Smaller graphs stay one self-contained file.
EXTERNAL_OVER = 16 << 20


@dataclass
class ExportResult:
    """The folder written and what it holds."""

    folder: Path
    files: list[str]
    max_diff: dict[str, float]

    def summary(self) -> str:
        return f"{self.folder}\t" + " ".join(self.files)


def _float32_twin(model, config):
    """`model`, or when any of its layers computes in another dtype (mixed_bfloat16 runs) the same layout built in
    float32 with its weights, and that dtype."""
    layers = [*model.encoder.layers, *model.decoder.layers]
    other = next((layer.dtype_policy.compute_dtype for layer in layers
                  if layer.dtype_policy.compute_dtype != "float32"), None)
    if other is None:
        return model, None
    import keras

    from vaeaudio.models.layouts import build

    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("float32")
    try:
        twin = build(config.train_settings(), tuple(config.data.shape))
    finally:
        keras.config.set_dtype_policy(previous)
    twin.set_weights(model.get_weights())
    return twin, other


def _check_clips(transform: dsp.Transform, classes: int) -> tuple[np.ndarray, np.ndarray]:
    """`CHECK_CLIPS` recordings of the embedded sample (every digit), as the run's spectrograms (n, bins, frames),
    and a label for each (its digit, within the run's classes)."""
    files = sorted(SAMPLE.glob("*.wav"))
    files = [files[i] for i in evenly(len(files), CHECK_CLIPS)]
    waves = np.stack([transform.to_clip(*dsp.read(f)) for f in files])
    spec = transform.featurise(waves)[0]
    return spec.astype(np.float32), np.array([int(f.name[0]) % classes for f in files])


def _save(proto, path: Path) -> list[str]:
    """Write ONNX `proto` to `path` (its weights to `path.data` when they pass `EXTERNAL_OVER`), check it with
    `onnx.checker`; the names of the files written."""
    import onnx

    from vaeaudio.exporting.graphs import tensor_bytes

    external = tensor_bytes(proto) > EXTERNAL_OVER
    data = f"{path.name}.data"
    onnx.save_model(proto, str(path), save_as_external_data=external, all_tensors_to_one_file=True,
                    location=data, size_threshold=1024)  # shapes stay inline: the checker reads them
    if external:  # onnx writes it owner-only: readable as the graph beside it is
        os.chmod(path.with_name(data), path.stat().st_mode & 0o777)
    try:
        onnx.checker.check_model(str(path), full_check=True)
    except onnx.checker.ValidationError as exc:
        raise ModelError(f"{path.name} fails onnx.checker ({str(exc).splitlines()[0][:160]})",
                         "this is a bug of vaeaudio's export: please report it") from None
    return [path.name, data] if external else [path.name]


def _validate(model, folder: Path, spec: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Max abs differences between onnxruntime on the graphs in `folder` and Keras `model`: the latent moments of
    `spec` (relative, see `TOLERANCE`), and the spectrograms of their means and of as many N(0, I) draws;
    `ModelError` when one passes `TOLERANCE`."""
    from vaeaudio.exporting.runtime import ExportedVAE

    labels = labels if model.conditional else None
    onnx_model = ExportedVAE(folder, model.latent_dim, model.conditional, spec.shape[1:], classes=model.classes)
    keras_moments = [np.asarray(m, np.float32) for m in model.encode(spec, labels)]
    onnx_moments = onnx_model.encode_moments(spec, labels)
    scale = max(1.0, *(float(np.abs(m).max()) for m in keras_moments))
    encoder = max(float(np.abs(a - b).max()) for a, b in zip(onnx_moments, keras_moments)) / scale
    z = np.concatenate([keras_moments[0], np.random.default_rng(0).standard_normal(keras_moments[0].shape)
                        ]).astype(np.float32)
    both = None if labels is None else np.concatenate([labels, labels])
    decoder = float(np.abs(onnx_model.decode_all(z, both) - model.decode_all(z, both)).max())
    found = {"decoder": decoder, "encoder": encoder}
    for name, diff in found.items():
        if not diff <= TOLERANCE:
            raise ModelError(f"the exported {name} differs from the Keras model by {diff:.2g} on real clips "
                             f"(more than {TOLERANCE:g}): the export was not written",
                             "this is a bug of vaeaudio's export: please report it")
    return found


def _target(settings: ExportSettings, run: Path) -> Path:
    """The folder to write; `UsageError` when it exists and is not an export (never replaced)."""
    out = Path(settings.out) if settings.out is not None else run / "export"
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not exports.is_export(out))):
        raise UsageError(f"--out {out} exists and is not a vaeaudio export", "choose a new folder")
    if out.resolve() == run:
        raise UsageError(f"--out {out} is the run directory itself", "choose a new folder, e.g. RUN/export")
    return out


def export(settings: ExportSettings) -> ExportResult:
    """Export the finished run `settings.run` to `settings.out` (default RUN/export): see the module docstring."""
    from vaeaudio.models.saving import finished_model, load_model
    from vaeaudio.models.sharpen import sharpen_power

    run = resolve_run(settings.run)
    config = load_config(run)
    model_file = finished_model(run)
    out = _target(settings, run)
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError as exc:
        raise ModelError(f"vaeaudio export needs onnx and onnxruntime ({exc})",
                         "pip install 'vaeaudio[export]'") from None
    from vaeaudio.exporting.graphs import OPSET, graph

    keras_model = load_model(run)
    model, dtype = _float32_twin(keras_model, config)
    classes = exports.classes_of(config)
    class_input = model.decoder.inputs[1].name if model.conditional else None
    transform = config.transform()
    mixture = latents.load(run)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.export-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        names = _save(graph(model.decoder, "decoder", ["spectrogram"], {"spectrogram": "Sigmoid"}, class_input),
                      tmp / exports.DECODER)
        names += _save(graph(model.encoder, "encoder", ["z_mean", "z_log_var"], None, class_input),
                       tmp / exports.ENCODER)
        spec, labels = _check_clips(transform, len(classes))
        diff = _validate(model, tmp, spec, labels)
        if dtype is not None:
            z, own_labels = _points(model), labels if model.conditional else None
            own = float(np.abs(keras_model.decode_all(z, own_labels) - model.decode_all(z, own_labels)).max())
            progress.log(f"note: run {run.name} computes in {dtype}; the export computes in float32 (its "
                         f"spectrograms differ from the run's own by up to {own:.2g})")
        progress.log(f"export: onnxruntime matches Keras on {len(spec)} FSDD clips: max abs difference "
                     f"{diff['decoder']:.1e} on the spectrogram, {diff['encoder']:.1e} on the latents "
                     f"(tolerance {TOLERANCE:g})")
        power = {"normal": sharpen_power("auto", keras_model, config)}
        if mixture is not None:
            power["mixture"] = sharpen_power("auto", keras_model, config, mixture)
        exports.write(tmp, {
            "format": exports.FORMAT, "created": timestamp(), "vaeaudio": __version__,
            "source": {"run": str(run), "name": run.name, "config_sha256": sha256_file(run / CONFIG),
                       "model_sha256": sha256_file(model_file)},
            "latent_dim": int(model.latent_dim), "conditional": bool(model.conditional), "classes": classes,
            "audio": {**transform.as_dict(), "db_min": config.data.db_min, "db_max": config.data.db_max,
                      "mean": config.data.mean},
            "sharpen": power,
            "mixture": None if mixture is None else {"weights": mixture.weights.tolist(),
                                                     "means": mixture.means.tolist(),
                                                     "cholesky": mixture.cholesky.tolist()},
            "opset": OPSET,
            "files": {name: {"sha256": sha256_file(tmp / name), "bytes": (tmp / name).stat().st_size}
                      for name in names},
            "validation": {"clips": len(spec), "points": 2 * len(spec), "tolerance": TOLERANCE,
                           "max_abs_diff": diff, "run_dtype": dtype or "float32", "model": config.model},
            "run_config": config.model_dump(mode="json"),
        })
        _move_into_place(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return ExportResult(out, [*names, exports.INFO], diff)


def _points(model) -> np.ndarray:
    """`CHECK_CLIPS` latent points (n, L) float32 drawn from N(0, I) with a fixed seed."""
    return np.random.default_rng(0).standard_normal((CHECK_CLIPS, model.latent_dim)).astype(np.float32)


def _move_into_place(tmp: Path, out: Path) -> None:
    """Replace `out` (absent, empty or an earlier export) by the whole folder `tmp`."""
    old = out.parent / f".{out.name}.old-{os.getpid()}"
    if out.exists():
        os.replace(out, old)
    try:
        os.replace(tmp, out)
    except BaseException:
        if old.exists():
            with contextlib.suppress(OSError):
                os.replace(old, out)
        raise
    shutil.rmtree(old, ignore_errors=True)
