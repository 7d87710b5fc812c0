"""`vaeaudio evaluate`: the reference's loss table, its latent plots, and numbers instead of "by eye".

For each run (default `runs/latest`), on the spectrogram set it was trained on:

- losses: mean per-clip reconstruction (sum of binary cross-entropy over the
  257 x 69 bins), KL and total (reconstruction + beta x KL), in nats per clip,
  on train / val / test, one latent sample per clip (as the report's Table 2);
- latent scores on the encoder means: k-NN digit accuracy (fit on train, scored
  on test) and silhouette by digit and by speaker on test (`vaeaudio.judging.metrics`);
- plots in RUN/eval/: latent scatter by digit and by speaker (PCA when the latent
  has more than 2 dimensions), training curves, inputs vs reconstructions;
- listening material in RUN/eval/listen/: for a few test clips, the original
  recording, the clip through the representation alone (spectrogram -> Griffin-Lim:
  the ceiling any model can reach), and the clip through the model;
- generated clips judged twice: by a digit classifier trained on the same set
  (`vaeaudio.judging.generation`: is the digit in the spectrogram?) and by an independent
  speech recogniser (`vaeaudio.judging.recognise`: would a listener hear it?), which also
  hears the real test recordings, the model's reconstructions of them and the
  test clips through the representation alone.

Writes RUN/eval/metrics.json, table.csv and table.md; the result prints a table.
"""

from __future__ import annotations

import csv
import io
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vaeaudio.formats import latents
from vaeaudio.formats.runs import LOSSES
from vaeaudio.formats.spectrogram_set import SPLITS, SpectrogramSet
from vaeaudio.judging import metrics
from vaeaudio.settings import EvaluateSettings
from vaeaudio.sound import dsp, plots
from vaeaudio.sound.render import render
from vaeaudio.util import progress
from vaeaudio.util.errors import DataError

TABLE_COLUMNS = ("run", "model", "epochs", "training time (s)", "train loss", "val loss", "test loss",
                 "kNN digit acc", "silhouette (digit)", "IS gen / real", "generated acc",
                 "heard gen / real train", "heard recon / repr")


def _forward(model, spec: np.ndarray, digits: np.ndarray, beta: float, batch: int) -> dict[str, np.ndarray]:
    """Encoder means and per-clip losses of clips (n, bins, frames) with their digits (n,)."""
    z_mean, recon, kl = [], [], []
    for s in range(0, len(spec), batch):
        x, d = spec[s : s + batch], digits[s : s + batch]
        zm, _ = model.encode(x, d)
        r, k = model.losses_for(x, d)
        z_mean.append(np.asarray(zm))
        recon.append(np.asarray(r))
        kl.append(np.asarray(k))
    recon_a, kl_a = np.concatenate(recon), np.concatenate(kl)
    return {"z_mean": np.concatenate(z_mean), "reconstruction": recon_a, "kl": kl_a, "total": recon_a + beta * kl_a}


