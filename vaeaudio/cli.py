"""The `vaeaudio` command: a thin Typer layer over the library.

Each command turns its flags into a settings model (`vaeaudio.settings`), calls
one library function and prints that function's result on stdout. Progress and
logs go to stderr. Errors are one line (exit 1; usage errors exit 2) unless
`--debug` asks for the traceback. TensorFlow is imported only inside the
commands that need it, so `--help` stays fast.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Literal, Optional

import typer

from vaeaudio.settings import (
    RECIPES,
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

app = typer.Typer(
    name="vaeaudio",
    help="Train variational autoencoders on spoken digits and hear what they learned.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

_GLOBAL_FLAGS = {"--debug": "debug", "--quiet": "quiet", "-q": "quiet"}
_flags = {"debug": False, "quiet": False}


def _tensorflow() -> None:
    """Import TensorFlow for a command that needs it; its native start-up lines only with --debug."""
    if not _flags["debug"]:
        progress.import_tensorflow_quietly()


def opt(model: type[Settings], name: str, *decls: str, **kwargs) -> typer.Option:
    """A Typer option whose help text is the settings field's description."""
    return typer.Option(*decls, help=model.help(name), **kwargs)


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="Show full tracebacks on errors (may be given anywhere on the line).")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars or logs on stderr (may be given anywhere on the line).")] = False,
) -> None:
    """Train variational autoencoders on spoken digits and hear what they learned.

    Pipeline: download -> preprocess -> train -> evaluate -> report / synth (or `demo` for all of it).
    """


D = DownloadSettings


@app.command()
def download(
    dest: Annotated[Path, opt(D, "dest")] = D.default("dest"),
    url: Annotated[str, opt(D, "url")] = D.default("url"),
    sha256: Annotated[Optional[str], opt(D, "sha256", metavar="HEX")] = None,
    keep_archive: Annotated[bool, opt(D, "keep_archive")] = D.default("keep_archive"),
    timeout: Annotated[float, opt(D, "timeout")] = D.default("timeout"),
    max_extract_bytes: Annotated[int, opt(D, "max_extract_bytes", metavar="BYTES")] = D.default("max_extract_bytes"),
) -> None:
    """Fetch AudioMNIST (or a mirror's archive), verify it and extract only its recordings."""
    settings = D.build(**{k: v for k, v in locals().items()})
    from vaeaudio.corpus.download import download as run

    result = run(settings)
    typer.echo(result.summary())


P = PreprocessSettings


@app.command()
def preprocess(
    src: Annotated[Path, opt(P, "src")] = P.default("src"),
    out: Annotated[Path, opt(P, "out")] = P.default("out"),
    length_percentiles: Annotated[tuple[float, float], opt(P, "length_percentiles", metavar="LOW HIGH")] = P.default("length_percentiles"),
    split_by: Annotated[str, opt(P, "split_by", metavar="take|speaker")] = P.default("split_by"),
    test_fraction: Annotated[float, opt(P, "test_fraction")] = P.default("test_fraction"),
    val_fraction: Annotated[float, opt(P, "val_fraction")] = P.default("val_fraction"),
    test_speakers: Annotated[Optional[str], opt(P, "test_speakers", metavar="ID,ID")] = None,
    seed: Annotated[int, opt(P, "seed")] = P.default("seed"),
    sample_rate: Annotated[int, opt(P, "sample_rate")] = P.default("sample_rate"),
    clip_samples: Annotated[int, opt(P, "clip_samples")] = P.default("clip_samples"),
    n_fft: Annotated[int, opt(P, "n_fft")] = P.default("n_fft"),
    hop_length: Annotated[int, opt(P, "hop_length")] = P.default("hop_length"),
    top_db: Annotated[float, opt(P, "top_db")] = P.default("top_db"),
    silence_dbfs: Annotated[float, opt(P, "silence_dbfs")] = P.default("silence_dbfs"),
    shard_size: Annotated[int, opt(P, "shard_size")] = P.default("shard_size"),
    workers: Annotated[int, opt(P, "workers")] = P.default("workers"),
) -> None:
    """Turn recordings named {digit}_{speaker}_{take}.wav into normalised spectrogram shards."""
    settings = P.build(**{k: v for k, v in locals().items()})
    from vaeaudio.corpus.preprocess import preprocess as run

    result = run(settings)
    typer.echo(result.summary())


