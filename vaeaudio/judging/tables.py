"""evaluate's table of runs: one row per run (losses in nats per clip), as table.csv, table.md and on the terminal."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from vaeaudio.util.files import write_text

COLUMNS = ("run", "model", "epochs", "training time (s)", "train loss", "val loss", "test loss",
           "kNN digit acc", "silhouette (digit)", "IS gen / real", "generated acc",
           "heard gen / real train", "heard recon / repr", "STOI recon / repr")


def row(r: dict) -> list[str]:
    g = r.get("generation")
    f = lambda v, fmt: "-" if v is None or (isinstance(v, float) and np.isnan(v)) else format(v, fmt)
    return [Path(r["run"]).name, r["model"], f(r["epochs"], "d"), f(r["training_seconds"], ".0f"),
            f(r["losses"]["train"]["total"], ".2f"), f(r["losses"]["val"]["total"], ".2f"),
            f(r["losses"]["test"]["total"], ".2f"), f(r["latent"]["knn_digit_accuracy"], ".3f"),
            f(r["latent"]["silhouette_digit"], ".3f"),
            f"{g['inception_score']:.2f} / {g['real_test_inception_score']:.2f}" if g else "-",
            f(g.get("generated_accuracy") if g else None, ".3f"), *_heard(r.get("recogniser")), _stoi(r.get("quality"))]


def _stoi(q: dict | None) -> str:
    """STOI of the reconstructions / of the representation alone, as a table cell."""
    value = lambda key: "-" if (q or {}).get(key, {}).get("mean") is None else f"{q[key]['mean']:.2f}"
    return "-" if not q else f"{value('stoi_reconstruction')} / {value('stoi_representation')}"


def _heard(h: dict | None) -> list[str]:
    """The recogniser's 'generated / real' and 'reconstruction / representation' accuracies, as table cells; a
    figure of a sample (`population` in its scores) with its standard error and size: '0.71 ±0.010 (2000 of 22842)'."""
    def acc(key):
        s = (h or {}).get(key)
        if not s or s.get("accuracy") is None:
            return "-"
        sampled = f" ±{s['se']:.3f} ({s['clips']} of {s['population']})" if s.get("population") else ""
        return f"{s['accuracy']:.2f}{sampled}"

    return [f"{acc('generated')} / {acc('real_train')}", f"{acc('reconstruction')} / {acc('representation')}"]


def write(out: Path, results: list[dict]) -> None:
    """`out/table.csv` and `out/table.md` of `results` (evaluate's metrics of each run), each written atomically."""
    rows = [row(r) for r in results]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(COLUMNS)
    w.writerows(rows)
    write_text(out / "table.csv", buf.getvalue())
    md = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    md += ["| " + " | ".join(cells) + " |" for cells in rows]
    write_text(out / "table.md", "\n".join(md) + "\n")


#: The terminal's rows (one column per run, so that a narrow terminal holds a few runs whole): what a listener
#: hears first (the independent recogniser, then STOI), then the losses and the latent space, then the in-domain
#: classifier's figures.
TERMINAL_ROWS = ("model", "epochs", "heard gen / real train", "heard recon / repr", "STOI recon / repr",
                 "train loss", "val loss", "test loss", "kNN digit acc", "silhouette (digit)", "generated acc",
                 "IS gen / real", "training time (s)")


def terminal(results: list[dict], width: int | None = None) -> str:
    """The table as text for the terminal, runs as columns, `width` columns wide at most (default: the
    terminal's, or 160 when stdout is not one); `table.md` keeps one row per run."""
    import shutil

    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(title="vaeaudio evaluate (losses: nats per clip; heard: an independent speech recogniser; "
                        "generated acc and IS: this set's classifier)")
    table.add_column("", justify="left", no_wrap=True)
    rows = [dict(zip(COLUMNS, row(r))) for r in results]
    for cells in rows:
        table.add_column(cells["run"], justify="right", overflow="fold")
    for name in TERMINAL_ROWS:  # the model in words reads from the left; figures line up on the right
        table.add_row(name, *(Text(cells[name], justify="left") if name == "model" else cells[name]
                              for cells in rows))
    buf = io.StringIO()
    Console(file=buf, width=width or shutil.get_terminal_size((160, 24)).columns, force_terminal=False).print(table)
    return buf.getvalue().rstrip()
