"""The command line's side of the options: flags, usage lines and exit statuses.

The core checks each option once and names the Python parameter at fault
(``threshold must lie in (0, 1]; got 90``); the command line names its flag
instead, from :data:`FLAGS`, so that the same check serves both. Errors the
parser finds (an unknown command or option, a value of the wrong type) become
one line that names what was typed and what was probably meant.

This module imports neither NumPy nor typer, so ``cecli --help`` stays fast.
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Callable, Sequence

from cecli.errors import CecliError, OptionError

#: The command-line flag of each core parameter the commands set. (``keep`` is not
#: here: ``--top`` is checked by :func:`check_count`, and 0 there means None.)
FLAGS = {
    "threshold": "--threshold",
    "label_smoothing": "--label-smoothing",
    "focal_gamma": "--focal-gamma",
    "focal_alpha": "--focal-alpha",
    "pos_weight": "--pos-weight",
    "eps": "--eps",
    "base": "--base",
    "kind": "--kind",
    "class_weights": "--class-weights",
    "n_bins": "--bins",
    "n_resamples": "--bootstrap",
    "confidence": "--confidence",
    "method": "--ci-method",
    "seed": "--seed",
    "fail_above": "--fail-above",
    "max_flagged": "--max-flagged",
    "min_accuracy": "--min-accuracy",
    "max_increase": "--max-increase",
    "ignore_index": "--ignore-label",
    "top_k": "--top-k",
}

#: The ``--help`` epilog of every command: what the exit status says.
EXIT_STATUSES = """\b
Exit status:
  0    done: every gate passed, or none was asked for
  1    a gate failed (the report is printed all the same)
  2    a usage or input error (one line on stderr says what to fix)
  3    an internal error: a bug (rerun with --debug, and report it)
  129  hung up (SIGHUP)
  130  interrupted (Ctrl-C, SIGINT)
  143  terminated (SIGTERM)"""


def naming_flags(work: Callable[[], int]) -> Callable[[], int]:
    """``work``, with each option error it raises naming the flag, not the parameter.

    Examples
    --------
    >>> def work():
    ...     raise OptionError("must lie in (0, 1]; got 90.", option="threshold")
    >>> naming_flags(work)()
    Traceback (most recent call last):
    ...
    cecli.errors.OptionError: --threshold must lie in (0, 1]; got 90.
    """

    @functools.wraps(work)
    def run() -> int:
        try:
            return work()
        except CecliError as error:
            flag = FLAGS.get(error.option or "")
            if flag is None:
                raise
            raise error.naming(flag) from error

    return run


def check_count(flag: str, value: int, low: int, high: int | None = None) -> int:
    """A whole number that only the command line bounds (``--top``, ``--bins``' maximum).

    Examples
    --------
    >>> check_count("--bins", 2000, 1, 1000)
    Traceback (most recent call last):
    ...
    cecli.errors.OptionError: --bins must be a whole number from 1 to 1000; got 2000.
    """
    if value < low or (high is not None and value > high):
        bounds = f">= {low}" if high is None else f"from {low} to {high}"
        raise OptionError(f"must be a whole number {bounds}; got {value}.", option=flag)
    return value


def parse_eps(text: str) -> float | str:
    """``--eps``: auto (in any case), a number, or the text as given, for the core to refuse.

    Examples
    --------
    >>> parse_eps("AUTO"), parse_eps("1e-7"), parse_eps("tiny")
    ('auto', 1e-07, 'tiny')
    """
    if text.strip().lower() == "auto":
        return "auto"
    try:
        return float(text)
    except ValueError:
        return text


def usage_line(error: Exception, args: Sequence[str], commands: Sequence[str]) -> str:
    """One line for a usage error the parser found in ``args`` (``sys.argv[1:]``).

    It names what was typed and the closest command or option, and ends with
    where to read more.

    Examples
    --------
    >>> usage_line(Exception("No such command"), ["scroe", "p.csv"], ["score", "compare"])
    "no such command 'scroe'; did you mean 'score'? (see 'cecli --help')"
    """
    command = args[0] if args and args[0] in commands else None
    see = f" (see 'cecli {command} --help')" if command else " (see 'cecli --help')"
    if args and not args[0].startswith("-") and command is None:
        return f"no such command {args[0]!r}{_did_you_mean(args[0], commands)}{see}"
    possibilities = getattr(error, "possibilities", None)
    option = getattr(error, "option_name", None)
    if option is not None and possibilities is not None:  # click's NoSuchOption
        return f"no such option {option!r}{_did_you_mean(option, possibilities)}{see}"
    param = getattr(error, "param", None)
    opts = list(getattr(param, "opts", None) or [])
    if opts and getattr(param, "param_type_name", None) == "option":  # a bad value
        flag = max(opts, key=len)
        detail = str(getattr(error, "message", error)).removeprefix("Value error, ")
        detail = detail[:1].lower() + detail[1:].rstrip(".")
        value = _given(args, opts)
        got = "" if value is None or repr(value) in detail else f"; got {value!r}"
        return f"{flag}: {detail}{got}.{see}"
    message = getattr(error, "format_message", lambda: str(error))()
    return f"{message}{see}"


def _did_you_mean(typed: str, known: Sequence[str]) -> str:
    matches = difflib.get_close_matches(typed, list(known), n=3)
    if not matches:
        return ""
    quoted = [repr(m) for m in matches]
    listed = quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]
    return f"; did you mean {listed}?"


def _given(args: Sequence[str], opts: Sequence[str]) -> str | None:
    """The value last given to the option ``opts`` (``--top 5`` or ``--top=5``) in ``args``."""
    value = None
    for i, arg in enumerate(args):
        if arg == "--":
            break
        if arg in opts and i + 1 < len(args):
            value = args[i + 1]
        for opt in opts:
            if opt.startswith("--") and arg.startswith(opt + "="):
                value = arg[len(opt) + 1 :]
    return value
