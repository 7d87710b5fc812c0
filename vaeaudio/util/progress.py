"""Progress and log output on stderr: rich bars on a terminal, plain periodic lines elsewhere.

Results go to stdout (`vaeaudio.cli` prints them); everything here goes to
stderr so that `vaeaudio ... > results.txt` stays clean. `configure(quiet=True)`
silences progress and logs (errors are still printed by the CLI).

Usage::

    with progress.bar(total=n, description="featurise", unit="clips") as bar:
        for chunk in work:
            bar.advance(len(chunk), loss=1.23)
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

_state = {"quiet": False}
#: Seconds between plain progress lines when stderr is not a terminal.
PLAIN_INTERVAL_S = 5.0


def configure(quiet: bool = False, debug: bool = False, verbose: bool = False) -> None:
    """Set process-wide output options (the CLI calls this once per command): `verbose` lets `detail` lines
    through; `debug` also lets TensorFlow's native start-up lines through (`import_tensorflow_quietly`)."""
    _state.update(quiet=quiet, debug=debug, verbose=verbose or debug)


def quiet() -> bool:
    """True when progress and logs are silenced."""
    return _state["quiet"]


def console() -> Console:
    """A rich console on the current stderr (looked up each time, so tests can capture it)."""
    return Console(file=sys.stderr, highlight=False, soft_wrap=True)


def log(message: str) -> None:
    """Print one line of information to stderr unless quiet."""
    if not quiet():
        console().print(message, markup=False)


def detail(message: str) -> None:
    """Print one line of detail to stderr, only with --verbose (or --debug), and not when quiet."""
    if _state.get("verbose"):
        log(message)


def _rate(n: float, seconds: float, unit: str) -> str:
    if unit == "bytes":
        return f"{n / max(seconds, 1e-9) / 1e6:.1f} MB/s"
    return f"{n / max(seconds, 1e-9):.1f} {unit}/s"


def _amount(n: float, unit: str) -> str:
    return f"{n / 1e6:.1f} MB" if unit == "bytes" else f"{int(n)}"


class Bar:
    """One progress task: `advance(n, **fields)` moves it on; fields are shown beside it."""

    def __init__(self, total: int | None, description: str, unit: str):
        self.total = total
        self.description = description
        self.unit = unit
        self.done = 0
        self.fields: dict[str, object] = {}
        self._start = time.perf_counter()
        self._last_plain = self._start
        self._logged = 0.0  # `done` as of the last plain line: the closing line is not printed twice
        self._rich: Progress | None = None
        self._task = None

    # -- internal -------------------------------------------------------------------
    def _start_rich(self, con: Console) -> None:
        if self.unit == "bytes":
            columns = [TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                       TransferSpeedColumn(), TimeRemainingColumn()]
        else:
            columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                       TextColumn(self.unit), TaskProgressColumn(), TimeElapsedColumn(),
                       TextColumn("ETA"), TimeRemainingColumn(), TextColumn("{task.fields[info]}")]
        self._rich = Progress(*columns, console=con, transient=False)
        self._rich.start()
        self._task = self._rich.add_task(self.description, total=self.total, info="")

    def _info(self) -> str:
        parts = []
        for key, value in self.fields.items():
            parts.append(f"{key} {value:.4g}" if isinstance(value, float) else f"{key} {value}")
        return "  ".join(parts)

    def _plain_line(self) -> str:
        elapsed = time.perf_counter() - self._start
        line = f"{self.description}: {_amount(self.done, self.unit)}"
        if self.total:
            pct = 100.0 * self.done / self.total
            line += f"/{_amount(self.total, self.unit)} {self.unit if self.unit != 'bytes' else ''}".rstrip()
            line += f" ({pct:.0f}%)"
            if self.done:
                eta = elapsed * (self.total - self.done) / self.done
                line += f", ETA {eta:.0f}s"
        line += f", {_rate(self.done, elapsed, self.unit)}"
        info = self._info()
        return f"{line}  {info}" if info else line

    # -- public ---------------------------------------------------------------------
    def advance(self, n: float = 1, **fields: object) -> None:
        """Count `n` more units done; keyword fields (e.g. loss=...) are displayed."""
        self.done += n
        self.fields.update(fields)
        if self._rich is not None:
            self._rich.update(self._task, advance=n, info=self._info())
        elif not quiet():
            now = time.perf_counter()
            if now - self._last_plain >= PLAIN_INTERVAL_S:
                self._last_plain, self._logged = now, self.done
                log(self._plain_line())

    def _finish(self) -> None:
        if self._rich is not None:
            self._rich.stop()
        elif not quiet() and self.done != self._logged:
            log(self._plain_line())


@contextmanager
def bar(total: int | None, description: str, unit: str = "items") -> Iterator[Bar]:
    """A progress bar for `total` units (None when unknown); `unit="bytes"` shows MB and MB/s.

    On a terminal this is a rich bar with counts, rate and ETA; when stderr is not
    a terminal it prints a plain line every `PLAIN_INTERVAL_S` seconds and one at
    the end; when quiet it prints nothing.
    """
    b = Bar(total, description, unit)
    con = console()
    if not quiet() and con.is_terminal:
        b._start_rich(con)
    try:
        yield b
    finally:
        b._finish()


def import_tensorflow_quietly() -> None:
    """Import TensorFlow with its C++ start-up chatter (oneDNN, CUDA probing) kept off stderr (`_native_hushed`)."""
    if "tensorflow" in sys.modules:
        return
    if _state.get("debug"):
        import tensorflow  # noqa: F401  with its start-up lines, as asked

        return
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with _native_hushed():
        import tensorflow as tf

        tf.config.list_physical_devices()  # the CUDA probe happens here, not at import


def hush_float16_notice() -> None:
    """Run one float16 op with native stderr hushed: at the first one, oneDNN says on a CPU without AVX512-FP16 that
    it falls back to Eigen, in a line ('E0000 ... util.cc') that reads like an error. Call it after any device or
    distribution setup: an op starts TensorFlow's runtime, which a multi-worker strategy must configure first."""
    if _state.get("debug"):
        return
    import tensorflow as tf

    with _native_hushed():
        tf.cast(tf.zeros((1,)), tf.float16)


@contextmanager
def _native_hushed() -> Iterator[None]:
    """Point stderr's file descriptor at a temporary file for the block: native code (TensorFlow's C++ logging)
    writes there, before or beside any Python logging; if the block fails, what was captured is replayed before the
    error propagates."""
    import os
    import tempfile

    sys.stderr.flush()
    with tempfile.TemporaryFile() as tmp:
        saved = os.dup(2)
        os.dup2(tmp.fileno(), 2)
        try:
            yield
        except BaseException:
            os.dup2(saved, 2)
            tmp.seek(0)
            sys.stderr.write(tmp.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)
