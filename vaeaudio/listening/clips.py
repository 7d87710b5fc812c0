"""The sounds of `vaeaudio report`: each run's test clips, generated clips and latent map as WAVs (and PNGs), every
clip labelled with what the listeners hear. `vaeaudio.listening.report` gathers them into the page's sections."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vaeaudio.formats.spectrogram_set import SpectrogramSet
from vaeaudio.settings import ReportSettings
from vaeaudio.sound import dsp
from vaeaudio.util.arrays import evenly


class Labeller:
    """What each listener hears in waveforms at `sample_rate` Hz: per clip {"recogniser": class index (-1: no word
    heard), "classifier": [class index, probability]}, a listener left out when there is none."""

    def __init__(self, judge, recogniser, sample_rate: int):
        self.judge, self.recogniser, self.sample_rate = judge, recogniser, sample_rate

    def __call__(self, waves: np.ndarray) -> list[dict]:
        heard = [{} for _ in range(len(waves))]
        if not len(waves):
            return heard
        if self.recogniser is not None:
            for h, d in zip(heard, self.recogniser.hear(np.asarray(waves), self.sample_rate)):
                h["recogniser"] = int(d)
        if self.judge is not None:
            p, _ = self.judge.predict(self.judge.featurise_waves(np.asarray(waves), self.sample_rate))
            for h, row in zip(heard, p):
                h["classifier"] = [int(row.argmax()), round(float(row.max()), 4)]
        return heard


def labeller(settings: ReportSettings, metrics: dict, data: SpectrogramSet, sample_rate: int) -> Labeller:
    """The listeners of a run's clips: the recogniser (unless --no-recogniser) and the classifier (unless --no-judge:
    --classifier, else the one evaluate used, else the set's cached one)."""
    recogniser = None
    if settings.recogniser:
        from vaeaudio.judging import recognise

        recogniser = recognise.for_classes(data.classes)
    if not settings.judge:
        return Labeller(None, recogniser, sample_rate)
    from vaeaudio.judging.generation import cached_judge
    from vaeaudio.judging.judge import Judge

    used = (metrics.get("generation") or {}).get("classifier")
    if settings.classifier:
        judge = Judge(settings.classifier)
    elif isinstance(used, str) and Path(used).is_dir():
        judge = Judge(Path(used))
    else:
        judge = cached_judge(data)
    return Labeller(judge, recogniser, sample_rate)


def wavs(folder: Path, names: list[str], waves: np.ndarray, sr: int, run_dir: Path) -> list[str]:
    """Write `waves` (n, samples) as folder/name.wav; their paths relative to the page's folder."""
    folder.mkdir(parents=True, exist_ok=True)
    return [dsp.write_wav(folder / f"{n}.wav", w, sr).relative_to(run_dir.parent).as_posix()
            for n, w in zip(names, waves)]


def original(data: SpectrogramSet, test: dict, i: int) -> np.ndarray | None:
    """The source recording of test clip i, peak-normalised as every WAV on the page; None when it is gone or is
    no longer the clip's (`SpectrogramSet.recording`)."""
    wave = data.recording(test["path"][i], test["spec"][i])
    return None if wave is None else dsp.peak_normalise(wave)


def test_clips(dest: Path, model, config, data, test, z_mean, settings, label) -> list[dict]:
    """The page's test clips: three WAVs each (original if the recording is still there) and a spectrogram PNG."""
    from vaeaudio.sound import plots
    from vaeaudio.sound.render import render

    transform = config.transform()
    how = {"phase": settings.phase, "n_iter": settings.griffin_lim_iters, "seed": settings.seed}
    n = len(test["spec"])
    pick = evenly(n, settings.listen)
    if not len(pick):
        return []
    recon = model.decode_all(z_mean[pick], test["digit"][pick])
    plt = plots.pyplot()
    clips = []
    for j, i in enumerate(pick):
        lo, hi = float(test["db_min"][i]), float(test["db_max"][i])
        waves = {"original": original(data, test, i),
                 "representation": render(test["spec"][i][None], lo, hi, transform, **how)[0],
                 "model": render(recon[j][None], lo, hi, transform, **how)[0]}
        waves = {k: w for k, w in waves.items() if w is not None}
        paths = wavs(dest, [f"clip{j}_{k}" for k in waves], np.stack(list(waves.values())), transform.sample_rate,
                      dest)
        heard = label(np.stack(list(waves.values())))
        fig, axes = plt.subplots(1, 2, figsize=(7.2, 2.4), dpi=90)
        plots.draw(axes[0], test["spec"][i], lo, hi, transform, "input (the representation)", small=True)
        plots.draw(axes[1], recon[j], lo, hi, transform, "through the model", small=True)
        fig.tight_layout()
        (dest / f"clip{j}.png").write_bytes(plots.png(fig, plt))
        clips.append({"digit": int(test["digit"][i]), "speaker": str(test["speaker"][i]), "path": str(test["path"][i]),
                      "png": f"{dest.name}/clip{j}.png",
                      "audio": [{"kind": k, "src": p, "heard": h} for k, p, h in zip(waves, paths, heard)]})
    return clips


