"""Corpus layouts: which files of a source tree are recordings, of which class, by whom, and in which split.

`label(src, files, settings)` recognises the layout (`--layout auto`) or takes the
one asked for, and returns a `Labelled`: the class names in label order, a
`Recording` per file (its label an index into the classes), every file it could
not use with a kind and a reason, and the split the layout itself fixes (Speech
Commands' lists or hashing rule, a CSV's `--fold`), if any.

| layout | files | class | speaker | split |
|---|---|---|---|---|
| `audiomnist` | `data/NN/{digit}_NN_{take}.wav` | the digit | NN | `--split-by` |
| `fsdd` | `{digit}_{speaker}_{take}.wav` | the digit | from the name | `--split-by` |
| `speech-commands` | `WORD/HASH_nohash_N.wav` | WORD | HASH | its list files, else sha1 of HASH |
| `folders` | `CLASS/any/depth/file.wav` | CLASS | none | by file |
| `csv` | as `--labels FILE.csv` names them | its label column | its speaker column | `--fold K`, else `--split-by` |

The digit layouts keep their classes "0".."9" whatever digits are present; the
others list the classes found, sorted by name, or those `--classes` names, in its order.
"""

from __future__ import annotations

import csv
import hashlib
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from vaeaudio.corpus.scan import META_FILE, Recording, parse_name
from vaeaudio.formats.classes import DIGIT_CLASSES, MAX_CLASSES
from vaeaudio.util.errors import DataError, UsageError

#: Audio files the non-digit layouts read (through soundfile: any rate, any channel count, 16/24/32-bit or float).
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg")
#: Speech Commands' list files (split index 1 = val, 2 = test), its noise folder (not a class), and its names.
SC_LISTS = {"validation_list.txt": 1, "testing_list.txt": 2}
SC_NOISE = "_background_noise_"
SC_NAME_RE = re.compile(r"^(?P<speaker>[0-9a-fA-F]+)_nohash_(?P<take>[0-9]+)\.wav$")
#: The dataset's `which_set` rule: sha1 of the speaker hash, modulo this + 1, as a percentage.
SC_MAX_PER_CLASS = 2**27 - 1
#: CSV columns looked for, first match wins: the file, the class, the speaker, the fold.
FILE_COLUMNS = ("filename", "slice_file_name", "file", "path", "fname")
LABEL_COLUMNS = ("category", "class", "label")
SPEAKER_COLUMNS = ("speaker", "fsID", "src_file")
FOLD_COLUMN = "fold"


@dataclass
class Labelled:
    """The recordings of a source tree as a layout reads them.

    `split`: path -> 0/1/2 (train/val/test) where the layout fixes it, else None
    (`--split-by` decides); `split_rule` names the rule for the manifest. `info` goes
    into the manifest's `layout` as it is.
    """

    kind: str
    evidence: str
    classes: list[str]
    recordings: list[Recording]
    dropped: list[dict]
    split_rule: str
    split: dict[str, int] | None = None
    info: dict = field(default_factory=dict)
    labels_sha256: str | None = None


def _audio(files: list[str]) -> list[str]:
    return [f for f in files if f.lower().endswith(AUDIO_SUFFIXES)]


def _speaker_folders(files: list[str]) -> bool:
    """True when the digit-named files sit in folders named after their speakers (AudioMNIST's data/NN/)."""
    parsed = [(f.split("/"), parse_name(f)) for f in files]
    named = [(parts, r) for parts, r in parsed if isinstance(r, Recording) and len(parts) > 1]
    return bool(named) and all(parts[-2].isdigit() and r.speaker.isdigit() or parts[-2] == r.speaker
                               for parts, r in named)


