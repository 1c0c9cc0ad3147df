"""Typed configs as command-line options: each setting is declared once, on its dataclass, with its docstring.

A config dataclass documents every field with a string right under it (the house style). ``config_options``
turns the fields into ``typer`` options of a command — ``--field-name``, its type, its docstring as the
help, its default shown — and hands the command the options that were given as a dict, to be applied over
the defaults or a TOML table (as TRL's ``HfArgumentParser`` does for ``SFTConfig``). So a field added to
``GenerateConfig`` is at once a TOML key of ``[teacher]``, a ``sor generate`` option and a keyword of the
Python call.

Example::

    import typer
    from scale_or_reason.options import config_options
    from scale_or_reason.train import TrainConfig

    app = typer.Typer()

    @app.command()
    @config_options(TrainConfig, skip={"threads"})
    def train(out: str = typer.Option(...), overrides: dict | None = None) -> None:
        cfg = TrainConfig(**overrides)            # only the options given on the command line
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import inspect
import textwrap
import types
import typing
from pathlib import Path
from typing import Any, Callable

__all__ = ["config_options", "field_docs"]


def field_docs(cls: type) -> dict[str, str]:
    """``{field: docstring}`` of a dataclass and its dataclass bases (whitespace collapsed)."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not dataclasses.is_dataclass(klass):
            continue
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(klass)))
        except (OSError, TypeError):  # no source (a frozen build): options keep no help
            continue
        body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
        for stmt, nxt in zip(body, body[1:]):
            if (isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) and isinstance(nxt, ast.Expr)
                    and isinstance(nxt.value, ast.Constant) and isinstance(nxt.value.value, str)):
                docs[stmt.target.id] = " ".join(nxt.value.value.split())
    return docs


def _cli_type(hint: Any) -> type:
    """The command-line type of a field's annotation: the union's non-None member; text when it admits text
    (``str | dict``: the CLI gives the text form); ``Path`` and the scalars as they are."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(hint) if a is not type(None)]
        if str in members:
            return str
        hint = members[0] if len(members) == 1 else str
    if hint in (str, int, float, bool, Path):
        return hint
    return str


def _default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None


def config_options(cls: type, *, skip: set[str] | frozenset[str] = frozenset(), param: str = "overrides") -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorate a typer command with one option per field of dataclass ``cls`` (minus ``skip``).

    Each option defaults to None (not given), so the command receives in ``param`` only what the user set,
    and a TOML file or the dataclass supplies the rest. Booleans get ``--x/--no-x``; a ``list`` field takes
    comma-separated text. Help: the field's docstring and its default."""
    hints = typing.get_type_hints(cls)
    docs = field_docs(cls)
    fields = [f for f in dataclasses.fields(cls) if f.init and f.name not in skip]

    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        import typer

        own = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY)
               for p in inspect.signature(fn).parameters.values() if p.name != param]
        taken = {p.name for p in own}
        added = []
        for f in fields:
            if f.name in taken:
                raise TypeError(f"{fn.__name__}: parameter {f.name!r} is also a field of {cls.__name__}")
            typ = _cli_type(hints[f.name])
            flag = "--" + f.name.replace("_", "-")
            decl = f"{flag}/--no-{flag[2:]}" if typ is bool else flag
            default = _default(f)
            shown = f" [default: {default}]" if default not in (None, "") and typ is not bool else ""
            help_text = (docs.get(f.name, "").replace("``", "") + shown).strip()
            added.append(inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, annotation=typing.Optional[typ],
                                           default=typer.Option(None, decl, help=help_text, show_default=False)))
        names = [f.name for f in fields]
        lists = {f.name for f in fields if typing.get_origin(hints[f.name]) is list}

        @functools.wraps(fn)
        def command(**kwargs: Any) -> Any:
            given = {n: v for n in names if (v := kwargs.pop(n, None)) is not None}
            for n in lists & set(given):  # a list field is given as comma-separated text
                given[n] = [x.strip() for x in given[n].split(",") if x.strip()]
            return fn(**kwargs, **{param: given})

        command.__signature__ = inspect.Signature([*own, *added])  # type: ignore[attr-defined]
        return command

    return deco