T = TrainSettings


@app.command()
def train(
    ctx: typer.Context,
    kind: Annotated[Optional[Literal["mlp", "cnn"]], typer.Argument(help=T.help("kind") + " Not with --resume.")] = None,
    resume: Annotated[Optional[Path], typer.Option(metavar="RUN", help="Continue run directory RUN (e.g. runs/latest) from its last checkpoint with its own settings, to --epochs in total (default: the run's own). Only --epochs, --distribute and --connect-timeout may be given with it.")] = None,
    data: Annotated[Path, opt(T, "data")] = T.default("data"),
    run_dir: Annotated[Optional[Path], opt(T, "run_dir")] = None,
    arch: Annotated[Optional[str], opt(T, "arch", metavar="strided|reference")] = None,
    regularize: Annotated[bool, opt(T, "regularize")] = T.default("regularize"),
    dropout: Annotated[float, opt(T, "dropout", metavar="P")] = T.default("dropout"),
    hidden: Annotated[Optional[str], opt(T, "hidden", metavar="W,W,...")] = None,
    filters: Annotated[Optional[str], opt(T, "filters", metavar="C,C,...")] = None,
    conditional: Annotated[bool, opt(T, "conditional")] = T.default("conditional"),
    latent_dim: Annotated[int, opt(T, "latent_dim")] = T.default("latent_dim"),
    beta: Annotated[float, opt(T, "beta")] = T.default("beta"),
    latent_mixture: Annotated[int, opt(T, "latent_mixture", metavar="K")] = T.default("latent_mixture"),
    recipe: Annotated[Optional[str], opt(T, "recipe", metavar="intelligible")] = None,
    lr: Annotated[float, opt(T, "lr")] = T.default("lr"),
    batch_size: Annotated[int, opt(T, "batch_size")] = T.default("batch_size"),
    epochs: Annotated[Optional[int], opt(T, "epochs")] = None,
    seed: Annotated[int, opt(T, "seed")] = T.default("seed"),
    precision: Annotated[str, opt(T, "precision", metavar="float32|mixed_bfloat16")] = T.default("precision"),
    xla: Annotated[bool, opt(T, "xla")] = T.default("xla"),
    kernels: Annotated[str, opt(T, "kernels", metavar="auto|onednn|xla|openblas")] = T.default("kernels"),
    checkpoint_every: Annotated[float, opt(T, "checkpoint_every", metavar="SECONDS")] = T.default("checkpoint_every"),
    deterministic: Annotated[bool, opt(T, "deterministic")] = T.default("deterministic"),
    preview_every: Annotated[Optional[int], opt(T, "preview_every", metavar="EPOCHS")] = None,
    distribute: Annotated[str, opt(T, "distribute", metavar="none|mirrored|multi-worker")] = T.default("distribute"),
    connect_timeout: Annotated[float, opt(T, "connect_timeout", metavar="SECONDS")] = T.default("connect_timeout"),
) -> None:
    """Train a VAE (mlp or cnn) on a spectrogram set, or continue a run with --resume.

    Examples: `vaeaudio train mlp --dropout 0.3 --epochs 100`, `vaeaudio train cnn --arch reference`,
    `vaeaudio train --resume runs/latest --epochs 60`.
    """
    values = {k: v for k, v in locals().items() if k not in ("ctx", "kind", "resume")}
    if resume is not None:
        how = ("epochs", "distribute", "connect_timeout")  # how to go on, not what the run is
        given = [p for p in values if p not in how and getattr(ctx.get_parameter_source(p), "name", "") == "COMMANDLINE"]
        if kind is not None or given:
            extra = f"--{given[0].replace('_', '-')}" if given else kind
            raise UsageError(f"--resume continues a run with its own settings; {extra} cannot be given with it",
                             "only --epochs, --distribute and --connect-timeout may be")
        T.build(kind="mlp", epochs=epochs or 1, distribute=distribute, connect_timeout=connect_timeout)  # refuse bad values first
        _tensorflow()
        from vaeaudio.training.train import resume as run_resume

        typer.echo(run_resume(resume, epochs, distribute, connect_timeout).summary())
        return
    if kind is None:
        raise UsageError("say which model to train: `vaeaudio train mlp` or `vaeaudio train cnn` (or --resume RUN)")
    if epochs is None:
        values["epochs"] = T.default("epochs")
    if recipe in RECIPES:  # the recipe fills the flags left at their defaults
        values = {k: v for k, v in values.items()
                  if k not in RECIPES[recipe] or getattr(ctx.get_parameter_source(k), "name", "") == "COMMANDLINE"}
    settings = T.build(kind=kind, **values)
    _tensorflow()
    from vaeaudio.training.train import train as run_train

    typer.echo(run_train(settings).summary())