def _plots(out: Path, z_test, digits, speakers, history, spec_in, spec_out, db_range, transform, title: str) -> dict[str, str]:
    """evaluate's PNGs; `db_range` (n, 2): each shown clip's dB range, `transform` its audio settings (axes in s, Hz, dB)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    files = {}
    proj, var = plots.pca_2d(z_test)
    projected = z_test.shape[1] > 2
    how = (f" - PCA of {z_test.shape[1]}-D latent ({100 * var.sum():.0f}% of variance)" if projected else "")
    axes_names = ("PC 1", "PC 2") if projected else ("z[0]", "z[1]")
    if z_test.shape[1] == 1:
        proj = np.column_stack([proj[:, 0], np.zeros(len(proj))])
        axes_names = ("z[0]", "")
    for by, labels in (("digit", digits), ("speaker", speakers)):
        fig, ax = plt.subplots(figsize=(7, 6), dpi=110)
        names = sorted(set(labels.tolist()), key=lambda v: (len(str(v)), str(v)))
        cmap = plt.get_cmap("tab10" if len(names) <= 10 else "nipy_spectral")
        for i, name in enumerate(names):
            m = labels == name
            color = cmap(i if len(names) <= 10 else i / max(len(names) - 1, 1))
            ax.scatter(proj[m, 0], proj[m, 1], s=9, alpha=0.7, color=color, label=str(name))
        ax.set_xlabel(axes_names[0])
        ax.set_ylabel(axes_names[1])
        ax.set_title(f"{title}: test latent means by {by}{how}", fontsize=9)
        if len(names) <= 20:
            ax.legend(title=by, fontsize=7, markerscale=2, loc="best", ncol=2 if len(names) > 10 else 1)
        fig.tight_layout()
        files[f"latent_{by}"] = str(_save(fig, out / f"latent_{by}.png", plt))
    if history:
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
        files["curves"] = str(_save(fig, out / "curves.png", plt))
    n = len(spec_in)
    if n:
        fig, axes = plt.subplots(2, n, figsize=(3.2 * n, 5), dpi=110, squeeze=False)
        for i in range(n):
            for row, (spec, label) in enumerate(((spec_in[i], "input"), (spec_out[i], "reconstruction"))):
                plots.draw(axes[row, i], spec, *db_range[i], transform, f"test clip {i}: {label}", small=True)
        fig.tight_layout()
        files["reconstructions"] = str(_save(fig, out / "reconstructions.png", plt))
    return files


def _save(fig, path: Path, plt) -> Path:
    fig.savefig(path)
    plt.close(fig)
    return path


def _listen(out: Path, data: SpectrogramSet, test: dict, recon: np.ndarray, pick: np.ndarray, settings) -> list[str]:
    """WAVs of a few test clips: original recording, representation only, model reconstruction."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    t = data.transform
    ceiling = render(test["spec"][pick], test["db_min"][pick], test["db_max"][pick], t,
                     n_iter=settings.griffin_lim_iters, seed=settings.seed)
    model = render(recon, test["db_min"][pick], test["db_max"][pick], t, n_iter=settings.griffin_lim_iters,
                   seed=settings.seed)
    root = Path(data.manifest.source.root)
    for j, i in enumerate(pick):
        stem = f"clip{j}_digit{test['digit'][i]}_{test['speaker'][i]}"
        source = root / test["path"][i]
        if source.is_file():
            y, sr = dsp.read(source)
            written.append(str(dsp.write_wav(out / f"{stem}_original.wav", dsp.peak_normalise(t.to_clip(y, sr)),
                                               t.sample_rate)))
        written.append(str(dsp.write_wav(out / f"{stem}_representation.wav", ceiling[j], t.sample_rate)))
        written.append(str(dsp.write_wav(out / f"{stem}_model.wav", model[j], t.sample_rate)))
    return written


