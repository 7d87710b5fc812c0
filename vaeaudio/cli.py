"""The `vaeaudio` command: a thin Typer layer over the library.

Each verb's flags are made from its settings model (`vaeaudio.settings`): a field
is a flag with the field's type, default, bounds and help; a `Literal` field shows
its choices; a `Flag` marker names the value or makes the field positional. A verb
builds its model from the values given on the command line (a bad value is refused
naming its flag), calls one library function and prints that function's result on
stdout. Progress and logs go to stderr. Errors are one line (exit 1; usage errors
exit 2) unless `--debug` asks for the traceback. TensorFlow is imported by the
library only when a model is built or loaded, after every check that needs no
model, so `--help` and most errors answer at once.

`python -m vaeaudio.cli --markdown > docs/cli.md` writes the reference of every verb.
"""

from __future__ import annotations

import inspect
import sys
import types
from pathlib import Path
from typing import Annotated, Any, Literal, Optional, Union, get_args, get_origin

import typer
import typer.core

from vaeaudio.settings import (
    RESUME_FLAGS,
    ClassifierSettings,
    DemoSettings,
    DownloadSettings,
    EvaluateSettings,
    PredictSettings,
    PreprocessSettings,
    ReportSettings,
    Settings,
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
#: Placeholders of values by the type the command line reads them as.
_METAVARS = {int: "N", float: "X", Path: "DIR", str: "TEXT"}
#: Suffix of the parameter that gives a positional's values as an option too (`Flag.also`).
_ALSO = "__also"


# -- Flags from settings ------------------------------------------------------------------------------------------


def _parsed_as(annotation) -> Any:
    """The type the command line reads a field as: bool, int, float, Path or a pair; else text for the model."""
    if get_origin(annotation) in (Union, types.UnionType):
        others = [a for a in get_args(annotation) if a is not type(None)]
        annotation = others[0] if len(others) == 1 else str
    if annotation in (bool, int, float, Path):
        return annotation
    if get_origin(annotation) is tuple and Ellipsis not in get_args(annotation):  # a fixed-length tuple
        return annotation
    return str


def _choices(annotation) -> tuple:
    """The values of a `Literal` field, optional or not (else ())."""
    for a in (annotation, *get_args(annotation)):
        if get_origin(a) is Literal:
            return get_args(a)
    return ()


def _default(name: str, value) -> str | None:
    """A default as help shows it (None: not shown, the field's help says it)."""
    if value is None or value == []:
        return None
    if isinstance(value, bool):
        return name.replace("_", "-") if value else f"no-{name.replace('_', '-')}"
    return " ".join(map(str, value)) if isinstance(value, tuple) else str(value)


def _bounds(metadata: list) -> str | None:
    """A field's bounds as help shows a range: `0<=x<1`, `x>=0`, `x<=0`."""
    b = {k: getattr(m, k) for m in metadata for k in ("gt", "ge", "lt", "le") if hasattr(m, k)}
    low = next(((b[k], op) for k, op in (("ge", "<="), ("gt", "<")) if k in b), None)
    high = next(((b[k], op) for k, op in (("le", "<="), ("lt", "<")) if k in b), None)
    if low and high:
        return f"{low[0]}{low[1]}x{high[1]}{high[0]}"
    if low:
        return f"x{low[1].replace('<', '>')}{low[0]}"
    return f"x{high[1]}{high[0]}" if high else None


def _option_help(model: type[Settings], name: str) -> str:
    """The field's help with its default and bounds: `Clips per shard.  [default: 2048; 1<=x<=1000000]`."""
    field = model.model_fields[name]
    extra = [f"default: {d}" for d in [_default(name, field.get_default(call_default_factory=True))] if d]
    extra += [r for r in [_bounds(field.metadata)] if r]
    return model.help(name) + (f"  [{'; '.join(extra)}]" if extra else "")


def _in_help_order(model: type[Settings]) -> list:
    """The model's fields, positionals first, then a subclass's own (report's before evaluate's)."""
    own = vars(model).get("__annotations__", {})
    return sorted(model.model_fields.items(), key=lambda f: (not model.flag(f[0]).argument, f[0] not in own))


def _parameters(model: type[Settings], exclude=(), optional=()) -> list[inspect.Parameter]:
    """One Typer parameter per field of `model` (bar `exclude`), each None unless given on the command line."""
    params = []
    for name, field in _in_help_order(model):
        if name in exclude:
            continue
        flag, parsed = model.flag(name), _parsed_as(field.annotation)
        if flag.argument:
            parsed = list[get_args(field.annotation)[0]] if get_origin(field.annotation) is list else parsed
            info = typer.Argument(metavar=flag.metavar, help=model.help(name), show_default=False)
            required = field.is_required() and name not in optional
            params.append(_parameter(name, parsed if required else Optional[parsed], info, required))
            if flag.also:
                text = f"Same as a positional {flag.metavar} (may be repeated)."
                info = typer.Option(flag.also, metavar=flag.metavar, help=text)
                params.append(_parameter(name + _ALSO, Optional[parsed], info))
            continue
        dashed = name.replace("_", "-")
        decl = f"--{dashed}/--no-{dashed}" if parsed is bool else f"--{dashed}"
        metavar = flag.metavar or "|".join(_choices(field.annotation)) or _METAVARS.get(parsed)
        info = typer.Option(decl, metavar=metavar, help=_option_help(model, name), show_default=False)
        params.append(_parameter(name, Optional[parsed], info))
    return params


def _parameter(name: str, annotation, info, required: bool = False) -> inspect.Parameter:
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=Annotated[annotation, info],
                             default=inspect.Parameter.empty if required else None)


