"""What the benchmarks share: the recordings they read (`--fsdd`), the machine they ran on, and their JSON.

Every benchmark writes one JSON file (`--json OUT`, default `benchmarks/results/NAME.json`):

    {"benchmark": NAME, "complete": true once it finished, "command": how it was run, "machine": {...},
     "settings": {its flags}, "results": {section: figures}, "skipped": {section: why}}

rewritten after each section, so a long run that stops keeps what it measured. `tables.py` turns these
files into the markdown tables of docs/performance.md.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import importlib.metadata
import json
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
#: FSDD's file names: {digit}_{speaker}_{take}.wav
NAME = re.compile(r"^([0-9])_([^\W_]+(?:-[^\W_]+)*)_([0-9]+)\.wav$", re.IGNORECASE)
#: Variables that steer which kernels run (recorded with the machine when set).
STEERING = ("ONEDNN_MAX_CPU_ISA", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
            "TF_ENABLE_ONEDNN_OPTS", "XLA_FLAGS", "CUDA_VISIBLE_DEVICES")


def add_arguments(ap: argparse.ArgumentParser, name: str, fsdd: bool = True) -> None:
    """The flags every benchmark takes: `--fsdd DIR` (when it reads recordings) and `--json OUT`."""
    if fsdd:
        ap.add_argument("--fsdd", type=Path, metavar="DIR",
                        help="folder of FSDD-named recordings ({digit}_{speaker}_{take}.wav), or one holding "
                             "recordings/ (default: the 250-recording sample inside the package, vaeaudio/sample)")
    ap.add_argument("--json", type=Path, default=RESULTS / f"{name}.json", metavar="OUT",
                    help=f"where the figures are written as JSON (default: benchmarks/results/{name}.json)")


@dataclass
class Recordings:
    """FSDD-named recordings of one folder: {(digit, speaker, take): path}."""

    root: Path
    files: dict[tuple[int, str, int], Path]

    @property
    def speakers(self) -> list[str]:
        return sorted({s for _, s, _ in self.files})

    @property
    def digits(self) -> list[int]:
        return sorted({d for d, _, _ in self.files})

    def takes(self, digit: int, speaker: str) -> list[int]:
        """The take numbers of `digit` by `speaker`, in order."""
        return sorted(t for d, s, t in self.files if (d, s) == (digit, speaker))

    def paths(self) -> list[Path]:
        return [self.files[k] for k in sorted(self.files)]

    def describe(self) -> str:
        return (f"{len(self.files):,} recordings in {self.root} ({len(self.speakers)} speakers, "
                f"{len(self.digits)} digits)")


def recordings(folder: Path | None) -> Recordings:
    """The recordings of `--fsdd` (a folder of them, or one holding recordings/); the package's sample if None.
    Exits with one line when there are none."""
    if folder is None:
        from vaeaudio.demo import SAMPLE

        folder = SAMPLE
    folder = folder.expanduser()
    if (folder / "recordings").is_dir():
        folder = folder / "recordings"
    if not folder.is_dir():
        raise SystemExit(f"--fsdd {folder}: no such folder")
    files = {}
    for p in folder.rglob("*.wav"):
        m = NAME.match(p.name)
        if m:
            files[(int(m[1]), m[2], int(m[3]))] = p
    if not files:
        raise SystemExit(f"--fsdd {folder}: no recordings named {{digit}}_{{speaker}}_{{take}}.wav in it")
    return Recordings(folder.resolve(), files)


def _version(*names: str) -> str | None:
    for name in names:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def machine() -> dict:
    """The CPU (model, cores, whether it has AVX2 / AVX-512 / AMX), memory, load, versions and date of this run."""
    model, flags = None, set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and model is None:
                model = value.strip()
            elif key.strip() in ("flags", "Features") and not flags:
                flags = set(value.split())
    except OSError:
        pass
    if model is None or not flags:
        try:
            out = subprocess.run(["lscpu"], capture_output=True, text=True, env={**os.environ, "LC_ALL": "C"},
                                 timeout=10).stdout
            info = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
            model = model or info.get("Model name", "").strip() or None
            flags = flags or set(info.get("Flags", "").split())
        except (OSError, subprocess.SubprocessError):
            pass
    memory = None
    try:
        kib = next(line for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal:"))
        memory = round(int(kib.split()[1]) / 2**20, 1)
    except (OSError, StopIteration, ValueError):
        pass
    root = HERE.parent
    try:
        commit = subprocess.run(["git", "-C", str(root), "describe", "--always", "--dirty"], capture_output=True,
                                text=True, timeout=10).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        commit = None
    return {
        "cpu": model or platform.processor() or platform.machine(),
        "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cpu_count": os.cpu_count(),
        "avx2": "avx2" in flags, "avx512f": "avx512f" in flags, "avx512_bf16": "avx512_bf16" in flags,
        "amx": any(f.startswith("amx") for f in flags),
        "memory_gib": memory,
        "load_average": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "tensorflow": _version("tensorflow", "tensorflow-cpu", "tf-nightly"),
        "numpy": _version("numpy"),
        "vaeaudio": _version("vaeaudio"),
        "commit": commit,
        "env": {k: os.environ[k] for k in STEERING if k in os.environ},
    }


def describe(m: dict) -> str:
    """The machine in one line."""
    isa = [name for name, key in (("AVX2", "avx2"), ("AVX-512", "avx512f"), ("AVX512_BF16", "avx512_bf16"),
                                  ("AMX", "amx")) if m.get(key)]
    env = "".join(f", {k}={v}" for k, v in m.get("env", {}).items())
    memory = f", {m['memory_gib']} GiB" if m.get("memory_gib") else ""
    load = f"load {', '.join(f'{x:.1f}' for x in m['load_average'])}; " if m.get("load_average") else ""
    return (f"{m['cpu']}, {m['cores']} cores, {'/'.join(isa) or 'no AVX2'}{memory}; {load}{m['date'][:10]}; "
            f"Python {m['python']}, TensorFlow {m['tensorflow']}, numpy {m['numpy']}{env}")


def _plain(value):
    """`value` with Paths as strings and tuples as lists (for JSON)."""
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, float) and value != value:  # NaN: not JSON
        return None
    return value


class Report:
    """One benchmark's figures, written to its JSON file after every section."""

    def __init__(self, name: str, args: argparse.Namespace, source: Recordings | None = None):
        self.path = args.json
        settings = {k: v for k, v in vars(args).items() if k != "json" and v is not None}
        if source is not None:
            settings["fsdd"] = source.root
            settings["recordings"] = len(source.files)
            settings["speakers"] = len(source.speakers)
        command = shlex.join(["python", f"benchmarks/{name}.py", *sys.argv[1:]])
        self.data = {"benchmark": name, "complete": False, "command": command, "machine": machine(),
                     "settings": _plain(settings), "results": {}, "skipped": {}}
        self.write()
        print(f"machine: {describe(self.data['machine'])}", flush=True)

    def add(self, section: str, figures) -> None:
        """Record a section's figures (and write the file)."""
        self.data["results"][section] = _plain(figures)
        self.write()

    def skip(self, section: str, why: str) -> None:
        """Say in one line that `section` is skipped and why, and record it."""
        print(f"{section}: skipped: {why}", flush=True)
        self.data["skipped"][section] = why
        self.write()

    def finish(self) -> None:
        self.data["complete"] = True
        self.write()
        print(f"figures written to {self.path}")

    def write(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps(self.data, indent=1) + "\n")
        tmp.replace(self.path)


if __name__ == "__main__":
    sys.exit("common.py is imported by the benchmarks; run one of them, e.g. python benchmarks/floor.py")


@contextlib.contextmanager
def work_folder(given: Path | None, prefix: str) -> Iterator[Path]:
    """The folder a benchmark writes everything under: `given` (created if missing, kept after), else a new
    temporary one named `prefix`..., removed afterwards, whether the benchmark ends or fails."""
    work = given or Path(tempfile.mkdtemp(prefix=prefix))
    work.mkdir(parents=True, exist_ok=True)
    try:
        yield work
    finally:
        if given is None:
            shutil.rmtree(work, ignore_errors=True)