def evaluate_run(run: Path, settings: EvaluateSettings) -> dict:
    """Evaluate one run directory; writes RUN/eval/ and returns its metrics (as in metrics.json)."""
    from vaeaudio.formats.runs import load_config, read_history, write_json
    from vaeaudio.models.saving import load_model

    t0 = time.perf_counter()
    config = load_config(run)
    model = load_model(run)
    data = SpectrogramSet(settings.data or config.data.root)
    if data.transform != config.transform():
        raise DataError(f"{data.root} was made with other audio settings ({data.transform}) than {run.name} was "
                        f"trained on ({config.transform()})", "evaluate on a set made with the run's settings")
    same_data = data.sha256() == config.data.manifest_sha256
    if not same_data:
        progress.log(f"note: {data.root} is not the spectrogram set {run.name} was trained on")
    beta = float(config.settings.get("beta", 1.0))
    import keras

    keras.utils.set_random_seed(settings.seed)
    model.sampling.reseed(settings.seed)  # the latent draws of the losses follow --seed, not the saved stream
    arrays, forward = {}, {}
    with progress.bar(sum(data.clips(s) for s in SPLITS), f"evaluate {run.name}", unit="clips") as bar:
        for split in SPLITS:
            arrays[split] = data.arrays(split)
            forward[split] = _forward(model, arrays[split]["spec"], arrays[split]["digit"], beta, settings.batch_size)
            bar.advance(len(arrays[split]["spec"]))
    test, ftest, ftrain = arrays["test"], forward["test"], forward["train"]
    history = read_history(run)
    out = run / "eval"
    out.mkdir(exist_ok=True)
    pick = np.linspace(0, len(test["spec"]) - 1, min(settings.listen, len(test["spec"]))).round().astype(int)
    show = pick[:6] if len(pick) else np.arange(min(4, len(test["spec"])))
    both = np.unique(np.concatenate([pick, show]))
    recon = np.asarray(model.decode(ftest["z_mean"][both], test["digit"][both])) if len(test["spec"]) else None
    order = {int(i): j for j, i in enumerate(both)}
    title = f"{run.name}"
    plots = _plots(out, ftest["z_mean"], test["digit"], test["speaker"], history,
                   test["spec"][show], recon[[order[int(i)] for i in show]] if recon is not None else [],
                   np.column_stack([test["db_min"][show], test["db_max"][show]]), config.transform(), title)
    listen = _listen(out / "listen", data, test, recon[[order[int(i)] for i in pick]], pick, settings) if len(pick) else []
    generation, digits, heard, recogniser = None, None, [], None
    if settings.samples_per_digit or settings.recogniser:
        from vaeaudio.models.sharpen import sharpen_power

        mixture = latents.choose(run, settings.prior)
        power = sharpen_power(settings.sharpen, model, config, settings.seed, mixture=mixture)
    if settings.recogniser:
        from vaeaudio.judging.recognise import Recogniser

        recogniser = Recogniser()
    if settings.samples_per_digit:
        from vaeaudio.judging.generation import cached_judge, generate, generation_metrics, judge_generated, overheard
        from vaeaudio.judging.judge import Judge

        judge = Judge(settings.classifier) if settings.classifier else cached_judge(data)
        if judge.transform != data.transform:  # it would read the set's spectrograms in another representation
            raise DataError(f"the classifier in {judge.folder} was trained on spectrograms made with other audio "
                            f"settings ({judge.transform}) than {data.root} ({data.transform})",
                            "pass one trained on a set made like this one, or leave --classifier out")
        chunks = generate(model, config, settings.samples_per_digit, settings.seed, settings.griffin_lim_iters, power,
                          mixture)
        if recogniser is not None:  # the recogniser hears each chunk on its way to the classifier
            chunks = overheard(chunks, recogniser, config.transform().sample_rate, heard)
        gen_p, gen_f, digits = judge_generated(judge, chunks, config.transform().sample_rate)
        generation = {**generation_metrics(judge, gen_p, gen_f, digits, test["spec"], test["digit"]),
                      "griffin_lim_iters": settings.griffin_lim_iters, "sharpen": power,
                      "prior": "mixture" if mixture is not None else "normal"}
    # --- the independent recogniser (vaeaudio.judging.recognise): what a listener hears, beside the classifier
    listening = None
    if recogniser is not None:
        from vaeaudio.judging.generation import listening_metrics

        listening = listening_metrics(recogniser, model, arrays["train"], test, ftest["z_mean"],
                                      Path(data.manifest.source.root), config.transform(), settings.griffin_lim_iters,
                                      settings.seed, np.concatenate(heard) if heard else None, digits, power)
    # ---
    result = {
        "run": str(run),
        "model": config.train_settings().describe(),
        "parameters": config.model.get("parameters"),
        "latent_dim": int(ftest["z_mean"].shape[1]),
        "epochs": history[-1]["epoch"] if history else None,
        "training_seconds": float(sum(r["seconds"] for r in history)),
        "data": {"root": str(data.root), "same_as_training": same_data,
                 "clips": {s: int(len(arrays[s]["spec"])) for s in SPLITS}, "split_by": data.manifest.split_by},
        "losses": {s: {k: float(np.mean(forward[s][k])) if len(forward[s][k]) else None
                       for k in LOSSES} for s in SPLITS},
        "latent": {
            "knn_digit_accuracy": metrics.knn_accuracy(ftrain["z_mean"], arrays["train"]["digit"], ftest["z_mean"],
                                                       test["digit"], settings.k),
            "k": settings.k,
            "silhouette_digit": metrics.silhouette(ftest["z_mean"], test["digit"]),
            "silhouette_speaker": metrics.silhouette(ftest["z_mean"], test["speaker"]),
            "chance_accuracy": float(np.bincount(test["digit"]).max() / len(test["digit"])),
        },
        "generation": generation,
        "recogniser": listening,
        "units": {"losses": "nats per clip (sum over bins / latent dims, mean over clips)",
                  "training_seconds": "s", "knn_digit_accuracy": "fraction of test clips", "silhouette": "-1..1"},
        "plots": plots,
        "listen": listen,
        "settings": settings.model_dump(mode="json", exclude={"runs"}),
        "seconds": time.perf_counter() - t0,
    }
    write_json(out / "metrics.json", result)
    _write_tables(out, [result])
    return result


