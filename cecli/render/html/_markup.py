"""HTML pieces: text escaped unless it is :class:`Markup`, cells, and sortable tables.

Everything that is not :class:`Markup` is escaped where it is put in
(:func:`cecli.render.escape.html`), cecli's own words as much as the data's:
only the code of this package makes markup.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TextIO

from cecli.render.escape import html as _escape


class Markup(str):
    """HTML made by this package, put in as it is (everything else is escaped)."""


def text(value: object) -> Markup:
    """``value`` as HTML: :class:`Markup` as it is, anything else escaped.

    Examples
    --------
    >>> text("<b>"), text(Markup("<b>x</b>")), text(3)
    ('&lt;b&gt;', '<b>x</b>', '3')
    """
    return value if isinstance(value, Markup) else Markup(_escape(value))


@dataclass(frozen=True)
class Cell:
    """One ``td``: its content, the number it sorts by, and a class (``n``: a number)."""

    content: object
    key: float | None = None
    kind: str = ""

    def html(self) -> str:
        attrs = ""
        if self.kind:
            attrs += f' class="{self.kind}"'
        if self.key is not None:
            attrs += f' data-v="{_sort_key(self.key)}"'
        return f"<td{attrs}>{text(self.content)}</td>"


def _sort_key(value: float) -> str:
    """A number as JavaScript's ``parseFloat`` reads it: ``NaN`` for none, ``Infinity``."""
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "Infinity" if value > 0 else "-Infinity"
    return repr(value)


def num(shown: str, value: float | None) -> Cell:
    """A number's cell: ``shown`` as written, sorted by ``value`` (missing: last).

    Examples
    --------
    >>> num("1,234", 1234).html(), num("-", None).html()
    ('<td class="n" data-v="1234">1,234</td>', '<td class="n" data-v="NaN">-</td>')
    """
    return Cell(shown, float("nan") if value is None else value, "n")


def missing() -> Markup:
    """How a missing value shows (JSON has null)."""
    return Markup('<span class="missing">(missing)</span>')


@dataclass(frozen=True)
class Column:
    """A ``th``: its title (escaped), and whether its cells sort as numbers."""

    title: object
    numeric: bool = False

    def html(self, sort: str | None = None) -> str:
        attrs = ' scope="col"' + (' class="n" data-type="num"' if self.numeric else "")
        if sort is not None:
            attrs += f' aria-sort="{sort}"'
        return f"<th{attrs}>{text(self.title)}</th>"


def table(
    out: TextIO,
    name: str,
    caption: object,
    columns: Sequence[Column],
    rows: Iterable[Sequence[Cell | object]],
    *,
    sorted_by: tuple[int, str] | None = None,
    sortable: bool = True,
) -> int:
    """Write a table (in a box that scrolls sideways on a narrow screen); the rows written.

    ``name`` becomes ``data-table``, by which tests and readers find it;
    ``sorted_by`` is the column the rows come sorted by and how
    (``"descending"``), shown as its ``aria-sort``. A cell that is not a
    :class:`Cell` is text.

    Examples
    --------
    >>> import io
    >>> out = io.StringIO()
    >>> table(out, "t", "A <table>", [Column("x"), Column("n", True)], [["<a>", num("1", 1)]])
    1
    >>> print(out.getvalue())  # doctest: +NORMALIZE_WHITESPACE
    <div class="scroll"><table class="sortable" data-table="t">
    <caption>A &lt;table&gt;</caption>
    <thead><tr><th scope="col">x</th><th scope="col" class="n" data-type="num">n</th></tr></thead>
    <tbody>
    <tr><td>&lt;a&gt;</td><td class="n" data-v="1">1</td></tr>
    </tbody></table></div>
    """
    kind = ' class="sortable"' if sortable else ""
    out.write(f'<div class="scroll"><table{kind} data-table="{text(name)}">\n')
    if caption:
        out.write(f"<caption>{text(caption)}</caption>\n")
    heads = "".join(
        c.html(sorted_by[1] if sorted_by is not None and sorted_by[0] == i else None)
        for i, c in enumerate(columns)
    )
    out.write(f"<thead><tr>{heads}</tr></thead>\n<tbody>\n")
    n = 0
    block: list[str] = []
    for row in rows:
        cells = (c.html() if isinstance(c, Cell) else f"<td>{text(c)}</td>" for c in row)
        block.append("<tr>" + "".join(cells) + "</tr>\n")
        n += 1
        if len(block) == _BLOCK_ROWS:  # with --top 0, millions: a block at a time
            out.write("".join(block))
            block.clear()
    out.write("".join(block) + "</tbody></table></div>\n")
    return n


#: Rows of a long table put in text per write.
_BLOCK_ROWS = 4096


def facts(pairs: Iterable[tuple[object, object]]) -> Markup:
    """A list of names and values (a ``dl``), each escaped unless it is :class:`Markup`.

    Examples
    --------
    >>> facts([("file", "<x>.csv")])
    '<dl class="facts"><dt>file</dt><dd>&lt;x&gt;.csv</dd></dl>\\n'
    """
    items = "".join(f"<dt>{text(name)}</dt><dd>{text(value)}</dd>" for name, value in pairs)
    return Markup(f'<dl class="facts">{items}</dl>\n')


def section(out: TextIO, anchor: str, title: object) -> None:
    """A section's heading, with the anchor the navigation links to."""
    out.write(f'<section id="{text(anchor)}">\n<h2>{text(title)}</h2>\n')


def end_section(out: TextIO) -> None:
    out.write("</section>\n")


def paragraph(content: object, kind: str = "") -> Markup:
    attrs = f' class="{kind}"' if kind else ""
    return Markup(f"<p{attrs}>{text(content)}</p>\n")
