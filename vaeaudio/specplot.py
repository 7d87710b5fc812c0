"""Spectrogram pictures in physical units: time in seconds, frequency in Hz, level in dB with a colour bar.

Every picture of a spectrogram (`evaluate`'s reconstructions.png, the report's
clips, TensorBoard previews) is drawn by `draw`, so they all read the same way.
matplotlib is imported by the caller (Agg backend); this module only draws on axes.
"""

from __future__ import annotations

import io

import numpy as np

from . import audio

#: Colour map of every spectrogram picture.
CMAP = "magma"


def draw(ax, spec: np.ndarray, db_min: float, db_max: float, transform, title: str = "", colorbar: bool = True,
         small: bool = False):
    """Draw one spectrogram (bins, frames) in [0, 1] on matplotlib axes `ax`, undoing the scaling to dB.

    `db_min`/`db_max`: the clip's dB range (the run's median range for decoded clips);
    `transform`: the `vaeaudio.audio.Transform` it was made with (time and frequency axes).
    Returns the image, so that a caller may share one colour bar.
    """
    db = audio.denormalise(np.asarray(spec, dtype=np.float32), db_min, db_max)
    seconds = db.shape[1] * transform.hop_length / transform.sample_rate
    nyquist = transform.sample_rate / 2
    image = ax.imshow(db, origin="lower", aspect="auto", cmap=CMAP, vmin=db_max - transform.top_db, vmax=db_max,
                      extent=(0, seconds, 0, nyquist), interpolation="nearest")
    size = 6 if small else 7
    ax.set_xlabel("time (s)", fontsize=size)
    ax.set_ylabel("frequency (Hz)", fontsize=size)
    ax.tick_params(labelsize=size - 1)
    if title:
        ax.set_title(title, fontsize=size + 1)
    if colorbar:
        bar = ax.figure.colorbar(image, ax=ax, pad=0.02)
        bar.set_label("dB", fontsize=size)
        bar.ax.tick_params(labelsize=size - 1)
    return image


def png(fig, plt, dpi: int | None = None) -> bytes:
    """The figure as PNG bytes; the figure is closed."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    plt.close(fig)
    return buf.getvalue()


def pyplot():
    """matplotlib.pyplot on the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
