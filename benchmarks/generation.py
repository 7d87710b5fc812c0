"""What makes generated digits intelligible: a grid of synthesis settings, judged by a digit classifier.

For one conditional run and one classifier: 10 x N generated clips per setting
(the path `vaeaudio evaluate` takes: decoder -> sharpen -> Griffin-Lim -> 16-bit
-> featurised again -> classifier), one row each with generated accuracy,
Inception Score, Frechet distance to the real test clips and seconds per clip;
plus the decoded spectrograms classified directly (no phase at all), the
ceiling of any phase reconstruction. Figures of the README's tables.

Usage: python benchmarks/generation.py RUN CLASSIFIER [--per-digit 50]
           [--iters 64 200] [--sharpen 1 1.25 1.5 2 auto]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("classifier", type=Path)
    parser.add_argument("--per-digit", type=int, default=50)
    parser.add_argument("--iters", type=int, nargs="+", default=[64, 200])
    parser.add_argument("--sharpen", nargs="+", default=["1", "1.25", "1.5", "2", "auto"], help="powers, or auto")
    args = parser.parse_args()

    from vaeaudio.formats.runs import load_config
    from vaeaudio.formats.spectrogram_set import SpectrogramSet
    from vaeaudio.judging import metrics
    from vaeaudio.judging.generation import generate, judge_generated
    from vaeaudio.judging.judge import Judge
    from vaeaudio.models.saving import load_model
    from vaeaudio.models.sharpen import sharpen_power

    config, model = load_config(args.run), load_model(args.run)
    data = SpectrogramSet(config.data.root)
    judge = Judge(args.classifier)
    test = data.arrays("test", ("spec", "digit"))
    real_p, real_f = judge.predict(test["spec"])
    real_acc = float((real_p.argmax(1) == test["digit"]).mean())
    print(f"run {args.run.name}: latent {config.settings['latent_dim']}, beta {config.settings.get('beta', 1.0)}, "
          f"split by {data.manifest.split_by}; classifier {args.classifier}")
    print(f"real test clips: accuracy {real_acc:.3f}, IS {metrics.inception_score(real_p):.2f}")

    def row(name: str, p: np.ndarray, f: np.ndarray, digits: np.ndarray, seconds: float | None) -> None:
        acc = (p.argmax(1) == digits).mean() if digits is not None else float("nan")
        per = "" if seconds is None else f"  {seconds * 1000:.0f} ms/clip"
        print(f"{name:32s} accuracy {acc:.3f}  IS {metrics.inception_score(p):5.2f}  "
              f"FD {metrics.frechet_distance(f, real_f):7.1f}{per}", flush=True)

    rng = np.random.default_rng(0)
    n = 10 * args.per_digit
    z = rng.standard_normal((n, model.latent_dim)).astype(np.float32)
    digits = np.repeat(np.arange(10), args.per_digit) if model.conditional else None
    row("decoded spectrograms (no phase)", *judge.predict(model.decode_all(z, digits)), digits, None)
    for iters in args.iters:
        for sharpen in args.sharpen:
            t0 = time.perf_counter()
            power = sharpen_power(sharpen if sharpen == "auto" else float(sharpen), model, config)
            probs, feats, digits = judge_generated(judge, generate(model, config, args.per_digit, 0, iters, power),
                                                   config.transform().sample_rate)
            seconds = (time.perf_counter() - t0) / n
            row(f"Griffin-Lim {iters:4d}, sharpen {sharpen} ({power:.2f})", probs, feats, digits, seconds)


if __name__ == "__main__":
    main()