def detect(src: Path, files: list[str]) -> tuple[str, str]:
    """(layout, the evidence in words) of the tree `src` holding `files`; `DataError` when no layout fits,
    `UsageError` naming the choices when two do."""
    audio = _audio(files)
    wavs = [f for f in audio if f.lower().endswith(".wav")]
    digit_named = [f for f in wavs if isinstance(parse_name(f), Recording)]
    sc_named = [f for f in wavs if f.count("/") == 1 and SC_NAME_RE.match(f.split("/")[1])]
    tops = Counter(f.split("/")[0] for f in audio if "/" in f and not f.startswith(SC_NOISE + "/"))
    in_folders = sum(tops.values())
    lists = [n for n in SC_LISTS if n in files]
    found = []
    if audio and 2 * len(digit_named) > len(wavs):
        if any(f.rsplit("/", 1)[-1] == META_FILE for f in files) or _speaker_folders(digit_named):
            found.append(("audiomnist", f"{len(digit_named):,} of {len(wavs):,} .wav files named "
                                        "{digit}_{speaker}_{take}.wav in speaker folders"))
            tops.clear()  # the folders are speakers, not classes
        else:
            found.append(("fsdd", f"{len(digit_named):,} of {len(wavs):,} .wav files named "
                                  "{digit}_{speaker}_{take}.wav"))
    if lists or (audio and 2 * len(sc_named) > len(audio)):
        found.append(("speech-commands", f"{len(sc_named):,} of {len(audio):,} audio files named "
                                         f"WORD/HASH_nohash_N.wav in {len(tops)} word folders"
                      + (f", with {' and '.join(lists)}" if lists else ", no list files")))
    elif len(tops) >= 2 and 2 * in_folders > len(audio):
        found.append(("folders", f"{in_folders:,} of {len(audio):,} audio files in {len(tops)} class folders "
                                 f"({', '.join(sorted(tops)[:4])}{', ...' if len(tops) > 4 else ''})"))
    if not found:
        raise DataError(f"no labels found under {src}: {len(audio):,} audio file(s) of {len(files):,}, none named "
                        "{digit}_{speaker}_{take}.wav, WORD/HASH_nohash_N.wav, nor sorted into two or more class "
                        "folders",
                        "put each class in its own folder (CLASS/file.wav), or give --labels FILE.csv")
    if len(found) > 1:
        raise UsageError(f"{src} could be read as " + " or as ".join(f"{k} ({why})" for k, why in found),
                         "choose one: " + " or ".join(f"--layout {k}" for k, _ in found))
    return found[0]


def label(src: Path, files: list[str], settings) -> Labelled:
    """The recordings of `files` (sorted, relative to `src`) as `settings.layout` (a `PreprocessSettings`) reads
    them; 'auto' asks `detect`. Refuses, in one line each, what cannot make a set: no labels, a CSV naming missing
    files, unknown --classes, fewer than two classes, more than `MAX_CLASSES`."""
    if settings.labels is not None:
        kind, evidence = "csv", f"--labels {settings.labels}"
    elif settings.layout == "auto":
        kind, evidence = detect(src, files)
    else:
        kind, evidence = settings.layout, f"as --layout {settings.layout} says"
    if kind in ("audiomnist", "fsdd"):
        if settings.classes:
            raise UsageError(f"--classes: the {kind} layout's classes are the digits 0-9", "leave out --classes")
        return _digits(kind, evidence, files, settings)
    labelled = {"speech-commands": _speech_commands, "folders": _folders, "csv": _csv}[kind](src, files, settings)
    labelled.evidence = evidence
    if len(labelled.classes) < 2:
        found = labelled.classes[0] if labelled.classes else "none"
        raise DataError(f"{src} holds one class only ({found}): a set needs at least two to tell apart",
                        "point --src at the folder that holds the class folders" if kind != "csv" else
                        "check --label-column")
    if len(labelled.classes) > MAX_CLASSES:
        raise DataError(f"{src} holds {len(labelled.classes)} classes; a set holds at most {MAX_CLASSES}",
                        "keep some with --classes")
    return labelled


def _digits(kind: str, evidence: str, files: list[str], settings) -> Labelled:
    """AudioMNIST and FSDD, as they always were: `{digit}_{speaker}_{take}.wav`, classes 0-9."""
    recordings, dropped = [], []
    for rel in files:
        if rel.rsplit("/", 1)[-1] == META_FILE:
            continue  # read by preprocess as the speakers' metadata
        if not rel.lower().endswith(".wav"):
            dropped.append({"path": rel, "kind": "not-audio", "reason": "not a .wav file"})
            continue
        parsed = parse_name(rel)
        if isinstance(parsed, str):
            dropped.append({"path": rel, "kind": "bad-name", "reason": parsed})
        else:
            recordings.append(parsed)
    return Labelled(kind, evidence, list(DIGIT_CLASSES), recordings, dropped, settings.split_by)


