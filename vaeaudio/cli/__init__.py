"""The `vaeaudio` command: a thin Typer layer over the library.

Each verb's flags are made from its settings model (`vaeaudio.settings`) by
`vaeaudio.cli.flags`. A verb builds its model from the values given on the command line (a bad value is refused
naming its flag), calls one library function and prints that function's result on
stdout. Progress and logs go to stderr. Errors are one line (exit 1; usage errors
exit 2) unless `--debug` asks for the traceback. TensorFlow is imported by the
library only when a model is built or loaded, after every check that needs no
model, so `--help` and most errors answer at once.

`python -m vaeaudio.cli --markdown > docs/cli.md` writes the reference of every verb.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
import typer.core

from vaeaudio.cli.flags import verb
from vaeaudio.settings import (
    RESUME_FLAGS,
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
from vaeaudio.util import progress
from vaeaudio.util.errors import UsageError, VaeAudioError, environment_error

#: Flags accepted anywhere on the line: taken out of it before Typer parses the rest.
GLOBAL_FLAGS = {
    "debug": (("--debug",), "Show full tracebacks on errors (may be given anywhere on the line)."),
    "quiet": (("-q", "--quiet"), "No progress bars or logs on stderr (may be given anywhere on the line)."),
    "verbose": (("-v", "--verbose"), "Also log the details behind choices made for you, such as the matmul kernels' "
                                     "rates and --sharpen auto's power (may be given anywhere on the line)."),
}
_flags = dict.fromkeys(GLOBAL_FLAGS, False)
# -- The verbs ----------------------------------------------------------------------------------------------------


class _Root(typer.core.TyperGroup):
    """The top group: its options are the global flags."""

    def format_options(self, ctx, formatter) -> None:
        with formatter.section("Options"):
            formatter.write_dl([*((", ".join(names), text) for names, text in GLOBAL_FLAGS.values()),
                                ("--help", "Show this message and exit.")])
        self.format_commands(ctx, formatter)


def _help_when_bare(ctx: typer.Context) -> None:
    """A group given no command prints its help."""
    if ctx.invoked_subcommand is None:
        typer.echo(ctx.get_help())


app = typer.Typer(name="vaeaudio", cls=_Root, add_completion=False, pretty_exceptions_enable=False,
                  rich_markup_mode=None)


@app.callback(invoke_without_command=True)
def _root(ctx: typer.Context) -> None:
    """Train variational autoencoders on spoken digits and hear what they learned.

    Pipeline: download -> preprocess -> train -> evaluate -> report / synth, or `demo` for all of it.
    """
    _help_when_bare(ctx)


@verb(app, DemoSettings)
def demo(given: dict):
    """Run the whole pipeline offline on a small embedded sample.

    Preprocess, train, evaluate, synth and report on the FSDD recordings that ship with vaeaudio, all under
    --out (how long it takes: docs/performance.md).
    """
    settings = DemoSettings.build(**given)
    from vaeaudio.demo import demo as run

    return run(settings)


@verb(app, DownloadSettings)
def download(given: dict):
    """Fetch AudioMNIST, verify it and extract its recordings.

    Any mirror's .zip or .tar.gz archive of the AudioMNIST repository works (--url); only the recordings and
    their metadata are extracted.
    """
    settings = DownloadSettings.build(**given)
    from vaeaudio.corpus.download import download as run

    return run(settings)


@verb(app, PreprocessSettings)
def preprocess(given: dict):
    """Turn recordings into normalised spectrogram shards.

    Recordings are found under --src as its layout names them (--layout auto says which it recognised).
    """
    settings = PreprocessSettings.build(**given)
    from vaeaudio.corpus.preprocess import preprocess as run

    return run(settings)


_RESUME_ONLY = " and ".join([", ".join(map(TrainSettings.option, RESUME_FLAGS[:-1])),
                             TrainSettings.option(RESUME_FLAGS[-1])])


@verb(app, TrainSettings, optional=("kind",))
def train(given: dict, resume: Annotated[Optional[Path], typer.Option(
        metavar="RUN", help="Continue run directory RUN (e.g. runs/latest) from its last checkpoint with its own "
        f"settings, to --epochs in total (default: the run's own). Only {_RESUME_ONLY} may be given with it.")] = None):
    """Train a VAE on a spectrogram set, or continue a run.

    Examples: `vaeaudio train mlp --conditional` (says the digit you ask for, heard as often as the
    recordings), `vaeaudio train cnn --conditional` (the same in half the time an epoch), `vaeaudio train mlp
    --recipe reference` (the report's model), `vaeaudio train --resume runs/latest --epochs 150`.
    """
    if resume is None:
        if "kind" not in given:
            raise UsageError("say which model to train: `vaeaudio train mlp` or `vaeaudio train cnn` (or --resume RUN)")
        settings = TrainSettings.build(**given)
        from vaeaudio.training.train import train as run

        return run(settings)
    refused = [name for name in given if name not in RESUME_FLAGS]
    if refused:
        what = given["kind"] if refused[0] == "kind" else TrainSettings.option(refused[0])
        raise UsageError(f"--resume continues a run with its own settings; {what} cannot be given with it",
                         f"only {_RESUME_ONLY} may be")
    how = TrainSettings.build(kind="mlp", **given)  # refuses bad values before any work
    from vaeaudio.training.train import resume as run_resume

    return run_resume(resume, given.get("epochs"), how.distribute, how.connect_timeout)


@verb(app, EvaluateSettings)
def evaluate(given: dict):
    """Score runs: losses, latent plots and generated digits.

    A loss table (train/val/test), latent plots and scores, and how well generated clips pass for digits, written
    to RUN/eval/.
    """
    settings = EvaluateSettings.build(**given)
    from vaeaudio.judging.evaluate import evaluate as run

    return run(settings)


@verb(app, ReportSettings)
def report(given: dict):
    """Make one page to look at and listen to runs.

    `vaeaudio report` (runs/latest), `vaeaudio report RUN_A RUN_B --out cmp/`. Runs `evaluate` first unless
    RUN/eval/ is current; the page works from file:// and from any static server.
    """
    settings = ReportSettings.build(**given)
    from vaeaudio.listening.report import report as run

    return run(settings)


@verb(app, SynthSettings, exclude=("z", "out"), context_settings={"ignore_unknown_options": True})
def synth(given: dict,
          z: Annotated[bool, typer.Option("--z", help=SynthSettings.help("z"))] = False,
          values: Annotated[Optional[list[str]], typer.Argument(
              metavar="Z", help="With --z: the latent point's values.")] = None,
          out: Annotated[Optional[Path], typer.Argument(metavar="OUT", help=SynthSettings.help("out"))] = None):
    """Decode latent points of a run or an export to WAV files.

    `--z 0.5 -1.2 out.wav`, `--random 5 DIR`, `--grid 4 DIR`, `--digit 7 --random 3 DIR`, `--label bell --random 3
    DIR`.
    """
    if out is None:
        raise UsageError("missing OUT: give OUT.wav after the --z values, or OUTDIR after --random N / --grid N")
    if values and not z:
        raise UsageError(f"unexpected argument(s) {' '.join(values)}: only OUTDIR follows --random N / --grid N")
    settings = SynthSettings.build(**given, z=(values or []) if z else None, out=out)
    from vaeaudio.listening.synth import synth as run

    return run(settings)


@verb(app, ExportSettings)
def export(given: dict):
    """Write a finished run as ONNX graphs for use without TensorFlow.

    RUN/export/ (or --out) gets decoder.onnx, encoder.onnx and export.json, checked against the run on real clips;
    then `vaeaudio synth --run RUN/export ...` or `vaeaudio.load("RUN/export")` work without TensorFlow.
    """
    settings = ExportSettings.build(**given)
    from vaeaudio.exporting.export import export as run

    return run(settings)


classifier_app = typer.Typer(help="Train or use a digit classifier, the judge of generated audio.",
                             invoke_without_command=True, callback=_help_when_bare)
app.add_typer(classifier_app, name="classifier")


@verb(classifier_app, ClassifierSettings, "train")
def classifier_train(given: dict):
    """Train a small CNN digit classifier on a spectrogram set.

    It learns from the set's train split and keeps the weights of its best validation accuracy.
    """
    settings = ClassifierSettings.build(**given)
    from vaeaudio.judging.classifier import train as run

    return run(settings)


@verb(classifier_app, PredictSettings, "predict")
def classifier_predict(given: dict):
    """Print the class (digit) each WAV file says, with its probability.

    One line per file.
    """
    settings = PredictSettings.build(**given)
    from vaeaudio.judging.classifier import predict as run

    return run(settings)


# -- Running and documenting --------------------------------------------------------------------------------------


def _error(line: str) -> None:
    print(f"error: {line}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `vaeaudio` console script; returns the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    for key, (names, _) in GLOBAL_FLAGS.items():
        _flags[key] = any(a in names for a in args)
    rest = [a for a in args if not any(a in names for names, _ in GLOBAL_FLAGS.values())]
    progress.configure(quiet=_flags["quiet"], debug=_flags["debug"], verbose=_flags["verbose"])
    command = typer.main.get_command(app)
    try:
        rv = command.main(args=rest, prog_name="vaeaudio", standalone_mode=False)
        return rv if isinstance(rv, int) else 0
    except VaeAudioError as exc:
        if exc.output:
            print(exc.output)
        if _flags["debug"]:
            raise
        _error(exc.line())
        return exc.exit_code
    except typer.Abort as exc:  # click turns Ctrl-C and EOFError into Abort: only the first is an interrupt
        cause = exc.__cause__ or exc.__context__
        if cause is None or isinstance(cause, KeyboardInterrupt):
            _error("interrupted")
            return 130
        return _unexpected(cause)
    except typer.TyperException as exc:  # usage errors of the parser: an unknown flag, a missing argument
        ctx = getattr(exc, "ctx", None)
        where = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
        _error(f"{exc.format_message()}{_path_flags(exc, ctx)}{where}")
        return getattr(exc, "exit_code", 2)
    except KeyboardInterrupt:
        _error("interrupted")
        return 130
    except ModuleNotFoundError as exc:  # a TF-free install (docs/usage.md#without-tensorflow) asked to train
        if _flags["debug"]:
            raise
        _error(f"this command needs the Python module {exc.name!r}, which is not installed here (an install without "
               "TensorFlow makes sound from exports only; `pip install -e .` installs everything)")
        return 1
    except Exception as exc:  # noqa: BLE001 - the last line of defence
        return _unexpected(exc)


def _path_flags(exc: Exception, ctx) -> str:
    """For extra positional arguments (`vaeaudio preprocess my-digits spec`): '; folders and files are given by their
    flags here: --src DIR, ...' naming the command's path options; else ''."""
    if ctx is None or not exc.format_message().startswith("Got unexpected extra argument"):
        return ""
    flags = [f"{p.opts[0]} {p.metavar}" for p in ctx.command.params
             if isinstance(p, typer.core.TyperOption) and p.metavar in ("DIR", "FILE", "CSV")]
    return f"; folders and files are given by their flags here: {', '.join(flags)}" if flags else ""


def _unexpected(exc: BaseException) -> int:
    """An exception that is not a `VaeAudioError`: an environment problem (no space, read-only, permission
    denied: not a bug) or an internal error, as one line; re-raised with --debug."""
    if _flags["debug"]:
        raise exc
    problem = environment_error(exc)
    if problem is not None:
        _error(problem.line())
        return problem.exit_code
    _error(f"internal error: {type(exc).__name__}: {exc} (rerun with --debug for the traceback, "
           "and please report it)")
    return 1


def commands(group=None, path: tuple[str, ...] = ()):
    """(path, command) of the top group and of every command below it, in help order."""
    group = group or typer.main.get_command(app)
    yield path, group
    for name, command in getattr(group, "commands", {}).items():
        yield from commands(command, (*path, name))


def help_text(*path: str, width: int = 80) -> str:
    """What `vaeaudio PATH... --help` prints, at `width` columns."""
    command = typer.main.get_command(app)
    ctx = typer.Context(command, info_name="vaeaudio", terminal_width=width, max_content_width=width)
    for name in path:
        command = command.commands[name]
        ctx = typer.Context(command, info_name=name, parent=ctx)
    return command.get_help(ctx)


def markdown() -> str:
    """docs/cli.md: the --help of every command, made from the same settings."""
    parts = ["# Command line", "",
             "Every command's `--help`, made from the settings (`vaeaudio/settings/`) by "
             "`python -m vaeaudio.cli --markdown > docs/cli.md`; do not edit by hand.", ""]
    for path, _ in commands():
        parts += [f"## {' '.join(('vaeaudio', *path))}", "", "```text", help_text(*path, width=100), "```", ""]
    return "\n".join(parts)
