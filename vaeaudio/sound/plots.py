"""Every picture vaeaudio draws: spectrograms in physical units (time in s, frequency in Hz, level in dB with a
colour bar), latent maps and training curves.

Every picture of a spectrogram (`evaluate`'s reconstructions.png, the report's
clips, TensorBoard previews) is drawn by `draw`, so they all read the same way;
every latent map projects its points by `latent_projection`. matplotlib is
imported lazily (`pyplot`, Agg backend).
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


def latent_projection(z: np.ndarray) -> tuple[np.ndarray, tuple[str, str], str]:
    """Latent points (n, d) -> (their 2-D positions (n, 2), the axes' names, how they were projected ('' or
    ' - PCA of d-D latent (x% of variance)')). 1-D latents lie on the x axis."""
    proj, var = pca_2d(z)
    if z.shape[1] > 2:
        return proj, ("PC 1", "PC 2"), f" - PCA of {z.shape[1]}-D latent ({100 * var.sum():.0f}% of variance)"
    if z.shape[1] == 1:
        return np.column_stack([proj[:, 0], np.zeros(len(proj))]), ("z[0]", ""), ""
    return proj, ("z[0]", "z[1]"), ""


def latent_scatter(z: np.ndarray, labels: np.ndarray, by: str, title: str) -> bytes:
    """PNG of latent points (n, d) coloured by `labels` (n,) (digits or speakers), with a legend up to 20 labels."""
    plt = pyplot()
    proj, (x_name, y_name), how = latent_projection(z)
    fig, ax = plt.subplots(figsize=(7, 6), dpi=110)
    names = sorted(set(labels.tolist()), key=lambda v: (len(str(v)), str(v)))
    cmap = plt.get_cmap("tab10" if len(names) <= 10 else "nipy_spectral")
    for i, name in enumerate(names):
        m = labels == name
        color = cmap(i if len(names) <= 10 else i / max(len(names) - 1, 1))
        ax.scatter(proj[m, 0], proj[m, 1], s=9, alpha=0.7, color=color, label=str(name) or "(unknown)")
    ax.set_xlabel(x_name)
    ax.set_ylabel(y_name)
    ax.set_title(f"{title}: test latent means by {by}{how}", fontsize=9)
    if len(names) <= 20:
        ax.legend(title=by, fontsize=7, markerscale=2, loc="best", ncol=2 if len(names) > 10 else 1)
    fig.tight_layout()
    return png(fig, plt)


def training_curves(history: list[dict], title: str) -> bytes:
    """PNG of the train and val losses (nats per clip) of `history` (rows of history.csv) by epoch."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6), dpi=110)
    epochs = [r["epoch"] for r in history]
    for ax, key in zip(axes, ("total", "reconstruction", "kl")):
        ax.plot(epochs, [r[f"train_{key}"] for r in history], marker="o", ms=3, label="train")
        ax.plot(epochs, [r[f"val_{key}"] for r in history], marker="o", ms=3, label="val")
        ax.set_xlabel("epoch")
        ax.set_ylabel(f"{key} (nats per clip)")
        ax.set_title(key)
        ax.legend()
    fig.suptitle(f"{title}: training curves", fontsize=10)
    fig.tight_layout()
    return png(fig, plt)


def reconstructions(spec_in: np.ndarray, spec_out: np.ndarray, db_range: np.ndarray, transform) -> bytes:
    """PNG of test clips (n, bins, frames) over their reconstructions (n, bins, frames); `db_range` (n, 2)."""
    plt = pyplot()
    n = len(spec_in)
    fig, axes = plt.subplots(2, n, figsize=(3.2 * n, 5), dpi=110, squeeze=False)
    for i in range(n):
        for row, (spec, label) in enumerate(((spec_in[i], "input"), (spec_out[i], "reconstruction"))):
            draw(axes[row, i], spec, *db_range[i], transform, f"test clip {i}: {label}", small=True)
    fig.tight_layout()
    return png(fig, plt)
