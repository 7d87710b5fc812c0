"""Benchmark the export: synthesis from an export (onnxruntime, no TensorFlow) against the run itself (TensorFlow).

1. Time to the first WAV: a cold `vaeaudio synth --run X --z 0.5 -1.2 out.wav` process, wall seconds and peak
   RSS of the whole process, for the run and for its export (best of --repeat each). Target: the export's
   <= 1.5 s and <= 300 MB.
2. `--clips` random clips (default 1,000; `vaeaudio synth --run X --random N DIR`, whole process, default phase):
   clips/s of both. Target: the export at least as fast.
3. With --reference-cnn, last (TensorFlow in this process): the reference CNN (582 M parameters, as built: the
   weights' values do not change the graphs' size) written as ONNX graphs, checked and run by onnxruntime against
   Keras: seconds, peak RSS, sizes.

The run is `--run RUN`, or the reference MLP (37.7 M parameters, `vaeaudio train mlp`) trained for one epoch on
the recordings of `--fsdd`; it is exported with `vaeaudio export` (timed too).

Usage: python benchmarks/export.py [--fsdd DIR] [--run RUN] [--repeat 3] [--clips 1000] [--reference-cnn]
                                   [--json OUT]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # common.py, whatever the working folder
import common  # noqa: E402


def process(cmd: list[str]) -> tuple[float, float]:
    """(wall seconds, peak RSS in MB) of the whole process `cmd`; exits with its last line of stderr if it fails."""
    t0 = time.perf_counter()
    child = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - t0
    err = child.stderr.read()
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode:
        said = [line for line in err.splitlines() if line.strip()]
        raise SystemExit(f"{' '.join(cmd[:3])} failed (exit {child.returncode}): {said[-1] if said else '?'}")
    return wall, usage.ru_maxrss / 1024


def best(cmd: list[str], repeat: int) -> tuple[float, float]:
    """The least wall seconds and peak RSS (MB) of `repeat` runs of `cmd`."""
    runs = [process(cmd) for _ in range(repeat)]
    return min(r[0] for r in runs), min(r[1] for r in runs)


def reference_mlp(root: Path, source: common.Recordings, vaeaudio: str) -> Path:
    """The reference MLP (`vaeaudio train mlp` defaults) trained for one epoch on `source`, in other processes: this
    one stays small, since a child's peak RSS starts from its parent's (Linux keeps it across fork and exec)."""
    process([vaeaudio, "preprocess", "--src", str(source.root), "--out", str(root / "spec")])
    process([vaeaudio, "train", "mlp", "--recipe", "reference", "--data", str(root / "spec"), "--run-dir",
             str(root / "run"), "--epochs", "1"])
    return root / "run"


def reference_cnn(root: Path) -> dict:
    """The reference CNN's graphs: written, checked, loaded and compared with Keras on 4 latent points."""
    import resource

    import onnx

    from vaeaudio.exporting import export
    from vaeaudio.exporting.graphs import graph, tensor_bytes
    from vaeaudio.exporting.runtime import session
    from vaeaudio.models.cnn import build_reference
    from vaeaudio.util import progress

    progress.import_tensorflow_quietly()
    model = build_reference()
    parameters = model.count_params()
    figures = {"parameters": parameters}
    t0 = time.perf_counter()
    for name, sub, outputs, post in (("decoder", model.decoder, ["spectrogram"], {"spectrogram": "Sigmoid"}),
                                     ("encoder", model.encoder, ["z_mean", "z_log_var"], None)):
        proto = graph(sub, name, outputs, post)
        figures[f"{name}_weight_bytes"] = tensor_bytes(proto)
        files = export._save(proto, root / f"{name}.onnx")
        figures[f"{name}_files"] = {f: (root / f).stat().st_size for f in files}
        del proto
        onnx.checker.check_model(str(root / f"{name}.onnx"))
    figures["write_and_check_s"] = time.perf_counter() - t0
    z = np.random.default_rng(0).standard_normal((4, 2)).astype(np.float32)
    t0 = time.perf_counter()
    decoded = session(root / "decoder.onnx").run(None, {"z": z})[0]
    figures["load_and_decode_4_s"] = time.perf_counter() - t0
    figures["decoder_max_abs_diff"] = float(np.abs(decoded - model.decode_all(z)).max())
    figures["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return figures


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common.add_arguments(ap, "export")
    ap.add_argument("--run", type=Path, help="a finished run (default: train the reference MLP for one epoch)")
    ap.add_argument("--repeat", type=int, default=3, help="cold processes timed each; the best is kept")
    ap.add_argument("--clips", type=int, default=1000, help="random clips synthesised from each")
    ap.add_argument("--reference-cnn", action="store_true", help="also write the reference CNN's graphs (about "
                    "10 GB of memory and 2.4 GB of disk)")
    args = ap.parse_args()
    if args.repeat < 1 or args.clips < 1:
        ap.error("--repeat and --clips must be at least 1")
    source = common.recordings(args.fsdd)
    out = common.Report("export", args, source)
    vaeaudio = str(Path(sys.executable).with_name("vaeaudio"))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        run = args.run.resolve() if args.run else reference_mlp(tmp, source, vaeaudio)
        folder = tmp / "export"
        t_export, rss_export = process([vaeaudio, "export", str(run), "--out", str(folder)])
        size = sum(f.stat().st_size for f in folder.iterdir())
        print(f"export of {run.name}: {t_export:.1f} s, peak {rss_export:.0f} MB, {size / 1e6:.1f} MB written")
        out.add("export", {"run": run, "seconds": t_export, "peak_rss_mb": rss_export, "bytes": size})
        first = {}
        for name, where in (("run", run), ("export", folder)):
            first[name] = best([vaeaudio, "synth", "--run", str(where), "--z", "0.5", "-1.2",
                                str(tmp / f"{name}.wav")], args.repeat)
        print(f"time to the first WAV, `vaeaudio synth --z 0.5 -1.2 out.wav`, whole process, best of {args.repeat}:")
        for name, (wall, rss) in first.items():
            print(f"  from the {name:6s}: {wall:5.2f} s, peak RSS {rss:5.0f} MB")
        (w_run, m_run), (w_exp, m_exp) = first["run"], first["export"]
        print(f"  ratio run/export: {w_run / w_exp:.1f}x faster, {m_run / m_exp:.1f}x less memory "
              f"(target: export <= 1.5 s and <= 300 MB)")
        out.add("first_wav", {"run_s": w_run, "run_rss_mb": m_run, "export_s": w_exp, "export_rss_mb": m_exp,
                              "best_of": args.repeat})
        rates = {}
        for name, where in (("run", run), ("export", folder)):
            wall, rss = process([vaeaudio, "synth", "--run", str(where), "--random", str(args.clips), "--seed", "0",
                                 str(tmp / f"clips-{name}")])
            rates[name] = (args.clips / wall, wall, rss)
        print(f"{args.clips:,} random clips, whole process (default phase):")
        for name, (rate, wall, rss) in rates.items():
            print(f"  from the {name:6s}: {wall:6.1f} s, {rate:6.1f} clips/s, peak RSS {rss:5.0f} MB")
        print(f"  ratio export/run: {rates['export'][0] / rates['run'][0]:.2f}x (target >= 1x)")
        out.add("clips", {"clips": args.clips, **{f"{k}_clips_s": v[0] for k, v in rates.items()},
                          **{f"{k}_s": v[1] for k, v in rates.items()},
                          **{f"{k}_rss_mb": v[2] for k, v in rates.items()}})
        if args.reference_cnn:
            figures = reference_cnn(tmp)
            print(f"reference CNN ({figures['parameters']:,} parameters): graphs written and checked in "
                  f"{figures['write_and_check_s']:.0f} s, files {figures['decoder_files']} "
                  f"{figures['encoder_files']}; decoder loaded and run on 4 points in "
                  f"{figures['load_and_decode_4_s']:.1f} s, max abs difference {figures['decoder_max_abs_diff']:.1e}; "
                  f"peak RSS {figures['peak_rss_mb']:.0f} MB")
            out.add("reference_cnn", figures)
    out.finish()


if __name__ == "__main__":
    sys.exit(main())
