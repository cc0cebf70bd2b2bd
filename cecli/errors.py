"""The one exception family cecli raises, and the exit statuses it maps to.

Every problem that a user can fix (a bad file, an impossible probability, a
label outside the known classes) is a :class:`CecliError`. The command line
catches it once, prints its message as one line on standard error and exits
with :attr:`CecliError.exit_status`. Library users catch it like any other
exception; the errors raised for bad values are also :class:`ValueError`, so
code written for scikit-learn's validation keeps working.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from enum import IntEnum


def reason_of(error: OSError) -> str:
    """What went wrong, in the system's words: ``No space left on device``.

    Examples
    --------
    >>> reason_of(OSError(28, "Error writing bytes to file. Detail: [errno 28] ..."))
    'No space left on device'
    >>> reason_of(OSError("disk on fire"))
    'disk on fire'
    """
    if isinstance(error.errno, int) and error.errno > 0:
        return os.strerror(error.errno)
    return error.strerror or str(error).strip() or type(error).__name__


def percent_hint(value: float, fits: Callable[[float], bool]) -> str:
    """`` (for 95%, write 0.95)`` when ``value`` reads as a percentage whose fraction fits.

    A percentage is a value from 2 to 100: one just above 1 (``1.5`` for an
    accuracy) is more likely a slip than a percentage under 2, and the hint
    never suggests a fraction that is itself out of range (``fits``).

    Examples
    --------
    >>> percent_hint(90, lambda f: 0 < f <= 1)
    ' (for 90%, write 0.9)'
    >>> percent_hint(1.5, lambda f: 0 <= f <= 1), percent_hint(100, lambda f: 0 < f < 1)
    ('', '')
    """
    if 2 <= value <= 100 and fits(value / 100):
        return f" (for {value:g}%, write {value / 100:g})"
    return ""


class ExitStatus(IntEnum):
    """What the ``cecli`` process tells its caller."""

    SUCCESS = 0
    GATE_FAILED = 1
    INPUT_ERROR = 2
    INTERNAL_ERROR = 3


class CecliError(Exception):
    """A problem the user can act on; its message says what, where and what to do.

    When the problem is the value of one option, ``option`` is the Python
    parameter's name and the message reads ``"<option> <detail>"``; the
    command line names its flag instead, with :meth:`naming`.

    Examples
    --------
    >>> error = OptionError("must lie in (0, 1]; got 90.", option="threshold")
    >>> str(error), str(error.naming("--threshold"))
    ('threshold must lie in (0, 1]; got 90.', '--threshold must lie in (0, 1]; got 90.')
    """

    exit_status: ExitStatus = ExitStatus.INPUT_ERROR

    def __init__(self, message: str = "", *, option: str | None = None) -> None:
        super().__init__(message if option is None else f"{option} {message}")
        self.option = option
        self.detail = message

    def naming(self, name: str) -> CecliError:
        """The same error, naming its option ``name`` (a command-line flag, say)."""
        if self.option is None:
            return self
        return type(self)(self.detail, option=name)


class ShapeError(CecliError, ValueError):
    """Arrays whose shapes do not fit together."""


class EmptyInputError(CecliError, ValueError):
    """No samples, or no classes, to score."""


class ProbabilityError(CecliError, ValueError):
    """Predictions that are not valid probabilities (or, with logits, NaN or +inf)."""


class LabelError(CecliError, ValueError):
    """Labels or targets that do not fit the predictions."""


class WeightError(CecliError, ValueError):
    """Class or sample weights that cannot be applied."""


class ValueRangeError(CecliError, ValueError):
    """Values a statistic cannot be computed from (NaN or infinite ones)."""


class OptionError(CecliError, ValueError):
    """An option value outside its allowed range."""


class RemoteError(CecliError):
    """A remote file that could not be fetched while it was read (the server refused a read).

    Not a :class:`ValueError`: nothing in the file's values is wrong, and a reader that
    reports a bad value must not take it for one.
    """

    def __init__(self, source: str, message: str) -> None:
        super().__init__(f"{source}: {message}")
        self.source = source


class OutputError(CecliError):
    """A file cecli was asked to write (``--per-sample``, ``--plot``) that cannot be written."""


class CecliWarning(UserWarning):
    """Inputs that are scored, but probably not as their author meant; the CLI prints one line."""


class InputError(CecliError, ValueError):
    """A file that cannot be read as the predictions or labels it should hold."""

    def __init__(self, source: str, message: str) -> None:
        super().__init__(f"{source}: {message}")
        self.source = source


def in_file(source: str, error: CecliError) -> CecliError:
    """``error`` again, its message prefixed with the file it was found in (once)."""
    message = str(error)
    if message.startswith(f"{source}: "):
        return error
    prefixed = type(error)(f"{source}: {message}") if not isinstance(error, InputError) else error
    return prefixed
