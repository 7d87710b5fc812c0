"""`vaeaudio report`: one page to look at and listen to what one or more runs learned.

    vaeaudio report                          runs/latest -> runs/latest/report/index.html
    vaeaudio report RUN_A RUN_B --out cmp/   one page comparing runs

Builds on `evaluate`: a run's RUN/eval/metrics.json is reused when it is current
(written after the run's model.keras, with the same evaluate settings), else
`evaluate` runs first; the result says which. Then, per run, with the audio
settings of the set it was trained on (`RunConfig.transform()`):

- test clips: the original recording | through the representation alone (the
  ceiling) | through the model, with spectrograms in s / Hz / dB;
- generated clips: digits x samples (conditional runs) or rows of random draws,
  from the run's latent mixture when it stored one (as synth), else the prior;
- for 2-D latents the playable latent map: test clips' latent means (playing
  their recordings) and an N x N grid of decoded points spanning where the test
  clips lie (5th to 95th percentile of each axis; playing their decodings;
  unconditional runs only), all pre-rendered WAVs;
- every clip labelled with what the independent recogniser hears and, unless
  --no-judge, what the digit classifier hears and with what probability.

The page starts with sound (a player per digit asked for, test clips as recorded
and through the model), then the tables, then each run in detail. The folder
(`report.json` names its format, `vaeaudio-report/2`):

    OUT/index.html, report.css, report.js, report.json
    OUT/<run>/  curves.png latent_digit.png latent_speaker.png clipN.png clipN_{original,representation,model}.wav
                gen/dD_sS.wav (or gen/rR_sS.wav)  map/tNN.wav  map/gRR-CC.wav

An export folder (`vaeaudio export`) in a run's place gives what needs no
training data: the run's settings and its generated clips, made with
onnxruntime (no evaluate, test clips, plots or latent map).

It is written into a hidden sibling folder and moved into place at the end.
The sounds are made in `vaeaudio.listening.clips`, the HTML in `vaeaudio.listening.page`.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from vaeaudio.formats import exports, latents
from vaeaudio.formats.spectrogram_set import SPLITS, SpectrogramSet
from vaeaudio.listening import clips as sounds
from vaeaudio.settings import EvaluateSettings, ReportSettings
from vaeaudio.util import progress
from vaeaudio.util.clock import timestamp
from vaeaudio.util.errors import UsageError
from vaeaudio.util.files import read_json

#: The format of report.json (/2: each clip's `heard` is {"recogniser": d, "classifier": [d, p]}).
FORMAT = "vaeaudio-report/2"
#: Report folders of earlier formats that a new report may replace.
_REPLACEABLE = ("vaeaudio-report/1", FORMAT)
INDEX = "index.html"
ASSETS = Path(__file__).resolve().parent / "assets"
#: evaluate's plots copied onto the page, in page order.
PLOTS = ("curves", "latent_digit", "latent_speaker")


@dataclass
class ReportResult:
    """The page written and what it took."""

    out: Path
    runs: list[dict] = field(default_factory=list)  # per run: name, evaluate ("reused" | "ran"), wavs
    bytes: int = 0
    seconds: float = 0.0

    @property
    def index(self) -> Path:
        return self.out / INDEX

    def summary(self) -> str:
        """Which evaluations were reused, the page's path and a file:// URL."""
        lines = [f"{r['name']}: evaluate results {r['evaluate']}; {len(r['wavs'])} WAVs on the page" for r in self.runs]
        lines += [f"report: {self.index} ({self.bytes / 1e6:.1f} MB, {self.seconds:.0f} s)",
                  f"open:   {self.index.resolve().as_uri()}"]
        return "\n".join(lines)


def evaluate_settings(settings: ReportSettings) -> EvaluateSettings:
    """The `evaluate` part of report settings (every field they share)."""
    return EvaluateSettings(**settings.model_dump(include=set(EvaluateSettings.model_fields)))


def evaluated(run: Path, settings: EvaluateSettings) -> tuple[dict, str]:
    """RUN/eval/metrics.json if current (written after model.keras, same evaluate settings), else a fresh
    evaluation; returns (metrics, "reused" or "ran (why)")."""
    from vaeaudio.judging.evaluate import evaluate_run
    from vaeaudio.models.saving import finished_model

    model = finished_model(run)
    path = run / "eval" / "metrics.json"
    wanted = settings.model_dump(mode="json", exclude={"runs"})
    why = "none yet"
    if path.is_file():
        try:
            m = read_json(path)
        except (OSError, ValueError):
            m, why = {}, "metrics.json is unreadable"
        if m and not _usable(m):
            m, why = {}, "metrics.json is damaged"
        if m and path.stat().st_mtime < model.stat().st_mtime:
            why = "the model is newer"
        elif m and m.get("settings") != wanted:
            why = "made with other settings"
        elif m:
            progress.log(f"report: reusing {path} (current)")
            return m, "reused"
    progress.log(f"report: running evaluate on {run.name} ({why})")
    return evaluate_run(run, settings.model_copy(update={"runs": [run]})), f"ran ({why})"


