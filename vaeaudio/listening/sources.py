"""What synth, the API and the report decode from: a run directory (Keras, TensorFlow) or an export (onnxruntime).

`open_source(path)` reads either without loading a model: its `config` (the run's
`RunConfig`: audio settings, dB range, training settings) and its latent mixture
are there at once, and `load()` gives the model (`VAE` or `ExportedVAE`: both
have `latent_dim`, `conditional`, `decode_all`, `encode_all`). An export never
imports TensorFlow.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vaeaudio.formats import exports, latents
from vaeaudio.formats.runs import RunConfig
from vaeaudio.util.errors import UsageError


@dataclass
class Source:
    """A run directory or an export folder (`path`), with its run's config and classes."""

    path: Path
    config: RunConfig
    classes: list[str]
    export: exports.ExportInfo | None = None

    @property
    def name(self) -> str:
        """The run's folder name; for an export, 'export of RUN'."""
        return self.path.name if self.export is None else f"export of {self.export.source['name']}"

    @property
    def mixture_file(self) -> str:
        """Where its latent mixture is kept: the run's `latents.npz`, or the export's `export.json`."""
        return latents.FILE if self.export is None else exports.INFO

    def mixture(self, prior: str) -> latents.LatentMixture | None:
        """The latent mixture to draw from for `--prior` (see `latents.choose`)."""
        if self.export is None:
            return latents.choose(self.path, prior)
        mixture = self.export.latent_mixture() if prior != "normal" else None
        if prior == "mixture" and mixture is None:
            raise UsageError(f"--prior mixture: export {self.name} holds no latent mixture (its run stored none)",
                             "use --prior normal")
        return mixture

    def load(self):
        """The model: the run's Keras `VAE` (TensorFlow is imported), or the export's `ExportedVAE`."""
        if self.export is None:
            from vaeaudio.models.saving import load_model

            return load_model(self.path)
        from vaeaudio.exporting.runtime import ExportedVAE

        return ExportedVAE.of(self.path, self.export)

    def sharpen_power(self, sharpen, model, mixture) -> float:
        """--sharpen's power (`vaeaudio.models.sharpen.sharpen_power`); an export's 'auto' is the power its run
        found, stored in it."""
        if self.export is None or sharpen != "auto":
            from vaeaudio.models.sharpen import sharpen_power

            return sharpen_power(sharpen, model, self.config, mixture)
        return self.export.sharpen["normal" if mixture is None else "mixture"]


def open_source(path: Path | None) -> Source:
    """The run directory (default runs/latest) or export folder at `path`, checked (a run must have finished, an
    export be whole: `exports.read`) but no model loaded."""
    if path is not None and exports.is_export(Path(path)):
        folder = Path(path).resolve()
        info = exports.read(folder)
        return Source(folder, info.config(), info.classes, info)
    from vaeaudio.formats.runs import load_config, resolve_run
    from vaeaudio.models.saving import finished_model

    run = resolve_run(path)
    config = load_config(run)
    finished_model(run)
    return Source(run, config, exports.classes_of(config))
