"""Intelligibility of the defaults, in one run: phase methods, generated digits against the recordings, unseen voices.

Every figure is what the independent recogniser (`vaeaudio.judging.recognise`: pocketsphinx, a digit grammar,
never trained on the corpus) hears, or STOI (`vaeaudio.judging.quality`: joined per speaker), each with its sample
size and standard error (a share's binomial one; ratios and entropies by a bootstrap over clips, paired when both
sides are the same clips). The recordings (`--fsdd`, default the 250 of the package sample) are preprocessed twice
into `--work`: split by take (test = new takes of the same voices) and by speaker (test = `--test-speaker`, never
heard in training). Runs are trained there with the defaults, and reused when a rerun finds them finished:

    take-cond       train mlp --conditional            (the conditional defaults: latent 16, mixture, 100 epochs)
    take-uncond     train mlp                          (the unconditional defaults: latent 16, the label head, the
                                                        mixture per class)
    speaker-cond    train mlp --conditional            on the speaker split
    speaker-uncond  train mlp                          on the speaker split (before 2026-12-02: the reference MLP at
                                                        latent 2, now speaker-ref)
    speaker-l16     train mlp --recipe reference --latent-dim 16   on the speaker split: what a larger latent keeps of
                                                        a voice without the label head
    speaker-cond-l2 train mlp --conditional --latent-dim 2   on the speaker split: latent 2, given the digit
    take-ref        train mlp --recipe reference       the reference's unconditional model (latent 2, no label head)
    speaker-ref     train mlp --recipe reference       on the speaker split
    take-cnn-cond   train cnn --conditional            the strided CNN's conditional defaults (and speaker-cnn-cond)

Sections (also in the JSON, `--json`):

1. phase: per `--phase` method, on take-cond: the test clips through the representation alone, their
   reconstructions (encoder mean -> decoder, sharpened as synth would) and `--per-digit` x 10 generated clips,
   each heard as the digit meant; STOI of representation and reconstruction against the recordings; clips/s of
   rendering the generated clips.
2. defaults: per split, the train recordings heard (the voices imitated), the conditional runs' (MLP, CNN) generated
   clips heard as the digit asked for over them (target >= 1.0x) and the unconditional run's draws: the entropy of the
   digits heard over log 10 (target >= 0.9) and heard as some digit over the recordings (target >= 0.9x); the
   same for the reference's model (SPLIT-ref); what each unconditional run's draws from class d's latent mixture
   are heard as: d itself (`heard_as_drawn`), and its reconstructions of the test clips heard as their digit; and
   the recordings' own entropy (the recogniser seldom hears some digits: "six" loses its /s/ at 8 kHz).
3. unseen voices: the reconstructions of both voices the speaker split never trains on (the test speaker and the
   validation speaker) through speaker-cond (also at every `--phases` method, test voice), speaker-cnn-cond,
   speaker-cond-l2, speaker-uncond (the unconditional defaults), speaker-ref (the reference at latent 2) and
   speaker-l16, each heard over the same clips through the representation alone (paired; target >= 0.9x); and
   the train voices' recordings heard, the level that a model which renders every voice in its training voices'
   manner falls to (docs/intelligibility.md: why the figure follows the voices).
4. every voice: each speaker of the corpus held out in turn (`preprocess --split-by speaker --test-speakers S
   --val-by take`: every other voice trains, validation is their clips), `train mlp --conditional` on the rest
   (runs voice-S), S's reconstructions heard over the same clips through the representation alone (paired), and all
   held-out clips pooled (target >= 0.9x).

`--quick` trains small (widths 256,128, 16 clips a step, 15 epochs) and draws 5 per digit: a check that the script
runs (10 minutes on the sample on 2 busy cores), not figures. On FSDD (2,500 recordings, 5 speakers) the runs
took 1.5-5.5 minutes each on a quiet 2-core AMD EPYC (22-40 on 2 busy Intel Xeon cores), measuring 2-5 minutes a
section, section 4 about 25 minutes with its five runs (2026-12-02).

Usage: python benchmarks/intelligibility.py [--fsdd DIR] [--work DIR] [--quick] [--per-digit 50]
           [--test-speaker yweweler] [--phases pghi+gl pghi griffin-lim zero] [--seed 0] [--json OUT]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # common.py, whatever the working folder
import common  # noqa: E402

from vaeaudio.listening.tables import CARRIES_WORD  # noqa: E402
from vaeaudio.settings.base import PHASES  # noqa: E402

#: name: (split, train flags besides the defaults)
RUNS = {"take-cond": ("take", {"conditional": True}), "take-uncond": ("take", {}),
        "speaker-cond": ("speaker", {"conditional": True}), "speaker-uncond": ("speaker", {}),
        "speaker-l16": ("speaker", {"recipe": "reference", "latent_dim": 16}),
        "speaker-cond-l2": ("speaker", {"conditional": True, "latent_dim": 2}),
        # train cnn --conditional (the strided CNN) beside the MLP's conditional defaults (sections 2 and 3)
        "take-cnn-cond": ("take", {"kind": "cnn", "conditional": True}),
        "speaker-cnn-cond": ("speaker", {"kind": "cnn", "conditional": True}),
        # the reference's unconditional model beside the unconditional defaults (sections 2 and 3)
        "take-ref": ("take", {"recipe": "reference"}), "speaker-ref": ("speaker", {"recipe": "reference"})}
SECTIONS = ("phase", "defaults", "unseen", "voices")
#: --quick: what a short check trains instead (`hidden` for the MLP only).
QUICK = {"hidden": (256, 128), "batch_size": 16, "epochs": 15}
#: Bootstrap resamples of a ratio's or an entropy's standard error.
RESAMPLES = 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("intelligibility-work"),
                        help="folder of the spectrogram sets and runs (kept: a rerun reuses them)")
    parser.add_argument("--quick", action="store_true", help="small, short runs and 5 draws per digit: a check")
    parser.add_argument("--per-digit", type=int, default=None, help="generated clips per digit (default 50; quick 5)")
    parser.add_argument("--test-speaker", default="yweweler", help="the voice the speaker split holds out")
    parser.add_argument("--phases", nargs="+", default=list(PHASES), choices=PHASES)
    parser.add_argument("--sections", nargs="+", default=list(SECTIONS), choices=SECTIONS)
    parser.add_argument("--splits", nargs="+", default=["take", "speaker"], choices=["take", "speaker"],
                        help="the splits section 2 measures")
    parser.add_argument("--no-train", dest="train", action="store_false",
                        help="measure only the runs already finished in --work (the others' rows are left out)")
    parser.add_argument("--seed", type=int, default=0)
    common.add_arguments(parser, "intelligibility")
    args = parser.parse_args()
    per_digit = args.per_digit or (5 if args.quick else 50)

    source = common.recordings(args.fsdd)
    out = common.Report("intelligibility", args, source)
    print(source.describe(), flush=True)
    sets = {split: prepared(args.work, source.root, split, args.test_speaker, args.seed)
            for split in ("take", "speaker")}
    runs = {name: trained(args.work / "runs" / name, sets[split], flags, args.quick, args.train)
            for name, (split, flags) in RUNS.items()}
    missing = [name for name, run in runs.items() if run is None]
    if missing:
        out.skip("runs", f"not trained (--no-train): {', '.join(missing)}")
    bench = Bench(sets, {k: v for k, v in runs.items() if v is not None}, per_digit, args.seed)
    if "phase" in args.sections and "take-cond" in bench.runs:
        phase(bench, args.phases, out)
    if "defaults" in args.sections:
        print("\n## 2. the defaults against the recordings of the same voices\n\n| split | clips | heard | against the "
              "recordings (target) |\n|---|---|---|---|")
        out.add("defaults", {split: bench.defaults(split) for split in args.splits})
    if "unseen" in args.sections:
        print(f"\n## 3. unseen voices (test {args.test_speaker}, and the validation voice), reconstructions against "
              f"the representation alone\n\n| clips | latent | voice | heard | over the representation (target "
              f"{CARRIES_WORD}) |\n|---|---|---|---|---|")
        out.add("unseen_voice", bench.unseen(args.phases))
    if "voices" in args.sections:
        out.add("every_voice", every_voice(bench, args.work, source.root, args.seed, args.quick, args.train))
    out.add("recogniser", {"ms_per_clip": 1000 * bench.listener.seconds / max(bench.listener.clips, 1),
                           "clips": bench.listener.clips})
    out.finish()


def phase(bench, phases: list[str], out) -> None:
    print("\n## 1. phase methods (take split, take-cond)\n\n| --phase | representation heard | reconstruction heard "
          "| generated heard | STOI representation | STOI reconstruction | render, clips/s |\n"
          "|---|---|---|---|---|---|---|")
    rows = []
    for p in phases:
        rows.append(bench.phase_row(p))
        out.add("phase", rows)  # after each method: a long run that stops keeps what it measured


def prepared(work: Path, src: Path, split: str, test_speaker: str, seed: int, val_by: str = "speaker",
             folder: Path | None = None):
    """The recordings of `src` preprocessed into `folder` (default work/spec-SPLIT; reused when there) ->
    SpectrogramSet."""
    from vaeaudio.corpus.preprocess import preprocess
    from vaeaudio.formats.spectrogram_set import MANIFEST, SpectrogramSet
    from vaeaudio.settings import PreprocessSettings

    folder = folder or work / f"spec-{split}"
    if not (folder / MANIFEST).is_file():
        extra = {"test_speakers": (test_speaker,), "val_by": val_by} if split == "speaker" else {}
        preprocess(PreprocessSettings(src=src, out=folder, split_by=split, seed=seed, **extra))
    return SpectrogramSet(folder)


def every_voice(bench, work: Path, src: Path, seed: int, quick: bool, train_missing: bool) -> dict:
    """Section 4: each speaker held out in turn, every other voice trained (`--val-by take`), its reconstructions by
    `train mlp --conditional` heard over the representation alone at the default phase (paired), and pooled."""
    speakers = sorted(set(bench.sets["take"].arrays("train", ("speaker",))["speaker"].tolist()))
    print(f"\n## 4. every voice held out in turn (the other {len(speakers) - 1} train), `train mlp --conditional`, "
          f"{PHASES[0]}\n\n| held out | clips | train voices heard | representation heard | reconstruction heard | "
          f"over the representation (target {CARRIES_WORD}) |\n|---|---|---|---|---|---|", flush=True)
    figures, pooled = {}, ([], [])
    for voice in speakers:
        data = prepared(work, src, "speaker", voice, seed, "take", work / f"spec-voice-{voice}")
        run = trained(work / "runs" / f"voice-{voice}", data, {"conditional": True}, quick, train_missing)
        if run is None:
            continue
        bench.sets[f"voice-{voice}"], bench.runs[f"voice-{voice}"] = data, run
        heard, digits = bench.real_heard(f"voice-{voice}", "train")
        clips, t, power = data.arrays("test"), data.transform, bench.model(f"voice-{voice}")[3]
        rep = bench.heard_as_digit(clips["spec"], clips, t)
        rec = bench.heard_as_digit(bench.reconstructions(f"voice-{voice}", clips), clips, t, sharpen=power)
        f = figures[voice] = {"train_voices": share(heard == digits), "representation": share(rep),
                              "reconstruction": share(rec), "over_representation": ratio(rec, rep, True, seed)}
        pooled[0].append(rec), pooled[1].append(rep)
        print(f"| {voice} | {len(rec)} | {show(f['train_voices'])} | {show(f['representation'])} "
              f"| {show(f['reconstruction'])} | {show(f['over_representation'])} |", flush=True)
    if pooled[0]:
        rec, rep = np.concatenate(pooled[0]), np.concatenate(pooled[1])
        figures["pooled"] = {"representation": share(rep), "reconstruction": share(rec),
                             "over_representation": ratio(rec, rep, True, seed)}
        print(f"| all {len(pooled[0])} voices | {len(rec)} | | {show(figures['pooled']['representation'])} "
              f"| {show(figures['pooled']['reconstruction'])} | {show(figures['pooled']['over_representation'])} |",
              flush=True)
    return figures


def trained(run: Path, data, flags: dict, quick: bool, train_missing: bool) -> Path | None:
    """A finished run of `train mlp` with the defaults and `flags` on `data` at `run`, trained unless there (None when
    it is not and not `train_missing`)."""
    from vaeaudio.formats.runs import MODEL
    from vaeaudio.settings import TrainSettings
    from vaeaudio.training.train import train

    if not (run / MODEL).is_file() and not train_missing:
        return None
    if not (run / MODEL).is_file():
        t0 = time.perf_counter()
        kind = flags.get("kind", "mlp")
        flags = {"kind": kind} | flags | {k: v for k, v in QUICK.items() if quick and (k != "hidden" or kind == "mlp")}
        train(TrainSettings(data=data.root, run_dir=run, **flags))
        print(f"trained {run.name} in {time.perf_counter() - t0:.0f} s", flush=True)
    return run


def share(hit: np.ndarray) -> dict:
    """The share of True in `hit` (n,), its binomial standard error and n."""
    p, n = float(np.mean(hit)) if len(hit) else float("nan"), len(hit)
    return {"value": p, "se": float(np.sqrt(p * (1 - p) / n)) if n else None, "n": n}


def bootstrap(stat, samples: tuple[np.ndarray, ...], paired: bool, seed: int) -> dict:
    """stat(*samples) and its bootstrap standard error: each sample (n_i,) resampled with replacement, all by the same
    indices when `paired` (the same clips)."""
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(RESAMPLES):
        idx = [rng.integers(0, len(s), len(s)) for s in samples[: 1 if paired else None]]
        draws.append(stat(*[s[idx[0 if paired else k]] for k, s in enumerate(samples)]))
    return {"value": float(stat(*samples)), "se": float(np.std(draws, ddof=1)), "n": [len(s) for s in samples]}


def ratio(a: np.ndarray, b: np.ndarray, paired: bool, seed: int) -> dict:
    """mean(a) / mean(b) of two samples of 0/1 (n,), (m,), with `bootstrap`'s standard error."""
    return bootstrap(lambda x, y: x.mean() / max(y.mean(), 1e-12), (a, b), paired, seed)


