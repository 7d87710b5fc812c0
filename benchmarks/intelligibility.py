"""Where intelligibility is lost: real clip -> representation -> reconstruction -> sample, heard by a recogniser.

For each run (all trained on the same spectrogram set, whose cached classifier
`evaluate` made), every row is a set of clips scored twice: by the independent
recogniser (`vaeaudio.judging.recognise`: heard as the digit meant?) and by the digit
classifier trained on the set (`generation`'s judge: is the digit in the
spectrogram?). Rows:

- real recordings of the test and of the train split (the voices generated clips imitate), and the
  test clips through the representation alone (data rows);
- reconstruction from the posterior mean, and from one posterior sample, of each test clip
  (rendered with the clip's own dB range, no sharpening);
- N per digit drawn from the prior N(0, I), and from a per-digit Gaussian mixture fitted to the
  training clips' encoder means (`vaeaudio.formats.latents`, K components), each at the sharpening powers asked
  for (`auto` as synth picks it for that source of points).

For an unconditional run no digit is asked for: its generated rows score the recogniser
against the classifier (do they agree on the digit?) and the classifier column is blank.

DATA is a spectrogram set (`vaeaudio preprocess`) on which `vaeaudio evaluate` has cached its classifier;
each RUN was trained on it.

Usage: python benchmarks/intelligibility.py DATA RUN... [--per-digit 10] [--components 5]
           [--iters 200] [--sharpen 1 auto] [--rows data posterior prior mixture] [--seed 0] [--json OUT]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # common.py, whatever the working folder
import common  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path)
    parser.add_argument("runs", type=Path, nargs="*")
    parser.add_argument("--per-digit", type=int, default=10)
    parser.add_argument("--components", type=int, default=5)
    parser.add_argument("--iters", type=int, default=200)
    parser.add_argument("--sharpen", nargs="+", default=["1", "auto"], help="powers, or auto")
    parser.add_argument("--rows", nargs="+", default=["data", "posterior", "prior", "mixture"],
                        help="which rows: data, posterior, prior, mixture")
    parser.add_argument("--seed", type=int, default=0)
    common.add_arguments(parser, "intelligibility", fsdd=False)
    args = parser.parse_args()
    if args.per_digit < 1 or args.components < 1 or args.iters < 1:
        parser.error("--per-digit, --components and --iters must be at least 1")

    from vaeaudio.formats import latents
    from vaeaudio.formats.runs import load_config
    from vaeaudio.formats.spectrogram_set import CLASSIFIER_CACHE, SpectrogramSet
    from vaeaudio.judging import recognise
    from vaeaudio.judging.judge import Judge
    from vaeaudio.models.saving import load_model
    from vaeaudio.models.sharpen import sharpen_power
    from vaeaudio.sound.render import render

    out = common.Report("intelligibility", args)
    data = SpectrogramSet(args.data)
    judge, listener = Judge(data.root / CLASSIFIER_CACHE), recognise.Recogniser()
    test = data.arrays("test")
    train = data.arrays("train", ("spec", "digit", "speaker", "path"))
    transform = data.transform
    rows, seconds = [], {}

    def row(run: str, what: str, waves: np.ndarray, meant: np.ndarray | None, speakers=None) -> None:
        heard = listener.hear(waves, transform.sample_rate)
        seen = judge.predict(judge.featurise_waves(waves, transform.sample_rate))[0].argmax(1)
        target = meant if meant is not None else seen
        s = recognise.scores(heard, target, speakers)
        rows.append({"run": run, "clips": what, "heard": s["accuracy"], "nothing_heard": s["nothing_heard"],
                     "classifier": float((seen == meant).mean()) if meant is not None else None,
                     "per_speaker": s.get("per_speaker"), "n": len(waves)})
        print(_line(rows[-1]), flush=True)
        out.add("rows", rows)

    print("| run | clips | recogniser: heard as meant | nothing heard | classifier accuracy |\n|---|---|---|---|---|")
    if "data" in args.rows:
        for split, clips in (("test", test), ("train", train)):
            real = recordings(data, clips["path"])
            if real is None:
                out.skip(f"real recordings ({split})", f"the set's recordings are no longer under "
                                                       f"{data.manifest.source.root}")
            else:
                row("-", f"real recordings ({split})", real, clips["digit"], clips["speaker"])
        row("-", "representation alone", render(test["spec"], test["db_min"], test["db_max"], transform,
                                                n_iter=args.iters, seed=args.seed), test["digit"], test["speaker"])
    for run in args.runs:
        t0 = time.perf_counter()
        config, model = load_config(run), load_model(run)
        cond = model.conditional
        name = run.name
        digits_of = (lambda d: d) if cond else (lambda d: None)  # noqa: E731
        zm, zlv = encoded(model, test["spec"], digits_of(test["digit"]))
        rng = np.random.default_rng(args.seed)
        posterior = (("posterior mean", zm),
                     ("posterior sample", zm + np.exp(zlv / 2) * rng.standard_normal(zm.shape).astype(np.float32)))
        for what, z in posterior if "posterior" in args.rows else ():
            spec = model.decode_all(z.astype(np.float32), digits_of(test["digit"]))
            row(name, what, render(spec, test["db_min"], test["db_max"], transform, n_iter=args.iters, seed=args.seed),
                test["digit"], test["speaker"])
        asked = np.repeat(np.arange(10), args.per_digit)
        n = len(asked)
        mixture = latents.fit(encoded(model, train["spec"], digits_of(train["digit"]))[0],
                              train["digit"] if cond else None, args.components, args.seed)
        draws = {"prior N(0, I)": (rng.standard_normal((n, model.latent_dim)).astype(np.float32), None),
                 f"mixture K={args.components}": (mixture.sample(n, asked, rng), mixture)}
        for what, (z, source) in draws.items():
            if ("mixture" if source is not None else "prior") not in args.rows:
                continue
            spec = model.decode_all(z, asked if cond else None)
            for sharpen in args.sharpen:
                power = sharpen_power(sharpen if sharpen == "auto" else float(sharpen), model, config,
                                      mixture=source)
                waves = render(spec, config.data.db_min, config.data.db_max, transform, n_iter=args.iters,
                               seed=args.seed, sharpen=power)
                waves = np.round(np.clip(waves, -1, 1) * 32767) / 32767
                row(name, f"{what}, sharpen {sharpen} ({power:g})", waves, asked if cond else None)
        print(f"<!-- {name}: {time.perf_counter() - t0:.0f} s -->", flush=True)
        seconds[name] = time.perf_counter() - t0
        out.add("run_seconds", seconds)
    print(f"<!-- recogniser: {1000 * listener.seconds / max(listener.clips, 1):.1f} ms per clip over "
          f"{listener.clips} clips -->")
    out.add("recogniser", {"ms_per_clip": 1000 * listener.seconds / max(listener.clips, 1), "clips": listener.clips})
    out.finish()


def encoded(model, spec: np.ndarray, digits: np.ndarray | None, batch: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """The encoder's means and log-variances (n, L) of spectrograms (n, bins, frames) [with their digits (n,)]."""
    parts = [[np.asarray(a) for a in model.encode(spec[s : s + batch],
                                                  None if digits is None else digits[s : s + batch])]
             for s in range(0, len(spec), batch)]
    return tuple(np.concatenate(p) for p in zip(*parts))


def recordings(data, paths) -> np.ndarray | None:
    """The set's source recordings `paths` (n,) cut as preprocess cut them: (n, clip_samples) at its sample rate;
    None when any of them is no longer there."""
    from vaeaudio.sound import dsp

    files = [Path(data.manifest.source.root) / str(p) for p in paths]
    if not all(f.is_file() for f in files):
        return None
    clips = [data.transform.to_clip(*dsp.read(f)) for f in files]
    return np.stack(clips) if clips else np.zeros((0, data.transform.clip_samples), np.float32)


def _line(r: dict) -> str:
    f = lambda v: "-" if v is None else f"{v:.2f}"  # noqa: E731
    return (f"| {r['run']} | {r['clips']} ({r['n']}) | {f(r['heard'])} | {f(r['nothing_heard'])} "
            f"| {f(r['classifier'])} |")


if __name__ == "__main__":
    main()
