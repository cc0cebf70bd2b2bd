"""The ``cecli`` command: a thin layer that parses options and calls the library.

It holds no arithmetic and parses no files; it maps :class:`cecli.CecliError`
to one line on standard error and an exit status (see :mod:`cecli.errors`).
Heavy imports (NumPy, pandas, pyarrow) happen inside the commands, so
``cecli --help`` and ``cecli --version`` start fast.
"""

from __future__ import annotations

import typer

from cecli._version import __version__

ABOUT = "Score saved model outputs with cross-entropy, and find where a model is confidently wrong."

app = typer.Typer(
    name="cecli",
    help=ABOUT,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
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


def main() -> None:
    """Entry point of the ``cecli`` console script and of ``python -m cecli``."""
    app()