def _select(found: list[str], settings, where: str) -> list[str]:
    """The classes of the set: `found` sorted, or --classes in its order (each must be found)."""
    if not settings.classes:
        return sorted(found)
    unknown = [c for c in settings.classes if c not in found]
    if unknown:
        raise UsageError(f"--classes: {', '.join(unknown)} not found in {where} (found: {', '.join(sorted(found))})")
    return list(settings.classes)


def _not_audio(rel: str) -> dict:
    return {"path": rel, "kind": "not-audio", "reason": "not a .wav, .flac or .ogg file"}


def _speech_commands(src: Path, files: list[str], settings) -> Labelled:
    """`WORD/HASH_nohash_N.wav`; the split from the list files when present, else the dataset's hashing rule."""
    if settings.split_by == "speaker":
        raise UsageError("--split-by speaker: Speech Commands is split by its list files or its hashing rule, which "
                         "hold out whole speakers already", "leave out --split-by")
    dropped, named = [], []
    for rel in files:
        parts = rel.split("/")
        if rel in SC_LISTS:
            continue
        if not rel.lower().endswith(AUDIO_SUFFIXES):
            dropped.append(_not_audio(rel))
        elif parts[0] == SC_NOISE:
            dropped.append({"path": rel, "kind": "not-a-class", "reason": f"{SC_NOISE} is noise, not a class"})
        elif len(parts) != 2 or not (m := SC_NAME_RE.match(parts[1])):
            dropped.append({"path": rel, "kind": "bad-name", "reason": "not WORD/HASH_nohash_N.wav"})
        else:
            named.append((rel, parts[0], m["speaker"], int(m["take"])))
    classes = _select(sorted({word for _, word, _, _ in named}), settings, str(src))
    index = {c: i for i, c in enumerate(classes)}
    recordings = [Recording(rel, index[word], speaker, take) for rel, word, speaker, take in named if word in index]
    excluded = Counter(word for _, word, _, _ in named if word not in index)
    lists = {name: k for name, k in SC_LISTS.items() if name in files}
    if lists:
        split = {r.path: 0 for r in recordings}
        for name, k in lists.items():
            for line in Path(src, name).read_text(encoding="utf-8").splitlines():
                entry = PurePosixPath(line.strip()).as_posix() if line.strip() else ""
                if entry in split:
                    split[entry] = k
        rule = "lists"
    else:
        split = {r.path: sc_which_set(r.speaker, settings.val_fraction, settings.test_fraction) for r in recordings}
        rule = "hash"
    return Labelled("speech-commands", "", classes, recordings, dropped, rule, split,
                    info={"excluded_classes": dict(sorted(excluded.items()))})


def sc_which_set(speaker: str, val_fraction: float, test_fraction: float) -> int:
    """Speech Commands' own split of a speaker hash (its README's `which_set`): 1 val, 2 test, 0 train.

    All of a speaker's clips land in one split, and a speaker stays in its split as the dataset grows.
    """
    digest = int(hashlib.sha1(speaker.encode()).hexdigest(), 16)
    percentage = (digest % (SC_MAX_PER_CLASS + 1)) * (100.0 / SC_MAX_PER_CLASS)
    if percentage < 100 * val_fraction:
        return 1
    if percentage < 100 * (val_fraction + test_fraction):
        return 2
    return 0


def _folders(src: Path, files: list[str], settings) -> Labelled:
    """`CLASS/any/depth/file.wav`: the class is the first folder; no speakers, so the split is by file."""
    if settings.split_by == "speaker":
        raise UsageError("--split-by speaker: class folders name no speakers", "leave out --split-by (by file)")
    dropped, named = [], []
    for rel in files:
        if not rel.lower().endswith(AUDIO_SUFFIXES):
            dropped.append(_not_audio(rel))
        elif "/" not in rel:
            dropped.append({"path": rel, "kind": "no-label", "reason": "not inside a class folder"})
        else:
            named.append((rel, rel.split("/")[0]))
    classes = _select(sorted({c for _, c in named}), settings, str(src))
    index = {c: i for i, c in enumerate(classes)}
    recordings = [Recording(rel, index[c], "", 0) for rel, c in named if c in index]
    excluded = Counter(c for _, c in named if c not in index)
    return Labelled("folders", "", classes, recordings, dropped, "take",
                    info={"excluded_classes": dict(sorted(excluded.items()))})