def entropy_ratio(heard: np.ndarray) -> float:
    """Entropy of the digits heard (nothing heard left out) over log 10: 1 = each digit as often."""
    from vaeaudio.judging.generation import _spread

    return _spread(heard, [str(d) for d in range(10)])["entropy_ratio"] or 0.0


def show(f: dict | None) -> str:
    """'0.72 ± 0.02 (500)' for a figure of `share`, `ratio` or STOI."""
    if f is None or f.get("value") is None:
        return "-"
    n = " / ".join(map(str, f["n"])) if isinstance(f["n"], list) else f["n"]
    return f"{f['value']:.3f} ± {f['se']:.3f} ({n})" if f.get("se") is not None else f"{f['value']:.3f} ({n})"


class Bench:
    """The sets, the runs and one recogniser; caches what several sections hear."""

    def __init__(self, sets: dict, runs: dict, per_digit: int, seed: int):
        from vaeaudio.judging import recognise

        self.sets, self.runs, self.per_digit, self.seed = sets, runs, per_digit, seed
        self.listener = recognise.Recogniser()
        self._heard: dict = {}

    def hear(self, key, waves: np.ndarray, sample_rate: int) -> np.ndarray:
        if key not in self._heard:
            self._heard[key] = self.listener.hear(waves, sample_rate)
        return self._heard[key]

    def model(self, name: str):
        """(model, config, mixture, sharpening power as synth picks it) of run `name`."""
        from vaeaudio.formats import latents
        from vaeaudio.formats.runs import load_config
        from vaeaudio.models.saving import load_model
        from vaeaudio.models.sharpen import sharpen_power

        key = ("model", name)
        if key not in self._heard:
            run = self.runs[name]
            config, model, mixture = load_config(run), load_model(run), latents.load(run)
            self._heard[key] = model, config, mixture, sharpen_power("auto", model, config, mixture=mixture)
        return self._heard[key]

    def reconstructions(self, name: str, test: dict) -> np.ndarray:
        """Run `name`'s decoding (n, bins, frames) of each test clip's encoder mean."""
        model = self.model(name)[0]
        digits = test["digit"] if model.conditional else None
        z = np.concatenate([np.asarray(model.encode(test["spec"][s : s + 256], None if digits is None else
                                                    digits[s : s + 256])[0]) for s in range(0, len(test["spec"]), 256)])
        return model.decode_all(z.astype(np.float32), digits)

    def generated(self, name: str, phase: str) -> tuple[np.ndarray, np.ndarray | None, float]:
        """(heard (n,), digits asked for (n,) or None, rendering clips/s) of 10 x per_digit draws of run `name`."""
        from vaeaudio.formats import latents
        from vaeaudio.sound.render import render

        key = ("gen", name, phase)
        if key not in self._heard:
            model, config, mixture, power = self.model(name)
            n = 10 * self.per_digit
            digits = np.repeat(np.arange(10), self.per_digit) if model.conditional else None
            z = latents.draw(n, model.latent_dim, digits, np.random.default_rng(self.seed), mixture)
            spec = model.decode_all(z, digits)
            t = config.transform()
            render(spec[:1], config.data.db_min, config.data.db_max, t, phase)  # compiles PGHI's loop: not timed
            t0 = time.perf_counter()
            waves = render(spec, config.data.db_min, config.data.db_max, t, phase, seed=self.seed, sharpen=power)
            speed = n / (time.perf_counter() - t0)
            self._heard[key] = self.listener.hear(waves, t.sample_rate), digits, speed
        return self._heard[key]

    def phase_row(self, phase: str) -> dict:
        from vaeaudio.judging import quality
        from vaeaudio.sound.render import render

        data = self.sets["take"]
        test, t = data.arrays("test"), data.transform
        real = data.recordings(test["path"], test["spec"])
        db = test["db_min"], test["db_max"]
        power = self.model("take-cond")[3]
        rep = render(test["spec"], *db, t, phase, seed=self.seed)
        rec = render(self.reconstructions("take-cond", test), *db, t, phase, seed=self.seed, sharpen=power)
        heard, asked, speed = self.generated("take-cond", phase)
        row = {"phase": phase,
               "representation": share(self.listener.hear(rep, t.sample_rate) == test["digit"]),
               "reconstruction": share(self.listener.hear(rec, t.sample_rate) == test["digit"]),
               "generated": share(heard == asked), "clips_per_s": speed}
        for what, waves in (("representation", rep), ("reconstruction", rec)):
            s = quality.stoi_by_group(real, waves, test["speaker"], t.sample_rate) if real is not None else None
            row[f"stoi_{what}"] = s and {"value": s["mean"], "se": s["se"], "n": s["groups"], "clips": s["clips"]}
        print(f"| {phase} | {show(row['representation'])} | {show(row['reconstruction'])} | {show(row['generated'])} "
              f"| {show(row['stoi_representation'])} | {show(row['stoi_reconstruction'])} | {speed:.0f} |", flush=True)
        return row

    def real_heard(self, split: str, part: str) -> tuple[np.ndarray, np.ndarray]:
        """(heard, digits) of the recordings of a split's `part` (train or test)."""
        data = self.sets[split]
        clips = data.arrays(part, ("spec", "digit", "path"))
        real = data.recordings(clips["path"], clips["spec"])
        if real is None:
            raise SystemExit(f"the recordings of {data.root} are no longer under {data.manifest.source.root}")
        return self.hear(("real", split, part), real, data.transform.sample_rate), clips["digit"]

    def defaults(self, split: str) -> dict:
        """The split's train recordings heard, and its default runs' generated clips against them."""
        from vaeaudio.formats import latents
        from vaeaudio.judging.recognise import NOTHING

        heard, digits = self.real_heard(split, "train")
        hit, some = heard == digits, heard != NOTHING
        figures = {"real_train": share(hit), "real_train_some_digit": share(some),
                   "real_train_entropy_ratio": bootstrap(entropy_ratio, (heard,), False, self.seed)}
        lines = [("recordings, train split", figures["real_train"], None),
                 ("recordings heard as some digit", figures["real_train_some_digit"], None),
                 ("recordings: entropy of the digits heard / log 10", figures["real_train_entropy_ratio"], None)]
        for name in [n for n in (f"{split}-cond", f"{split}-cnn-cond") if n in self.runs]:
            gen, asked, _ = self.generated(name, PHASES[0])
            key = "conditional" if name == f"{split}-cond" else "cnn_conditional"
            figures |= {key: share(gen == asked), f"{key}_over_real": ratio(gen == asked, hit, False, self.seed),
                        f"{key}_per_digit": [float(np.mean(gen[asked == d] == d)) for d in range(10)]}
            lines.append((f"{name}: generated, heard as asked", figures[key], (figures[f"{key}_over_real"], "1.0")))
        for name in [n for n in (f"{split}-uncond", f"{split}-l16", f"{split}-ref") if n in self.runs]:  # uncond.
            draws = self.generated(name, PHASES[0])[0]
            model, config = self.model(name)[:2]
            figures[name] = {"settings": config.train_settings().describe(), "some_digit": share(draws != NOTHING),
                             "some_over_real": ratio(draws != NOTHING, some, False, self.seed),
                             "entropy_ratio": bootstrap(entropy_ratio, (draws,), False, self.seed),
                             "heard_counts": np.bincount(draws[draws >= 0], minlength=10).tolist(),
                             "reconstruction": self.reconstruction_heard(split, name)}
            if self.runs[name].joinpath(latents.FILE).is_file():  # draw i comes from class i mod 10 (LatentMixture)
                figures[name]["heard_as_drawn"] = share(draws == np.arange(len(draws)) % 10)
            lines += [(f"{name} ({figures[name]['settings']}): draws heard as some digit", figures[name]["some_digit"],
                       (figures[name]["some_over_real"], "0.9")),
                      (f"{name}: entropy of the digits heard / log 10", None, (figures[name]["entropy_ratio"], "0.9")),
                      (f"{name}: draws heard as 0..9", " ".join(map(str, figures[name]["heard_counts"])), None),
                      (f"{name}: draws heard as the class drawn from", figures[name].get("heard_as_drawn"), None),
                      (f"{name}: test reconstructions heard as their digit", figures[name]["reconstruction"], None)]
        for what, f, against in lines:
            target = f"{show(against[0])} (target {against[1]})" if against else ""
            print(f"| {split} | {what} | {f if isinstance(f, str) else show(f)} | {target} |", flush=True)
        return figures

    def heard_as_digit(self, spec: np.ndarray, clips: dict, transform, phase: str = PHASES[0], sharpen: float = 1.0,
                       key=None) -> np.ndarray:
        """Whether each spectrogram of `spec` (n, bins, frames), rendered by `phase` with `clips`' dB ranges and
        sharpened by `sharpen`, is heard as `clips`' digit: (n,) bool; cached under `key` when given."""
        from vaeaudio.sound.render import render

        waves = render(spec, clips["db_min"], clips["db_max"], transform, phase, seed=self.seed, sharpen=sharpen)
        heard = self.listener.hear(waves, transform.sample_rate) if key is None else \
            self.hear(key, waves, transform.sample_rate)
        return heard == clips["digit"]

    def reconstruction_heard(self, split: str, name: str) -> dict:
        """`share` of the split's test clips whose reconstructions by run `name` (sharpened as synth would) are heard
        as their digit."""
        data = self.sets[split]
        test = data.arrays("test")
        return share(self.heard_as_digit(self.reconstructions(name, test), test, data.transform,
                                         sharpen=self.model(name)[3]))

    def unseen(self, phases: list[str]) -> dict:
        """Each voice the speaker split never trains on (the test speaker, and the validation speaker: training only
        reports its loss), through each speaker run's reconstructions at the first of `phases`, heard over the same
        clips through the representation alone (paired); speaker-cond's test voice also at the other `phases`.
        Beside them the train voices' recordings: a model that renders every voice as its training voices is heard
        about as often as they are."""
        data, t = self.sets["speaker"], self.sets["speaker"].transform
        heard, digits = self.real_heard("speaker", "train")
        names = sorted(set(data.arrays("train", ("speaker",))["speaker"].tolist()))
        figures = {"train_voices": share(heard == digits), "train_speakers": names, "voices": {}}
        print(f"| recordings of the train voices | - | {', '.join(names)} | {show(figures['train_voices'])} | |")
        for part in ("test", "val"):
            clips = data.arrays(part)
            voice = ", ".join(sorted(set(clips["speaker"].tolist())))
            real = self.real_heard("speaker", part)
            v = figures["voices"][part] = {"speakers": sorted(set(clips["speaker"].tolist())),
                                           "real": share(real[0] == real[1]), "representation": {}, "runs": {}}
            print(f"| recordings ({part}) | - | {voice} | {show(v['real'])} | |")
            for name in [n for n in ("speaker-cond", "speaker-cnn-cond", "speaker-cond-l2", "speaker-uncond",
                                     "speaker-ref", "speaker-l16")
                         if n in self.runs]:
                model, config, _, power = self.model(name)
                spec = self.reconstructions(name, clips)
                for p in phases if (name, part) == ("speaker-cond", "test") else phases[:1]:
                    if p not in v["representation"]:
                        v["representation"][p] = self.heard_as_digit(clips["spec"], clips, t, p, key=("rep", part, p))
                        print(f"| representation alone, {p} | - | {voice} | {show(share(v['representation'][p]))} "
                              "| |", flush=True)
                    rep = v["representation"][p]
                    hit = self.heard_as_digit(spec, clips, t, p, power)
                    f = {"latent": model.latent_dim, "beta": config.settings["beta"], "conditional": model.conditional,
                         "phase": p, "sharpen": power, "heard": share(hit),
                         "over_representation": ratio(hit, rep, True, self.seed)}
                    v["runs"][f"{name} {p}"] = f
                    print(f"| {name}, {p} | {f['latent']}, beta {f['beta']:g} | {voice} | {show(f['heard'])} "
                          f"| {show(f['over_representation'])} |", flush=True)
            v["representation"] = {p: share(hit) for p, hit in v["representation"].items()}
        return figures


if __name__ == "__main__":
    main()