E = EvaluateSettings


@app.command()
def evaluate(
    runs: Annotated[Optional[list[Path]], typer.Argument(metavar="RUN", show_default=False, help=E.help("runs"))] = None,
    data: Annotated[Optional[Path], opt(E, "data")] = None,
    k: Annotated[int, opt(E, "k")] = E.default("k"),
    listen: Annotated[int, opt(E, "listen")] = E.default("listen"),
    batch_size: Annotated[int, opt(E, "batch_size")] = E.default("batch_size"),
    griffin_lim_iters: Annotated[int, opt(E, "griffin_lim_iters")] = E.default("griffin_lim_iters"),
    sharpen: Annotated[str, opt(E, "sharpen", metavar="auto|P")] = E.default("sharpen"),
    seed: Annotated[int, opt(E, "seed")] = E.default("seed"),
    classifier: Annotated[Optional[Path], opt(E, "classifier")] = None,
    samples_per_digit: Annotated[int, opt(E, "samples_per_digit")] = E.default("samples_per_digit"),
    recogniser: Annotated[bool, opt(E, "recogniser")] = E.default("recogniser"),
    prior: Annotated[str, opt(E, "prior", metavar="auto|mixture|normal")] = E.default("prior"),
) -> None:
    """Loss table (train/val/test), latent plots and scores, and how well generated clips pass for digits."""
    settings = E.build(runs=runs or [], data=data, k=k, listen=listen, batch_size=batch_size,
                       griffin_lim_iters=griffin_lim_iters, sharpen=sharpen, seed=seed, classifier=classifier,
                       samples_per_digit=samples_per_digit, recogniser=recogniser, prior=prior)
    _tensorflow()
    from vaeaudio.judging.evaluate import evaluate as run_evaluate

    typer.echo(run_evaluate(settings).summary())


R = ReportSettings


