"""Help that agrees with the settings: every field is a flag showing its default and choices, one placeholder style,
short summaries, and docs/cli.md is the help of today."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal, get_args, get_origin

import pytest

from vaeaudio import cli
from vaeaudio.settings import (
    ClassifierSettings,
    DemoSettings,
    DownloadSettings,
    EvaluateSettings,
    ExportSettings,
    PredictSettings,
    PreprocessSettings,
    ReportSettings,
    SynthSettings,
    TrainSettings,
)

DOCS = Path(__file__).resolve().parents[1] / "docs" / "cli.md"
VERBS = {
    ("demo",): DemoSettings, ("download",): DownloadSettings, ("preprocess",): PreprocessSettings,
    ("train",): TrainSettings, ("evaluate",): EvaluateSettings, ("report",): ReportSettings,
    ("synth",): SynthSettings, ("export",): ExportSettings, ("classifier", "train"): ClassifierSettings,
    ("classifier", "predict"): PredictSettings,
}
#: Fields a verb shows its own way: synth's --z switch, its Z values and OUT.
OWN_WAY = {("synth", "z"): "--z", ("synth", "out"): "OUT"}
#: synth's modes: one of them is given, so none has a default.
MODES = {("synth", "random"), ("synth", "grid")}
#: A placeholder: upper-case words (RUN, SECONDS, LOW HIGH, W,W,...), or choices such as take|speaker and auto|P.
PLACEHOLDER = re.compile(r"[A-Z][A-Z0-9]*([ ,][A-Z][A-Z0-9]*)*(,\.\.\.)?|[a-z0-9_+-]+(\|[A-Za-z0-9_+-]+)*")
TYPE_NAMES = {"int", "integer", "float", "path", "text", "str", "bool"}


def _rows(text: str) -> dict[str, tuple[str, str]]:
    """The option rows of a help text: first flag -> (its flags and placeholder, the row on one line)."""
    rows, current = {}, None
    for line in text.splitlines():
        if line.startswith("  -"):
            current = line.split()[0].rstrip(",")
            rows[current] = (re.split(r"\s{2,}", line.strip())[0], line.strip())
        elif current and line.startswith("   "):
            rows[current] = (rows[current][0], f"{rows[current][1]} {line.strip()}")
        else:
            current = None
    return rows


def _shown(name: str, value) -> str:
    if isinstance(value, bool):
        return name.replace("_", "-") if value else "no-" + name.replace("_", "-")
    return " ".join(map(str, value)) if isinstance(value, tuple) else str(value)


def _choices(annotation) -> tuple:
    for a in (annotation, *get_args(annotation)):
        if get_origin(a) is Literal:
            return get_args(a)
    return ()


def test_every_command_is_checked_here():
    leaves = {path for path, command in cli.commands() if not hasattr(command, "commands")}
    assert leaves == set(VERBS)


@pytest.mark.parametrize("path", VERBS, ids=" ".join)
def test_help_shows_every_setting(path):
    model, text = VERBS[path], cli.help_text(*path, width=1000)  # one line per row
    rows, usage = _rows(text), text.splitlines()[0]
    for name, field in model.model_fields.items():
        marker = model.flag(name)
        if (path[0], name) in OWN_WAY:
            assert OWN_WAY[path[0], name] in text
            continue
        if marker.argument:
            assert marker.metavar in usage and f"\n  {marker.metavar}" in text, name
            if marker.also:
                assert rows[marker.also][0] == f"{marker.also} {marker.metavar}"
            continue
        flag = "--" + name.replace("_", "-")
        assert flag in rows, f"`vaeaudio {' '.join(path)}` has no {flag}"
        decl, row = rows[flag]
        assert model.help(name) in row
        default = field.get_default(call_default_factory=True)
        if default is not None:
            assert f"[default: {_shown(name, default)}" in row, row
        else:
            assert "default" in row.lower() or (path[0], name) in MODES, f"{flag} does not say its default: {row}"
        for choice in _choices(field.annotation):
            assert choice in decl, (flag, choice, decl)


@pytest.mark.parametrize("path", [(), *VERBS], ids=lambda p: " ".join(p) or "vaeaudio")
def test_one_placeholder_style_and_no_type_names(path):
    text = cli.help_text(*path, width=1000)
    assert not re.search(r"<(int|float|path|text|str|list\b|bool)", text, re.IGNORECASE), text
    assert "{" not in text.splitlines()[0], text.splitlines()[0]  # click's `{WAV...}...`
    for decl, _ in _rows(text).values():
        for part in re.split(r" / |, (?=-)", decl):  # `--x / --no-x`, `-q, --quiet`
            flag, _, placeholder = part.partition(" ")
            assert not placeholder or (PLACEHOLDER.fullmatch(placeholder) and placeholder not in TYPE_NAMES), part


def test_train_help_shows_the_epochs_default_and_what_resume_takes():
    rows = _rows(cli.help_text("train", width=1000))
    assert "[default: 50;" in rows["--epochs"][1]
    assert "Only --epochs, --distribute and --connect-timeout may be given with it." in rows["--resume"][1]


def test_synth_random_says_it_draws_as_prior_says():
    row = _rows(cli.help_text("synth", width=1000))["--random"][1]
    assert "--prior" in row and "from the prior" not in row


def test_the_list_of_commands_starts_with_demo_and_cuts_nothing():
    text = cli.help_text(width=80)
    listed = text.split("Commands:\n")[1].splitlines()
    assert listed[0].split()[0] == "demo"
    assert len(listed) == len(set(VERBS) - {("classifier", "predict")})  # one line each: none wraps
    for line in listed:
        assert line.endswith(".") and not line.endswith("..."), line


def test_docs_cli_md_is_current():
    assert DOCS.is_file() and DOCS.read_text(encoding="utf-8") == cli.markdown(), (
        "docs/cli.md is out of date: run `python -m vaeaudio.cli --markdown > docs/cli.md`")
