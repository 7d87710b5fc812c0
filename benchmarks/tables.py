"""The markdown tables of docs/performance.md, one per benchmark, from the JSON files the benchmarks write.

Each table is headed by the command that measured it and the machine it ran on; sections a benchmark skipped
are rows saying why, and a run that stopped early is marked incomplete.

Usage: python benchmarks/tables.py [FILE.json ...]     (default: benchmarks/results/*.json; prints markdown)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # common.py, whatever the working folder
import common  # noqa: E402

ORDER = ("floor", "train_speed", "distribute", "preprocess", "download", "synth", "full_scale", "speech_commands",
         "generation", "intelligibility")


def f(value, spec: str = ".2f", suffix: str = "") -> str:
    """`value` formatted, or '-' when it is missing."""
    return "-" if value is None else f"{value:{spec}}{suffix}"


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    """A markdown table (nothing when there are no rows)."""
    if not rows:
        return []
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header),
            *("| " + " | ".join(str(c) for c in row) + " |" for row in rows)]


def floor_summary(m: dict) -> str:
    return (f"{f(1e3 * m['floor_s'], '.1f')} ms ({f(1e3 * m['matmul_s'], '.1f')} ms of matmuls, "
            f"{m['step_flop'] / 1e9:.2f} GFLOP; {m['adam_bytes'] / 1e9:.2f} GB of Adam at "
            f"{f(m['bandwidth_gbs'], '.1f')} GB/s, {f(1e3 * m['adam_s'], '.1f')} ms)")


def floor(r: dict) -> list[str]:
    m = r["floor"]
    rows = [[f"[{i:,} x {o:,}], B {b}", x["kind"], x["count"], f(x["rates"]["onednn"], ".1f"),
             f(x["rates"]["xla"], ".1f"), f(x["rates"]["numpy"], ".1f"), x["best"]]
            for x in m["rows"] for i, o, b in [x["shape"]]]
    return [*table(["matmul [i x o], batch", "kind", "n", "oneDNN GFLOP/s", "XLA", "numpy", "best"], rows), "",
            f"Floor of a reference-MLP step: {floor_summary(m)}; numpy BLAS: {', '.join(m['numpy_kernel'])}."]


def train_speed(r: dict) -> list[str]:
    rows = []
    if k := r.get("1 kernels"):
        rows.append(["the floor of a reference-MLP step: every matmul at its shape's best rate, + Adam's bytes at "
                     "the measured bandwidth", floor_summary(k["floor"])])
        rows.append(["`--kernels auto` chose", "; ".join(
            f"{layer}: forward {p['forward']}, weight-grad {p['weight_grad']}, input-grad {p['input_grad']}"
            for layer, p in k["chosen"].items())])
    if e := r.get("2 epochs"):
        for kind, x in e["models"].items():
            label = f"{kind} epoch of {x['clips']:,} clips (epoch {x.get('epoch', '-')})"
            rows.append([label, f"failed: {x['failed']}" if "failed" in x else
                         f"{x['epoch_s']:.1f} s ({x['clips_s']:,.1f} clips/s), {x['params']:,} parameters, "
                         f"peak RSS {x['rss_gib']:.1f} GiB"])
        rows += [[f"epoch {name}", f"{v:.2f}"] for name, v in e["ratios"].items()]
    if s := r.get("3 step"):
        for name, x in s["steps"].items():
            rows.append([f"step: {name}", f"{f(x['ms'], '.1f')} ms, {f(x['clips_s'], ',.1f')} clips/s, "
                                          f"{f(x['per_floor'])}x the floor, {f(x['vs_naive'])}x naive"])
        rows.append(["step / floor (`--kernels auto`)", f"**{f(s['step_per_floor'])}** ({f(s['gflops'], '.0f')} "
                                                         f"GFLOP/s); mixed_bfloat16 {f(s['bf16_speedup'])}x as fast"])
    for split, x in r.get("4 overhead", {}).items():
        rows.append([f"epochs split by {split}, steady-state work / training seconds",
                     f"{x['clips']:,} clips: {x['work_s']:.2f} s / {', '.join(f'{t:.2f}' for t in x['train_s'])} s "
                     f"= **{x['ratio']:.2f}**"])
    if b := r.get("5 bf16 loss"):
        rows.append([f"val loss after {b['epochs']} epochs, float32 / mixed_bfloat16",
                     f"{b['float32']:.2f} / {b['mixed_bfloat16']:.2f} ({b['change_percent']:+.2f} %)"])
    if c := r.get("6 classifier"):
        rows.append([f"digit classifier, {c['clips']:,} clips: epochs (with validation) against steady-state steps",
                     f"{', '.join(f'{t:.2f}' for t in c['seconds'])} s against {c['work_s']:.2f} s "
                     f"({c['work_per_epoch']:.2f}); the judge predicts {c['predict_clips_s']:,.0f} clips/s"])
    return table(["measurement", "figure"], rows)


def distribute(r: dict) -> list[str]:
    rows = []
    if t := r.get("training"):
        rows += [[f"one process (epoch {t['epoch']}, {t['clips']:,} training clips)", f"{t['one_process_clips_s']:.1f}"
                  " clips/s"],
                 ["two workers on one host", f"{t['two_workers_clips_s']:.1f} clips/s ({t['ratio']:.2f}x one process)"]]
    if a := r.get("all-reduce"):
        rows.append([f"all-reduce of {a['values']:,} float32 gradients ({a['mib']:.0f} MiB) between 2 workers",
                     f"{a['ms']:.0f} ms per step"])
    return table(["reference MLP, global batch 128", "figure"], rows)


def preprocess(r: dict) -> list[str]:
    x = r.get("preprocess")
    if not x:
        return []
    return table(["contender", "seconds", "clips/s"], [
        ["naive librosa loop (1 process, no files written)", f"{x['naive_s']:.2f}", f"{x['naive_clips_s']:,.0f}"],
        [f"`vaeaudio preprocess` ({x['workers']} workers, {x['kept']:,} clips kept and written to shards)",
         f"{x['vaeaudio_s']:.2f}", f"{x['vaeaudio_clips_s']:,.0f}"],
        [f"ratio vaeaudio / naive ({x['clips']:,} clips)", "", f"**{x['ratio']:.2f}x**"]])


def download(r: dict) -> list[str]:
    a = r.get("archive", {})
    rows = []
    for label in ("download + extract", "extract (local archive)"):
        if x := r.get(label):
            rows.append([label, f"{x['vaeaudio_s']:.2f} s ({x['vaeaudio_files_s']:,.0f} files/s)",
                         f"{x['plain_s']:.2f} s ({x['plain_files_s']:,.0f} files/s)", f"**{x['ratio']:.2f}**"])
    lines = table(["", "vaeaudio", "plain extractall", "ratio (plain / vaeaudio)"], rows)
    if a:
        lines += ["", f"Archive: {a['mb']:.1f} MB, {a['files']:,} files, {a['extracted_mb']:.1f} MB extracted; best "
                      f"of {a['best_of']}, trees written under {a['work']}."]
    return lines


def synth(r: dict) -> list[str]:
    rows = []
    if g := r.get("griffin-lim"):
        rows += [[f"librosa.griffinlim per clip ({g['clips']} clips x {g['iters']} iterations)",
                  f"{g['librosa_s']:.2f} s ({g['librosa_clips_s']:.1f} clips/s), spectral convergence "
                  f"{g['librosa_convergence']:.4f}"],
                 ["vaeaudio batched Griffin-Lim", f"{g['vaeaudio_s']:.2f} s ({g['vaeaudio_clips_s']:.1f} clips/s), "
                                                  f"spectral convergence {g['vaeaudio_convergence']:.4f}"],
                 ["ratio", f"**{g['ratio']:.1f}x**"]]
    if c := r.get("cold"):
        rows += [[f"cold `python -c 'import tensorflow'` (best of {c['best_of']})",
                  f"{c['import_tensorflow_s']:.2f} s"],
                 ["cold `vaeaudio synth --z 0.5 -1.2 out.wav`", f"{c['synth_s']:.2f} s (**{c['ratio']:.2f}x**)"]]
    return table(["measurement", "figure"], rows)


def full_scale(r: dict) -> list[str]:
    c = r.get("corpus", {})
    rows = [[x["stage"], f"{x['seconds']:,.1f} s", f"{x['rss_gib']:.2f} GiB"] for x in r.get("stages", [])]
    lines = []
    if c:
        lines += [f"Corpus: {c['clips']:,} 48 kHz WAVs (asked: {c['clips_asked']:,}), {c['zip_gb']:.2f} GB zip, "
                  f"built in {c['build_s']:.0f} s (not counted).", ""]
    if t := r.get("total"):
        rows.append(["total", f"{t['seconds']:,.0f} s ({t['with_corpus_s'] / 60:.1f} min with the corpus)", ""])
    lines += table(["stage", "wall time", "peak RSS"], rows)
    if t:
        lines += ["", f"Clips kept: {t['kept']:,} (train {t['train']:,}). Projected 100 epochs: MLP "
                      f"{t['mlp_100_epochs_h']:.1f} h ({t['mlp_epoch_s']:.0f} s/epoch), strided CNN "
                      f"{t['cnn_100_epochs_h']:.1f} h ({t['cnn_epoch_s']:.0f} s/epoch)."]
    return lines


def speech_commands(r: dict) -> list[str]:
    c = r.get("corpus", {})
    rows = [[x["stage"], f"{x['seconds']:,.1f} s", f"{x['rss_gib']:.2f} GiB"] for x in r.get("stages", [])]
    lines = []
    if c:
        lines += [f"Corpus: {c['clips']:,} clips in word folders ({c['val']:,} listed for validation, {c['test']:,} "
                  f"for test), built in {c['build_s']:.0f} s (not counted).", ""]
    lines += table(["stage", "wall time", "peak RSS"], rows)
    if t := r.get("total"):
        sp = t["splits"]
        lines += ["", f"Set: {sp['train']:,} / {sp['val']:,} / {sp['test']:,} clips (train / val / test); the "
                      f"in-memory epoch: {t['in_memory_epoch_s']:.1f} s."]
    return lines


def generation(r: dict) -> list[str]:
    run, real = r.get("run", {}), r.get("real", {})
    rows = [[run.get("latent", "-"), "none: decoded spectrograms classified directly" if x["iters"] is None
             else x["iters"], "-" if x["sharpen"] is None else f"{x['sharpen']} ({x['power']:.2f})",
             f(x["accuracy"], ".3f"), f(x["inception_score"]), f(x["frechet_distance"], ".1f"),
             f(x["ms_per_clip"], ".0f")] for x in r.get("rows", [])]
    lines = []
    if run:
        lines += [f"Run {run['name']} (latent {run['latent']}, beta {run['beta']}, split by {run['split_by']}), "
                  f"{run['clips']} generated clips per row; the classifier on the real test clips: accuracy "
                  f"{f(real.get('accuracy'), '.3f')}, IS {f(real.get('inception_score'))}.", ""]
    return lines + table(["latent", "Griffin-Lim iterations", "sharpen (P)", "generated accuracy",
                          "Inception Score", "Frechet distance", "ms per clip"], rows)


def intelligibility(r: dict) -> list[str]:
    rows = [[x["run"], f"{x['clips']} ({x['n']})", f(x["heard"]), f(x["nothing_heard"]), f(x["classifier"])]
            for x in r.get("rows", [])]
    return table(["run", "clips", "recogniser: heard as meant", "nothing heard", "classifier accuracy"], rows)


def render(data: dict) -> list[str]:
    name = data.get("benchmark", "?")
    ran = f"`{data['command']}` on " if data.get("command") else "On "
    lines = [f"### {name}", "", ran + common.describe(data["machine"])
             + ("" if data.get("complete") else " (incomplete: the run stopped early)"), ""]
    body = globals()[name](data.get("results", {})) if name in ORDER else [
        f"(no table for benchmark {name!r})"]
    lines += body
    if data.get("skipped"):
        if body:
            lines.append("")
        lines += [f"- {section}: skipped: {why}" for section, why in data["skipped"].items()]
    return [*lines, ""]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", type=Path, nargs="*", help="JSON files (default: benchmarks/results/*.json)")
    args = ap.parse_args()
    files = args.files or sorted(common.RESULTS.glob("*.json"))
    if not files:
        raise SystemExit(f"no JSON files given, and none in {common.RESULTS}: run a benchmark first")
    loaded = []
    for path in files:
        try:
            loaded.append(json.loads(path.read_text()))
        except (OSError, ValueError) as exc:
            raise SystemExit(f"{path}: {exc}") from None
    loaded.sort(key=lambda d: ORDER.index(d["benchmark"]) if d.get("benchmark") in ORDER else len(ORDER))
    for data in loaded:
        print("\n".join(render(data)))


if __name__ == "__main__":
    main()
