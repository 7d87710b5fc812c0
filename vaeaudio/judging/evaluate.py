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
- STOI (`vaeaudio.judging.quality`) of the reconstructions of up to `--stoi-clips` test clips, and
  of those clips through the representation alone, against the recordings, joined per speaker;
- generated clips judged twice: by a digit classifier trained on the same set
  (`vaeaudio.judging.generation`: is the digit in the spectrogram?) and by an independent
  speech recogniser (`vaeaudio.judging.recognise`: would a listener hear it?), which also
  hears the real test recordings, the model's reconstructions of them and the
  test clips through the representation alone (on every usable core: `recognise.Pool`). What depends only on the
  set is made once per set: the classifier (cached in the set's `classifier/`) and what the recogniser hears in
  the set's own clips (`vaeaudio.judging.setcache`); the train recordings it hears are a seeded sample
  (`--recogniser-train-clips`), reported with their standard error.

Writes RUN/eval/metrics.json, table.csv and table.md; the result prints a table.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vaeaudio.formats import latents
from vaeaudio.formats.runs import LOSSES
from vaeaudio.formats.spectrogram_set import SPLITS, SpectrogramSet
from vaeaudio.judging import metrics, quality, tables
from vaeaudio.settings import EvaluateSettings
from vaeaudio.sound import dsp, plots
from vaeaudio.sound.render import render
from vaeaudio.util import progress
from vaeaudio.util.arrays import evenly
from vaeaudio.util.errors import DataError
from vaeaudio.util.files import write_bytes


def _forward(model, terms, spec: np.ndarray, digits: np.ndarray, beta: float, batch: int) -> dict[str, np.ndarray]:
    """Encoder means (n, L) and per-clip losses (n,) of clips (n, bins, frames) with their digits (n,): one encoder
    pass per batch (`terms`: `VAE.terms`, traced once: 1.5-1.8x the clips a second of the eager call)."""
    z_mean, recon, kl = [], [], []
    for s in range(0, len(spec), batch):
        zm, r, k = terms(spec[s : s + batch], digits[s : s + batch])
        z_mean.append(np.asarray(zm))
        recon.append(np.asarray(r))
        kl.append(np.asarray(k))
    if not z_mean:
        return {"z_mean": np.zeros((0, model.latent_dim), np.float32), **{k: np.zeros(0, np.float32) for k in LOSSES}}
    recon_a, kl_a = np.concatenate(recon), np.concatenate(kl)
    return {"z_mean": np.concatenate(z_mean), "reconstruction": recon_a, "kl": kl_a, "total": recon_a + beta * kl_a}


def _plots(out: Path, z_test, test: dict, history, show: np.ndarray, recon_shown: np.ndarray, transform,
           title: str, kind: str = "digit") -> dict[str, str]:
    """evaluate's PNGs: test latent means by class (`test["class"]`, names) and by speaker, training curves, clips
    `show` over their reconstructions `recon_shown` (axes in s, Hz, dB with each clip's own dB range). `kind` names
    the classes in the legend ('digit' or 'class'); the files keep their names (latent_digit.png) whatever the
    classes."""
    files = {f"latent_{name}": str(write_bytes(out / f"latent_{name}.png",
                                               plots.latent_scatter(z_test, test[key], by, title)))
             for name, key, by in (("digit", "class", kind), ("speaker", "speaker", "speaker"))}
    if history:
        files["curves"] = str(write_bytes(out / "curves.png", plots.training_curves(history, title)))
    if len(show):
        db_range = np.column_stack([test["db_min"][show], test["db_max"][show]])
        files["reconstructions"] = str(write_bytes(out / "reconstructions.png", plots.reconstructions(
            test["spec"][show], recon_shown, db_range, transform)))
    return files


def _listen(out: Path, data: SpectrogramSet, test: dict, recon: np.ndarray, pick: np.ndarray, settings) -> list[str]:
    """WAVs of a few test clips: original recording, representation only, model reconstruction."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    t = data.transform
    how = {"phase": settings.phase, "n_iter": settings.griffin_lim_iters, "seed": settings.seed}
    ceiling = render(test["spec"][pick], test["db_min"][pick], test["db_max"][pick], t, **how)
    model = render(recon, test["db_min"][pick], test["db_max"][pick], t, **how)
    for j, i in enumerate(pick):
        stem = f"clip{j}_{'digit' if data.digit_classes else ''}{test['class'][i]}_{test['speaker'][i]}"
        original = data.recording(test["path"][i], test["spec"][i])
        if original is not None:
            written.append(str(dsp.write_wav(out / f"{stem}_original.wav", dsp.peak_normalise(original),
                                             t.sample_rate)))
        written.append(str(dsp.write_wav(out / f"{stem}_representation.wav", ceiling[j], t.sample_rate)))
        written.append(str(dsp.write_wav(out / f"{stem}_model.wav", model[j], t.sample_rate)))
    data.say_unverified()
    return written


def _quality(data: SpectrogramSet, test: dict, z_mean: np.ndarray, model, settings) -> dict | None:
    """STOI (`quality.stoi_by_group`, joined per speaker) against the recordings of `settings.stoi_clips` test
    clips spread evenly: of the model's reconstructions from the encoder means, and of the clips through the
    representation alone (the ceiling), both rendered with `settings.phase`. None when no recording is there."""
    idx = evenly(len(test["spec"]), settings.stoi_clips)
    originals = {int(i): data.recording(test["path"][i], test["spec"][i]) for i in idx}  # only what made the clip
    idx = np.array([i for i in idx if originals[int(i)] is not None], dtype=int)
    data.say_unverified()
    if len(idx) == 0:
        progress.log(f"STOI skipped: the recordings of {data.root}'s test clips are not there as they were")
        return None
    reference = np.stack([originals[int(i)] for i in idx])
    t, how = data.transform, {"phase": settings.phase, "n_iter": settings.griffin_lim_iters, "seed": settings.seed}
    db = test["db_min"][idx], test["db_max"][idx]
    representation = render(test["spec"][idx], *db, t, **how)
    reconstruction = render(model.decode_all(z_mean[idx], test["digit"][idx]), *db, t, **how)
    speakers = test["speaker"][idx]
    return {"stoi_reconstruction": quality.stoi_by_group(reference, reconstruction, speakers, t.sample_rate),
            "stoi_representation": quality.stoi_by_group(reference, representation, speakers, t.sample_rate),
            "clips": int(len(idx)), "phase": settings.phase}


def _judged(model, config, data: SpectrogramSet, arrays: dict, test: dict, z_mean: np.ndarray, settings,
            recogniser, mixture, power: float) -> tuple[dict | None, dict | None]:
    """(generation figures, recogniser figures) of a run: generated clips judged by the classifier (the set's cached
    one unless `settings.classifier`) and heard by `recogniser` (a `recognise.Recogniser` or `Pool`, or None), and
    the recogniser's figures of the set's own clips (`generation.listening_metrics`)."""
    generation, digits, heard = None, None, []
    if settings.samples_per_digit and (settings.judge or recogniser is not None):
        from vaeaudio.judging.generation import cached_judge, generate, generation_metrics, judge_generated, overheard
        from vaeaudio.judging.judge import Judge

        judge = None
        if settings.judge:
            judge = Judge(settings.classifier) if settings.classifier else cached_judge(data, arrays)
            if judge.transform != data.transform:  # it would read the set's spectrograms in another representation
                raise DataError(f"the classifier in {judge.folder} was trained on spectrograms made with other audio "
                                f"settings ({judge.transform}) than {data.root} ({data.transform})",
                                "pass one trained on a set made like this one, or leave --classifier out")
        chunks = generate(model, config, settings.samples_per_digit, settings.seed, settings.griffin_lim_iters, power,
                          mixture, settings.phase)
        if recogniser is not None:  # the recogniser hears each chunk on its way to the classifier
            chunks = overheard(chunks, recogniser, config.transform().sample_rate, heard)
        if judge is not None:
            gen_p, gen_f, digits = judge_generated(judge, chunks, config.transform().sample_rate)
            if judge.classes != data.classes:
                raise DataError(f"the classifier in {judge.folder} knows other classes ({', '.join(judge.classes[:4])}"
                                f"...) than {data.root}", "pass one trained on this set, or leave --classifier out")
            generation = {**generation_metrics(judge, gen_p, gen_f, digits, test["spec"], test["digit"]),
                          "phase": settings.phase, "griffin_lim_iters": settings.griffin_lim_iters, "sharpen": power,
                          "prior": "mixture" if mixture is not None else "normal"}
        else:  # the recogniser alone hears them
            asked = [d for _, d in chunks]
            digits = np.concatenate(asked) if asked and asked[0] is not None else None
    listening = None  # the independent recogniser (vaeaudio.judging.recognise): what a listener hears
    if recogniser is not None:
        from vaeaudio.judging.generation import listening_metrics

        listening = listening_metrics(recogniser, model, data, arrays["train"], test, z_mean,
                                      settings.griffin_lim_iters, settings.seed,
                                      np.concatenate([h.result() for h in heard]) if heard else None, digits,
                                      power, settings.phase, settings.recogniser_train_clips,
                                      settings.recogniser_test_clips)
    return generation, listening


def evaluate_run(run: Path, settings: EvaluateSettings) -> dict:
    """Evaluate one run directory; writes RUN/eval/ and returns its metrics (as in metrics.json)."""
    from vaeaudio.formats.runs import load_config, read_history, write_json
    from vaeaudio.models.saving import load_model

    t0 = time.perf_counter()
    config = load_config(run)
    data = SpectrogramSet(settings.data or config.data.root)
    if data.transform != config.transform():
        raise DataError(f"{data.root} was made with other audio settings ({data.transform}) than {run.name} was "
                        f"trained on ({config.transform()})", "evaluate on a set made with the run's settings")
    model = load_model(run)
    same_data = data.same_as(config.data.identity, config.data.manifest_sha256)
    if not same_data:
        progress.log(f"note: {data.root} is not the spectrogram set {run.name} was trained on")
    beta = float(config.settings.get("beta", 1.0))
    import keras

    keras.utils.set_random_seed(settings.seed)
    model.sampling.reseed(settings.seed)  # the latent draws of the losses follow --seed, not the saved stream
    import tensorflow as tf

    terms = tf.function(model.terms, reduce_retracing=True)
    arrays, forward = {}, {}
    with progress.bar(sum(data.clips(s) for s in SPLITS), f"evaluate {run.name}", unit="clips") as bar:
        for split in SPLITS:
            arrays[split] = data.arrays(split)
            forward[split] = _forward(model, terms, arrays[split]["spec"], arrays[split]["digit"], beta,
                                      settings.batch_size)
            bar.advance(len(arrays[split]["spec"]))
    test, ftest, ftrain = arrays["test"], forward["test"], forward["train"]
    test["class"] = np.asarray(data.classes)[test["digit"]] if len(test["digit"]) else np.zeros(0, str)
    history = read_history(run)
    out = run / "eval"
    out.mkdir(exist_ok=True)
    pick = evenly(len(test["spec"]), settings.listen)
    show = pick[:6] if len(pick) else evenly(len(test["spec"]), 4)
    both = np.unique(np.concatenate([pick, show]))
    recon = model.decode_all(ftest["z_mean"][both], test["digit"][both])
    row_of = {int(i): j for j, i in enumerate(both)}
    recon_of = lambda idx: recon[[row_of[int(i)] for i in idx]]
    figures = _plots(out, ftest["z_mean"], test, history, show, recon_of(show), config.transform(), run.name,
                     "digit" if data.digit_classes else "class")
    listen = _listen(out / "listen", data, test, recon_of(pick), pick, settings) if len(pick) else []
    sound_quality = _quality(data, test, ftest["z_mean"], model, settings) if settings.stoi_clips else None
    recogniser, mixture, power = None, None, 1.0
    if settings.samples_per_digit or settings.recogniser:
        from vaeaudio.models.sharpen import sharpen_power

        mixture = latents.choose(run, settings.prior)
        power = sharpen_power(settings.sharpen, model, config, mixture)
    if settings.recogniser:
        from vaeaudio.judging import recognise
        from vaeaudio.util.resources import usable_cores

        recogniser = recognise.for_classes(data.classes, usable_cores())
    try:
        generation, listening = _judged(model, config, data, arrays, test, ftest["z_mean"], settings, recogniser,
                                        mixture, power)
    finally:
        if recogniser is not None:
            recogniser.close()
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
        "quality": sound_quality,
        "units": {"losses": "nats per clip (sum over bins / latent dims, mean over clips)",
                  "training_seconds": "s", "knn_digit_accuracy": "fraction of test clips", "silhouette": "-1..1",
                  "stoi": "0..1, mean over speakers of each speaker's clips joined (se: its standard error)"},
        "plots": figures,
        "listen": listen,
        "settings": settings.model_dump(mode="json", exclude={"runs"}),
        "seconds": time.perf_counter() - t0,
    }
    write_json(out / "metrics.json", result)
    tables.write(out, [result])
    return result


@dataclass
class EvaluateResult:
    """Metrics of every evaluated run."""

    results: list[dict] = field(default_factory=list)

    def summary(self) -> str:
        """The terminal's table (`tables.terminal`) and where each run's files are."""
        lines = [tables.terminal(self.results)]
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
