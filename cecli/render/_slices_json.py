"""The JSON text of a report's slices, written a block at a time from whole columns.

``json.dumps`` with an indent runs in pure Python: a million slices as dicts
take most of a minute and gigabytes. Here each column is put in text once
(``repr`` of each float, as :func:`json.dumps` writes it; ``null`` for what is
not finite) and each slice is one format string filled from the columns, so
the text is that of ``json.dumps(document, indent=2)``, byte for byte.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, TextIO

import numpy as np

if TYPE_CHECKING:
    from cecli.slices import SliceComparison, SliceTable

#: Slices formatted per piece.
BLOCK_SLICES = 16384
_string = json.JSONEncoder().encode


def _floats(values: np.ndarray) -> list[str]:
    finite = np.isfinite(values)
    text = list(map(repr, values.tolist()))
    if not finite.all():
        for i in np.flatnonzero(~finite).tolist():
            text[i] = "null"
    return text


def _ints(values: np.ndarray) -> list[str]:
    return list(map(str, values.tolist()))


def _bools(values: np.ndarray) -> list[str]:
    return ["true" if v else "false" for v in values.tolist()]


def _value(value: object) -> str:
    """One slice's value as json.dumps writes it at its place (a list over several lines)."""
    kind = type(value)
    if kind is str:
        return _string(value)
    if kind is int:
        return str(value)
    if isinstance(value, tuple):
        shown = [json_value(v) for v in value]
        return json.dumps(shown, indent=2).replace("\n", "\n      ")
    return json.dumps(json_value(value))


def json_value(value: object) -> object:
    """A slice value JSON can hold: an infinite number as its text (``"inf"``).

    Examples
    --------
    >>> json_value(float("-inf")), json_value(2.5), json_value(None)
    ('-inf', 2.5, None)
    """
    if isinstance(value, float) and math.isinf(value):  # NaN is never a value: it is missing
        return repr(value)
    return value


def object_blocks(columns: Sequence[tuple[str, list[str]]], n: int) -> Iterator[str]:
    """The items of a list of ``n`` objects at the document's second level, a block a piece.

    ``columns`` are each key and the JSON text of its value in every object.
    The pieces, joined with ``",\\n"``, are the list's items.
    """
    template = "    {\n" + ",\n".join(f"      {_string(k)}: %s" for k, _ in columns) + "\n    }"
    cells = [c for _, c in columns]
    for start in range(0, n, BLOCK_SLICES):
        stop = min(n, start + BLOCK_SLICES)
        rows = zip(*(c[start:stop] for c in cells), strict=True)
        yield ",\n".join(map(template.__mod__, rows))


def write_list(columns: Sequence[tuple[str, list[str]]], n: int, out: TextIO) -> None:
    """Write the list (``[]`` when empty) as it stands in the indented document."""
    if not n:
        out.write("[]")
        return
    out.write("[\n")
    for i, block in enumerate(object_blocks(columns, n)):
        if i:
            out.write(",\n")
        out.write(block)
    out.write("\n  ]")


def score_columns(t: SliceTable) -> tuple[list[tuple[str, list[str]]], int]:
    """The columns of a :class:`~cecli.slices.SliceTable`'s JSON objects, in key order."""
    columns = [
        ("value", [_value(v) for v in t.values]),
        ("n_samples", _ints(t.n_samples)),
        ("mean_loss", _floats(t.mean_loss)),
        ("ci_low", _floats(t.ci_low)),
        ("ci_high", _floats(t.ci_high)),
        ("accuracy", _floats(t.accuracy)),
        ("flagged_count", _ints(t.flagged_count)),
        ("ranked", _bools(t.ranked)),
    ]
    if t.ece is not None:
        columns.append(("ece", _floats(t.ece)))
    for name, counts in t.marks.items():
        columns.append((name, _ints(counts)))
    return columns, len(t)


def compare_columns(c: SliceComparison) -> tuple[list[tuple[str, list[str]]], int]:
    """The columns of a :class:`~cecli.slices.SliceComparison`'s JSON objects, in key order."""
    floats = [
        ("baseline_mean_loss", "baseline_mean_loss"),
        ("candidate_mean_loss", "candidate_mean_loss"),
        ("delta_mean_loss", "delta"),
        ("ci_low", "ci_low"),
        ("ci_high", "ci_high"),
        ("p_value", "p_value"),
        ("p_holm", "p_holm"),
    ]
    columns = [
        ("value", [_value(v) for v in c.values]),
        ("n_samples", _ints(c.n_samples)),
        *((key, _floats(getattr(c, name))) for key, name in floats),
        ("verdict", [_string(v) for v in c.verdict]),
        ("ranked", _bools(c.ranked)),
    ]
    return columns, len(c)