def generated(dest: Path, model, config, settings, power: float, label, mixture) -> dict:
    """Random draws, from the run's latent `mixture` (`vaeaudio.formats.latents`) or else the prior, as synth makes
    them: `samples` per class (conditional) or `samples` rows of 10; rows of {src, asked, heard} (`asked`: the
    class index)."""
    from vaeaudio.judging.generation import generate

    transform = config.transform()
    if not settings.samples:
        return {"rows": []}
    chunks = list(generate(model, config, settings.samples, settings.seed, settings.griffin_lim_iters, power, mixture,
                           settings.phase))
    waves = np.concatenate([w for w, _ in chunks])
    n = len(waves)
    digits = np.concatenate([d for _, d in chunks]) if model.conditional else None
    if model.conditional:
        names = [f"d{d}_s{s}" for d in range(model.classes) for s in range(settings.samples)]
    else:
        names = [f"r{r}_s{s}" for r in range(settings.samples) for s in range(10)]
    paths = wavs(dest / "gen", names, waves, transform.sample_rate, dest)
    heard = label(waves)
    cells = [{"src": p, "asked": None if digits is None else int(digits[k]), "heard": heard[k]}
             for k, p in enumerate(paths)]
    width = settings.samples if model.conditional else 10
    return {"conditional": bool(model.conditional), "sharpen": power, "mixture": mixture is not None,
            "rows": [cells[r : r + width] for r in range(0, n, width)]}


def latent_map(dest: Path, model, config, data, test, z_mean, settings, power: float, label) -> dict | None:
    """Points of the playable map (2-D latents): test clips (their recordings) and decoded grid points."""
    from vaeaudio.sound.render import render

    if z_mean.shape[1] != 2:
        return None
    transform = config.transform()
    n = len(z_mean)
    pick = evenly(n, settings.map_points)
    originals = [(i, original(data, test, i)) for i in pick]
    originals = [(i, w) for i, w in originals if w is not None]
    points = []
    if originals:
        waves = np.stack([w for _, w in originals])
        paths = wavs(dest / "map", [f"t{k:02d}" for k in range(len(originals))], waves, transform.sample_rate, dest)
        for (i, _), p, h in zip(originals, paths, label(waves)):
            points.append({"z": [float(v) for v in z_mean[i]], "digit": int(test["digit"][i]),
                           "speaker": str(test["speaker"][i]), "src": p, "heard": h})
    grid = []
    if settings.grid and not model.conditional and n:
        # over the clips, not the prior: a click near a clip decodes there
        lo, hi = np.percentile(z_mean, [5, 95], axis=0)
        axes = [np.linspace(lo[d], hi[d], settings.grid) for d in range(2)]
        z = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 2).astype(np.float32)
        waves = render(model.decode_all(z, None), config.data.db_min, config.data.db_max, transform,
                       settings.phase, settings.griffin_lim_iters, seed=settings.seed, sharpen=power)
        g = settings.grid
        names = [f"g{k // g:02d}-{k % g:02d}" for k in range(len(z))]
        paths = wavs(dest / "map", names, waves, transform.sample_rate, dest)
        grid = [{"z": [float(v) for v in zz], "src": p, "heard": h} for zz, p, h in zip(z, paths, label(waves))]
    return {"points": points, "grid": grid, "grid_n": settings.grid if grid else 0}
