"""The commands' class: a plain usage line, and option values converted without pydantic.

typer 0.29 converts every option value through a pydantic ``TypeAdapter``,
built on first use for each option; parsing ``score``'s options that way
imports pydantic and builds some thirty validators, about 0.1 s of every run
(more than NumPy's own import). cecli's options are only text, whole numbers,
numbers, flags and choices, so :class:`PlainValue` converts them directly, with
the same messages, and :class:`Command` gives it to its parameters. A
parameter of any other type keeps typer's own conversion.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from enum import Enum
from typing import Any

from typer import BadParameter
from typer.core import TyperCommand, TyperGroup

_INTEGER = re.compile(r"[+-]?[0-9]+(?:_[0-9]+)*(?:\.0+)?")


def convert(annotation: type, value: Any, *, case_sensitive: bool = True) -> Any:
    """``value`` (the text typed, or a default) as an ``annotation``; ValueError if it is not one.

    The messages are pydantic's, which typer shows for the same mistakes.

    Examples
    --------
    >>> convert(int, " 12 "), convert(float, "1e-3"), convert(str, "a.csv")
    (12, 0.001, 'a.csv')
    >>> convert(int, "1.5")
    Traceback (most recent call last):
    ...
    ValueError: Input should be a valid integer, unable to parse string as an integer
    >>> class Base(str, Enum):
    ...     e = "e"
    ...     two = "2"
    >>> convert(Base, "E", case_sensitive=False)
    <Base.e: 'e'>
    >>> convert(Base, "3", case_sensitive=False)
    Traceback (most recent call last):
    ...
    ValueError: '3' is not one of 'e', '2'.
    """
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return _choice(annotation, value, case_sensitive)
    if annotation is bool:
        return _flag(value)
    if annotation is int:
        return _whole_number(value)
    if annotation is float:
        return _number(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _choice(choices: type[Enum], value: Any, case_sensitive: bool) -> Enum:
    if isinstance(value, choices):
        return value

    def normal(text: str) -> str:
        return text if case_sensitive else text.casefold()

    typed = normal(str(value))
    for member in choices:
        if normal(str(member.value)) == typed:
            return member
    listed = ", ".join(repr(normal(str(member.value))) for member in choices)
    raise ValueError(f"{value!r} is not one of {listed}.")


def _flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "t", "yes", "y", "on"):
        return True
    if text in ("", "0", "false", "f", "no", "n", "off"):
        return False
    raise ValueError("Input should be a valid boolean, unable to interpret input")


def _whole_number(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    text = str(value).strip()
    if not _INTEGER.fullmatch(text):
        raise ValueError("Input should be a valid integer, unable to parse string as an integer")
    return int(text.split(".")[0])


def _number(value: Any) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    text = str(value).strip()
    try:
        if not text.isascii():
            raise ValueError(text)
        return float(text)
    except ValueError:
        message = "Input should be a valid number, unable to parse string as a number"
        raise ValueError(message) from None


class PlainValue:
    """What typer calls a parameter's runtime conversion, for the plain types cecli uses."""

    def __init__(self, annotation: type, case_sensitive: bool) -> None:
        self.annotation = annotation
        self.case_sensitive = case_sensitive

    def coerce(self, value: Any, param: Any, ctx: Any) -> Any:
        if value is None:
            return None
        try:
            return convert(self.annotation, value, case_sensitive=self.case_sensitive)
        except ValueError as error:
            raise BadParameter(str(error), ctx=ctx, param=param) from None


class TextList:
    """The runtime conversion of a repeatable option of text (``list[str]``): the texts given.

    Examples
    --------
    >>> TextList().coerce(("region=x", "anonymous=true"), None, None)
    ['region=x', 'anonymous=true']
    >>> TextList().coerce((), None, None) is None
    True
    """

    def coerce(self, value: Any, param: Any, ctx: Any) -> Any:
        return [str(v) for v in value] if value else None


def is_plain(annotation: Any) -> bool:
    """Whether :func:`convert` handles ``annotation`` (text, numbers, flags, choices).

    Examples
    --------
    >>> is_plain(int), is_plain(str), is_plain(list[int])
    (True, True, False)
    """
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return True
    return annotation in (str, int, float, bool)


def plain_values(params: Iterable[Any]) -> None:
    """Give each of ``params`` (a command's) of a plain type :class:`PlainValue`'s conversion.

    A parameter that does not look like typer 0.29's (another typer version)
    is left as it is: it converts as that typer does, only more slowly.

    Examples
    --------
    >>> import typer
    >>> from cecli.cli import app
    >>> command = typer.main.get_command(app).commands["score"]
    >>> plain_values(command.params)
    >>> top = next(p for p in command.params if p.name == "top")
    >>> type(top._runtime_param).__name__, top._runtime_param.coerce("5", top, None)
    ('PlainValue', 5)
    """
    for param in params:
        described = getattr(param, "type_descriptor", None)
        annotation = getattr(described, "annotation", None)
        if not hasattr(param, "_runtime_param"):
            continue
        if annotation == list[str] and getattr(param, "multiple", False):
            # typer would build a pydantic adapter for it (an import of ~60 ms)
            param._runtime_param = TextList()
            continue
        if not is_plain(annotation):
            continue
        if isinstance(param._runtime_param, PlainValue):
            continue
        if getattr(param, "multiple", False) or getattr(param, "nargs", 1) != 1:
            continue
        param._runtime_param = PlainValue(annotation, bool(described.case_sensitive))


class Command(TyperCommand):
    """A command whose usage line reads ``PREDICTIONS [LABELS]``, as a synopsis does.

    (typer 0.29 writes a required argument as ``{PREDICTIONS}``.) Its options'
    values, ``--help`` included, are converted by :class:`PlainValue`.
    """

    def get_params(self, ctx: Any) -> list[Any]:
        params = super().get_params(ctx)
        plain_values(params)
        return params

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        pieces = super().collect_usage_pieces(ctx)
        return [p[1:-1] if p.startswith("{") and p.endswith("}") else p for p in pieces]


class Group(TyperGroup):
    """The ``cecli`` group: its ``--version`` and ``--help`` converted as in :class:`Command`."""

    def get_params(self, ctx: Any) -> list[Any]:
        params = super().get_params(ctx)
        plain_values(params)
        return params