@app.command()
def report(
    runs: Annotated[Optional[list[Path]], typer.Argument(metavar="RUN", show_default=False, help=R.help("runs"))] = None,
    out: Annotated[Optional[Path], opt(R, "out")] = None,
    samples: Annotated[int, opt(R, "samples")] = R.default("samples"),
    grid: Annotated[int, opt(R, "grid")] = R.default("grid"),
    map_points: Annotated[int, opt(R, "map_points")] = R.default("map_points"),
    judge: Annotated[bool, opt(R, "judge")] = R.default("judge"),
    data: Annotated[Optional[Path], opt(R, "data")] = None,
    k: Annotated[int, opt(R, "k")] = R.default("k"),
    listen: Annotated[int, opt(R, "listen")] = R.default("listen"),
    batch_size: Annotated[int, opt(R, "batch_size")] = R.default("batch_size"),
    griffin_lim_iters: Annotated[int, opt(R, "griffin_lim_iters")] = R.default("griffin_lim_iters"),
    sharpen: Annotated[str, opt(R, "sharpen", metavar="auto|P")] = R.default("sharpen"),
    seed: Annotated[int, opt(R, "seed")] = R.default("seed"),
    classifier: Annotated[Optional[Path], opt(R, "classifier")] = None,
    samples_per_digit: Annotated[int, opt(R, "samples_per_digit")] = R.default("samples_per_digit"),
    recogniser: Annotated[bool, opt(R, "recogniser")] = R.default("recogniser"),
    prior: Annotated[str, opt(R, "prior", metavar="auto|mixture|normal")] = R.default("prior"),
) -> None:
    """One page to look at and listen to runs: `vaeaudio report` (runs/latest), `vaeaudio report RUN_A RUN_B --out cmp/`.

    Runs `evaluate` first unless RUN/eval/ is current; the page works from file:// and from any static server.
    """
    settings = R.build(**{**{k_: v for k_, v in locals().items()}, "runs": runs or []})
    _tensorflow()
    from vaeaudio.listening.report import report as run_report

    typer.echo(run_report(settings).summary())


S = SynthSettings


@app.command(context_settings={"ignore_unknown_options": True})
def synth(
    args: Annotated[Optional[list[str]], typer.Argument(metavar="ARGS", show_default=False,
                                                        help="With --z: the latent values, then OUT.wav. With --random or --grid: OUTDIR.")] = None,
    z: Annotated[bool, typer.Option("--z", help=S.help("z"))] = False,
    random: Annotated[Optional[int], opt(S, "random", metavar="N")] = None,
    digit: Annotated[Optional[int], opt(S, "digit", metavar="D")] = None,
    grid: Annotated[Optional[int], opt(S, "grid", metavar="N")] = None,
    run: Annotated[Optional[Path], opt(S, "run")] = None,
    seed: Annotated[int, opt(S, "seed")] = S.default("seed"),
    temperature: Annotated[float, opt(S, "temperature")] = S.default("temperature"),
    griffin_lim_iters: Annotated[int, opt(S, "griffin_lim_iters")] = S.default("griffin_lim_iters"),
    sharpen: Annotated[str, opt(S, "sharpen", metavar="auto|P")] = S.default("sharpen"),
    phase: Annotated[str, opt(S, "phase", metavar="griffin-lim|zero")] = S.default("phase"),
    prior: Annotated[str, opt(S, "prior", metavar="auto|mixture|normal")] = S.default("prior"),
) -> None:
    """Decode latent points to WAV files: `--z 0.5 -1.2 out.wav`, `--random 5 DIR`, `--grid 4 DIR`, `--digit 7 --random 3 DIR`."""
    args = args or []
    if not args:
        raise UsageError("missing OUT: give OUT.wav after the --z values, or OUTDIR after --random N / --grid N")
    values, out = args[:-1], args[-1]
    if values and not z:
        raise UsageError(f"unexpected argument(s) {' '.join(values)}: only OUTDIR follows --random N / --grid N")
    settings = S.build(run=run, z=values if z else None, random=random, digit=digit, grid=grid, out=Path(out), seed=seed,
                       temperature=temperature, griffin_lim_iters=griffin_lim_iters, sharpen=sharpen, phase=phase, prior=prior)
    _tensorflow()
    from vaeaudio.listening.synth import synth as run_synth

    typer.echo(run_synth(settings).summary())


C = ClassifierSettings
classifier_app = typer.Typer(help="A digit classifier: the judge of generated audio.", no_args_is_help=True)
app.add_typer(classifier_app, name="classifier")


