"""`vaeaudio preprocess`: a folder of recordings -> a spectrogram set (manifest.json + HDF5 shards).

Stages (each file is read twice; nothing is held for the whole corpus):
  1. scan: walk `src`, fingerprint the tree, read it as its layout says (`vaeaudio.corpus.layouts`: which file is
     a recording of which class, by whom, and where the layout fixes the split).
  2. probe (parallel): hash, decode, check each recording -> length after resampling, or a reason to drop it.
  3. decide: drop duplicates, length outliers (digit layouts) and, with `--long skip`, long clips; split into
     train / val / test; check every class has clips in every split; plan the shards.
  4. featurise (parallel): waveform -> (257, 69) spectrogram in [0, 1] (`vaeaudio.sound.dsp`), written in
     order into shards that are renamed into place only when complete.
  5. manifest.json, written last and atomically.

A re-run with the same source and settings returns at once once every shard's
sha256 matches the manifest; a re-run after a crash (or onto a damaged shard)
keeps the whole shards written for the same plan and redoes the rest, giving
byte-identical shards. `out` is locked (`vaeaudio.util.locks`) while it is written.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vaeaudio import __version__
from vaeaudio.corpus.layouts import Labelled, label
from vaeaudio.corpus.scan import META_FILE, Recording, probe, scan
from vaeaudio.corpus.splits import split_by_speaker, split_by_take, split_rest
from vaeaudio.formats.runs import runs_using
from vaeaudio.formats.shards import ShardWriter, read_plan_id, read_shard
from vaeaudio.formats.spectrogram_set import (
    CLASSIFIER_CACHE,
    MANIFEST,
    SPLITS,
    Manifest,
    ShardInfo,
    SpectrogramSet,
    shard_name,
    verify_shard,
)
from vaeaudio.settings import PreprocessSettings
from vaeaudio.sound import dsp
from vaeaudio.util import locks, progress, resources
from vaeaudio.util.errors import DataError, Interrupted, UsageError
from vaeaudio.util.files import read_json, sha256_file

#: The layouts whose classes are the digits and whose manifests, shards and splits are as they always were.
DIGIT_LAYOUTS = ("audiomnist", "fsdd")
_PROBE_CHUNK = 64
_FEATURE_CHUNK = 32


# --------------------------------------------------------------------------- workers
def _featurise(args: tuple[str, list[str], dict]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Worker: recordings -> (spec (n, bins, frames), db_min (n,), db_max (n,)) as float32."""
    root, paths, s = args
    waves = np.empty((len(paths), s["clip_samples"]), dtype=np.float32)
    for i, rel in enumerate(paths):
        y, sr = dsp.read(Path(root, rel))
        waves[i] = dsp.to_clip(y, sr, s["sample_rate"], s["clip_samples"])
    return dsp.featurise(waves, s["n_fft"], s["hop_length"], s["top_db"])


class _Pool:
    """Ordered parallel map over chunks with a bounded number of chunks in flight."""

    def __init__(self, workers: int):
        self.workers = workers
        # fork unless TensorFlow's threads exist (e.g. inside `vaeaudio demo`): `resources.process_context`
        self.executor = ProcessPoolExecutor(workers, mp_context=resources.process_context()) if workers > 1 else None

    def map(self, fn: Callable, tasks: Iterable) -> Iterator:
        if self.executor is None:
            yield from map(fn, tasks)
            return
        pending = []
        for task in tasks:
            pending.append(self.executor.submit(fn, task))
            if len(pending) >= 3 * self.workers:
                yield pending.pop(0).result()
        for fut in pending:
            yield fut.result()

    def close(self) -> None:
        if self.executor is not None:
            self.executor.shutdown(cancel_futures=True)


def _chunks(items: list, size: int) -> Iterator[list]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


# --------------------------------------------------------------------------- result
@dataclass
class PreprocessResult:
    """What `preprocess` did: counts per split, dropped files, where the set is."""

    out: Path
    manifest: Manifest
    seconds: float
    up_to_date: bool = False
    featurised: int = 0
    reused_shards: int = 0

    def summary(self) -> str:
        """A few lines for the terminal."""
        m = self.manifest
        counts = " / ".join(f"{name} {m.splits[name].clips:,}" for name in SPLITS)
        total = sum(m.splits[name].clips for name in SPLITS)
        if self.up_to_date:
            return f"{self.out}: up to date ({total:,} clips: {counts}); nothing to do"
        lines = [f"wrote {total:,} clips ({counts}) to {self.out}/ in {self.seconds:.1f} s"
                 + (f" ({self.featurised / max(self.seconds, 1e-9):,.0f} clips/s)" if self.featurised else "")]
        if self.reused_shards:
            lines.append(f"kept {self.reused_shards} whole shard(s) already on disk")
        kinds = Counter(d.kind for d in m.dropped)
        if kinds:
            parts = ", ".join(f"{k} {v}" for k, v in sorted(kinds.items()))
            lines.append(f"dropped {len(m.dropped):,} file(s): {parts} (reasons in {self.out / MANIFEST})"
                         + ("; length outliers are kept by --length-percentiles 0 100" if "length" in kinds else ""))
        else:
            lines.append("dropped no files")
        return "\n".join(lines)


