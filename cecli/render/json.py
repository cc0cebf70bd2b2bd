"""The report as one JSON object on standard output (and nothing else there).

The text is ``json.dumps(report.to_dict(), indent=2, allow_nan=False)``, byte
for byte, but a ``cecli score`` report's lists of rows (``--top 0`` lists
every row) are written as they are made, a block of rows at a time: the rest
of the document goes through :func:`json.dumps`, and each row is one format
string filled from whole columns, whose numbers print as :func:`json.dumps`
prints them (``repr``, ``null`` for what is not finite). So the first bytes
go out before the last row is formatted, ``| head -1`` stops the run early,
and no row is ever a Python dict. Large blocks are put in text by pyarrow on
worker threads, a few blocks ahead, while this thread writes the ones made.
"""

from __future__ import annotations

import codecs
import functools
import json
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import BinaryIO, TextIO

import numpy as np

from cecli.kept import KeptRows, RowFacts
from cecli.report import ROW_KEYS, CompareReport, Report
from cecli.report.label_issues import LabelIssueSection

#: Rows formatted per write.
BLOCK_ROWS = 16384
#: From this many rows a block is put in text by pyarrow (see :mod:`cecli.render._arrow`).
ARROW_ROWS = 2048
#: A JSON string as json.dumps writes it (ensure_ascii: every non-ASCII character escaped).
_string = json.JSONEncoder().encode


def _row_template(keys: Sequence[str]) -> str:
    """One row in a list that is a value of the document: four spaces in, its keys six."""
    return "    {\n" + ",\n".join(f"      {_string(key)}: %s" for key in keys) + "\n    }"


_ROW = _row_template(ROW_KEYS)
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
        if report.slices is None:
            out.write(json.dumps(report.to_dict(), indent=2, allow_nan=False))
            out.write("\n")
            return
        document = report.to_dict(slices=False)
        lists: tuple[str, ...] = ("slices",)
    else:
        document = report.to_dict(rows=False)
        lists = _LISTS + (("label_issues",) if report.label_issues is not None else ())
        lists += ("slices",) if report.slices is not None else ()
    # each list of rows is a unique string in the skeleton, then cut out of its text
    marks = {key: f"cecli-rows-{key}-{uuid.uuid4().hex}" for key in lists}
    for key, mark in marks.items():
        document[key] = mark
    rest = json.dumps(document, indent=2, allow_nan=False)
    pieces = []
    for key in lists:
        mark = _string(marks[key])
        if rest.count(mark) != 1:  # the data holds the mark: no streaming, the same text
            out.write(json.dumps(report.to_dict(), indent=2, allow_nan=False))
            out.write("\n")
            return
        head, rest = rest.split(mark)
        pieces.append(head)
    for head, key in zip(pieces, lists, strict=True):
        out.write(head)
        if key == "slices":
            _write_slices(report, out)
        elif key == "label_issues":
            assert isinstance(report, Report)
            assert report.label_issues is not None
            _write_issues(report.label_issues, out)
        else:
            assert isinstance(report, Report)
            rows = report.summary.flagged if key == "flagged" else report.summary.worst
            _write_rows(report, report.shown(rows), out)
    out.write(rest)
    out.write("\n")


def _write_issues(section: LabelIssueSection, out: TextIO) -> None:
    """Every label issue as json.dumps(indent=2) writes it, a block at a time."""
    n = len(section.findings.rows)
    if not n:
        out.write("[]")
        return
    # a sharded input's file and file_row are in the row's cell (:mod:`._shard_cells`)
    keys = [k for k in section.keys() if k not in ("file", "file_row")]  # noqa: SIM118 - a method
    template = "    {\n" + ",\n".join(f"      {_string(k)}: %s" for k in keys) + "\n    }"
    if section.findings.ids is None:  # the same text in every row
        template = template.replace('"id": %s', '"id": null')
    out.write("[\n")
    for start in range(0, n, BLOCK_ROWS):
        if start:
            out.write(",\n")
        columns = _issue_columns(section, start, min(n, start + BLOCK_ROWS))
        if all(not isinstance(c, list) for c in columns):
            out.write(_arrow_rows(template, columns))
        else:
            columns = [c if isinstance(c, list) else c.to_pylist() for c in columns]
            out.write(",\n".join(map(template.__mod__, zip(*columns, strict=True))))
    out.write("\n  ]")