def _column(header: list[str], wanted: str | None, candidates: tuple[str, ...], path: Path) -> str | None:
    """The column `wanted` (which must exist), else the first of `candidates` in `header`, else None."""
    if wanted is not None:
        if wanted not in header:
            raise UsageError(f"--label-column {wanted}: {path} has no such column (columns: {', '.join(header)})")
        return wanted
    return next((c for c in candidates if c in header), None)


def _csv(src: Path, files: list[str], settings) -> Labelled:
    """The recordings a CSV names: file, class and optional speaker and fold columns."""
    path = settings.labels
    try:
        raw = Path(path).read_bytes()
        rows = list(csv.DictReader(raw.decode("utf-8-sig").splitlines()))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"--labels {path} cannot be read: {exc}") from None
    header = list(rows[0].keys()) if rows else []
    file_col = _column(header, None, FILE_COLUMNS, path)
    label_col = _column(header, settings.label_column, LABEL_COLUMNS, path)
    if file_col is None or label_col is None:
        missing = "a file column (" + ", ".join(FILE_COLUMNS) + ")" if file_col is None else \
            "a label column (" + ", ".join(LABEL_COLUMNS) + "; or --label-column NAME)"
        raise DataError(f"--labels {path} has no {missing}; its columns: {', '.join(header) or 'none'}")
    speaker_col = next((c for c in SPEAKER_COLUMNS if c in header), None)
    fold_col = FOLD_COLUMN if FOLD_COLUMN in header else None
    if settings.fold is not None and fold_col is None:
        raise UsageError(f"--fold {settings.fold}: {path} has no {FOLD_COLUMN} column")
    if settings.split_by == "speaker" and speaker_col is None:
        raise UsageError(f"--split-by speaker: {path} has no speaker column ({', '.join(SPEAKER_COLUMNS)})")
    present = set(files)
    by_name: dict[str, list[str]] = {}
    for rel in files:
        by_name.setdefault(rel.rsplit("/", 1)[-1], []).append(rel)
    named, missing, folds = {}, [], {}
    for line, row in enumerate(rows, start=2):
        name = (row.get(file_col) or "").strip()
        cls = (row.get(label_col) or "").strip()
        if not name or not cls:
            raise DataError(f"--labels {path}, line {line}: an empty {file_col if not name else label_col}")
        same_name = by_name.get(name.rsplit("/", 1)[-1], [])
        rel = name if name in present else same_name[0] if len(same_name) == 1 else None
        if rel is None:
            missing.append((line, name))
            continue
        speaker = (row.get(speaker_col) or "").strip() if speaker_col else ""
        named[rel] = (cls, speaker)
        if fold_col:
            try:
                folds[rel] = int(row[fold_col])
            except (TypeError, ValueError):
                raise DataError(f"--labels {path}, line {line}: fold {row[fold_col]!r} is not a number") from None
    if missing:
        line, name = missing[0]
        raise DataError(f"--labels {path} names {len(missing):,} file(s) not found (once) under {src}, first "
                        f"{name!r} at line {line}",
                        "point --src at the folder holding the audio, or remove those rows")
    classes = _select(sorted({c for c, _ in named.values()}), settings, str(path))
    index = {c: i for i, c in enumerate(classes)}
    recordings = [Recording(rel, index[c], spk, 0) for rel, (c, spk) in sorted(named.items()) if c in index]
    excluded = Counter(c for c, _ in named.values() if c not in index)
    dropped = [_not_audio(rel) if not rel.lower().endswith(AUDIO_SUFFIXES) else
               {"path": rel, "kind": "unlabelled", "reason": f"not named in {Path(path).name}"}
               for rel in files if rel not in named]
    split = None
    if settings.fold is not None:
        if settings.fold not in set(folds.values()):
            have = ", ".join(map(str, sorted(set(folds.values()))))
            raise UsageError(f"--fold {settings.fold}: {path} has folds {have}")
        split = {r.path: 2 if folds[r.path] == settings.fold else -1 for r in recordings}
    info = {"labels": {"file": str(Path(path).resolve()), "file_column": file_col, "label_column": label_col,
                       "speaker_column": speaker_col, "fold_column": fold_col},
            "excluded_classes": dict(sorted(excluded.items()))}
    return Labelled("csv", "", classes, recordings, dropped, "fold" if split else settings.split_by, split,
                    info=info, labels_sha256=hashlib.sha256(raw).hexdigest())
