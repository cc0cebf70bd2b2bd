"""The report as one JSON object on standard output (and nothing else there).

The text is ``json.dumps(report.to_dict(), indent=2, allow_nan=False)``, byte
for byte, but a ``cecli score`` report's lists of rows (``--top 0`` lists
every row) are written as they are made, a block of rows at a time: the rest
of the document goes through :func:`json.dumps`, and each row is one format
string filled from whole columns, whose numbers print as :func:`json.dumps`
prints them (``repr``, ``null`` for what is not finite). So the first bytes
go out before the last row is formatted, ``| head -1`` stops the run early,
and no row is ever a Python dict.
"""

from __future__ import annotations

import codecs
import json
import uuid
from collections.abc import Iterator, Sequence
from typing import BinaryIO, TextIO

import numpy as np

from cecli.kept import KeptRows, RowFacts
from cecli.report import ROW_KEYS, CompareReport, Report

#: Rows formatted per write.
BLOCK_ROWS = 32768
#: From this many rows a block is put in text by pyarrow (see :mod:`cecli.render._arrow`).
ARROW_ROWS = 2048
#: A JSON string as json.dumps writes it (ensure_ascii: every non-ASCII character escaped).
_string = json.JSONEncoder().encode
#: One row in a list that is a value of the document: four spaces in, its keys six.
_ROW = "    {\n" + ",\n".join(f"      {_string(key)}: %s" for key in ROW_KEYS) + "\n    }"
_LISTS = ("flagged", "worst")


def render(report: Report | CompareReport, out: TextIO) -> None:
    """Write ``report`` as indented JSON, the rows of a score report streamed.

    Examples
    --------
    >>> import io, json, cecli
    >>> from cecli.report import build_report
    >>> acc = cecli.Accumulator(keep=None)
    >>> _ = acc.update([0, 1], [[0.9, 0.1], [0.95, 0.05]])
    >>> report = build_report(acc.result(), ["cat", "dog"], {}, 0, {})
    >>> text = io.StringIO()
    >>> render(report, text)
    >>> text.getvalue() == json.dumps(report.to_dict(), indent=2) + "\\n"
    True
    """
    if not isinstance(report, Report):
        out.write(json.dumps(report.to_dict(), indent=2, allow_nan=False))
        out.write("\n")
        return
    document = report.to_dict(rows=False)
    # each list of rows is a unique string in the skeleton, then cut out of its text
    marks = {key: f"cecli-rows-{key}-{uuid.uuid4().hex}" for key in _LISTS}
    for key, mark in marks.items():
        document[key] = mark
    rest = json.dumps(document, indent=2, allow_nan=False)
    pieces = []
    for key in _LISTS:
        mark = _string(marks[key])
        if rest.count(mark) != 1:  # the data holds the mark: no streaming, the same text
            out.write(json.dumps(report.to_dict(), indent=2, allow_nan=False))
            out.write("\n")
            return
        head, rest = rest.split(mark)
        pieces.append(head)
    s = report.summary
    for head, rows in zip(pieces, (s.flagged, s.worst), strict=True):
        out.write(head)
        _write_rows(report, report.shown(rows), out)
    out.write(rest)
    out.write("\n")


def _write_rows(report: Report, rows: Sequence[RowFacts], out: TextIO) -> None:
    if not len(rows):
        out.write("[]")
        return
    out.write("[\n")
    raw = _byte_stream(out)
    for i, block in enumerate(row_blocks(report, rows)):
        if i:
            out.write(",\n")
        if raw is not None and isinstance(block, _Ascii):
            out.flush()  # what was written as text goes first
            raw.write(block.data)
        else:
            out.write(block)
    out.write("\n  ]")


def _byte_stream(out: TextIO) -> BinaryIO | None:
    """The bytes under ``out``, when ASCII text can go there as it is (stdout in UTF-8)."""
    raw, encoding = getattr(out, "buffer", None), getattr(out, "encoding", None)
    if raw is None or not isinstance(encoding, str):
        return None
    try:
        name = codecs.lookup(encoding).name
    except LookupError:
        return None
    return raw if name in ("utf-8", "ascii", "latin-1", "iso8859-1", "cp1252") else None


