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
    """`` (for 95%, write 0.95)`` when ``value`` looks like a percentage whose fraction fits."""
    return f" (for {value:g}%, write {value / 100:g})" if value > 1 and fits(value / 100) else ""


class ExitStatus(IntEnum):
    """What the ``cecli`` process tells its caller."""

    SUCCESS = 0
    GATE_FAILED = 1
    INPUT_ERROR = 2
    INTERNAL_ERROR = 3


class CecliError(Exception):
    """A problem the user can act on; its message says what, where and what to do."""

    exit_status: ExitStatus = ExitStatus.INPUT_ERROR


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


class OutputError(CecliError):
    """A file cecli was asked to write (``--per-sample``, ``--plot``) that cannot be written."""


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
