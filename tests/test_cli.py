"""The CLI shell: fast help without TensorFlow, flag validation naming the flag, one-line errors."""

import subprocess
import sys

import pytest

from vaeaudio.cli import main
from vaeaudio.settings import PreprocessSettings

VERBS = ("demo", "download", "preprocess", "train", "evaluate", "report", "synth", "classifier")


def test_help_lists_every_verb(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for verb in VERBS:
        assert f"  {verb} " in out


@pytest.mark.parametrize("argv, usage", [
    ([], "Usage: vaeaudio [OPTIONS]"), (["--quiet"], "Usage: vaeaudio [OPTIONS]"),
    (["classifier"], "Usage: vaeaudio classifier [OPTIONS]"),
])
def test_a_bare_group_prints_its_help(argv, usage, capsys):
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert out.startswith(usage) and "Commands:" in out


def test_help_does_not_import_tensorflow():
    """Help of every command, and building the app, leave TensorFlow unimported (it takes seconds)."""
    code = ("import sys, vaeaudio.cli as c; [c.main([*p, '--help']) for p, _ in c.commands()]; "
            "print('tensorflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "False"


@pytest.mark.parametrize("args,flag", [
    (["--split-by", "voice"], "--split-by"),
    (["--test-fraction", "1.5"], "--test-fraction"),
    (["--length-percentiles", "97", "3"], "--length-percentiles"),
    (["--workers", "-1"], "--workers"),
    (["--test-speakers", "01"], "--test-speakers"),
    (["--hop-length", "1024"], "--hop-length"),
])
def test_bad_values_are_refused_naming_the_flag(args, flag, capsys, tmp_path):
    rc = main(["preprocess", "--src", str(tmp_path), "--out", str(tmp_path / "o"), *args])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.startswith(f"error: {flag}") and err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_unknown_flag_is_a_usage_error(capsys):
    assert main(["preprocess", "--bogus"]) == 2
    err = capsys.readouterr().err
    assert "No such option: --bogus" in err and err.count("\n") == 1


def test_settings_defaults_follow_the_reference():
    s = PreprocessSettings()
    assert (s.sample_rate, s.clip_samples, s.n_fft, s.hop_length, s.top_db) == (22050, 17640, 512, 256, 80.0)
    assert s.length_percentiles == (3.0, 97.0) and (s.test_fraction, s.val_fraction, s.seed) == (0.1, 0.1, 42)
    assert "Hz" in PreprocessSettings.help("sample_rate")


def test_debug_shows_the_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "vaeaudio.cli", "--debug", "preprocess", "--src",
                           str(tmp_path / "nope")], capture_output=True, text=True)
    assert proc.returncode == 1 and "Traceback" in proc.stderr and "DataError" in proc.stderr


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and "Traceback" not in err, err
    return err.strip()


@pytest.mark.parametrize("epochs", ["0", "-3"])
def test_resume_refuses_a_bad_epochs_like_train(epochs, capsys, tmp_path):
    assert main(["train", "mlp", "--epochs", epochs, "--data", str(tmp_path)]) == 2
    fresh = _one_line_error(capsys)
    assert main(["train", "--resume", str(tmp_path / "run"), "--epochs", epochs]) == 2
    assert _one_line_error(capsys) == fresh and fresh.startswith("error: --epochs: ")


@pytest.mark.parametrize("args, named", [
    (["--lr", "0.1"], "--lr"), (["--no-xla"], "--xla"), (["cnn"], "cnn"), (["--recipe", "intelligible"], "--recipe"),
])
def test_resume_refuses_what_the_run_already_says(args, named, capsys, tmp_path):
    assert main(["train", "--resume", str(tmp_path / "run"), *args]) == 2
    err = _one_line_error(capsys)
    assert f"; {named} cannot be given with it (only --epochs, --distribute and --connect-timeout may be)" in err


def test_resume_takes_the_flags_its_help_names(capsys, tmp_path):
    """Past the flag check, a missing run is the only complaint (exit 1)."""
    assert main(["train", "--resume", str(tmp_path / "nope"), "--epochs", "3", "--distribute", "none",
                 "--connect-timeout", "5", "--quiet"]) == 1
    assert "nope" in _one_line_error(capsys)
    assert main(["train", "--resume", str(tmp_path / "nope"), "--distribute", "all"]) == 2
    assert _one_line_error(capsys).startswith("error: --distribute: ")


@pytest.mark.parametrize("verb", ["evaluate", "report"])
def test_run_as_option_is_the_positional(verb, capsys, tmp_path):
    missing = str(tmp_path / "nope")
    assert main([verb, missing, "--quiet"]) == 1
    positional = _one_line_error(capsys)
    assert main([verb, "--run", missing, "--quiet"]) == 1
    assert _one_line_error(capsys) == positional and missing in positional


def test_global_flags_anywhere(capsys, tmp_path):
    for argv in (["-q", "preprocess", "--split-by", "voice"], ["preprocess", "--split-by", "voice", "--quiet"],
                 ["preprocess", "--quiet", "--split-by", "voice"]):
        assert main(argv) == 2
        assert _one_line_error(capsys).startswith("error: --split-by: ")


def test_a_missing_argument_is_named_by_its_placeholder(capsys):
    assert main(["classifier", "predict"]) == 2
    assert "Missing argument 'WAV'" in _one_line_error(capsys)
    assert main(["train", "rnn"]) == 2
    assert _one_line_error(capsys) == "error: KIND: Input should be 'mlp' or 'cnn' (got 'rnn')"


@pytest.mark.parametrize("argv, named", [
    (["preprocess", "my-digits", "spec"], "(my-digits spec); folders and files are given by their flags here: "
                                         "--src DIR, --labels CSV, --out DIR (see 'vaeaudio preprocess --help')"),
    (["train", "mlp", "spec"], "(spec); folders and files are given by their flags here: --data DIR, --run-dir DIR "
                               "(see 'vaeaudio train --help')"),
])
def test_positional_paths_are_pointed_at_their_flags(argv, named, capsys):
    assert main(argv) == 2
    assert _one_line_error(capsys).endswith(named)


def test_a_plain_progress_line_is_not_repeated_at_the_end(monkeypatch, capsys):
    from vaeaudio.util import progress

    monkeypatch.setattr(progress, "PLAIN_INTERVAL_S", 0.0)  # every advance prints a line (stderr is not a terminal)
    with progress.bar(None, "judge", unit="clips") as b:
        b.advance(3)
        b.advance(2)
    with progress.bar(4, "load", unit="clips") as b:
        monkeypatch.setattr(progress, "PLAIN_INTERVAL_S", 3600.0)
        b.advance(4)  # no line yet: the closing one says it
    lines = capsys.readouterr().err.splitlines()
    assert [line.split(",")[0] for line in lines] == ["judge: 3", "judge: 5", "load: 4/4 clips (100%)"]
