"""Flags from settings: a Typer command whose options are the fields of a pydantic settings model.

A field is a flag with its type, default, bounds and help; a `Literal` field shows its choices; a `Flag` marker
(`vaeaudio.settings.base`) names the value or makes the field positional. `verb` makes a command of a function
that receives the fields given on the command line.
"""

from __future__ import annotations

import inspect
import types
from pathlib import Path
from typing import Annotated, Any, Literal, Optional, Union, get_args, get_origin

import typer
import typer.core

from vaeaudio.settings import Settings
from vaeaudio.util.errors import Interrupted

#: Placeholders of values by the type the command line reads them as.
_METAVARS = {int: "N", float: "X", Path: "DIR", str: "TEXT"}
#: Suffix of the parameter that gives a positional's values as an option too (`Flag.also`).
_ALSO = "__also"



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
            try:
                result = body(given, **values)
            except KeyboardInterrupt:  # here, before Typer makes it a silent exit 130
                raise Interrupted("interrupted", "files are written whole or not at all; run the same command "
                                                 "again") from None
            typer.echo(result.summary())

        command.__signature__ = inspect.Signature([*extras, *fields])
        doc = inspect.cleandoc(body.__doc__)
        group.command(name or body.__name__, help=doc, short_help=doc.splitlines()[0], cls=_Verb, **kwargs)(command)
        return body

    return decorate
