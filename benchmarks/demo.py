"""Benchmark: `vaeaudio demo` as a newcomer runs it, with what it costs and what a listener hears.

Runs `vaeaudio demo --out DIR` in a fresh process (as the README's first command does, after the install)
and prints its wall time, its peak RSS (the process and its children), the disk it leaves and a finished
run's size against its weights, and the independent recogniser's figure: how often it hears the digit
asked for in the demo's generated clips, against the real recordings of the same voices. The demo passes
when that ratio is at least `--target` (0.8); the exit code says so.

Usage: python benchmarks/demo.py [--epochs N] [--work DIR] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # common.py, whatever the working folder
import common  # noqa: E402


def size(folder: Path) -> int:
    """Bytes of the regular files under `folder`."""
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, help="the demo's --epochs (default: its own)")
    ap.add_argument("--work", type=Path, help="folder for the demo's output (default: a temporary folder)")
    ap.add_argument("--target", type=float, default=0.8, help="least recogniser ratio, generated / real (0.8)")
    common.add_arguments(ap, "demo", fsdd=False)
    args = ap.parse_args()
    report = common.Report("demo", args)
    with common.work_folder(args.work, "vaeaudio-demo-") as work:  # removed afterwards unless given, even on failure
        out = work / "demo"
        command = [sys.executable, "-m", "vaeaudio.cli", "demo", "--out", str(out)]
        if args.epochs:
            command += ["--epochs", str(args.epochs)]
        t0 = time.perf_counter()
        proc = subprocess.run(command, capture_output=True, text=True)
        seconds = time.perf_counter() - t0
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20  # GiB (ru_maxrss is in KiB)
        print(proc.stdout, end="")
        if proc.returncode:
            sys.exit(f"vaeaudio demo failed (exit {proc.returncode}): {proc.stderr.strip().splitlines()[-1:]}")
        run = next((out / "runs").glob("mlp-cond-*"))
        metrics = json.loads((run / "eval" / "metrics.json").read_text())
        parameters = json.loads((run / "config.json").read_text())["model"]["parameters"]
        heard = metrics["recogniser"]
        gen, real = heard["generated"], heard["real_train"]
        ratio = heard["generated_over_real"]
        weights = 4 * parameters
        files = {"model.keras": run / "model.keras", "checkpoints/state.h5": run / "checkpoints" / "state.h5"}
        figures = {
            "seconds": round(seconds, 1), "peak_rss_gib": round(peak, 2), "demo_folder_mb": round(size(out) / 1e6, 1),
            "run_mb": round(size(run) / 1e6, 1), "weights_mb": round(weights / 1e6, 1),
            **{f"{name}_mb": round(path.stat().st_size / 1e6, 1) for name, path in files.items()},
            "environment_gb": round(size(Path(sys.prefix)) / 1e9, 2),
            "generated_heard": gen["accuracy"], "generated_clips": gen["clips"],
            "real_heard": real["accuracy"], "real_clips": real["clips"], "ratio": ratio,
            "reconstruction_heard": heard["reconstruction"]["accuracy"],
            "representation_heard": heard["representation"]["accuracy"],
            "classifier_generated_accuracy": (metrics.get("generation") or {}).get("generated_accuracy"),
        }
        report.add("demo", figures)
        se = (gen["accuracy"] * (1 - gen["accuracy"]) / gen["clips"]) ** 0.5
        print(f"demo: {seconds:.0f} s wall, peak RSS {peak:.2f} GiB, {figures['demo_folder_mb']:.0f} MB left in {out}")
        print(f"run: {figures['run_mb']:.0f} MB for {weights / 1e6:.0f} MB of weights (model.keras "
              f"{figures['model.keras_mb']:.0f} MB, state.h5 {figures['checkpoints/state.h5_mb']:.0f} MB)")
        print(f"environment: {figures['environment_gb']:.2f} GB in {sys.prefix}")
        print(f"recogniser: generated {gen['accuracy']:.2f} +/- {se:.2f} of {gen['clips']} clips, real recordings "
              f"{real['accuracy']:.2f} of {real['clips']}: ratio {ratio:.2f} (target >= {args.target})")
        report.finish()
    if ratio is None or ratio < args.target:
        sys.exit(f"FAIL: the recogniser ratio {ratio} is below {args.target}")
    print("PASS")


if __name__ == "__main__":
    main()