def _issue_columns(section: LabelIssueSection, start: int, stop: int) -> list:
    """The cells of issues ``start:stop``, column by column, as JSON text in Arrow arrays.

    A column of names is a list instead when a name has no entry in the table.
    """
    from cecli.render import _arrow

    f = section.findings
    names = _arrow.strings([_string(name) for name in section.given_names()])

    def named(indices: np.ndarray, table, name_of: Callable[[int], str]):  # type: ignore[no-untyped-def]
        """Each index's name in JSON, taken from ``table``; a list if one has no entry."""
        if len(indices) and (indices.min() < 0 or indices.max() >= len(table)):
            known = table.to_pylist()
            inside = range(len(known))
            return [known[i] if i in inside else _string(name_of(i)) for i in indices.tolist()]
        import pyarrow.compute as pc

        return pc.take(table, _arrow.numbers(indices.astype(np.int64)))

    if section.shards is None:
        columns: list = [_arrow.int_texts(f.rows[start:stop])]
    else:
        from cecli.render._shard_cells import row_arrow

        columns = [row_arrow(section.shards, f.rows[start:stop])]
    if f.ids is not None:
        cells = ["null" if i is None else _string(str(i)) for i in f.ids[start:stop].tolist()]
        columns.append(_arrow.strings(cells))
    if section.multilabel:
        classes = _arrow.strings([_string(name) for name in section.classes])
        columns.append(named(f.classes[start:stop], classes, section.class_name))
    label, suggested = f.labels[start:stop], f.suggested[start:stop]
    columns += [
        named(label, names, section.class_name),
        _arrow.int_texts(label),
        named(suggested, names, section.class_name),
        _arrow.int_texts(suggested),
        *(_arrow.float_texts(a[start:stop]) for a in (f.p_given, f.p_suggested, f.scores)),
    ]
    if section.show is not None:
        from cecli.render._show_cells import json_texts

        columns.append(_arrow.strings(json_texts(section.show, f.rows[start:stop].tolist())))
    return columns


def _arrow_rows(template: str, columns: list) -> str:
    """``template`` filled from columns of JSON text, rows joined by ``",\n"``, by pyarrow."""
    import pyarrow.compute as pc

    from cecli.render import _arrow

    around = (template + ",\n").split("%s")
    parts: list[object] = []
    for text, column in zip(around[:-1], columns, strict=True):
        parts += [_arrow.scalar(text), column]
    parts.append(_arrow.scalar(around[-1]))
    joined = pc.binary_join_element_wise(*parts, _arrow.scalar(""))
    _, offsets, data = joined.buffers()
    end = int(np.frombuffer(offsets, dtype=np.int32, count=len(columns[0]) + 1)[-1])
    return str(memoryview(data)[: end - len(",\n")], "utf-8")


def _write_slices(report: Report | CompareReport, out: TextIO) -> None:
    """The list of slices, as json.dumps would write it in the document, block by block."""
    from cecli.render._slices_json import compare_columns, score_columns, write_list

    assert report.slices is not None
    if isinstance(report, Report):
        columns, n = score_columns(report.slices)
    else:
        columns, n = compare_columns(report.slices)
    write_list(columns, n, out)


