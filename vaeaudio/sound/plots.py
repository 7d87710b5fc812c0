"""Spectrogram pictures in physical units: time in seconds, frequency in Hz, level in dB with a colour bar.

Every picture of a spectrogram (`evaluate`'s reconstructions.png, the report's
clips, TensorBoard previews) is drawn by `draw`, so they all read the same way.
matplotlib is imported by the caller (Agg backend); this module only draws on axes.
"""

from __future__ import annotations

import io

import numpy as np

from vaeaudio.sound import dsp

#: Colour map of every spectrogram picture.
CMAP = "magma"


def draw(ax, spec: np.ndarray, db_min: float, db_max: float, transform, title: str = "", colorbar: bool = True,
         small: bool = False):
    """Draw one spectrogram (bins, frames) in [0, 1] on matplotlib axes `ax`, undoing the scaling to dB.

    `db_min`/`db_max`: the clip's dB range (the run's median range for decoded clips);
    `transform`: the `vaeaudio.sound.dsp.Transform` it was made with (time and frequency axes).
    Returns the image, so that a caller may share one colour bar.
    """
    db = dsp.denormalise(np.asarray(spec, dtype=np.float32), db_min, db_max)
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


def draw_grid(ax, panels: dict, rows: int, cols: int, db_min: float, db_max: float, transform):
    """Draw spectrograms {(row, col): (spec (bins, frames) in [0, 1], title)} as one image on `ax`, row 0 on top,
    each panel with its own time (s) and frequency (Hz) ticks; one imshow, so one shared colour bar and a fraction
    of the drawing time of an axes per panel. Returns the image."""
    bins, frames = transform.shape
    height, width = bins + bins // 6, frames + max(2, frames // 20)  # room for the titles above each panel
    mosaic = np.full((rows * height, cols * width), np.nan, np.float32)
    for (row, col), (spec, title) in panels.items():
        y, x = (rows - 1 - row) * height, col * width
        mosaic[y : y + bins, x : x + frames] = dsp.denormalise(np.asarray(spec, np.float32), db_min, db_max)
        ax.text(x + frames / 2, y + bins + 1, title, ha="center", va="bottom", fontsize=6)
    cmap = __import__("matplotlib").colormaps[CMAP].with_extremes(bad="white")
    image = ax.imshow(mosaic, origin="lower", aspect="auto", cmap=cmap, vmin=db_max - transform.top_db, vmax=db_max,
                      interpolation="nearest")
    seconds, nyquist = transform.seconds, transform.sample_rate / 2
    ax.set_xticks([c * width + frames * t for c in range(cols) for t in (0, 0.5)],
                  [f"{seconds * t:.2g}" for _ in range(cols) for t in (0, 0.5)], fontsize=5)
    ax.set_yticks([r * height + bins * f for r in range(rows) for f in (0, 0.5)],
                  [f"{nyquist * f:.0f}" for _ in range(rows) for f in (0, 0.5)], fontsize=5)
    ax.set_xlabel("time (s) in each panel", fontsize=7)
    ax.set_ylabel("frequency (Hz) in each panel", fontsize=7)
    for side in ax.spines.values():
        side.set_visible(False)
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


def pca_2d(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Project points (n, d) on their first two principal axes -> ((n, 2), explained variance ratios (2,))."""
    z = np.asarray(z, dtype=np.float64)
    if z.shape[1] <= 2:
        return z[:, :2], np.ones(2)
    centred = z - z.mean(0)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    var = s**2 / max((s**2).sum(), 1e-12)
    return centred @ vt[:2].T, var[:2]


# --------------------------------------------------------------------------- generated audio
