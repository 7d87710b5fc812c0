"""Judge generated audio with a digit classifier: accuracy, inception scores, Frechet distance.

Generated clips take the path a user hears: z ~ N(0, I) (and a digit, for a
conditional run) -> decoder -> undo the scaling -> Griffin-Lim -> 16-bit
waveform (as written to WAV) -> featurised again exactly as preprocess does ->
classifier. Real test clips go to the same classifier from their stored
spectrograms. Figures (in `metrics.json` under `generation`):

- `generated_accuracy` (conditional runs): the share of samples of digit d that
  the classifier hears as d, overall and per digit; `real_test_accuracy` beside it;
- `inception_score` / `modified_inception_score` of generated and real test clips;
- `frechet_distance`: between classifier features of generated and real test clips.
"""

from __future__ import annotations

import numpy as np

from . import metrics, progress
from .classifier import Judge
from .data import CLASSIFIER_CACHE, SpectrogramSet
from .settings import ClassifierSettings
from .synth import render



def cached_judge(data: SpectrogramSet) -> Judge:
    """The classifier cached in `data.root/classifier/`; trained first if absent, made for other data, or
    made with other settings than today's defaults (an older vaeaudio's judge is replaced, not trusted)."""
    from .classifier import train

    folder = data.root / CLASSIFIER_CACHE
    wanted = ClassifierSettings(data=data.root, out=folder)
    why = "none is cached there yet"
    try:
        judge = Judge(folder)
        same = {k: v for k, v in judge.config.get("settings", {}).items() if k not in ("data", "out")} == \
            wanted.model_dump(mode="json", exclude={"data", "out"})
        if judge.config["data"]["manifest_sha256"] != data.sha256():
            why = "the cached one was trained on other data"
        elif not same:
            why = "the cached one was trained with other settings"
        else:
            progress.log(f"using the cached digit classifier in {folder}")
            return judge
    except Exception:  # noqa: BLE001 - missing or unreadable: train a new one
        pass
    progress.log(f"training a digit classifier on {data.root} ({why}; cached in {folder} for next time)")
    result = train(wanted)
    progress.log(result.summary())
    return Judge(folder)


def generate(model, config, n_per_digit: int, seed: int, n_iter: int,
             sharpen: float = 1.0) -> tuple[np.ndarray, np.ndarray | None]:
    """Waveforms (n, clip_samples) at the run's sample rate of 10 x n_per_digit generated clips, 16-bit
    quantised, and their digits (n,) (or None).

    A conditional model makes n_per_digit clips of each digit; an unconditional
    one 10 x n_per_digit draws from the prior.
    """
    rng = np.random.default_rng(seed)
    n = 10 * n_per_digit
    z = rng.standard_normal((n, model.latent_dim)).astype(np.float32)
    digits = np.repeat(np.arange(10), n_per_digit) if model.conditional else None
    spec = model.decode_all(z, digits)
    waves = render(spec, config.data.db_min, config.data.db_max, config.transform(), n_iter=n_iter, seed=seed,
                   sharpen=sharpen)
    return np.round(np.clip(waves, -1, 1) * 32767) / 32767, digits


def generation_metrics(judge: Judge, waves: np.ndarray, sample_rate: int, digits: np.ndarray | None,
                       real_spec: np.ndarray, real_digits: np.ndarray) -> dict:
    """The figures of the module docstring, for generated waveforms (n, samples) at `sample_rate` Hz and real
    test spectrograms (m, bins, frames) made as the judge's training set was."""
    gen_p, gen_f = judge.predict(judge.featurise_waves(waves, sample_rate))
    real_p, real_f = judge.predict(real_spec)
    out = {
        "samples": int(len(waves)),
        "classifier": str(judge.folder),
        "classifier_test_accuracy": judge.config["accuracy"].get("test"),
        "inception_score": metrics.inception_score(gen_p),
        "modified_inception_score": metrics.modified_inception_score(gen_p),
        "real_test_inception_score": metrics.inception_score(real_p),
        "real_test_modified_inception_score": metrics.modified_inception_score(real_p),
        "frechet_distance": metrics.frechet_distance(gen_f, real_f),
        "real_test_accuracy": float((real_p.argmax(1) == real_digits).mean()) if len(real_p) else None,
    }
    if digits is not None:
        hit = gen_p.argmax(1) == digits
        out["generated_accuracy"] = float(hit.mean())
        out["generated_accuracy_per_digit"] = {str(d): float(hit[digits == d].mean()) for d in range(10)}
        out["real_test_accuracy_per_digit"] = {
            str(d): float((real_p.argmax(1)[real_digits == d] == d).mean()) for d in range(10) if (real_digits == d).any()}
    return out
