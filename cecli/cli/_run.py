"""Running a command: errors become one line and an exit status, the report goes to stdout."""

from __future__ import annotations

import contextlib
import importlib
import os
import signal
import sys
import traceback
import warnings
from collections.abc import Callable

import typer

from cecli._signals import stop_on_signals
from cecli.errors import CecliError, CecliWarning, ExitStatus


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so that Python's flush at exit does not fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def visible(text: str) -> str:
    """``text`` with its control characters shown as escapes: messages quote the data.

    Examples
    --------
    >>> visible("\\x1b[2Jscroe")
    '\\\\x1b[2Jscroe'
    """
    from cecli.render.escape import visible

    return visible(text)


def _show_warning(message: Warning | str, category: type[Warning], *args: object) -> None:
    typer.echo(f"cecli: warning: {visible(str(message))}", err=True)


def run(work: Callable[[], int], debug: bool) -> None:
    """Run a command; map errors to one line on stderr and an exit status.

    ``work`` returns the exit status; whatever it raises becomes one too (and a
    line on stderr): a :class:`~cecli.CecliError` its own, a bug 3, an
    interruption 128 + the signal's number. It is raised as :class:`typer.Exit`.

    Examples
    --------
    >>> from cecli.errors import OptionError
    >>> def work():
    ...     raise OptionError("--top must be >= 0; got -1.")
    >>> try:
    ...     run(work, debug=False)
    ... except typer.Exit as done:
    ...     print("exit status", done.exit_code)
    exit status 2
    """
    # the core's warnings (logits that look like probabilities) are one line each, once
    warnings.simplefilter("once", CecliWarning)
    warnings.showwarning = _show_warning
    try:
        with stop_on_signals():
            status = work()
    except CecliError as error:
        if debug:
            traceback.print_exc()
        typer.echo(f"cecli: error: {visible(str(error))}", err=True)
        raise typer.Exit(int(error.exit_status)) from None
    except BrokenPipeError:
        # the reader of our output (head, less) has gone: not an error of ours
        _silence_stdout()
        raise typer.Exit(int(ExitStatus.SUCCESS)) from None
    except KeyboardInterrupt as interrupt:
        signum = getattr(interrupt, "signum", signal.SIGINT)
        typer.echo(f"cecli: {'interrupted' if signum == signal.SIGINT else 'terminated'}", err=True)
        raise typer.Exit(128 + signum) from None
    except Exception as error:  # a bug: say so briefly, and how to see it
        if debug:
            traceback.print_exc()
        else:
            typer.echo(
                f"cecli: internal error: {type(error).__name__}: {visible(str(error))}. "
                "Rerun with --debug for the traceback, and report it.",
                err=True,
            )
        raise typer.Exit(int(ExitStatus.INTERNAL_ERROR)) from None
    raise typer.Exit(status)


def render(report: object, output_format: str) -> int:
    """Write the report to stdout, say which gates failed on stderr; the exit status.

    Only the renderer of ``output_format`` is imported: rich for a table, not for JSON.

    Examples
    --------
    >>> from cecli import Accumulator
    >>> from cecli.report import build_report
    >>> acc = Accumulator("categorical")
    >>> scores = acc.update([0, 1], [[0.9, 0.1], [0.2, 0.8]])
    >>> report = build_report(acc.result(), ["cat", "dog"], {"predictions": "p.csv"}, 10, {})
    >>> render(report, "json")  # doctest: +ELLIPSIS
    {
      "cecli_version": ...
    }
    0
    """
    from cecli.errors import OutputError, reason_of

    renderer = importlib.import_module(f"cecli.render.{output_format}")
    if sys.stdout is None:
        raise OutputError("standard output is closed; the report has nowhere to go.")
    try:
        renderer.render(report, sys.stdout)
        sys.stdout.flush()
    except BrokenPipeError:
        # the reader (head, less) has gone; the exit status still tells the gates
        _silence_stdout()
    except OSError as error:  # a full disk, a file too large
        with contextlib.suppress(OSError, ValueError):
            _silence_stdout()
        reason = reason_of(error)
        raise OutputError(f"the report cannot be written to standard output: {reason}.") from None
    for gate in report.gates:  # type: ignore[attr-defined]
        if not gate.passed:
            typer.echo(f"cecli: gate failed: {gate.describe()}", err=True)
        elif not gate.evaluated:
            typer.echo(f"cecli: warning: gate not evaluated: {gate.describe()}", err=True)
    return int(ExitStatus.SUCCESS if report.passed else ExitStatus.GATE_FAILED)  # type: ignore[attr-defined]
