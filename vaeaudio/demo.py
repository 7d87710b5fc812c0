"""`vaeaudio demo`: the whole pipeline, offline, on the FSDD sample shipped inside the package.

    vaeaudio/sample/*.wav (250 clips: 5 speakers x 10 digits x 5 takes, 8 kHz)
      -> DEMO/spectrograms/      preprocess (reference settings)
      -> DEMO/runs/mlp-<stamp>/  train the reference MLP-VAE (latent 2)
      -> DEMO/runs/.../eval/     evaluate: loss table, latent plots, listening files
      -> DEMO/synth/             synth: a 3 x 3 latent grid and 5 random draws as WAV
      -> DEMO/runs/.../report/   report: one page (index.html) with the tables, plots and players

Every stage is the same library call the CLI makes; the demo only chains them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from vaeaudio.settings import DemoSettings, PreprocessSettings, ReportSettings, SynthSettings, TrainSettings
from vaeaudio.util import progress

#: The embedded sample (see sample/ATTRIBUTION.md: FSDD, CC BY-SA 4.0).
SAMPLE = Path(__file__).resolve().parent / "sample"


@dataclass
class DemoResult:
    """Where the demo put things, and what it measured."""

    out: Path
    run: Path
    seconds: float
    metrics: dict
    synth_files: list[Path] = field(default_factory=list)
    report: Path | None = None  # the page's index.html

    def summary(self) -> str:
        """What to look at and what to listen to."""
        m = self.metrics
        ev = self.run / "eval"
        return "\n".join([
            f"demo finished in {self.seconds:.0f} s; everything is under {self.out}/",
            f"  test loss {m['losses']['test']['total']:.1f} nats per clip; latent k-NN digit accuracy "
            f"{m['latent']['knn_digit_accuracy']:.2f} (chance {m['latent']['chance_accuracy']:.2f})",
            f"  look at:   {ev / 'latent_digit.png'}, {ev / 'reconstructions.png'}, {ev / 'curves.png'}",
            f"  listen to: {ev / 'listen'}/ (original vs representation vs model) and "
            f"{self.out / 'synth'}/ ({len(self.synth_files)} generated clips)",
            f"  next:      vaeaudio synth --run {self.run} --z 0.5 -1.2 out.wav",
            f"  report:    {self.report}",
            f"  open:      {self.report.resolve().as_uri()}",
        ])


def demo(settings: DemoSettings) -> DemoResult:
    """Run preprocess -> train -> evaluate -> synth -> report on the embedded sample under `settings.out`."""
    from vaeaudio.corpus.preprocess import preprocess
    from vaeaudio.formats.runs import new_run_dir
    from vaeaudio.judging.evaluate import evaluate_run
    from vaeaudio.listening.report import evaluate_settings, report
    from vaeaudio.listening.synth import synth
    from vaeaudio.training.train import train

    t0 = time.perf_counter()
    out = settings.out
    progress.log(f"demo 1/5: preprocess {len(list(SAMPLE.glob('*.wav')))} FSDD clips from {SAMPLE}")
    spec = out / "spectrograms"
    preprocess(PreprocessSettings(src=SAMPLE, out=spec, seed=settings.seed))
    progress.log(f"demo 2/5: train the reference MLP-VAE for {settings.epochs} epochs")
    run = new_run_dir("mlp", root=out / "runs")
    trained = train(TrainSettings(kind="mlp", data=spec, run_dir=run, epochs=settings.epochs, seed=settings.seed))
    progress.log("demo 3/5: evaluate")
    page = ReportSettings(runs=[trained.run_dir], seed=settings.seed, samples_per_digit=0, judge=settings.judge)
    metrics = evaluate_run(trained.run_dir, evaluate_settings(page))
    progress.log("demo 4/5: synthesise a 3 x 3 latent grid and 5 random draws")
    files = synth(SynthSettings(run=trained.run_dir, grid=3, out=out / "synth" / "grid", seed=settings.seed)).files
    files += synth(SynthSettings(run=trained.run_dir, random=5, out=out / "synth" / "random", seed=settings.seed)).files
    progress.log("demo 5/5: the report page (reusing the evaluation)")
    written = report(page)
    return DemoResult(out, trained.run_dir, time.perf_counter() - t0, metrics, files, written.index)
