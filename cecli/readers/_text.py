"""What a column of text holds: numbers, numbers with a few bad cells, or plain text.

A reader types a column from a sample of its first rows. A column whose
every cell is a number is a column of numbers. Any other column is text, and
this module tells how much of it *looks like* numbers: a cell that is a
number cecli reads (``0.25``, ``-1e-3``, ``nan``), or one a person meant as a
number but wrote in a form cecli does not read (``0_8``, ``1,000``,
``0x1.8p-3``, ``80%``, ``1.2.3``, ``NA``). A text column in which at least
half (:data:`MOSTLY`) of the non-empty cells look like numbers is a column of
numbers with bad cells: if it is needed as numbers (predictions, weights), the
first bad cell is an error that names its row, never a reason to leave the
column out. A column below that share is plainly text (ids, names, captions,
file names): it is never a prediction column, and the report says so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

#: A text column is "mostly numbers" when at least this share of its non-empty
#: sampled cells look like numbers; a bad cell in it is then an error.
MOSTLY = 0.5

# What pyarrow's CSV reader (and so cecli, in every format) reads as a number:
# decimal notation with an optional exponent, nan and inf (any case, any sign).
_NUMBER = r"[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|nan|inf|infinity)"
NUMBER = re.compile(rf"^\s*(?:{_NUMBER})\s*$", re.IGNORECASE)
# A number in a form cecli does not read: digit groups (1,000  1 000  1_000  1'000),
# a decimal comma (0,5), several points (1.2.3), a percentage, a hex float, a
# trailing type letter (1.5f, 2d0), or a missing-value marker of a column of numbers.
_NUMBER_LIKE = (
    r"[+-]?(?:[\d.,_' ]*\d[\d.,_' ]*(?:[eEdD][+-]?\d+)?[%fFdDlL]?"
    r"|0[xX][0-9a-fA-F]*\.?[0-9a-fA-F]*(?:[pP][+-]?\d+)?)"
    r"|n/?a|null|none|missing|-|\?|#n/a|#value!|#div/0!"
)
# the same, for cells already trimmed, in pyarrow's (RE2) syntax
_TRIMMED_NUMBER = rf"^(?:{_NUMBER})$"
_TRIMMED_LIKE = rf"^(?:{_NUMBER}|{_NUMBER_LIKE})$"


def is_number(text: str) -> bool:
    """Whether ``text`` is a number as cecli reads it in every format.

    Decimal notation with an optional exponent, and ``nan``/``inf``; white
    space around it is allowed. Unlike Python's ``float``, digit separators
    (``1_000``), other scripts' digits and hex are not numbers.

    Examples
    --------
    >>> [is_number(t) for t in ("0.25", " -1e-3 ", "NaN", ".5", "0_8", "1,000", "0x1p-3")]
    [True, True, True, True, False, False, False]
    """
    return NUMBER.match(text) is not None


@dataclass(frozen=True)
class TextProfile:
    """How much of a text column looks like numbers, and its first cell that is not one."""

    #: Non-empty cells in the sample.
    cells: int
    #: Of those, the share that look like numbers (read as such or not).
    number_share: float
    #: The first cell (0-based index in the sample) that is not a number cecli reads.
    first_bad: int | None
    first_bad_value: str | None

    @property
    def mostly_numbers(self) -> bool:
        return self.cells > 0 and self.number_share >= MOSTLY


def profile(values: pa.Array | pa.ChunkedArray) -> TextProfile:
    """The :class:`TextProfile` of a sample of a text column (pyarrow strings).

    Examples
    --------
    >>> import pyarrow as pa
    >>> p = profile(pa.array(["0.2", "0.6", "oops", "0.1"]))
    >>> p.number_share, p.first_bad, p.first_bad_value, p.mostly_numbers
    (0.75, 2, 'oops', True)
    >>> profile(pa.array(["cat.png", "dog.png", "7"])).mostly_numbers
    False
    """
    # imported here: labels need is_number alone, and an NPY file needs no pyarrow;
    # pyarrow.compute alone takes a tenth of a second to import
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    from cecli.readers._arrow import integers, valid

    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
        values = values.cast(pa.string())
    # in NumPy from the match results' bitmaps: a Python value made an Arrow scalar
    # (pc.equal(text, "")) would import pandas
    text = pc.utf8_trim_whitespace(values)
    filled = valid(text) & (integers(pc.utf8_length(text)) > 0)
    number = _matches(text, _TRIMMED_NUMBER)
    like = _matches(text, _TRIMMED_LIKE)
    cells = int(filled.sum())
    looks = int((filled & like).sum())
    bad = np.flatnonzero(filled & ~number)
    first = int(bad[0]) if bad.size else None
    return TextProfile(
        cells,
        looks / cells if cells else 0.0,
        first,
        None if first is None else str(values[first].as_py()),
    )


def _matches(text: pa.Array, pattern: str) -> np.ndarray:
    """Which cells match ``pattern`` (any case); a null matches nothing."""
    import pyarrow.compute as pc

    from cecli.readers._arrow import bools

    return bools(pc.match_substring_regex(text, pattern, ignore_case=True))
