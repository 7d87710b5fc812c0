"""Judge generated audio with both judges: the digit classifier and an independent recogniser.

Generated clips take the path a user hears: z from the run's latent mixture when
it stored one, else N(0, I) (and a digit, for a conditional run) -> decoder ->
undo the scaling -> Griffin-Lim -> 16-bit
waveform (as written to WAV) -> featurised again exactly as preprocess does ->
classifier. Real test clips go to the same classifier from their stored
spectrograms. Figures (in `metrics.json` under `generation`):

- `generated_accuracy` (conditional runs): the share of samples of class d that
  the classifier hears as d, overall and per class (`..._per_digit`, keyed by class
  name); `real_test_accuracy` beside it;
- `inception_score` / `modified_inception_score` of generated and real test clips;
- `frechet_distance`: between classifier features of generated and real test clips.

What the recogniser (`vaeaudio.judging.recognise`) hears in generated clips, real
recordings, the representation alone and reconstructions is `listening_metrics`
(in `metrics.json` under `recogniser`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np

from vaeaudio.formats import latents
from vaeaudio.formats.classes import DIGIT_CLASSES
from vaeaudio.formats.spectrogram_set import CLASSIFIER_CACHE, SpectrogramSet
from vaeaudio.judging import judge, metrics
from vaeaudio.judging.judge import MODEL, Judge
from vaeaudio.settings import ClassifierSettings
from vaeaudio.settings.base import PHASES
from vaeaudio.sound.render import render
from vaeaudio.util import progress, resources
from vaeaudio.util.errors import ModelError


def cached_judge(data: SpectrogramSet, arrays: dict | None = None) -> Judge:
    """The classifier cached in `data.root/classifier/`; trained first if absent, made for other data, or
    made with other settings than today's defaults (an older vaeaudio's judge is replaced, not trusted). `arrays`
    ({split: {"spec", "digit", ...}}), when the caller holds the set's splits already, are not read again."""
    folder = data.root / CLASSIFIER_CACHE
    wanted = ClassifierSettings(data=data.root, out=folder)
    if not (folder / MODEL).exists():
        why = "none is cached there yet"
    else:
        try:
            cached = Judge(folder)
            why = _stale(cached, data, wanted)
        except ModelError as exc:  # damaged or foreign: say what was wrong, and replace it
            why = f"the cached one is unusable: {exc}"
        if why is None:
            progress.log(f"using the cached classifier in {folder}")
            return cached
    progress.log(f"training a classifier on {data.root} ({why}; cached in {folder} for next time)")
    config = judge.train(wanted, folder, data, arrays)
    progress.log(f"classifier: {folder} ({config['epochs']} epochs, {config['seconds']:.0f} s)")
    return Judge(folder)


def _stale(judge: Judge, data: SpectrogramSet, wanted: ClassifierSettings) -> str | None:
    """Why a cached judge cannot serve `data` with today's settings `wanted`, or None when it can."""
    if not data.same_as(judge.config["data"].get("identity"), judge.config["data"]["manifest_sha256"]):
        return "the cached one was trained on other data"
    same = {k: v for k, v in judge.config["settings"].items() if k not in ("data", "out")} == \
        wanted.model_dump(mode="json", exclude={"data", "out"})
    return None if same else "the cached one was trained with other settings"


def generate(model, config, n_per_digit: int, seed: int, n_iter: int | None, sharpen: float = 1.0, mixture=None,
             phase: str = PHASES[0]) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
    """C x n_per_digit generated clips (C = the run's classes for a conditional run, else 10), a chunk at a time:
    (waves (k, clip_samples) float32 at the run's sample rate, 16-bit quantised, their labels (k,) or None).

    A conditional model makes n_per_digit clips of each class; an unconditional
    one 10 x n_per_digit draws, from the prior, or from the run's latent `mixture` when given
    (`vaeaudio.formats.latents`). Chunks hold `resources.chunk_clips` clips, so memory stays flat however many
    are asked for; the clips do not depend on the chunk size (`vaeaudio.sound.render.render` with one phase stream).
    """
    groups = model.classes or len(DIGIT_CLASSES)
    n = groups * n_per_digit
    digits = np.repeat(np.arange(groups), n_per_digit) if model.conditional else None
    z = latents.draw(n, model.latent_dim, digits, np.random.default_rng(seed), mixture)
    transform = config.transform()
    chunk = resources.chunk_clips(resources.render_bytes_per_clip(*transform.shape, transform.clip_samples))
    phases = np.random.default_rng(seed)
    for s in range(0, n, chunk):
        part = slice(s, s + chunk)
        d = None if digits is None else digits[part]
        waves = render(model.decode_all(z[part], d), config.data.db_min, config.data.db_max, transform, phase,
                       n_iter, seed=phases, sharpen=sharpen)
        yield (np.round(np.clip(waves, -1, 1) * 32767) / 32767).astype(np.float32), d


