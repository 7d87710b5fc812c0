"""examples/: the Python example runs on a real run; the shell examples parse and use only real verbs and flags."""

from __future__ import annotations

import runpy
import shlex
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import typer

from vaeaudio.cli import app

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SCRIPTS = sorted(EXAMPLES.glob("*.sh"))


def test_latent_walk_writes_one_wav_per_step(tiny_cond_run, tmp_path):
    walk = runpy.run_path(str(EXAMPLES / "latent_walk.py"))["walk"]
    files = walk(tiny_cond_run, tmp_path / "walk", steps=3, digit=4)
    assert [f.name for f in files] == ["step-00_z0-2.00.wav", "step-01_z0+0.00.wav", "step-02_z0+2.00.wav"]
    for f in files:
        y, sr = sf.read(f)
        assert sr == 22050 and y.shape == (17640,) and 0.85 < np.abs(y).max() <= 1.0


def _commands(script: Path) -> list[list[str]]:
    """Every `vaeaudio ...` command line of a shell script, as argv after `vaeaudio`."""
    return [shlex.split(line, comments=True)[1:] for line in script.read_text().splitlines()
            if line.startswith("vaeaudio ")]


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_shell_example_uses_real_flags(script):
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
    root = typer.main.get_command(app)
    commands = _commands(script)
    assert commands, f"{script.name} runs no vaeaudio command"
    for argv in commands:
        cmd, rest = root, argv
        while hasattr(cmd, "commands") and rest and rest[0] in cmd.commands:
            cmd, rest = cmd.commands[rest[0]], rest[1:]
        assert cmd is not root, f"{script.name}: unknown verb in {argv}"
        known = {o for p in cmd.params for o in p.opts}
        used = {a for a in rest if a.startswith("--")}
        assert used <= known, f"{script.name}: {sorted(used - known)} not flags of `vaeaudio {argv[0]}`"
