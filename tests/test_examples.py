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

from vaeaudio.cli import app, main

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SCRIPTS = sorted(EXAMPLES.glob("*.sh"))


def test_latent_walk_writes_one_wav_per_step(tiny_cond_run, tmp_path):
    walk = runpy.run_path(str(EXAMPLES / "latent_walk.py"))["walk"]
    files = walk(tiny_cond_run, tmp_path / "walk", steps=3, digit=4)
    assert [f.name for f in files] == ["step-00_z0-2.00.wav", "step-01_z0+0.00.wav", "step-02_z0+2.00.wav"]
    for f in files:
        y, sr = sf.read(f)
        assert sr == 22050 and y.shape == (17640,) and 0.85 < np.abs(y).max() <= 1.0


def test_interpolate_uses_the_api_on_an_export(tiny_cond_run, tmp_path):
    from vaeaudio.corpus.sample import SAMPLE

    assert main(["export", str(tiny_cond_run), "--out", str(tmp_path / "export"), "--quiet"]) == 0
    interpolate = runpy.run_path(str(EXAMPLES / "interpolate.py"))["interpolate"]
    files = interpolate(tmp_path / "export", SAMPLE / "3_george_0.wav", SAMPLE / "3_theo_1.wav", tmp_path / "morph",
                        steps=3, digit=3)
    assert [f.name for f in files] == ["step-00.wav", "step-01.wav", "step-02.wav"]
    waves = [sf.read(f)[0] for f in files]
    assert all(w.shape == (17640,) and 0.85 < np.abs(w).max() <= 1.0 for w in waves)
    assert not np.array_equal(waves[0], waves[2])
    imports = {line.split()[1] for line in (EXAMPLES / "interpolate.py").read_text().splitlines()
               if line.startswith(("import ", "from ")) and "__future__" not in line}
    assert {i for i in imports if i.startswith("vaeaudio")} == {"vaeaudio"}  # the API alone


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
