"""What makes generated digits intelligible: a grid of synthesis settings, judged by a digit classifier.

For one conditional run and one classifier: 10 x N generated clips per setting
(the path `vaeaudio evaluate` takes: decoder -> sharpen -> Griffin-Lim -> 16-bit
-> featurised again -> classifier), one row each with generated accuracy,
Inception Score, Frechet distance to the real test clips and seconds per clip;
plus the decoded spectrograms classified directly (no phase at all), the
ceiling of any phase reconstruction. Figures of the README's tables.

RUN is a trained run (conditional for the accuracy column), CLASSIFIER a digit classifier trained on its set
(`vaeaudio classifier train`, or the one `vaeaudio evaluate` caches in the set).

Usage: python benchmarks/generation.py RUN CLASSIFIER [--per-digit 50]
           [--iters 64 200] [--sharpen 1 1.25 1.5 2 auto] [--json OUT]
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
    parser.add_argument("run", type=Path)
    parser.add_argument("classifier", type=Path)
    parser.add_argument("--per-digit", type=int, default=50)
    parser.add_argument("--iters", type=int, nargs="+", default=[64, 200])
    parser.add_argument("--sharpen", nargs="+", default=["1", "1.25", "1.5", "2", "auto"], help="powers, or auto")
    common.add_arguments(parser, "generation", fsdd=False)
    args = parser.parse_args()
    if args.per_digit < 1 or min(args.iters) < 1:
        parser.error("--per-digit and --iters must be at least 1")

    from vaeaudio.formats.runs import load_config
    from vaeaudio.formats.spectrogram_set import SpectrogramSet
    from vaeaudio.judging import metrics
    from vaeaudio.judging.generation import generate, judge_generated
    from vaeaudio.judging.judge import Judge
    from vaeaudio.models.saving import load_model
    from vaeaudio.models.sharpen import sharpen_power

    out = common.Report("generation", args)
    config, model = load_config(args.run), load_model(args.run)
    data = SpectrogramSet(config.data.root)
    judge = Judge(args.classifier)
    test = data.arrays("test", ("spec", "digit"))
    real_p, real_f = judge.predict(test["spec"])
    real_acc = float((real_p.argmax(1) == test["digit"]).mean())
    print(f"run {args.run.name}: latent {config.settings['latent_dim']}, beta {config.settings.get('beta', 1.0)}, "
          f"split by {data.manifest.split_by}; classifier {args.classifier}")
    print(f"real test clips: accuracy {real_acc:.3f}, IS {metrics.inception_score(real_p):.2f}")
    out.add("run", {"name": args.run.name, "latent": config.settings["latent_dim"],
                    "beta": config.settings.get("beta", 1.0), "split_by": data.manifest.split_by,
                    "conditional": bool(model.conditional), "clips": 10 * args.per_digit})
    out.add("real", {"accuracy": real_acc, "inception_score": metrics.inception_score(real_p)})
    rows = []

    def row(name: str, p: np.ndarray, f: np.ndarray, digits: np.ndarray, seconds: float | None, **setting) -> None:
        acc = float((p.argmax(1) == digits).mean()) if digits is not None else float("nan")
        per = "" if seconds is None else f"  {seconds * 1000:.0f} ms/clip"
        score, fd = metrics.inception_score(p), metrics.frechet_distance(f, real_f)
        print(f"{name:32s} accuracy {acc:.3f}  IS {score:5.2f}  FD {fd:7.1f}{per}", flush=True)
        rows.append({**setting, "accuracy": acc, "inception_score": float(score), "frechet_distance": float(fd),
                     "ms_per_clip": None if seconds is None else 1000 * seconds})
        out.add("rows", rows)

    rng = np.random.default_rng(0)
    n = 10 * args.per_digit
    z = rng.standard_normal((n, model.latent_dim)).astype(np.float32)
    digits = np.repeat(np.arange(10), args.per_digit) if model.conditional else None
    row("decoded spectrograms (no phase)", *judge.predict(model.decode_all(z, digits)), digits, None,
        iters=None, sharpen=None, power=None)
    for iters in args.iters:
        for sharpen in args.sharpen:
            t0 = time.perf_counter()
            power = sharpen_power(sharpen if sharpen == "auto" else float(sharpen), model, config)
            probs, feats, digits = judge_generated(judge, generate(model, config, args.per_digit, 0, iters, power),
                                                   config.transform().sample_rate)
            seconds = (time.perf_counter() - t0) / n
            row(f"Griffin-Lim {iters:4d}, sharpen {sharpen} ({power:.2f})", probs, feats, digits, seconds,
                iters=iters, sharpen=sharpen, power=power)
    out.finish()


if __name__ == "__main__":
    main()