def _write_rows(report: Report, rows: Sequence[RowFacts], out: TextIO) -> None:
    if not len(rows):
        out.write("[]")
        return
    out.write("[\n")
    raw = _byte_stream(out)
    layout = _Layout(report)
    starts = range(0, len(rows), BLOCK_ROWS)
    pool = None
    if len(starts) > 1:
        # blocks are put in text on threads (pyarrow lets go of the GIL), a few ahead
        # of this one, which writes them (so does the kernel's write)
        from cecli._threads import n_threads
        from cecli.readers._background import OrderedPool

        def tasks(stopped: Callable[[], bool]) -> Iterator[Callable[[], list[str | memoryview]]]:
            for start in starts:
                yield functools.partial(_block, layout, rows, start)

        pool = OrderedPool(tasks, workers=n_threads(), name="cecli-json")
        blocks: Iterable[list[str | memoryview]] = pool
    else:
        blocks = (_block(layout, rows, start) for start in starts)
    try:
        for i, block in enumerate(blocks):
            if i:
                out.write(",\n")
            for piece in block:
                if isinstance(piece, str):
                    out.write(piece)
                elif raw is not None:
                    out.flush()  # what was written as text goes first
                    raw.write(piece)
                else:
                    out.write(str(piece, "ascii"))
    finally:
        if pool is not None:
            pool.close()
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

    Examples
    --------
    >>> import json, cecli
    >>> from cecli.report import build_report
    >>> acc = cecli.Accumulator(keep=None)
    >>> _ = acc.update([0], [[0.25, 0.75]])
    >>> report = build_report(acc.result(), ["cat", "dog"], {}, 0, {})
    >>> text = "".join(row_blocks(report, report.summary.worst))
    >>> json.loads(text)["predicted"], text.splitlines()[1]
    ('dog', '      "row": 0,')
    """
    layout = _Layout(report)
    for start in range(0, len(rows), BLOCK_ROWS):
        pieces = _block(layout, rows, start)
        yield "".join(p if isinstance(p, str) else str(p, "ascii") for p in pieces)


def _block(layout: _Layout, rows: Sequence[RowFacts], start: int) -> list[str | memoryview]:
    """The JSON text of the rows from ``start`` on, :data:`BLOCK_ROWS` of them, in pieces.

    Each piece is text, or (from pyarrow) the bytes of text that is ASCII, as
    json's ensure_ascii makes it.
    """
    report = layout.report
    if isinstance(rows, KeptRows):
        block = rows[start : start + BLOCK_ROWS]
        if len(block) >= ARROW_ROWS:
            return _arrow_block(layout, block)
        columns = {name: block.column(name) for name in layout.int_columns}
        floats = {name: block.column(name) for name in ("confidence", "p_true", "loss")}
    else:
        part = rows[start : start + BLOCK_ROWS]
        columns = {
            name: np.array([getattr(r, name) or 0 for r in part], dtype=np.int64)
            for name in layout.int_columns
        }
        floats = {
            name: np.array([getattr(r, name) for r in part], dtype=np.float64)
            for name in ("confidence", "p_true", "loss")
        }
    cells = zip(*_cells(report, columns, floats), strict=True)
    return [",\n".join(map(layout.template.__mod__, cells))]


class _Layout:
    """What the listed rows of one report share: the text between their cells, the class cells.

    pyarrow joins a block's rows cell by cell, and each piece joined costs about
    as much as a column of numbers put in text; so the pieces are few. The
    class name, the text after it, its index and the text after that are one
    cell here, taken from a table of every class (``"dog",\\n      "label_index":
    1,\\n      "predicted": ``), and so is the ``null`` id before the label
    when there are no ids. A row's text begins with its number, and ends with
    the text that begins the next row.
    """

    def __init__(self, report: Report) -> None:
        self.report = report
        self.ranked = report.summary.top_k is not None
        self.template = _row_template(report.row_keys)
        self.int_columns = ("row", "label", "predicted") + (("rank",) if self.ranked else ())
        # the text around the nine cells of a row (ROW_KEYS; ten with a rank), and the
        # ",\n" before the next
        around = (self.template + ",\n").split("%s")
        self.head = around[0]
        multilabel = report.summary.kind == "multilabel"
        before_label = around[2] if report.ids else f"{around[1]}null{around[2]}"

        def label(i: int) -> str:
            return f"{before_label}{_string(report.label_name(i))}{around[3]}{i}{around[4]}"

        def predicted(i: int) -> str:
            name = ("present" if i else "absent") if multilabel else report.label_name(i)
            return f"{_string(name)}{around[5]}{i}{around[6]}"

        self.label = _ClassCells(label, len(report.classes))
        self.predicted = _ClassCells(predicted, 2 if multilabel else len(report.classes))
        self.before_id = around[1]
        self.between_floats = around[7], around[8]
        #: Before the rank, when the rows have ranks; before the --show values, when shown.
        self.before_rank = around[9] if self.ranked else None
        self.before_show = around[-2] if report.show is not None else None
        self.tail = around[-1] + around[0]
        #: What is cut from the end of a block: the ",\n" and the head of a next row.
        self.cut = len(",\n") + len(around[0])


class _ClassCells:
    """The text of one class cell for each index: a table of ``known`` texts, the rest made."""

    def __init__(self, text: Callable[[int], str], known: int) -> None:
        self.text = text
        self.known = [text(i) for i in range(known)]
        self._table = None  # the known texts in pyarrow, made once (on a worker thread)

    def __call__(self, indices: np.ndarray):  # -> pyarrow.Array
        import pyarrow.compute as pc

        from cecli.render import _arrow

        k = len(self.known)
        position = np.asarray(indices, dtype=np.int64)
        outside = (position < 0) | (position >= k)
        if outside.any():  # an index with no name (more labels than names) is its own
            extra = np.unique(position[outside])
            table = _arrow.strings(self.known + [self.text(v) for v in extra.tolist()])
            position = np.where(outside, k + np.searchsorted(extra, position), position)
        else:
            if self._table is None:  # two threads may both make it: the same text
                self._table = _arrow.strings(self.known)
            table = self._table
        return pc.take(table, _arrow.numbers(position))


def _arrow_block(layout: _Layout, block: KeptRows) -> list[str | memoryview]:
    """The rows of ``block`` as :data:`_ROW` would write them, each cell a column of text."""
    import pyarrow.compute as pc

    from cecli.render import _arrow

    row = block.column("row")
    ids = layout.report.ids
    if layout.report.shards is None:
        parts: list[object] = [_arrow.int_texts(row)]
    else:
        from cecli.render._shard_cells import row_arrow

        parts = [row_arrow(layout.report.shards, row)]
    if ids:
        id_texts = [_string(ids[r]) if r in ids else "null" for r in row.tolist()]
        parts += [layout.before_id, _arrow.strings(id_texts)]
    parts += [
        layout.label(block.column("label")),
        layout.predicted(block.column("predicted")),
        _arrow.float_texts(block.column("confidence")),
        layout.between_floats[0],
        _arrow.float_texts(block.column("p_true")),
        layout.between_floats[1],
        _arrow.float_texts(block.column("loss")),
    ]
    if layout.before_rank is not None:
        parts += [layout.before_rank, _arrow.int_texts(block.column("rank"))]
    if layout.before_show is not None:
        from cecli.render._show_cells import json_texts

        assert layout.report.show is not None
        parts += [layout.before_show, _arrow.strings(json_texts(layout.report.show, row.tolist()))]
    parts += [layout.tail]
    joined = pc.binary_join_element_wise(
        *(_arrow.scalar(p) if isinstance(p, str) else p for p in parts), _arrow.scalar("")
    )
    _, offsets, data = joined.buffers()
    end = int(np.frombuffer(offsets, dtype=np.int32, count=len(block) + 1)[-1])
    return [layout.head, memoryview(data)[: end - layout.cut]]


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
    row_cells: list[object] = list(row)
    if report.shards is not None:  # the row's cell holds its file and file_row too
        from cecli.render._shard_cells import row_texts

        row_cells = list(row_texts(report.shards, columns["row"]))
    cells = [
        row_cells,
        id_text,
        _names(report, label),
        label,
        predicted_text,
        predicted,
        *(_numbers(floats[name]) for name in ("confidence", "p_true", "loss")),
    ]
    if "rank" in columns:
        cells.append(columns["rank"].tolist())
    if report.show is not None:
        from cecli.render._show_cells import json_texts

        cells.append(json_texts(report.show, row))
    return cells


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
