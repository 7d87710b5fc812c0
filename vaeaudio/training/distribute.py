"""Training on several devices or machines with TensorFlow's own strategies (`--distribute`).

- `none`: the default strategy, one device.
- `mirrored`: `tf.distribute.MirroredStrategy` over this machine's devices (GPUs; the CPU when none).
- `multi-worker`: `tf.distribute.MultiWorkerMirroredStrategy` across machines, one
  process per machine, configured by the standard `TF_CONFIG` environment variable:

      {"cluster": {"worker": ["10.0.0.1:12345", "10.0.0.2:12345"]}, "task": {"type": "worker", "index": 0}}

  (a `"chief"` list may name the chief separately; without one, worker 0 is the chief).

`--batch-size` is the global batch: each step splits it across the replicas,
each replica's loss is its sum over the global clip count and the optimizer
sums the gradients, so losses and gradients mean what they mean on one machine
(`VAE.step`). The chief writes the run directory; the other workers write their
copy to a temporary folder and remove it (`Role.run_dir`).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from vaeaudio.util.errors import TrainingError, UsageError

_WATCHDOG = """
import os, select, signal, sys
pid, timeout, message = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
if not select.select([sys.stdin], [], [], timeout)[0]:
    sys.stderr.write(message + "\\n")
    sys.stderr.flush()
    os.kill(pid, signal.SIGKILL)
"""
EXAMPLE = '{"cluster": {"worker": ["host1:12345", "host2:12345"]}, "task": {"type": "worker", "index": 0}}'


@dataclass
class Role:
    """This process's place in the cluster."""

    index: int = 0  # 0 = the chief
    workers: list[str] = field(default_factory=list)  # every task's address, chief first
    _scratch: Path | None = None
    _watchdog: subprocess.Popen | None = None

    @property
    def chief(self) -> bool:
        return self.index == 0

    def run_dir(self, run: Path) -> Path:
        """Where this process writes: `run` for the chief, a temporary folder for the other workers."""
        if self.chief:
            return run
        if self._scratch is None:
            self._scratch = Path(tempfile.mkdtemp(prefix=f"vaeaudio-worker{self.index}-"))
        return self._scratch

    def watch(self, timeout: float) -> None:
        """End this process with one error line unless `ready()` is called within `timeout` seconds.

        TensorFlow waits for the cluster inside C++ calls that hold the GIL, so the
        watchdog is a small separate process; closing its stdin (`ready`) stops it.
        """
        others = ", ".join(a for i, a in enumerate(self.workers) if i != self.index)
        message = (f"error: worker {self.index} ({self.workers[self.index]}) could not reach the other worker(s) "
                   f"{others} within {timeout:g} s (start every worker with its own TF_CONFIG task, check the "
                   "addresses and firewalls, or raise --connect-timeout)")
        self._watchdog = subprocess.Popen([sys.executable, "-c", _WATCHDOG, str(os.getpid()), str(timeout), message],
                                          stdin=subprocess.PIPE)

    def ready(self) -> None:
        """The cluster is up: stop the watchdog of `watch`."""
        if self._watchdog is not None:
            self._watchdog.stdin.close()
            self._watchdog.wait()
            self._watchdog = None

    def clean_up(self) -> None:
        """Remove a non-chief worker's temporary folder."""
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None


def read_tf_config(raw: str | None) -> Role:
    """The `Role` that `TF_CONFIG` (the JSON text `raw`) gives this process; `UsageError` when it cannot."""
    if raw is None or not raw.strip():
        raise UsageError("--distribute multi-worker needs the TF_CONFIG environment variable, which is not set",
                         f"set it on every worker, e.g. TF_CONFIG='{EXAMPLE}'")
    try:
        config = json.loads(raw)
    except ValueError as exc:
        raise UsageError(f"TF_CONFIG is not valid JSON ({exc})", f"e.g. TF_CONFIG='{EXAMPLE}'") from None
    cluster = config.get("cluster") if isinstance(config, dict) else None
    task = config.get("task") if isinstance(config, dict) else None
    if not isinstance(cluster, dict) or not all(isinstance(v, list) and v for v in cluster.values()) or not cluster:
        raise UsageError("TF_CONFIG has no cluster: it needs \"cluster\": {\"worker\": [\"host:port\", ...]}",
                         f"e.g. TF_CONFIG='{EXAMPLE}'")
    if set(cluster) - {"chief", "worker"} or len(cluster.get("chief", [])) > 1:
        raise UsageError(f"TF_CONFIG cluster has {sorted(cluster)}: "
                         "vaeaudio runs one 'chief' at most and 'worker' tasks")
    if not isinstance(task, dict) or "type" not in task or not isinstance(task.get("index", 0), int):
        raise UsageError("TF_CONFIG has no task for this process: "
                         "it needs \"task\": {\"type\": \"worker\", \"index\": N}")
    kind, index = task["type"], task.get("index", 0)
    if kind not in cluster:
        raise UsageError(f"TF_CONFIG task type {kind!r} is not in its cluster (which has {', '.join(sorted(cluster))})")
    if not 0 <= index < len(cluster[kind]):
        raise UsageError(f"TF_CONFIG task index {index} is outside the cluster's {len(cluster[kind])} {kind} task(s)",
                         f"use an index from 0 to {len(cluster[kind]) - 1}")
    addresses = list(cluster.get("chief", [])) + list(cluster["worker"] if "worker" in cluster else [])
    position = index if kind == "chief" else len(cluster.get("chief", [])) + index
    return Role(position, addresses)


@contextlib.contextmanager
def joining(kind: str, timeout: float):
    """Yield (strategy, Role) for `--distribute kind`, while the workers join.

    For multi-worker, a watchdog ends the process with one error line when the
    cluster is not up within `timeout` seconds: TensorFlow itself would wait for
    a missing worker forever. Put the first collective work (building the
    model) inside the block; the watchdog stops when the block ends, however it ends.
    """
    strategy, role = _strategy(kind, timeout)
    try:
        yield strategy, role
    finally:
        role.ready()


def _strategy(kind: str, timeout: float):
    """(strategy, Role) for `--distribute kind`; for multi-worker with the watchdog of `Role.watch` running."""
    import tensorflow as tf

    if kind == "none":
        return tf.distribute.get_strategy(), Role(0, ["localhost"])
    if kind == "mirrored":
        return tf.distribute.MirroredStrategy(), Role(0, ["localhost"])
    role = read_tf_config(os.environ.get("TF_CONFIG"))
    role.watch(timeout)
    try:
        strategy = tf.distribute.MultiWorkerMirroredStrategy(
            communication_options=tf.distribute.experimental.CommunicationOptions(timeout_seconds=timeout))
    except (RuntimeError, tf.errors.OpError) as exc:
        role.ready()
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise TrainingError(f"worker {role.index} could not join the cluster {', '.join(role.workers)} ({first})",
                            f"is {role.workers[role.index]} this machine's address, with its port free?") from None
    return strategy, role
