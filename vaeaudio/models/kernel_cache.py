"""The kernel choice's memory (`vaeaudio.models.kernels`): what was timed on this machine, kept per machine.

`kernels.json` in vaeaudio's cache folder (`vaeaudio.util.cache.cache_dir()`), format `FORMAT`: per fingerprint of
the machine (`machine()`: CPU model and vector flags, usable cores, library versions, the variables that steer the
kernels) its product rates, whole-step times and which of those were timed on a busy machine (docs/architecture.md,
Kernel cache). Written atomically and merged; what is damaged is left out, timed again and rewritten.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
from pathlib import Path

import numpy as np

from vaeaudio.util import files, progress, resources
from vaeaudio.util.cache import cache_dir

FORMAT = "vaeaudio-kernels/1"
CACHE = "kernels.json"
#: Environment variables that change which kernel is fastest (part of the machine's fingerprint).
STEERING = ("ONEDNN_MAX_CPU_ISA", "OPENBLAS_CORETYPE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "XLA_FLAGS",
            "TF_ENABLE_ONEDNN_OPTS", "TF_NUM_INTRAOP_THREADS")
_CPU_FLAGS = ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16", "amx_tile", "avx_vnni")


def machine() -> dict:
    """What decides which kernel is fastest here: CPU model and vector flags, usable cores, versions, steering
    variables."""
    import tensorflow as tf

    model, flags = platform.processor(), set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                model = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
    except OSError:
        pass
    return {"cpu": model, "flags": [f for f in _CPU_FLAGS if f in flags], "cores": resources.usable_cores(),
            "tensorflow": tf.__version__, "numpy": np.__version__,
            "env": {k: os.environ[k] for k in STEERING if k in os.environ}}


def here(cache: Path | None = None) -> tuple[dict, str, Path, dict]:
    """(`machine()`, its `fingerprint`, the cache file in `cache` (default: vaeaudio's cache folder), this
    machine's entry in it as `read` gives it ({} if none))."""
    m = machine()
    fp, path = fingerprint(m), (cache or cache_dir()) / CACHE
    return m, fp, path, read(path).get(fp, {})


def fingerprint(m: dict) -> str:
    """A short digest of `machine()`'s answer: the key of this machine's entry in the cache file."""
    return hashlib.sha256(json.dumps(m, sort_keys=True).encode()).hexdigest()[:16]


def _positive_table(table) -> dict:
    """The {key: {name: positive number}} entries of `table`, the rest left out."""
    if not isinstance(table, dict):
        return {}
    return {k: r for k, r in table.items() if isinstance(r, dict) and r
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 for v in r.values())}


def read(path: Path) -> dict:
    """{fingerprint: {"machine": ..., "rates": {key: {path: GFLOP/s}}, "steps": {model key: {plan: seconds}},
    "disturbed": {model key: share of the CPU other processes took while its steps were timed}}} of the cache
    file; what is missing, damaged or malformed is left out (measured again and rewritten)."""
    try:
        data = files.read_json(path)
    except (OSError, ValueError):
        return {}
    machines = data.get("machines") if isinstance(data, dict) and data.get("format") == FORMAT else None
    out = {}
    for fp, entry in (machines or {}).items() if isinstance(machines, dict) else ():
        if isinstance(entry, dict) and isinstance(entry.get("rates"), dict):
            disturbed = entry.get("disturbed")
            out[fp] = {"machine": entry.get("machine"), "rates": _positive_table(entry["rates"]),
                       "steps": _positive_table(entry.get("steps")),
                       "disturbed": {k: v for k, v in disturbed.items() if isinstance(v, (int, float))}
                       if isinstance(disturbed, dict) else {}}
    return out


def write(path: Path, fp: str, m: dict, rates: dict, steps: dict | None = None,
          disturbed: dict | None = None) -> None:
    """Merge this machine's product rates and step times into the cache file (atomically; a cache that cannot be
    written is skipped); `disturbed` {model key: share or None}: whether those steps were timed while other
    processes took over `kernels.DISTURBED` of the CPU (None: they were not)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        machines = read(path)  # another process may have added its own since
        entry = machines.setdefault(fp, {"machine": m, "rates": {}, "steps": {}, "disturbed": {}})
        entry["rates"].update(rates)
        for key, times in (steps or {}).items():
            entry["steps"].setdefault(key, {}).update(times)
        for key, share in (disturbed or {}).items():
            if share is None:
                entry["disturbed"].pop(key, None)
            else:
                entry["disturbed"][key] = share
        with files.replacing(path, suffix=f".{os.getpid()}.tmp") as tmp:
            tmp.write_text(json.dumps({"format": FORMAT, "machines": machines}, indent=1))
    except OSError as exc:
        progress.log(f"kernel choice not cached ({path}: {exc.strerror or exc}); it will be timed again next run")