@classifier_app.command("train")
def classifier_train(
    data: Annotated[Path, opt(C, "data")] = C.default("data"),
    out: Annotated[Optional[Path], opt(C, "out")] = None,
    epochs: Annotated[int, opt(C, "epochs")] = C.default("epochs"),
    patience: Annotated[int, opt(C, "patience")] = C.default("patience"),
    noise_floor: Annotated[float, opt(C, "noise_floor")] = C.default("noise_floor"),
    batch_size: Annotated[int, opt(C, "batch_size")] = C.default("batch_size"),
    lr: Annotated[float, opt(C, "lr")] = C.default("lr"),
    seed: Annotated[int, opt(C, "seed")] = C.default("seed"),
) -> None:
    """Train a small CNN digit classifier on a spectrogram set's train split."""
    settings = C.build(**{k: v for k, v in locals().items()})
    _tensorflow()
    from vaeaudio.judging.classifier import train as run

    typer.echo(run(settings).summary())


@classifier_app.command("predict")
def classifier_predict(
    wavs: Annotated[list[Path], typer.Argument(metavar="WAV...", show_default=False, help="WAV files to classify.")],
    model: Annotated[Optional[Path], opt(PredictSettings, "model")] = None,
) -> None:
    """Print the digit and its probability for each WAV file, one line each."""
    settings = PredictSettings.build(wavs=wavs, model=model)
    _tensorflow()
    from vaeaudio.judging.classifier import predict as run

    typer.echo(run(settings).summary())


M = DemoSettings


@app.command()
def demo(
    out: Annotated[Path, opt(M, "out")] = M.default("out"),
    epochs: Annotated[int, opt(M, "epochs")] = M.default("epochs"),
    seed: Annotated[int, opt(M, "seed")] = M.default("seed"),
    judge: Annotated[bool, opt(M, "judge")] = M.default("judge"),
) -> None:
    """Run the whole pipeline offline on a small embedded sample (a few minutes on 2 CPU cores)."""
    settings = M.build(out=out, epochs=epochs, seed=seed, judge=judge)
    _tensorflow()
    from vaeaudio.demo import demo as run_demo

    typer.echo(run_demo(settings).summary())


def _error(line: str) -> None:
    print(f"error: {line}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `vaeaudio` console script; returns the exit code.

    `--debug` and `--quiet` are accepted anywhere on the line.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    flags = _flags
    flags.update(debug=False, quiet=False)
    rest = []
    for a in args:
        if a in _GLOBAL_FLAGS:
            flags[_GLOBAL_FLAGS[a]] = True
        else:
            rest.append(a)
    progress.configure(quiet=flags["quiet"])
    command = typer.main.get_command(app)
    try:
        rv = command.main(args=rest, prog_name="vaeaudio", standalone_mode=False)
        return rv if isinstance(rv, int) else 0
    except VaeAudioError as exc:
        if flags["debug"]:
            raise
        _error(exc.line())
        return exc.exit_code
    except typer.Abort:
        _error("aborted")
        return 130
    except typer.TyperException as exc:  # click usage errors: bad flag, missing argument
        if type(exc).__name__ == "NoArgsIsHelpError":
            print(exc.format_message())
            return 0
        ctx = getattr(exc, "ctx", None)
        where = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
        _error(f"{exc.format_message()}{where}")
        return getattr(exc, "exit_code", 2)
    except KeyboardInterrupt:
        _error("interrupted")
        return 130
    except Exception as exc:  # noqa: BLE001 - the last line of defence
        if flags["debug"]:
            raise
        problem = environment_error(exc)  # no space, read-only, permission denied: not a bug
        if problem is not None:
            _error(problem.line())
            return problem.exit_code
        _error(f"internal error: {type(exc).__name__}: {exc} (rerun with --debug for the traceback, and please report it)")
        return 1


if __name__ == "__main__":
    sys.exit(main())
