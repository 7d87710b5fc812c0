"""Errors that need no model are said before TensorFlow is imported: in well under a second and a small process."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

#: Peak RSS allowed for an error that needs no model, in KiB (TensorFlow alone takes 500+ MB).
MAX_RSS_KB = 150 * 1024


def _run(args: list[str]) -> dict:
    """`vaeaudio ARGS` in a fresh process: its exit code, stderr, whether TensorFlow was imported, and its peak RSS
    (KiB, VmHWM: getrusage's would include the parent's, since Linux keeps it across fork and exec)."""
    code = ("import contextlib, io, json, re, sys\n"
            "from vaeaudio.cli import main\n"
            "err = io.StringIO()\n"
            "with contextlib.redirect_stderr(err):\n"
            "    rc = main(json.loads(sys.argv[1]))\n"
            "hwm = re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1)\n"
            "print(json.dumps({'rc': rc, 'err': err.getvalue(), 'tf': 'tensorflow' in sys.modules, 'rss': int(hwm)}))")
    out = subprocess.run([sys.executable, "-c", code, json.dumps(args)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("args, rc, message", [
    (["synth", "--run", "{tmp}/nope", "--z", "0", "0", "{tmp}/x.wav"], 1, "no training run at"),
    (["synth", "--run", "{tmp}/nope", "--z", "0", "--random", "2", "{tmp}/x"], 2, "choose exactly one of"),
    (["evaluate", "{tmp}/nope"], 1, "no training run at"),
    (["export", "{tmp}/nope"], 1, "no training run at"),
    (["report", "--run", "{tmp}/nope"], 1, "no training run at"),
    (["train", "mlp", "--data", "{tmp}/nope"], 1, "nope"),
    (["train", "--resume", "{tmp}/nope"], 1, "no training run at"),
    (["train", "cnn", "--dropout", "0.3"], 2, "--dropout"),
    (["classifier", "predict", "--model", "{tmp}", "{tmp}/a.wav"], 1, "no classifier in"),
])
def test_errors_without_a_model_come_before_tensorflow(args, rc, message, tmp_path):
    got = _run([a.replace("{tmp}", str(tmp_path)) for a in args])
    assert got["rc"] == rc and message in got["err"] and got["err"].count("\n") == 1, got["err"]
    assert not got["tf"] and got["rss"] < MAX_RSS_KB, got


@pytest.mark.slow
@pytest.mark.parametrize("extra, message", [
    (["--z", "0.5", "{tmp}/x.wav"], "--z: the run's latent space has 2 dimension(s), got 1 value(s)"),
    (["--digit", "3", "--random", "2", "{tmp}/d"], "--digit: run mlp-tiny is not conditional"),
])
def test_errors_about_a_run_come_before_its_model_is_loaded(tiny_run, extra, message, tmp_path):
    got = _run(["synth", "--run", str(tiny_run), *[a.replace("{tmp}", str(tmp_path)) for a in extra]])
    assert got["rc"] == 2 and message in got["err"] and got["err"].count("\n") == 1, got["err"]
    assert not got["tf"] and got["rss"] < MAX_RSS_KB, got
    assert not (tmp_path / "x.wav").exists() and not (tmp_path / "d").exists()