def row_blocks(report: Report, rows: Sequence[RowFacts]) -> Iterator[str]:
    """The JSON text of ``rows`` as the report lists them, :data:`BLOCK_ROWS` rows a piece.

    The pieces, joined with ``",\\n"``, are the items of an indented list that is
    a value of the document. A block of :data:`ARROW_ROWS` rows or more is put
    together by pyarrow, column by column, and never becomes Python objects.
    """
    kept = rows if isinstance(rows, KeptRows) else None
    for start in range(0, len(rows), BLOCK_ROWS):
        if kept is not None:
            block = kept[start : start + BLOCK_ROWS]
            if len(block) >= ARROW_ROWS:
                yield _arrow_block(report, block)
                continue
            columns = {name: block.column(name) for name in ("row", "label", "predicted")}
            floats = {name: block.column(name) for name in ("confidence", "p_true", "loss")}
        else:
            part = rows[start : start + BLOCK_ROWS]
            columns = {
                name: np.array([getattr(r, name) for r in part], dtype=np.int64)
                for name in ("row", "label", "predicted")
            }
            floats = {
                name: np.array([getattr(r, name) for r in part], dtype=np.float64)
                for name in ("confidence", "p_true", "loss")
            }
        yield ",\n".join(map(_ROW.__mod__, zip(*_cells(report, columns, floats), strict=True)))


def _arrow_block(report: Report, block: KeptRows) -> str:
    """The rows of ``block`` as :data:`_ROW` would write them, each cell a column of text."""
    import pyarrow.compute as pc

    from cecli.render import _arrow

    row, label, predicted = (block.column(name) for name in ("row", "label", "predicted"))
    ids = report.ids
    if ids:
        id_text = _arrow.strings([_string(ids[r]) if r in ids else "null" for r in row.tolist()])
    else:
        id_text = _arrow.scalar("null")
    if report.summary.kind == "multilabel":
        present = _arrow.strings([_string("absent"), _string("present")])
        predicted_text = pc.take(present, _arrow.numbers((predicted != 0).astype(np.int64)))
    else:
        predicted_text = _name_texts(report, predicted)
    cells = [
        _arrow.int_texts(row),
        id_text,
        _name_texts(report, label),
        _arrow.int_texts(label),
        predicted_text,
        _arrow.int_texts(predicted),
        *(_arrow.float_texts(block.column(name)) for name in ("confidence", "p_true", "loss")),
    ]
    # each row's text ends in the ",\n" that comes before the next; the last one's is cut
    pieces = [_arrow.scalar(piece) for piece in (_ROW + ",\n").split("%s")]
    parts = [piece for pair in zip(pieces, cells, strict=False) for piece in pair]
    joined = pc.binary_join_element_wise(*parts, pieces[-1], _arrow.scalar(""))
    _, offsets, data = joined.buffers()
    end = int(np.frombuffer(offsets, dtype=np.int32, count=len(block) + 1)[-1])
    return _Ascii(memoryview(data)[: end - 2])


class _Ascii(str):
    """Text that is ASCII (json's ensure_ascii), with its bytes, to write them as they are."""

    data: memoryview

    def __new__(cls, data: memoryview) -> _Ascii:
        text = super().__new__(cls, data, "ascii")
        text.data = data
        return text


def _name_texts(report: Report, indices: np.ndarray):  # -> pyarrow.Array
    """Each class index as its name in JSON, as pyarrow text (see :func:`_names`)."""
    import pyarrow.compute as pc

    from cecli.render import _arrow

    k = len(report.classes)
    known = [_string(name) for name in report.classes]
    outside = (indices < 0) | (indices >= k)
    position = np.asarray(indices, dtype=np.int64)
    if outside.any():
        extra = np.unique(position[outside])
        known += [_string(report.label_name(int(v))) for v in extra.tolist()]
        position = np.where(outside, k + np.searchsorted(extra, position), position)
    return pc.take(_arrow.strings(known), _arrow.numbers(position))


def _cells(
    report: Report, columns: dict[str, np.ndarray], floats: dict[str, np.ndarray]
) -> list[list[object]]:
    """The values of :data:`ROW_KEYS`, column by column: numbers, or JSON text."""
    row = columns["row"].tolist()
    label = columns["label"].tolist()
    predicted = columns["predicted"].tolist()
    ids = report.ids
    id_text = [_string(ids[r]) if r in ids else "null" for r in row] if ids else ["null"] * len(row)
    if report.summary.kind == "multilabel":
        names = {0: _string("absent")}
        predicted_text = [names.get(p, '"present"') for p in predicted]
    else:
        predicted_text = _names(report, predicted)
    return [
        row,
        id_text,
        _names(report, label),
        label,
        predicted_text,
        predicted,
        *(_numbers(floats[name]) for name in ("confidence", "p_true", "loss")),
    ]


def _names(report: Report, indices: list[int]) -> list[str]:
    """Each class index as its name in JSON (``label_name``: the index itself if out of range)."""
    known = [_string(name) for name in report.classes]
    k = len(known)
    return [known[i] if 0 <= i < k else _string(report.label_name(i)) for i in indices]


def _numbers(values: np.ndarray) -> list[object]:
    """Floats as JSON writes them: ``str(float)`` is ``repr``; NaN and infinities are null."""
    out: list[object] = values.tolist()
    for i in np.flatnonzero(~np.isfinite(values)).tolist():
        out[i] = "null"
    return out