class _Verb(typer.core.TyperCommand):
    """A verb whose positional arguments show by name alone (`[RUN]...`, not `RUN <list[Path]>`)."""

    def collect_usage_pieces(self, ctx) -> list[str]:
        pieces = [self.options_metavar]
        for p in self.params:
            if p.param_type_name == "argument":
                name = p.metavar if p.required else f"[{p.metavar}]"
                pieces.append(name + ("..." if p.nargs != 1 else ""))
        return pieces

    def format_options(self, ctx, formatter) -> None:
        params = self.get_params(ctx)
        arguments = [(p.metavar + ("..." if p.nargs != 1 else ""), p.help or "") for p in params
                     if p.param_type_name == "argument"]
        options = [r for p in params if p.param_type_name == "option" and (r := p.get_help_record(ctx))]
        for title, rows in (("Arguments", arguments), ("Options", options)):
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)


def verb(group: typer.Typer, model: type[Settings], name: str | None = None, *, exclude=(), optional=(), **kwargs):
    """Make `body(given, **extras)` a command of `group` with a flag per field of `model` besides the body's own.

    `given` holds the fields given on the command line, for `model.build` (the others keep their defaults); the
    body's other parameters are Typer parameters of its own. `optional` names required fields the command line
    may leave out. The body returns a result whose `summary()` is printed. Its docstring's first line is the
    command's summary in the list of commands.
    """
    def decorate(body):
        fields = _parameters(model, exclude, optional)
        extras = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY)
                  for p in list(inspect.signature(body, eval_str=True).parameters.values())[1:]]

        def command(**values) -> None:
            given = {}
            for p in fields:
                value, key = values.pop(p.name), p.name.removesuffix(_ALSO)
                if value is not None:
                    given[key] = [*given[key], *value] if key in given else value
            typer.echo(body(given, **values).summary())

        command.__signature__ = inspect.Signature([*extras, *fields])
        doc = inspect.cleandoc(body.__doc__)
        group.command(name or body.__name__, help=doc, short_help=doc.splitlines()[0], cls=_Verb, **kwargs)(command)
        return body

    return decorate


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

    Recordings are the files named {digit}_{speaker}_{take}.wav under --src.
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

    Examples: `vaeaudio train mlp --dropout 0.3 --epochs 100`, `vaeaudio train cnn --arch reference`,
    `vaeaudio train --resume runs/latest --epochs 60`.
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
    """Decode latent points of a run to WAV files.

    `--z 0.5 -1.2 out.wav`, `--random 5 DIR`, `--grid 4 DIR`, `--digit 7 --random 3 DIR`.
    """
    if out is None:
        raise UsageError("missing OUT: give OUT.wav after the --z values, or OUTDIR after --random N / --grid N")
    if values and not z:
        raise UsageError(f"unexpected argument(s) {' '.join(values)}: only OUTDIR follows --random N / --grid N")
    settings = SynthSettings.build(**given, z=(values or []) if z else None, out=out)
    from vaeaudio.listening.synth import synth as run

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
    """Print the digit each WAV file says, with its probability.

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
        if _flags["debug"]:
            raise
        _error(exc.line())
        return exc.exit_code
    except typer.Abort:
        _error("aborted")
        return 130
    except typer.TyperException as exc:  # usage errors of the parser: an unknown flag, a missing argument
        ctx = getattr(exc, "ctx", None)
        where = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
        _error(f"{exc.format_message()}{where}")
        return getattr(exc, "exit_code", 2)
    except KeyboardInterrupt:
        _error("interrupted")
        return 130
    except Exception as exc:  # the last line of defence
        if _flags["debug"]:
            raise
        problem = environment_error(exc)  # no space, read-only, permission denied: not a bug
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


if __name__ == "__main__":
    if sys.argv[1:] == ["--markdown"]:
        sys.stdout.write(markdown())
        sys.exit(0)
    sys.exit(main())
