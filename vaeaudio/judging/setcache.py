"""What the recogniser hears in a spectrogram set's own clips, heard once per set and kept for every run on it.

evaluate's recogniser figures of the real recordings (`real_train`: a sample of the train split's; `real`: the
test split's) and of the test clips through the representation alone (`representation`) depend only on the set,
on the recogniser and on a few settings, not on the run: the first evaluate on a set hears them, later ones read
them back. (The other thing evaluate makes once per set, its classifier, is kept in the set's `classifier/`
folder: `vaeaudio.judging.generation.cached_judge`.)

One file per set and part, `<cache>/heard/<identity[:16]>/<part>-<key[:16]>.json` (`<cache>`:
`vaeaudio.util.cache.cache_dir`; identity: `SpectrogramSet.identity`, the digest of the manifest's content; key:
the SHA-256 of the canonical JSON of `key`), format `vaeaudio-heard/1`:

    {"format": "vaeaudio-heard/1", "created": ..., "vaeaudio": version,
     "set": {"root": ..., "identity": ...}, "part": "real_train" | "real" | "representation",
     "key": {"recogniser": its description, "words": {word: class}, "pocketsphinx": version, ...the part's
             settings: sample size and seed, or phase, Griffin-Lim iterations and seed},
     "rows": [the clips' indices in their split], "heard": [class heard per clip, -1 for none], "seconds": s}

Written atomically (`vaeaudio.util.files.write_text`). A file is used only when its format, set identity, key and
rows are those asked for and its classes are in range; a changed set has another identity, so it is heard again;
a damaged or foreign file is heard again and replaced, with one log line. A cache folder that cannot be written
costs the reuse, not the run (one log line).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from vaeaudio import __version__
from vaeaudio.formats.spectrogram_set import SpectrogramSet
from vaeaudio.util import progress
from vaeaudio.util.cache import cache_dir
from vaeaudio.util.clock import timestamp
from vaeaudio.util.files import read_json, write_text

FORMAT = "vaeaudio-heard/1"
#: The folder of these files inside the cache folder.
FOLDER = "heard"


def key_of(recogniser, **settings) -> dict:
    """The key of what `recogniser` hears, with the part's `settings` (JSON values) that change it."""
    from importlib.metadata import version

    return {"recogniser": recogniser.description, "words": dict(sorted(recogniser.words.items())),
            "pocketsphinx": version("pocketsphinx"), **settings}


def path_of(identity: str, part: str, key: dict) -> Path:
    """Where the file of a set (`identity`), a part and a key lives."""
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()
    return cache_dir() / FOLDER / identity[:16] / f"{part}-{digest[:16]}.json"


def _read(path: Path, identity: str, part: str, key: dict, rows: np.ndarray, classes: int) -> np.ndarray:
    """The classes heard (n,) stored at `path`; `ValueError` (why) when it is not the file asked for."""
    raw = read_json(path)
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise ValueError(f"format {raw.get('format') if isinstance(raw, dict) else None!r}, not {FORMAT}")
    if (raw.get("set") or {}).get("identity") != identity or raw.get("part") != part or raw.get("key") != key:
        raise ValueError("made for another set, part or key")
    if raw.get("rows") != rows.tolist():
        raise ValueError("other clips")
    heard = raw.get("heard")
    if not isinstance(heard, list) or len(heard) != len(rows) or not all(
            type(h) is int and -1 <= h < classes for h in heard):
        raise ValueError("its classes heard are not one per clip in range")
    return np.array(heard, dtype=int)


def heard(data: SpectrogramSet, identity: str, part: str, key: dict, rows: np.ndarray,
          hear: Callable[[], np.ndarray | None]) -> np.ndarray | None:
    """What the recogniser heard (n,) in the clips `rows` (n,) of a `part` of `data` (whose `identity` is given):
    read from its file when that holds this key and these rows, else `hear()` (None: nothing is stored, e.g. the
    recordings are gone) and stored."""
    rows = np.asarray(rows, dtype=int)
    path = path_of(identity, part, key)
    if path.exists():
        try:
            return _read(path, identity, part, key, rows, len(data.classes))
        except (OSError, ValueError) as exc:
            progress.log(f"hearing {part} of {data.root} again: {path} is unusable ({str(exc)[:160]})")
    t0 = time.perf_counter()
    result = hear()
    if result is None:
        return None
    doc = {"format": FORMAT, "created": timestamp(), "vaeaudio": __version__,
           "set": {"root": str(data.root.resolve()), "identity": identity}, "part": part, "key": key,
           "rows": rows.tolist(), "heard": np.asarray(result, dtype=int).tolist(),
           "seconds": round(time.perf_counter() - t0, 3)}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text(path, json.dumps(doc))
    except OSError as exc:
        progress.log(f"note: what the recogniser heard in {part} of {data.root} is not kept for next time "
                     f"({exc.strerror or exc}: {exc.filename or path})")
    return result
