"""Export folders (`vaeaudio export`): a trained run as ONNX graphs and one JSON file that says how to use them.

    decoder.onnx    z (B, L) float32 [, label (B,) int64] -> spectrogram (B, bins, frames) in [0, 1]
    encoder.onnx    spectrogram (B, bins, frames) [, label (B,) int64] -> z_mean (B, L), z_log_var (B, L)
    *.onnx.data     a graph's weights, beside it, when they pass `exporting.export.EXTERNAL_OVER` bytes
    export.json     `FORMAT`: the audio settings, the dB range and level, the latent size, the classes, the latent
                    mixture, the sharpening power, the source run, the sha256 of every file, how it was validated

`export.json` is written last and carries the sha256 of its own content
(`content_sha256`), so an edited file is refused as well as a damaged graph
(`read`). Reading needs neither TensorFlow nor onnx: this module is what synth,
the API and the report read an export through.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from vaeaudio.formats.latents import LatentMixture
from vaeaudio.formats.runs import RunConfig
from vaeaudio.util.errors import ModelError
from vaeaudio.util.files import sha256_file

FORMAT = "vaeaudio-export/1"
INFO = "export.json"
DECODER = "decoder.onnx"
ENCODER = "encoder.onnx"
_AGAIN = "export the run again with `vaeaudio export RUN`"


class FileEntry(BaseModel):
    """One file of the folder: its sha256 and size in bytes."""

    model_config = ConfigDict(extra="forbid")
    sha256: str
    bytes: int


class ExportInfo(BaseModel):
    """`export.json`."""

    model_config = ConfigDict(extra="forbid")
    format: str
    created: str
    vaeaudio: str
    source: dict  # the run: path, name, config_sha256 (its config.json), model_sha256 (its model.keras)
    latent_dim: int
    conditional: bool
    classes: list[str]  # label i is classes[i]
    audio: dict  # `dsp.Transform` fields, and db_min, db_max (dB, to undo the [0, 1] scaling), mean (training level)
    sharpen: dict[str, float]  # --sharpen auto's power drawing from 'normal' (N(0, I)) and, if any, 'mixture'
    mixture: dict | None  # `LatentMixture` as lists: weights (G, K), means (G, K, L), cholesky (G, K, L, L)
    opset: int
    files: dict[str, FileEntry]
    validation: dict  # clips compared, max abs differences against the Keras model, the tolerance
    run_config: dict  # the run's config.json (`RunConfig`)
    content_sha256: str

    def config(self) -> RunConfig:
        """The run's `RunConfig` (its audio settings, dB range, training settings)."""
        return RunConfig.model_validate(self.run_config)

    def latent_mixture(self) -> LatentMixture | None:
        """The run's latent mixture, or None when it stored none."""
        import numpy as np

        if self.mixture is None:
            return None
        return LatentMixture(*(np.asarray(self.mixture[k], np.float64) for k in ("weights", "means", "cholesky")))


def classes_of(config: RunConfig) -> list[str]:
    """The class names of a run, label order (`RunConfig.classes`: the digits for a run made before classes)."""
    return config.classes()


def content_digest(data: dict) -> str:
    """sha256 of `data` without its `content_sha256`, as canonical JSON (sorted keys)."""
    body = {k: v for k, v in data.items() if k != "content_sha256"}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode("utf-8")).hexdigest()


def is_export(path: Path) -> bool:
    """True when `path` is a folder holding an `export.json` (whole or not)."""
    return (Path(path) / INFO).is_file()


def read(folder: Path) -> ExportInfo:
    """The checked `export.json` of export `folder`; `ModelError` (one line) when it is missing, from a newer
    vaeaudio, foreign, edited, or when a file it lists is missing or of another size. Each graph's sha256 is
    checked when it is loaded (`check_graph`): synth reads the decoder's 75 MB, not the encoder's too."""
    folder = Path(folder)
    path = folder / INFO
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(f"{folder} is not a vaeaudio export ({INFO} is missing)", _AGAIN) from None
    except (OSError, ValueError) as exc:
        raise ModelError(f"{path} is unreadable ({exc})", _AGAIN) from None
    tag = raw.get("format") if isinstance(raw, dict) else None
    if isinstance(tag, str) and tag.startswith("vaeaudio-export/") and tag != FORMAT:
        version = tag.rsplit("/", 1)[1]
        if version.isdigit() and int(version) > int(FORMAT.rsplit("/", 1)[1]):
            raise ModelError(f"{path} is format {tag}, written by a newer vaeaudio; this one reads {FORMAT}",
                             "upgrade vaeaudio")
    if tag != FORMAT:
        raise ModelError(f"{path} is not a {FORMAT} file (format {tag!r})", _AGAIN)
    if raw.get("content_sha256") != content_digest(raw):
        raise ModelError(f"{path} was edited: its content differs from the sha256 written with it", _AGAIN)
    try:
        info = ExportInfo.model_validate(raw)
        info.config()
    except ValidationError as exc:
        raise ModelError(f"{path} is damaged: {exc.errors()[0]['loc']} {exc.errors()[0]['msg']}", _AGAIN) from None
    for name, entry in info.files.items():
        check_file(folder, name, entry, digest=False)
    return info


def check_graph(folder: Path, info: ExportInfo, graph: str) -> None:
    """`ModelError` unless graph file `graph` of export `folder` (and its external data, if any) has the size and
    sha256 `info` lists."""
    for name, entry in info.files.items():
        if name in (graph, f"{graph}.data"):
            check_file(folder, name, entry)


def check_file(folder: Path, name: str, entry: FileEntry, digest: bool = True) -> None:
    """`ModelError` unless `folder/name` exists with the size (and with `digest`, the sha256) of `entry`."""
    path = Path(folder) / name
    if Path(name).name != name:
        raise ModelError(f"{folder / INFO} names a file outside its folder ({name!r})", _AGAIN)
    if not path.is_file():
        raise ModelError(f"{path} is missing: the export is incomplete", _AGAIN)
    if path.stat().st_size != entry.bytes:
        raise ModelError(f"{path} is damaged: {path.stat().st_size:,} bytes where {entry.bytes:,} were written",
                         _AGAIN)
    if digest and sha256_file(path) != entry.sha256:
        raise ModelError(f"{path} is damaged: its sha256 differs from the one in {INFO}", _AGAIN)


def write(folder: Path, info: dict) -> Path:
    """Write `info` (the `ExportInfo` fields but `content_sha256`) as `folder/export.json`, with its digest."""
    from vaeaudio.util.files import write_text

    data = {**info, "content_sha256": ""}
    data["content_sha256"] = content_digest(data)
    ExportInfo.model_validate(data)
    return write_text(Path(folder) / INFO, json.dumps(data, indent=1) + "\n")