# --------------------------------------------------------------------------- main
def _check_out(out: Path) -> None:
    """Refuse to write into a folder that holds anything but a (partial) spectrogram set."""
    if not out.exists():
        return
    if not out.is_dir():
        raise UsageError(f"--out: {out} exists and is not a folder")
    ours = (MANIFEST, MANIFEST + ".tmp", locks.LOCK, CLASSIFIER_CACHE)
    foreign = [p.name for p in out.iterdir()
               if not (p.name in ours or re.fullmatch(r"(train|val|test)-\d{5}\.h5(\.tmp)?", p.name))]
    if foreign:
        raise UsageError(f"--out: {out} holds other files ({', '.join(sorted(foreign)[:3])}...) "
                         "and is not a spectrogram set",
                         "choose an empty or new folder")


def _load_current(out: Path, settings: PreprocessSettings, fingerprint: str) -> tuple[Manifest | None, dict[str, str]]:
    """(the existing manifest if it describes this source and settings and its shards are all there and whole,
    the sha256 it records for each shard file (empty without a manifest))."""
    try:
        m = Manifest.load(out)
    except DataError:
        return None, {}
    recorded = {shard.file: shard.sha256 for split in m.splits.values() for shard in split.shards}
    if m.settings != settings.content() or m.source.fingerprint != fingerprint:
        return None, recorded
    try:
        for split in m.splits.values():
            for shard in split.shards:
                verify_shard(out / shard.file, shard)
    except DataError as exc:
        progress.log(f"{exc}; rewriting it")
        return None, recorded
    return m, recorded


def _identity_before(out: Path, settings: PreprocessSettings) -> str | None:
    """The identity of the set already at `out` (None: none); `UsageError` when it was made from another source
    than `settings.src`, unless `settings.overwrite`."""
    try:
        old = SpectrogramSet(out)
        identity = old.identity()
    except (DataError, OSError, ValueError, RecursionError):
        return None
    if Path(old.manifest.source.root) != settings.src.resolve() and not settings.overwrite:
        used = runs_using(out)
        raise UsageError(f"--out {out} is a spectrogram set made from {old.manifest.source.root}, not from --src "
                         f"{settings.src}" + (f"; {len(used)} run(s) were trained on it: "
                                              f"{', '.join(map(str, used[:3]))}" if used else ""),
                         "choose another --out, or give --overwrite to replace it")
    return identity


def _reusable(path: Path, plan_id: str, recorded: str | None) -> bool:
    """True when the shard at `path` was written for `plan_id` and is whole: its sha256 is the one the old
    manifest recorded, or (a shard of an interrupted run, which no manifest describes) its values read back sound."""
    if read_plan_id(path) != plan_id:
        return False
    if recorded is not None:
        return sha256_file(path) == recorded
    try:
        read_shard(path, ("spec", "db_min", "db_max", "digit"))
    except DataError:
        return False
    return True


def _speaker_meta(src: Path, files: list[str]) -> tuple[dict, str | None]:
    for rel in files:
        if rel.rsplit("/", 1)[-1] == META_FILE:
            try:
                meta = read_json(Path(src, rel))
                return (meta if isinstance(meta, dict) else {}), rel
            except (OSError, ValueError):
                return {}, rel
    return {}, None


def _split(labelled: Labelled, kept: list[Recording], settings: PreprocessSettings
           ) -> tuple[np.ndarray, dict[str, list[str]] | None]:
    """The split index of each kept recording (0 train, 1 val, 2 test) and the speakers held out (or None): as the
    layout fixes it, else as --split-by says. Outside the digit layouts every class must have clips in every split
    (`DataError` naming the first that has not)."""
    labels = np.array([r.label for r in kept])
    held_out = None
    if labelled.split is not None:
        split = np.array([labelled.split[r.path] for r in kept], dtype=np.int8)
        if (split < 0).any():  # --fold: the test split is fixed, validation drawn from the rest by file
            split = split_rest(labels, split == 2, settings.val_fraction, settings.seed)
    elif settings.split_by == "take":
        split = split_by_take(labels, settings.test_fraction, settings.val_fraction, settings.seed,
                              every_class=labelled.kind not in DIGIT_LAYOUTS)
    else:
        split, held_out = split_by_speaker(np.array([r.speaker for r in kept]), labels, settings.test_fraction,
                                           settings.val_fraction, settings.seed, settings.test_speakers,
                                           val_by=settings.val_by)
    if labelled.kind not in DIGIT_LAYOUTS:
        for k, cls in enumerate(labelled.classes):
            counts = np.bincount(split[labels == k], minlength=3)
            if not counts.all():
                empty = SPLITS[int(np.flatnonzero(counts == 0)[0])]
                raise DataError(f"class {cls!r} has {counts.sum()} usable clip(s) and none in the {empty} split "
                                f"({labelled.split_rule} rule: train {counts[0]}, val {counts[1]}, test {counts[2]})",
                                "give it more clips, or leave it out with --classes")
    return split, held_out


