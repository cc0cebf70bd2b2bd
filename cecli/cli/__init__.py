"""The ``cecli`` command: a thin layer that parses options and calls the library.

It holds no arithmetic and parses no files; it maps :class:`cecli.CecliError`
to one line on standard error and an exit status (see :mod:`cecli.errors`).
A command imports what it uses when it runs (NumPy and the readers; rich only
for a table), so ``cecli --help`` and ``cecli --version`` start fast.

- :mod:`cecli.cli.score_command` and :mod:`cecli.cli.compare_command`: the commands;
- :mod:`cecli.cli._declare`: the options they share, and the library's option objects;
- :mod:`cecli.cli._run`: errors to exit statuses, the report to standard output;
- :mod:`cecli.cli._command`: the commands' class; option text to values without pydantic.
"""

from __future__ import annotations

import copy
import sys

import typer

from cecli._version import __version__
from cecli.cli._command import Command, Group
from cecli.cli._run import visible
from cecli.cli.compare_command import compare
from cecli.cli.score_command import score
from cecli.errors import ExitStatus
from cecli.options import EXIT_STATUSES, usage_line

__all__ = ["app", "main"]

ABOUT = "Score saved model outputs with cross-entropy, and find where a model is confidently wrong."

app = typer.Typer(
    name="cecli",
    cls=Group,
    help=ABOUT,
    epilog=EXIT_STATUSES,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"cecli {__version__}")
        raise typer.Exit()


@app.callback(invoke_without_command=True)
def cecli(
    version: bool = typer.Option(
        False, "--version", help="Show the version and exit.", is_eager=True, callback=_show_version
    ),
) -> None:
    """Score saved model outputs with cross-entropy, and find where a model is confidently wrong."""


app.command("score", cls=Command, epilog=EXIT_STATUSES)(score)
app.command("compare", cls=Command, epilog=EXIT_STATUSES)(compare)


def _app_for(args: list[str]) -> typer.Typer:
    """``app``, or, when ``args`` start with a command's name, ``app`` with that command alone.

    typer builds every command of a group from its function's signature before it
    parses anything (about 5 ms each); a run needs only the command it names.
    Anything else (no command, an option first, a misspelt name) gets the whole group,
    whose help and messages list every command.
    """
    named = [info for info in app.registered_commands if args and info.name == args[0]]
    if not named:
        return app
    alone = copy.copy(app)
    alone.registered_commands = named
    return alone


def main(args: list[str] | None = None) -> None:
    """Run the ``cecli`` command line in this process (``cecli.__main__.main`` wraps it).

    A usage error (an unknown command or option, a value of the wrong type)
    is one line on stderr and exit status 2, like every other error.

    Parameters
    ----------
    args
        The command line after ``cecli``; ``sys.argv[1:]`` by default.

    Examples
    --------
    >>> try:
    ...     main(["--version"])
    ... except SystemExit as done:
    ...     print("exit status", done.code)  # doctest: +ELLIPSIS
    cecli ...
    exit status 0
    """
    args = sys.argv[1:] if args is None else list(args)
    command = typer.main.get_command(_app_for(args))
    try:
        status = command.main(args=args, prog_name="cecli", standalone_mode=False)
    except typer.TyperException as error:
        if not args:  # no command at all: the help says what there is
            typer.echo(error.format_message(), err=True)
            sys.exit(int(ExitStatus.INPUT_ERROR))
        line = usage_line(error, args, list(getattr(command, "commands", {})))
        typer.echo(f"cecli: error: {visible(line)}", err=True)
        sys.exit(int(ExitStatus.INPUT_ERROR))
    except typer.Abort:
        typer.echo("cecli: interrupted", err=True)
        sys.exit(130)
    sys.exit(status if isinstance(status, int) else 0)