def _row(r: dict) -> list[str]:
    g = r.get("generation")
    f = lambda v, fmt: "-" if v is None or (isinstance(v, float) and np.isnan(v)) else format(v, fmt)  # noqa: E731
    return [Path(r["run"]).name, r["model"], f(r["epochs"], "d"), f(r["training_seconds"], ".0f"),
            f(r["losses"]["train"]["total"], ".2f"), f(r["losses"]["val"]["total"], ".2f"),
            f(r["losses"]["test"]["total"], ".2f"), f(r["latent"]["knn_digit_accuracy"], ".3f"),
            f(r["latent"]["silhouette_digit"], ".3f"),
            f"{g['inception_score']:.2f} / {g['real_test_inception_score']:.2f}" if g else "-",
            f(g.get("generated_accuracy") if g else None, ".3f"), *_heard(r.get("recogniser"))]


def _heard(h: dict | None) -> list[str]:
    """The recogniser's 'generated / real' and 'reconstruction / representation' accuracies, as table cells."""
    acc = lambda key: "-" if not (h or {}).get(key) or h[key].get("accuracy") is None else f"{h[key]['accuracy']:.2f}"  # noqa: E731
    return [f"{acc('generated')} / {acc('real_train')}", f"{acc('reconstruction')} / {acc('representation')}"]


def _write_tables(out: Path, results: list[dict]) -> None:
    rows = [_row(r) for r in results]
    with open(out / "table.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(TABLE_COLUMNS)
        w.writerows(rows)
    md = ["| " + " | ".join(TABLE_COLUMNS) + " |", "|" + "---|" * len(TABLE_COLUMNS)]
    md += ["| " + " | ".join(row) + " |" for row in rows]
    (out / "table.md").write_text("\n".join(md) + "\n", encoding="utf-8")


@dataclass
class EvaluateResult:
    """Metrics of every evaluated run."""

    results: list[dict] = field(default_factory=list)

    def summary(self) -> str:
        """A rich table (losses in nats per clip) and where the files are."""
        from rich.console import Console
        from rich.table import Table

        table = Table(title="vaeaudio evaluate (losses: nats per clip)")
        for col in TABLE_COLUMNS:
            table.add_column(col, justify="left" if col in ("run", "model") else "right")
        for r in self.results:
            table.add_row(*_row(r))
        buf = io.StringIO()
        Console(file=buf, width=190, force_terminal=False).print(table)
        lines = [buf.getvalue().rstrip()]
        for r in self.results:
            lines.append(f"{Path(r['run']).name}: {Path(r['run']) / 'eval'}/ (metrics.json, table.md, "
                         f"{len(r['plots'])} plots, {len(r['listen'])} WAVs in listen/)"
                         + (f"; recogniser {1000 * r['recogniser']['seconds_per_clip']:.1f} ms per clip"
                            if r.get("recogniser") else ""))
        return "\n".join(lines)


def evaluate(settings: EvaluateSettings) -> EvaluateResult:
    """Evaluate each run of `settings.runs` (default runs/latest)."""
    from vaeaudio.formats.runs import resolve_run

    runs = [resolve_run(r) for r in (settings.runs or [None])]
    return EvaluateResult([evaluate_run(run, settings) for run in runs])
