"""Read a spectrogram set written by `vaeaudio preprocess`: the manifest model and split readers.

A set is a folder with `manifest.json` (format `vaeaudio-spectrograms/1`) and
shards `{split}-{NNNNN}.h5` (see `vaeaudio.formats.shards`). `SpectrogramSet(root)`
validates the manifest; `.arrays("train")` gives numpy arrays of a whole split
(`spec` (n, 257, 69) float32 in [0, 1], `db_min`/`db_max` (n,) dB, `digit` (n,)
int8: the label, an index into `.classes`, `speaker`/`path` (n,) str); `.transform`
is the audio settings it was made with, `.classes` the class names (the digits "0".."9"
for a set whose manifest predates them).
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ValidationError

from vaeaudio.formats.classes import DIGIT_CLASSES
from vaeaudio.formats.shards import read_shard
from vaeaudio.sound import dsp
from vaeaudio.util import progress
from vaeaudio.util.clock import timestamp
from vaeaudio.util.errors import DataError
from vaeaudio.util.files import read_json, replacing, sha256_file

#: Format tag of the spectrogram set; bumped whenever the contract changes.
#: The splits of a spectrogram set, in order.
SPLITS = ("train", "val", "test")
FORMAT = "vaeaudio-spectrograms/1"
MANIFEST = "manifest.json"
#: Folder, inside a spectrogram set, of the digit classifier `evaluate` trains and reuses.
CLASSIFIER_CACHE = "classifier"
#: Manifest fields that say when, by which version and from where a set was written, not what it holds: left out
#: of its identity (`SpectrogramSet.identity`), so a repair that rewrites the same content keeps it.
VOLATILE = ("created", "vaeaudio_version", "source")
#: Largest difference (of [0, 1] values) between a clip's spectrogram and its source recording's made again, for
#: the recording to count as the clip's original: the same file gives the same bytes; another one differs by tenths.
SAME_SPECTROGRAM = 1e-3


def shard_name(split: str, index: int) -> str:
    """File name of shard `index` of `split`: `train-00000.h5`."""
    return f"{split}-{index:05d}.h5"


class ShardInfo(BaseModel):
    file: str
    clips: int
    sha256: str
    bytes: int


class SplitInfo(BaseModel):
    clips: int
    digits: dict[str, int]  # clips per class, keyed by class name (the name predates classes)
    speakers: list[str]
    shards: list[ShardInfo]


class SourceInfo(BaseModel):
    root: str
    fingerprint: str
    files: int


class LengthBounds(BaseModel):
    percentiles: tuple[float, float]
    samples: tuple[float, float]


class Dropped(BaseModel):
    path: str
    kind: str
    reason: str


class Manifest(BaseModel):
    """`manifest.json` of a spectrogram set."""

    format: str
    created: str
    vaeaudio_version: str
    settings: dict
    source: SourceInfo
    shape: tuple[int, int]
    length_bounds: LengthBounds
    split_by: str
    splits: dict[str, SplitInfo]
    held_out_speakers: dict[str, list[str]] | None = None
    dropped: list[Dropped]
    duplicates: list[list[str]]
    speaker_meta: dict
    #: The class names in label order: a shard's `digit` k is class `classes[k]`.
    classes: list[str] = list(DIGIT_CLASSES)
    #: What preprocess read and what it recognised it as (None: the manifest predates layouts; a digit set).
    layout: dict | None = None

    @classmethod
    def load(cls, root: Path) -> Manifest:
        """Read and validate `root/manifest.json`; `DataError` if missing, foreign or another version."""
        path = Path(root) / MANIFEST
        if not path.is_file():
            raise DataError(f"no spectrogram set at {root}: {MANIFEST} is missing",
                            f"run `vaeaudio preprocess --out {root}` first")
        try:
            raw = read_json(path)
        except (OSError, ValueError) as exc:
            raise DataError(f"{path} is not readable JSON ({exc})", "re-run `vaeaudio preprocess`") from None
        fmt = raw.get("format") if isinstance(raw, dict) else None
        if fmt != FORMAT:
            raise DataError(f"{path} is not a {FORMAT} manifest (format: {fmt!r})",
                            "re-run `vaeaudio preprocess` with this version of vaeaudio")
        try:
            manifest = cls.model_validate(raw)
            dsp.Transform.checked(manifest.settings)
        except ValidationError as exc:
            raise DataError(f"{path} is damaged: {exc.errors()[0]['loc']} {exc.errors()[0]['msg']}",
                            "re-run `vaeaudio preprocess`") from None
        except ValueError as exc:
            raise DataError(f"{path} is damaged: its audio settings are out of range ({exc})",
                            "re-run `vaeaudio preprocess`") from None
        return manifest

    @classmethod
    def build(cls, *, settings, fingerprint, n_files, shape, bounds, plan, shards, dropped,
              duplicates, held_out, speaker_meta, version, classes, layout, split_by) -> Manifest:
        """Assemble the manifest: `plan` maps split -> recordings (with a `label` index into `classes`), `shards`
        split -> [ShardInfo]; `layout` is what preprocess recognised (`vaeaudio.corpus.layouts`)."""
        splits = {}
        for name, recs in plan.items():
            digits = {classes[d]: sum(r.label == d for r in recs) for d in sorted({r.label for r in recs})}
            splits[name] = SplitInfo(clips=len(recs), digits=digits,
                                     speakers=sorted({r.speaker for r in recs}), shards=shards[name])
        return cls(
            format=FORMAT, created=timestamp(),
            vaeaudio_version=version, settings=settings.content(),
            source=SourceInfo(root=str(settings.src.resolve()), fingerprint=fingerprint, files=n_files),
            shape=shape, length_bounds=LengthBounds(percentiles=settings.length_percentiles, samples=bounds),
            split_by=split_by, splits=splits, held_out_speakers=held_out,
            dropped=sorted(dropped, key=lambda d: d["path"]), duplicates=duplicates, speaker_meta=speaker_meta,
            classes=list(classes), layout=layout,
        )

    def save(self, root: Path) -> None:
        """Write `root/manifest.json` atomically."""
        with replacing(Path(root) / MANIFEST) as tmp:
            tmp.write_text(self.model_dump_json(indent=1), encoding="utf-8")


#: (path, size, mtime_ns) of shards whose sha256 matched in this process: each is hashed once per process.
_VERIFIED: set[tuple[str, int, int]] = set()


def verify_shard(path: Path, shard: ShardInfo, src: str | None = None) -> None:
    """`DataError` naming `path` unless it exists with the size and sha256 the manifest records; the hint names
    the command that repairs it (with the set's source folder `src`).

    Hashing costs well under reading the shard; a file is hashed again only
    when its size or mtime changes.
    """
    hint = (f"re-run `vaeaudio preprocess {f'--src {src} ' if src else ''}--out {path.parent}` with the set's other "
            "settings: it rewrites damaged shards")
    try:
        st = path.stat()
    except OSError:
        raise DataError(f"shard {path} is missing", hint) from None
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key in _VERIFIED:
        return
    if st.st_size != shard.bytes:
        raise DataError(f"shard {path} has {st.st_size:,} bytes, the manifest says {shard.bytes:,}: it changed since "
                        "preprocessing", hint)
    if sha256_file(path) != shard.sha256:
        raise DataError(f"shard {path} is damaged: its sha256 differs from the manifest's", hint)
    _VERIFIED.add(key)


class SpectrogramSet:
    """A validated spectrogram set on disk."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.manifest = Manifest.load(self.root)
        self.unverified: dict[str, str] = {}  # source recordings `recording` refused: path -> why

    @property
    def shape(self) -> tuple[int, int]:
        """(frequency bins, frames) of every spectrogram: (257, 69) by default."""
        return tuple(self.manifest.shape)

    @property
    def transform(self) -> dsp.Transform:
        """The audio settings the set was made with (sample rate, clip length, STFT, dB range)."""
        return dsp.Transform.of(self.manifest.settings)

    @property
    def classes(self) -> list[str]:
        """The class names in label order (`DIGIT_CLASSES` for a set made before sets had classes)."""
        return list(self.manifest.classes)

    @property
    def digit_classes(self) -> bool:
        """True when the classes are the digits "0".."9" in order (an AudioMNIST or FSDD set)."""
        return tuple(self.manifest.classes) == DIGIT_CLASSES

    def recording(self, path: str, spec: np.ndarray | None = None) -> np.ndarray | None:
        """The source recording `path` (relative to the set's source root, as in a shard's `path`) cut as preprocess
        cut it: (clip_samples,) float32 at the set's sample rate. None when it is no longer there, cannot be read
        as audio, or (given the clip's `spec` (bins, frames) from the set) no longer makes that spectrogram: it was
        replaced or changed since preprocessing, so it is not the clip's original. Why is kept in `unverified`."""
        source = Path(self.manifest.source.root) / str(path)
        try:
            clip = self.transform.to_clip(*dsp.read(source))
        except FileNotFoundError:
            why = "missing"
        except (OSError, ValueError) as exc:
            why = f"unreadable ({exc})"
        else:
            if spec is None or np.abs(self.transform.featurise(clip[None])[0][0] - spec).max() <= SAME_SPECTROGRAM:
                return clip
            why = "changed since preprocessing"
        self.unverified[str(path)] = why
        return None

    def recordings(self, paths, specs: np.ndarray | None = None) -> np.ndarray | None:
        """`recording` of each of `paths` (n,) [checked against `specs` (n, bins, frames)] -> (n, clip_samples);
        None when any of them is not there as it was."""
        clips = [self.recording(p, None if specs is None else specs[i]) for i, p in enumerate(paths)]
        if any(c is None for c in clips):
            return None
        return np.stack(clips) if clips else np.zeros((0, self.transform.clip_samples), np.float32)

    def say_unverified(self) -> None:
        """One line naming the source recordings found missing or changed (`recording`) since the last call."""
        if self.unverified:
            kinds = ", ".join(f"{k} {v}" for k, v in sorted(Counter(
                w.split(" (")[0] for w in self.unverified.values()).items()))
            first = next(iter(self.unverified.items()))
            progress.log(f"note: {len(self.unverified)} source recording(s) of {self.root} not played as originals "
                         f"({kinds}; e.g. {first[0]}: {first[1]})")
            self.unverified.clear()

    def sha256(self) -> str:
        """SHA-256 of the manifest file (which names every shard's hash): what runs made before `identity` record."""
        return sha256_file(self.root / MANIFEST)

    def identity(self) -> str:
        """The set's identity: SHA-256 of the manifest's content (every field, those added later included, but the
        `VOLATILE` ones; the shards' hashes stand for the clips), the same for a set written again with the same
        content."""
        raw = read_json(self.root / MANIFEST)
        content = {k: v for k, v in raw.items() if k not in VOLATILE}
        return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()

    def same_as(self, identity: str | None, manifest_sha256: str | None = None) -> bool:
        """Whether this is the set a run or classifier recorded: by its `identity`, or for one made before
        identities (which recorded only the manifest file's sha256) by that."""
        if identity is not None:
            return identity == self.identity()
        return manifest_sha256 == self.sha256()

    def clips(self, split: str) -> int:
        """Number of clips in `split` ('train', 'val' or 'test')."""
        return self._split(split).clips

    def _split(self, split: str) -> SplitInfo:
        if split not in self.manifest.splits:
            raise DataError(f"{self.root} has no split {split!r} (has: {', '.join(self.manifest.splits)})")
        return self.manifest.splits[split]

    def shards(self, split: str) -> list[tuple[Path, int]]:
        """The shards of `split` in order as (path, clips), each verified against the manifest (`verify_shard`)."""
        out = []
        for shard in self._split(split).shards:
            verify_shard(self.root / shard.file, shard, self.manifest.source.root)
            out.append((self.root / shard.file, shard.clips))
        return out

    def arrays(self, split: str, fields: tuple[str, ...] = ("spec", "db_min", "db_max", "digit", "speaker", "path")
               ) -> dict[str, np.ndarray]:
        """All clips of `split` as numpy arrays keyed by dataset name, in shard order."""
        parts: dict[str, list[np.ndarray]] = {f: [] for f in fields}
        for path, _ in self.shards(split):
            for name, arr in read_shard(path, fields, len(self.manifest.classes)).items():
                parts[name].append(arr)
        shape = {"spec": (0, *self.shape)}
        return {name: (np.concatenate(a) if a else np.zeros(shape.get(name, (0,)), dtype=np.float32))
                for name, a in parts.items()}