def judge_generated(judge: Judge, chunks: Iterable[tuple[np.ndarray, np.ndarray | None]], sample_rate: int
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(probabilities (n, 10), features (n, 128), digits (n,) or None) of `generate`'s chunks at `sample_rate` Hz,
    judged a chunk at a time."""
    probs, feats, digits = [], [], []
    with progress.bar(None, "generate and judge", unit="clips") as bar:
        for waves, d in chunks:
            p, f = judge.predict(judge.featurise_waves(waves, sample_rate))
            probs.append(p)
            feats.append(f)
            digits.append(d)
            bar.advance(len(waves))
    if not probs:
        return np.zeros((0, len(judge.classes)), np.float32), np.zeros((0, 128), np.float32), None
    return (np.concatenate(probs), np.concatenate(feats),
            None if digits[0] is None else np.concatenate(digits))


def generation_metrics(judge: Judge, gen_p: np.ndarray, gen_f: np.ndarray, digits: np.ndarray | None,
                       real_spec: np.ndarray, real_digits: np.ndarray) -> dict:
    """The figures of the module docstring, for the judge's probabilities (n, 10) and features (n, 128) of
    generated clips (`judge_generated`) and real test spectrograms (m, bins, frames) made as the judge's
    training set was."""
    real_p, real_f = judge.predict(real_spec)
    out = {
        "samples": int(len(gen_p)),
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
        names = judge.classes
        out["generated_accuracy_per_digit"] = {names[d]: float(hit[digits == d].mean()) for d in range(len(names))
                                               if (digits == d).any()}
        out["real_test_accuracy_per_digit"] = {
            names[d]: float((real_p.argmax(1)[real_digits == d] == d).mean())
            for d in range(len(names)) if (real_digits == d).any()}
    return out


def overheard(chunks: Iterable[tuple[np.ndarray, np.ndarray | None]], recogniser, sample_rate: int,
              heard: list) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
    """`generate`'s chunks passed on unchanged, each handed to `recogniser` (`vaeaudio.judging.recognise.Recogniser`
    or `Pool`) on the way: what it will have heard (`recognise.Heard`: `.result()` -> digits (k,)) is appended to
    `heard`; a pool decodes while the next chunk is made and judged."""
    for waves, d in chunks:
        heard.append(recogniser.submit(waves, sample_rate))
        yield waves, d


#: Chunks handed to the recogniser and not yet collected: the next chunk is made while these are decoded.
_IN_FLIGHT = 2


def _heard_in_chunks(recogniser, n: int, clips_of, transform) -> np.ndarray | None:
    """The digits (n,) `recogniser` hears in clips made `resources.chunk_clips` at a time by `clips_of(slice)`
    (-> (k, clip_samples) at `transform.sample_rate`, or None: then None), so memory stays flat (`_IN_FLIGHT`
    chunks decoded while the next is made)."""
    chunk = resources.chunk_clips(resources.render_bytes_per_clip(*transform.shape, transform.clip_samples))
    pending, heard = [], []
    for s in range(0, n, chunk):
        waves = clips_of(slice(s, s + chunk))
        if waves is None:
            for p in pending:
                p.result()
            return None
        pending.append(recogniser.submit(waves, transform.sample_rate))
        if len(pending) > _IN_FLIGHT:
            heard.append(pending.pop(0).result())
    heard += [p.result() for p in pending]
    return np.concatenate(heard) if heard else np.zeros(0, int)


def _spread(heard: np.ndarray, classes: list[str]) -> dict:
    """What the recogniser heard in an unconditional run's clips (no class asked for): `clips`, `nothing_heard`,
    `heard_share` {class: share of the clips heard as it} and `entropy_ratio`, the entropy of the classes heard
    (clips heard as nothing left out) over log(number of classes): 1 = every class equally often, 0 = one class."""
    from vaeaudio.judging import recognise

    heard = np.asarray(heard)
    n = max(len(heard), 1)
    counts = np.array([(heard == c).sum() for c in range(len(classes))], float)
    p = counts[counts > 0] / counts.sum() if counts.sum() else np.zeros(0)
    entropy = float(-(p * np.log(p)).sum() / np.log(len(classes))) if len(p) and len(classes) > 1 else None
    return {"clips": int(len(heard)), "nothing_heard": float((heard == recognise.NOTHING).sum() / n),
            "heard_share": {c: float(k / n) for c, k in zip(classes, counts)}, "entropy_ratio": entropy}


def _sample(n: int, k: int, seed: int, stream: int) -> tuple[np.ndarray, dict]:
    """(rows (m,) sorted, {"clips": m, "seed": the seed, or None when all n are taken}): k of n drawn at random
    without replacement from (seed, stream) when 0 < k < n, else all n."""
    if not 0 < k < n:
        return np.arange(n), {"clips": int(n), "seed": None}
    return np.sort(np.random.default_rng([seed, stream]).choice(n, k, replace=False)), {"clips": int(k), "seed": seed}


def listening_metrics(recogniser, model, data: SpectrogramSet, train: dict, test: dict, z_mean: np.ndarray,
                      n_iter: int | None, seed: int, heard: np.ndarray | None, digits: np.ndarray | None,
                      sharpen: float = 1.0, phase: str = PHASES[0], train_clips: int = 0, test_clips: int = 0) -> dict:
    """What an independent recogniser (`vaeaudio.judging.recognise.Recogniser` or `Pool`) hears, as
    `recognise.scores`, in:

    - `generated`: the digits (n,) the recogniser `heard` in the generated clips (`overheard`), scored
      against the digits asked for (`digits`, None for an unconditional run: then how its clips spread over
      the classes, `_spread`, and `heard_some_over_real`: clips heard as some class, over the train
      recordings' share);
    - `real_train`: the recordings of the train split (`train` holds "path", "spec", "digit", "speaker"): the
      voices generated clips imitate; `train_clips` of them drawn at random (seeded by `seed`) when the split
      has more (0: all), scored with the sample's size, `population` and standard error;
    - `real`: the test recordings (`test["path"]`, `SpectrogramSet.recordings` of `data`), resampled and cut as
      preprocess did (either is None when the corpus is gone);
    - `representation`: the test spectrograms through `phase` alone (the ceiling of any model);
    - `reconstruction`: the model's decoding of each test clip's posterior mean `z_mean` (n, L), with
      the clip's own dB range, sharpened as generated clips are (`sharpen`, recorded in the result);
    the three of the same `test_clips` test clips, drawn at random (seeded by `seed`) when the split has more
    (0: all), scored with the sample's size, `population` and standard error;
    and the ratios `generated_over_real` (over the train split's recordings: the same speakers, whichever
    way the set was split) and `reconstruction_over_representation` (the test speakers' ceiling). Real,
    representation and reconstruction are also scored per speaker. Every clip is at the set's sample rate;
    all are made and heard a chunk at a time (`resources.chunk_clips`), so memory stays flat. What depends only
    on the set (real_train, real, representation) is heard once per set and read back after
    (`vaeaudio.judging.setcache`).
    """
    from vaeaudio.judging import recognise, setcache

    transform = data.transform
    digit = test["digit"]
    classes = data.classes
    identity = data.identity()
    out = {"recogniser": recogniser.description, "sharpen": sharpen}
    if heard is not None:
        out["generated"] = (recognise.scores(heard, digits, classes=classes) if digits is not None else
                            _spread(heard, classes))
    train_rows, train_sample = _sample(len(train["path"]), train_clips, seed, 0)
    rows, test_sample = _sample(len(digit), test_clips, seed, 1)
    population = lambda sample, split: len(split["digit"]) if sample["seed"] is not None else None
    score = lambda h, split, idx, sample: recognise.scores(h, split["digit"][idx], split["speaker"][idx], classes,
                                                           population(sample, split))
    for key, split, idx, sample in (("real_train", train, train_rows, train_sample), ("real", test, rows, test_sample)):
        heard_real = setcache.heard(data, identity, key, setcache.key_of(recogniser, **sample), idx,
                                    lambda s=split, i=idx: _heard_in_chunks(recogniser, len(i), lambda part: (
                                        data.recordings(s["path"][i[part]], s["spec"][i[part]])), transform))
        out[key] = score(heard_real, split, idx, sample) if heard_real is not None else None
    data.say_unverified()

    def heard_rendered(spec_of, **render_how):  # one phase stream: chunking does not change the clips
        phases = np.random.default_rng(seed)
        return _heard_in_chunks(recogniser, len(rows), lambda part: render(
            spec_of(rows[part]), test["db_min"][rows[part]], test["db_max"][rows[part]], transform, phase, n_iter,
            seed=phases, **render_how), transform)

    heard_repr = setcache.heard(data, identity, "representation", setcache.key_of(
        recogniser, phase=phase, griffin_lim_iters=n_iter, **test_sample, phase_seed=seed), rows,
        lambda: heard_rendered(lambda r: test["spec"][r]))
    out["representation"] = score(heard_repr, test, rows, test_sample)
    heard_recon = heard_rendered(lambda r: model.decode_all(z_mean[r], digit[r] if model.conditional else None),
                                 sharpen=sharpen)
    out["reconstruction"] = score(heard_recon, test, rows, test_sample)
    accuracy = lambda key: (out.get(key) or {}).get("accuracy")
    out["generated_over_real"] = recognise.ratio(accuracy("generated"), accuracy("real_train"))
    if heard is not None and digits is None and out["real_train"]:  # heard as some class, against the recordings
        out["generated"]["heard_some_over_real"] = recognise.ratio(1 - out["generated"]["nothing_heard"],
                                                                   1 - out["real_train"]["nothing_heard"])
    out["reconstruction_over_representation"] = recognise.ratio(accuracy("reconstruction"), accuracy("representation"))
    out["seconds_per_clip"] = recogniser.seconds / max(recogniser.clips, 1)
    return out