def _number(v) -> bool:
    return v is None or (isinstance(v, (int, float)) and not isinstance(v, bool))


def _usable(m) -> bool:
    """Whether metrics.json `m` has the shape the page reads (dicts where it reads dicts, numbers or nulls where it
    reads numbers); one that does not (tampered, or hand-edited) is evaluated again."""
    if not isinstance(m, dict) or not isinstance(m.get("model"), str) or not isinstance(m.get("latent_dim"), int):
        return False
    if not all(isinstance(m.get(k), dict) for k in ("losses", "latent", "data", "settings")):
        return False
    if not all(isinstance(m.get(k), dict) or m.get(k) is None for k in ("generation", "recogniser")):
        return False
    rec = m.get("recogniser") or {}
    return (all(_number(m.get(k)) for k in ("epochs", "training_seconds", "parameters"))
            and all(isinstance(m["losses"].get(s), dict) and all(map(_number, m["losses"][s].values()))
                    for s in SPLITS)
            and all(_number(v) for k, v in m["latent"].items())
            and isinstance(m["data"].get("clips", {}), dict)
            and all(isinstance(rec.get(k), dict) or rec.get(k) is None for k in ("generated", "real_train")))


def _export_section(folder: Path, dest: Path, settings: ReportSettings) -> dict:
    """What the page shows of an export: everything that needs no training data (the run's settings and generated
    clips, heard by the recogniser), with onnxruntime; no evaluate, test clips, plots or latent map."""
    from vaeaudio.listening.sources import open_source

    source = open_source(folder)
    config, model = source.config, source.load()
    transform = config.transform()
    recogniser = None
    if settings.recogniser:
        from vaeaudio.judging import recognise

        recogniser = recognise.for_classes(source.classes)
    dest.mkdir(parents=True)
    mixture = source.mixture(settings.prior)
    power = source.sharpen_power(settings.sharpen, model, mixture)
    label = sounds.Labeller(None, recogniser, transform.sample_rate)
    generated = sounds.generated(dest, model, config, settings, power, label, mixture)
    wavs = sorted(p.relative_to(dest.parent).as_posix() for p in dest.rglob("*.wav"))
    trained = config.train_settings()
    return {"name": dest.name, "run": str(folder), "evaluate": f"not made ({source.name}: no training data)",
            "metrics": {"losses": {}, "model": trained.describe(), "epochs": trained.epochs},
            "settings": config.settings, "model": config.model, "classes": list(source.classes),
            "data": {"root": config.data.root, "split_by": "-", "clips": config.data.clips},
            "audio": {"sample_rate": transform.sample_rate, "seconds": transform.seconds}, "judge": None,
            "recogniser": recogniser is not None, "plots": {}, "clips": [], "generated": generated, "map": None,
            "wavs": wavs}


