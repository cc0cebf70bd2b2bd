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
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TextIO

import numpy as np

if TYPE_CHECKING:
    from cecli.slices import SliceComparison, SliceTable

#: Slices formatted per piece.
BLOCK_SLICES = 16384
_string = json.JSONEncoder().encode


class _Null:
    """Stands for a number JSON cannot hold: ``%r`` writes it as ``null``."""

    def __repr__(self) -> str:
        return "null"


_NULL = _Null()


def _floats(values: np.ndarray) -> list[object]:
    """Python floats (``%r`` writes them as json.dumps does); ``null`` where not finite."""
    out: list[object] = values.tolist()
    finite = np.isfinite(values)
    if not finite.all():
        for i in np.flatnonzero(~finite).tolist():
            out[i] = _NULL
    return out


def _ints(values: np.ndarray) -> list[int]:
    return values.tolist()


def _bools(values: np.ndarray) -> list[str]:
    return np.where(values, "true", "false").tolist()


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


#: One key of the objects, the format of its value (``%s`` text, ``%r`` floats, ``%d``
#: whole numbers) and its values in objects ``start:stop``.
Column = tuple[str, str, Callable[[int, int], list[Any]]]


def object_blocks(columns: Sequence[Column], n: int) -> Iterator[str]:
    """The items of a list of ``n`` objects at the document's second level, a block a piece.

    Each column's text is made a block at a time, so only a block's text is
    held. The pieces, joined with ``",\\n"``, are the list's items.
    """
    template = "    {\n" + ",\n".join(f"      {_string(k)}: {f}" for k, f, _ in columns) + "\n    }"
    for start in range(0, n, BLOCK_SLICES):
        stop = min(n, start + BLOCK_SLICES)
        rows = zip(*(values(start, stop) for _, _, values in columns), strict=True)
        yield ",\n".join(map(template.__mod__, rows))


def write_list(columns: Sequence[Column], n: int, out: TextIO) -> None:
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


_FORMATS = {"_floats": "%r", "_ints": "%d"}


def _column(key: str, values: object, text: Callable[[Any], list[Any]]) -> Column:
    fmt = _FORMATS.get(getattr(text, "__name__", ""), "%s")
    return key, fmt, lambda start, stop: text(values[start:stop])  # type: ignore[index]


def _value_texts(values: list[object]) -> list[str]:
    return [_value(v) for v in values]


def score_columns(t: SliceTable) -> tuple[list[Column], int]:
    """The columns of a :class:`~cecli.slices.SliceTable`'s JSON objects, in key order."""
    columns = [
        _column("value", t.values, _value_texts),
        _column("n_samples", t.n_samples, _ints),
        _column("mean_loss", t.mean_loss, _floats),
        _column("ci_low", t.ci_low, _floats),
        _column("ci_high", t.ci_high, _floats),
        _column("accuracy", t.accuracy, _floats),
        _column("flagged_count", t.flagged_count, _ints),
        _column("ranked", t.ranked, _bools),
    ]
    if t.ece is not None:
        columns.append(_column("ece", t.ece, _floats))
    for name, counts in t.marks.items():
        columns.append(_column(name, counts, _ints))
    return columns, len(t)


def compare_columns(c: SliceComparison) -> tuple[list[Column], int]:
    """The columns of a :class:`~cecli.slices.SliceComparison`'s JSON objects, in key order."""
    floats = [
        ("baseline_mean_loss", c.baseline_mean_loss),
        ("candidate_mean_loss", c.candidate_mean_loss),
        ("delta_mean_loss", c.delta),
        ("ci_low", c.ci_low),
        ("ci_high", c.ci_high),
        ("p_value", c.p_value),
        ("p_holm", c.p_holm),
    ]
    columns = [
        _column("value", c.values, _value_texts),
        _column("n_samples", c.n_samples, _ints),
        *(_column(key, values, _floats) for key, values in floats),
        _column("verdict", c.verdict, lambda v: [_string(x) for x in v]),
        _column("ranked", c.ranked, _bools),
    ]
    if c.n_ignored is not None:
        columns.append(_column("n_ignored", c.n_ignored, _ints))
    if c.baseline_top_k_accuracy is not None and c.candidate_top_k_accuracy is not None:
        delta = c.candidate_top_k_accuracy - c.baseline_top_k_accuracy
        columns += [
            _column("baseline_top_k_accuracy", c.baseline_top_k_accuracy, _floats),
            _column("candidate_top_k_accuracy", c.candidate_top_k_accuracy, _floats),
            _column("delta_top_k_accuracy", delta, _floats),
        ]
    return columns, len(c)
