"""An export's graphs run by onnxruntime: the decoder and encoder of a run without TensorFlow.

`ExportedVAE` answers what synth and the API ask of a model (`latent_dim`,
`conditional`, `decode_all`, `encode_all`), as `vaeaudio.models.vae.VAE` does,
so the same code serves a run and an export. Only numpy and onnxruntime are
imported here, and onnxruntime only when a graph is first run.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vaeaudio.formats import exports
from vaeaudio.util.errors import ModelError

#: Clips per onnxruntime call: bounds the activations (the reference CNN's decoder holds 4.5 MB per clip).
BATCH = 256


def session(path: Path):
    """An onnxruntime session of the graph in `path` on the CPU (warnings kept quiet); `ModelError` when
    onnxruntime refuses it."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own kinds for a bad graph
        raise ModelError(f"{path} could not be loaded by onnxruntime ({type(exc).__name__}: "
                         f"{str(exc).splitlines()[0][:160]})", "export the run again with `vaeaudio export RUN`"
                         ) from None


class ExportedVAE:
    """The graphs in `folder`: z (n, L) [and labels (n,)] -> spectrograms (n, bins, frames) in [0, 1], and
    spectrograms -> latent moments. With `info` (`exports.read`), each graph's sha256 is checked before it is
    loaded; `export` runs the graphs it has just written without."""

    def __init__(self, folder: Path, latent_dim: int, conditional: bool, shape: tuple[int, int],
                 info: exports.ExportInfo | None = None, classes: int = 0):
        self.folder, self.info = Path(folder), info
        self.latent_dim, self.conditional, self.shape = latent_dim, conditional, tuple(shape)
        self.classes = classes  # C, the classes a conditional model is conditioned on (0: unconditional), as VAE's
        self._sessions: dict[str, object] = {}

    @classmethod
    def of(cls, folder: Path, info: exports.ExportInfo) -> ExportedVAE:
        """The model of export `folder`, whose `export.json` `exports.read` gave."""
        return cls(folder, info.latent_dim, info.conditional, info.run_config["data"]["shape"], info,
                   len(info.classes) if info.conditional else 0)

    def _run(self, name: str, feeds: dict, batch: int) -> list[np.ndarray]:
        if name not in self._sessions:
            if self.info is not None:
                exports.check_graph(self.folder, self.info, name)
            self._sessions[name] = session(self.folder / name)
        n = len(next(iter(feeds.values())))
        parts = [self._sessions[name].run(None, {k: v[s : s + batch] for k, v in feeds.items()})
                 for s in range(0, n, batch)]
        return [np.concatenate([p[i] for p in parts]) for i in range(len(parts[0]))]

    def _feeds(self, key: str, x: np.ndarray, digits) -> dict:
        feeds = {key: np.ascontiguousarray(x, dtype=np.float32)}
        if self.conditional:
            if digits is None:
                raise ValueError("a conditional model needs the labels")
            feeds["label"] = np.asarray(digits, dtype=np.int64).reshape(-1)
        return feeds

    def decode_all(self, z, digits=None, batch: int = BATCH) -> np.ndarray:
        """Spectrograms (n, bins, frames) float32 in [0, 1] of latent points z (n, L) [and labels (n,)]."""
        if len(z) == 0:
            return np.zeros((0, *self.shape), np.float32)
        return self._run(exports.DECODER, self._feeds("z", z, digits), batch)[0]

    def encode_moments(self, x, digits=None, batch: int = BATCH) -> tuple[np.ndarray, np.ndarray]:
        """(z_mean, z_log_var), each (n, L) float32, of spectrograms x (n, bins, frames) [and labels (n,)]."""
        if len(x) == 0:
            return np.zeros((0, self.latent_dim), np.float32), np.zeros((0, self.latent_dim), np.float32)
        mean, log_var = self._run(exports.ENCODER, self._feeds("spectrogram", x, digits), batch)
        return mean, log_var

    def encode_all(self, x, digits=None, batch: int = BATCH) -> np.ndarray:
        """Latent means (n, L) float32 of spectrograms x (n, bins, frames) [and labels (n,)]."""
        return self.encode_moments(x, digits, batch)[0]