def _run_section(run: Path, dest: Path, settings: ReportSettings) -> dict:
    """Everything the page shows of one run (or export: `_export_section`); its files go to `dest` (OUT/<name>)."""
    if exports.is_export(run):
        return _export_section(run, dest, settings)
    from vaeaudio.formats.runs import load_config
    from vaeaudio.models.saving import load_model
    from vaeaudio.models.sharpen import sharpen_power

    metrics, how = evaluated(run, evaluate_settings(settings))
    config = load_config(run)
    model = load_model(run)
    data = SpectrogramSet(settings.data or config.data.root)
    label = sounds.labeller(settings, metrics, data, config.transform().sample_rate)
    import keras

    keras.utils.set_random_seed(settings.seed)
    dest.mkdir(parents=True)
    plots = {}
    for name in PLOTS:
        source = run / "eval" / f"{name}.png"
        if source.is_file():
            shutil.copyfile(source, dest / source.name)
            plots[name] = f"{dest.name}/{source.name}"
    test = data.arrays("test")
    z_mean = model.encode_all(test["spec"], test["digit"], settings.batch_size)
    mixture = latents.choose(run, settings.prior)  # where synth and evaluate draw from: the run's mixture if it has one
    power = sharpen_power(settings.sharpen, model, config, mixture)
    with progress.bar(3, f"report {run.name}", unit="parts") as bar:
        clips = sounds.test_clips(dest, model, config, data, test, z_mean, settings, label)
        bar.advance(1)
        generated = sounds.generated(dest, model, config, settings, power, label, mixture)
        bar.advance(1)
        latent_map = sounds.latent_map(dest, model, config, data, test, z_mean, settings, power, label)
        bar.advance(1)
    data.say_unverified()
    transform = config.transform()
    wavs = sorted(p.relative_to(dest.parent).as_posix() for p in dest.rglob("*.wav"))
    return {"name": dest.name, "run": str(run), "evaluate": how, "metrics": metrics, "settings": config.settings,
            "classes": data.classes,
            "model": config.model, "data": {"root": str(data.root), "split_by": data.manifest.split_by,
                                            "clips": metrics.get("data", {}).get("clips", {})},
            "audio": {"sample_rate": transform.sample_rate, "seconds": transform.seconds},
            "judge": None if label.judge is None else str(label.judge.folder),
            "recogniser": label.recogniser is not None,
            "plots": plots, "clips": clips, "generated": generated, "map": latent_map, "wavs": wavs}


def _is_report(folder: Path) -> bool:
    try:
        return read_json(folder / "report.json").get("format") in _REPLACEABLE
    except (OSError, ValueError, AttributeError):
        return False


def _default_out(runs: list[Path]) -> Path:
    return runs[0] / "report" if len(runs) == 1 else Path("report")


#: Names in a report folder that a run's folder must not take.
_RESERVED = {INDEX, "report.css", "report.js", "report.json"}


def section_names(runs: list[Path]) -> list[str]:
    """The folder of each run in the report: its name, made unique (`r1`, `r1-2`, ... whatever other runs are
    called) and kept off the page's own files (`index.html` -> `index.html-2`)."""
    taken, names = set(_RESERVED), []
    for run in runs:
        name, n = run.name, 1
        while name in taken:
            n += 1
            name = f"{run.name}-{n}"
        taken.add(name)
        names.append(name)
    return names


def _clean_stale(out: Path) -> None:
    """Remove the hidden folders of earlier reports into `out` whose process is gone (killed part-way)."""
    for stale in out.parent.glob(f".{glob.escape(out.name)}.[to][ml][pd]-*"):
        pid = stale.name.rsplit("-", 1)[-1]
        if pid.isdigit() and int(pid) != os.getpid() and not Path(f"/proc/{pid}").exists():
            shutil.rmtree(stale, ignore_errors=True)


def report(settings: ReportSettings) -> ReportResult:
    """Write the page for `settings.runs` (default runs/latest) to `settings.out`."""
    from vaeaudio.formats.runs import resolve_run
    from vaeaudio.listening.page import page

    t0 = time.perf_counter()
    runs = [Path(r).resolve() if r is not None and exports.is_export(Path(r)) else resolve_run(r)
            for r in (settings.runs or [None])]
    given = Path(settings.out or _default_out(runs))
    out = given.absolute().resolve()
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not _is_report(out))):
        raise UsageError(f"--out {given} exists and is not a report folder",
                         "choose a new or empty folder; a report folder is replaced")
    if Path.cwd().resolve().is_relative_to(out):
        raise UsageError(f"--out {given} is (or holds) the current folder, and a report folder is replaced as a whole",
                         "run the command from outside it, or choose another --out")
    _clean_stale(out)
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        sections = [_run_section(run, tmp / name, settings) for run, name in zip(runs, section_names(runs))]
        for asset in ("report.css", "report.js"):
            shutil.copyfile(ASSETS / asset, tmp / asset)
        (tmp / INDEX).write_text(page(sections), encoding="utf-8")
        (tmp / "report.json").write_text(json.dumps({
            "format": FORMAT, "created": timestamp(),
            "runs": [{k: s[k] for k in ("name", "run", "evaluate", "audio", "classes", "judge", "recogniser", "wavs",
                                        "map")}
                     for s in sections],
        }, indent=1) + "\n", encoding="utf-8")
        old = out.parent / f".{out.name}.old-{os.getpid()}"
        if out.exists():
            os.replace(out, old)
        os.replace(tmp, out)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    return ReportResult(given, [{"name": s["name"], "evaluate": s["evaluate"], "wavs": s["wavs"]} for s in sections],
                        size, time.perf_counter() - t0)
