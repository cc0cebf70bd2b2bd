"""The listed rows: confidently wrong, highest loss, label issues, a comparison's pairs.

Each table ends with the ``--show`` columns (:class:`cecli.shown.Shown`),
when the report has them. A column whose every non-empty value looks like
a picture's path or URL (``.png``, ``.jpg``, ``.jpeg``, ``.gif``, ``.webp``,
``.svg``, ``.bmp``, a query after it allowed, or a ``data:image/`` URL) shows
each value as a thumbnail with its text beside it: the path is relative to
the page, as written, and the browser loads it, never cecli. A value that
may not be loaded (:func:`cecli.render.escape.image_src`) is shown as text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, TextIO

from cecli.kept import KeptRows
from cecli.render.escape import image_src
from cecli.render.html._markup import Cell, Column, Markup, missing, num, table, text
from cecli.report.format import fmt_number

if TYPE_CHECKING:
    from cecli.accumulate import RowFacts
    from cecli.compare import RowPair
    from cecli.report import CompareReport, Report
    from cecli.report.label_issues import LabelIssueSection
    from cecli.shown import Shown

_PICTURE = re.compile(r"\.(?:png|jpe?g|gif|webp|svg|bmp)(?:\?[^#]*)?(?:#.*)?$", re.IGNORECASE)


def looks_like_image(value: str) -> bool:
    """Whether ``value`` reads as a picture's path or URL (by its extension), or is a data URL.

    Examples
    --------
    >>> looks_like_image("img/3.PNG"), looks_like_image("https://e.org/a.jpg?w=64")
    (True, True)
    >>> looks_like_image("data:image/gif;base64,R0lG"), looks_like_image("a cat")
    (True, False)
    """
    return bool(_PICTURE.search(value)) or value[:11].lower() == "data:image/"


def image_columns(shown: Shown) -> list[bool]:
    """Per ``--show`` column: whether its non-empty values (one at least) all look like pictures.

    Examples
    --------
    >>> from cecli.shown import Shown
    >>> image_columns(Shown(("caption", "image"), {0: ("a", "x.png"), 1: ("b", None)}))
    [False, True]
    """
    out = []
    for i in range(len(shown.names)):
        values = [v[i] for v in shown.values.values() if v[i]]
        out.append(bool(values) and all(looks_like_image(v) for v in values))
    return out


def _show_cell(value: str | None, image: bool) -> Cell:
    if value is None:
        return Cell(missing())
    src = image_src(value) if image else None
    if src is None:
        return Cell(value)
    return Cell(
        Markup(
            f'<span class="thumb"><img loading="lazy" src="{src}" alt="{text(value)}">'
            f"<span>{text(value)}</span></span>"
        ),
        kind="img",
    )


class ShowColumns:
    """The ``--show`` columns of a report's tables: their heads and each row's cells."""

    def __init__(self, shown: Shown | None) -> None:
        self.shown = shown
        self.images = [] if shown is None else image_columns(shown)

    def columns(self) -> list[Column]:
        return [] if self.shown is None else [Column(name) for name in self.shown.names]

    def cells(self, row: int) -> list[Cell]:
        if self.shown is None:
            return []
        values = self.shown.row(row)
        return [_show_cell(v, image) for v, image in zip(values, self.images, strict=True)]


def _number(value: float | None) -> Cell:
    return num(fmt_number(value), value)


def _any_id(report: Report, rows: Sequence[RowFacts]) -> bool:
    if not report.ids:
        return False
    numbers = rows.column("row").tolist() if isinstance(rows, KeptRows) else [r.row for r in rows]
    return any(report.ids.get(n) is not None for n in numbers)


def score_rows(
    out: TextIO, report: Report, rows: Sequence[RowFacts], name: str, caption: str
) -> int:
    """A list of a score report's rows (flagged or worst), highest loss first; the rows written."""
    listed = report.shown(rows)
    with_ids = _any_id(report, listed)
    sharded = report.shards is not None
    ranked = report.summary.top_k is not None
    show = ShowColumns(report.show)
    columns = [Column("row", True)]
    columns += [Column("file"), Column("file row", True)] if sharded else []
    columns += [Column("id")] if with_ids else []
    columns += [Column("label"), Column("predicted")]
    columns += [Column(c, True) for c in ("confidence", "p_true", "loss")]
    columns += [Column("rank", True)] if ranked else []
    columns += show.columns()

    def cells() -> Iterator[list[Any]]:
        for r in listed:
            d = report.row_dict(r)
            row = [num(str(d["row"]), d["row"])]
            if sharded:
                row += [d["file"], num(str(d["file_row"]), d["file_row"])]
            if with_ids:
                row.append(missing() if d["id"] is None else d["id"])
            row += [d["label"], d["predicted"]]
            row += [_number(d["confidence"]), _number(d["p_true"]), _number(d["loss"])]
            if ranked:
                row.append(num(str(d["rank"]), d["rank"]))
            yield row + show.cells(d["row"])

    loss = columns.index(next(c for c in columns if c.title == "loss"))
    return table(out, name, caption, columns, cells(), sorted_by=(loss, "descending"))