def preprocess(settings: PreprocessSettings) -> PreprocessResult:
    """Build (or bring up to date) the spectrogram set `settings.out` from recordings under `settings.src`.

    Raises `DataError` when `src` is missing or holds no usable recording, and
    `UsageError` when `out` is something other than a spectrogram set.
    """
    t0 = time.perf_counter()
    src, out = settings.src, settings.out
    if not src.is_dir():
        raise DataError(f"source folder {src} does not exist", "pass --src DIR holding the recordings")
    _check_out(out)
    created = not out.exists()
    try:
        with locks.hold(out, "spectrogram set"):
            try:
                return _build(settings, t0)
            except KeyboardInterrupt:
                raise Interrupted(f"preprocess interrupted; {out} has no manifest yet",
                                  "run the same command again: it keeps the shards already written") from None
    except BaseException:
        if created and out.is_dir() and not any(out.iterdir()):
            with contextlib.suppress(OSError):  # never hide the refusal behind a failed clean-up
                out.rmdir()  # a refusal (no labels, too few clips) leaves no empty folder behind; written shards stay
        raise


def _build(settings: PreprocessSettings, t0: float) -> PreprocessResult:
    """`preprocess` with the lock of `settings.out` held."""
    src, out = settings.src, settings.out
    files, fingerprint, dropped = scan(src, exclude=out)
    labelled = label(src, files, settings)
    progress.log(f"layout {labelled.kind}: {labelled.evidence}")
    if labelled.labels_sha256:  # the CSV is part of the input wherever it lies
        fingerprint = hashlib.sha256(f"{fingerprint}\0{labelled.labels_sha256}".encode()).hexdigest()
    current, recorded = _load_current(out, settings, fingerprint)
    if current is not None:
        return PreprocessResult(out, current, time.perf_counter() - t0, up_to_date=True)
    before = _identity_before(out, settings)

    meta, meta_path = _speaker_meta(src, files) if labelled.kind in DIGIT_LAYOUTS else ({}, None)
    if meta_path is not None and not meta:
        dropped.append({"path": meta_path, "kind": "metadata", "reason": "speaker metadata is not a JSON object"})
    recordings: list[Recording] = labelled.recordings
    dropped.extend(labelled.dropped)

    pool = _Pool(min(settings.n_workers(), max(1, len(recordings) // _PROBE_CHUNK)))
    try:
        # -- probe -----------------------------------------------------------------
        probed = []
        with progress.bar(len(recordings), "scan", unit="files") as bar:
            tasks = ((str(src), [r.path for r in chunk], settings.silence_dbfs, settings.sample_rate)
                     for chunk in _chunks(recordings, _PROBE_CHUNK))
            for res in pool.map(probe, tasks):
                probed.extend(res)
                bar.advance(len(res))
        # -- decide ----------------------------------------------------------------
        good, lengths, seen, downmixed = [], [], {}, 0
        duplicates: dict[str, list[str]] = defaultdict(list)
        for rec, (digest, length, channels, kind, reason) in zip(recordings, probed):
            if kind is None and length > settings.clip_samples and settings.long == "skip":
                kind, reason = "long", f"length {length} samples is over --clip-samples {settings.clip_samples}"
            if kind is not None:
                dropped.append({"path": rec.path, "kind": kind, "reason": reason})
                continue
            if digest in seen:  # before the length bounds: a copy must not weigh in the percentiles
                duplicates[seen[digest]].append(rec.path)
                dropped.append({"path": rec.path, "kind": "duplicate", "reason": f"byte-identical to {seen[digest]}"})
                continue
            seen[digest] = rec.path
            downmixed += channels > 1
            lengths.append(length)
            good.append((rec, length))
        if not good:
            raise DataError(f"no usable recordings under {src} ({len(files)} files looked at, {len(dropped)} dropped)",
                            "unreadable, empty, silent and duplicate files are dropped: check the recordings, or "
                            "choose --layout")
        if labelled.kind in DIGIT_LAYOUTS:
            lo, hi = (float(v) for v in np.percentile(np.asarray(lengths), settings.length_percentiles))
        else:
            lo, hi = float(min(lengths)) - 1, float(max(lengths)) + 1
        kept = []
        for rec, length in good:
            if lo < length < hi:
                kept.append(rec)
            else:
                dropped.append({"path": rec.path, "kind": "length",
                                "reason": f"length {length} samples not strictly between {lo:g} and {hi:g}"})
        if not kept:
            raise DataError(f"every recording under {src} is a length outlier",
                            "widen --length-percentiles, e.g. 0 100")
        split, held_out = _split(labelled, kept, settings)
        long = sum(length > settings.clip_samples for rec, length in good) if settings.long == "crop" else \
            sum(d["kind"] == "long" for d in dropped)
        # -- plan ------------------------------------------------------------------
        plan = {name: [r for r, s in zip(kept, split) if s == k] for k, name in enumerate(SPLITS)}
        plan_id = hashlib.sha256(json.dumps(
            [settings.content(), {n: [r.path for r in recs] for n, recs in plan.items()}]).encode()).hexdigest()
        shards = [(name, i, recs[j : j + settings.shard_size])
                  for name, recs in plan.items()
                  for i, j in enumerate(range(0, len(recs), settings.shard_size))]
        # every refusal is behind us: from here the set is rewritten, and no manifest may describe shards being
        # rewritten
        (out / MANIFEST).unlink(missing_ok=True)
        for stale in out.glob("*.tmp"):
            stale.unlink()
        wanted = {shard_name(name, i) for name, i, _ in shards}
        for old in out.glob("*.h5"):
            if old.name not in wanted:
                old.unlink()
        todo = [(name, i, recs) for name, i, recs in shards
                if not _reusable(out / shard_name(name, i), plan_id, recorded.get(shard_name(name, i)))]
        written: dict[str, ShardInfo] = {}
        # -- featurise ---------------------------------------------------------------
        feat = {k: getattr(settings, k) for k in ("sample_rate", "clip_samples", "n_fft", "hop_length", "top_db")}
        shape = dsp.spectrogram_shape(settings.clip_samples, settings.n_fft, settings.hop_length)
        n_todo = sum(len(r) for _, _, r in todo)
        with progress.bar(n_todo, "featurise", unit="clips") as bar:
            tasks = ((str(src), [r.path for r in chunk], feat)
                     for _, _, recs in todo for chunk in _chunks(recs, _FEATURE_CHUNK))
            results = pool.map(_featurise, tasks)
            for name, i, recs in todo:
                with ShardWriter(out / shard_name(name, i), len(recs), shape, plan_id) as writer:
                    writer.write_labels(digit=[r.label for r in recs], speaker=[r.speaker for r in recs],
                                        path=[r.path for r in recs])
                    for start in range(0, len(recs), _FEATURE_CHUNK):
                        spec, db_min, db_max = next(results)
                        writer.write(start, spec, db_min, db_max)
                        bar.advance(len(spec))
                written[writer.path.name] = ShardInfo(file=writer.path.name, clips=len(recs),
                                                      sha256=writer.sha256, bytes=writer.bytes)
    finally:
        pool.close()

    infos: dict[str, list[ShardInfo]] = defaultdict(list)
    for name, i, recs in shards:  # shards reused from an interrupted run are hashed here
        f = out / shard_name(name, i)
        infos[name].append(written.get(f.name) or ShardInfo(file=f.name, clips=len(recs), sha256=sha256_file(f),
                                                            bytes=f.stat().st_size))
    manifest = Manifest.build(
        settings=settings, fingerprint=fingerprint, n_files=len(files), shape=shape, bounds=(lo, hi),
        plan=plan, shards=infos, dropped=dropped,
        duplicates=[[k, *v] for k, v in sorted(duplicates.items())], held_out=held_out,
        speaker_meta=meta, version=__version__, classes=labelled.classes, split_by=labelled.split_rule,
        layout={"kind": labelled.kind, "evidence": labelled.evidence, "downmixed": downmixed,
                "long": {"rule": settings.long, "clips": long}, **labelled.info},
    )
    manifest.save(out)
    if before is not None and before != SpectrogramSet(out).identity():
        used = runs_using(out)
        progress.log(f"note: {out} now holds other content than before (a new identity)"
                     + (f"; {len(used)} run(s) trained on it ({', '.join(map(str, used[:3]))}) will not resume or "
                        "evaluate on it" if used else ""))
    return PreprocessResult(out, manifest, time.perf_counter() - t0, featurised=n_todo,
                            reused_shards=len(shards) - len(todo))