def label_issue_rows(out: TextIO, report: Report, section: LabelIssueSection) -> int:
    """The likely label errors a person sees, worst first (lowest quality)."""
    rows = section.rows()
    show = ShowColumns(report.show)
    with_ids = any(r["id"] is not None for r in rows)
    columns = [Column("row", True)]
    columns += [Column("file"), Column("file row", True)] if section.shards is not None else []
    columns += [Column("id")] if with_ids else []
    columns += [Column("class")] if section.multilabel else []
    columns += [Column("label"), Column("suggested"), Column("p_suggested", True)]
    columns += [Column("quality", True), *show.columns()]

    def cells() -> Iterator[list[Any]]:
        for r in rows:
            row: list[Any] = [num(str(r["row"]), r["row"])]
            if section.shards is not None:
                row += [r["file"], num(str(r["file_row"]), r["file_row"])]
            if with_ids:
                row.append(missing() if r["id"] is None else r["id"])
            if section.multilabel:
                row.append(r["class"])
            row += [r["label"], r["suggested"], _number(r["p_suggested"]), _number(r["score"])]
            yield row + show.cells(r["row"])

    caption = f"Likely label errors: {len(rows)} of {section.count:,}, worst first"
    quality = len(columns) - len(show.columns()) - 1
    return table(out, "label_issues", caption, columns, cells(), sorted_by=(quality, "ascending"))


def pair_rows(
    out: TextIO,
    report: CompareReport,
    pairs: Sequence[RowPair],
    name: str,
    caption: str,
    order: str = "descending",
) -> int:
    """A comparison's listed rows: both models' predictions and losses, and the difference.

    ``order`` is how they come sorted by the difference (fixed rows: ascending).
    """
    show = ShowColumns(report.show)
    dicts = [report.pair_dict(p) for p in pairs]
    with_ids = any(d["id"] is not None for d in dicts)
    columns = [Column("row", True), *([Column("id")] if with_ids else []), Column("label")]
    columns += [Column("baseline"), Column("baseline conf.", True)]
    columns += [Column("candidate"), Column("candidate conf.", True)]
    columns += [Column(c, True) for c in ("baseline loss", "candidate loss", "difference")]
    columns += show.columns()

    def cells() -> Iterator[list[Any]]:
        for d in dicts:
            row: list[Any] = [num(str(d["row"]), d["row"])]
            if with_ids:
                row.append(missing() if d["id"] is None else d["id"])
            row += [d["label"], d["baseline_predicted"], _number(d["baseline_confidence"])]
            row += [d["candidate_predicted"], _number(d["candidate_confidence"])]
            row += [_number(d["baseline_loss"]), _number(d["candidate_loss"])]
            delta = d["delta_loss"]
            row.append(num("-" if delta is None else f"{delta:+.4f}", delta))
            yield row + show.cells(d["row"])

    difference = len(columns) - len(show.columns()) - 1
    return table(out, name, caption, columns, cells(), sorted_by=(difference, order))
