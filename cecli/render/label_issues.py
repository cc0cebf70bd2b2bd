"""The "Likely label errors" section, for the terminal table and for markdown.

Both read :class:`~cecli.report.label_issues.LabelIssueSection`; class
names and ids are data, escaped for where they go
(:func:`cecli.render.escape.terminal`, :func:`cecli.render.escape.markdown`).
rich is imported only by :func:`table_parts`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cecli.render.escape import markdown as md
from cecli.render.escape import terminal, visible
from cecli.report.format import fmt_number
from cecli.report.label_issues import SHOWN_MATRIX_CLASSES, LabelIssueSection

if TYPE_CHECKING:
    from rich.console import RenderableType

#: Confused pairs a person sees.
SHOWN_PAIRS = 5
#: What the quality column is.
QUALITY_NOTE = "quality: the probability the model gives the label (lower: more likely wrong)."


def headline(section: LabelIssueSection, n_samples: int) -> str:
    """One sentence: how many rows look mislabelled, and what the estimate was.

    Examples
    --------
    >>> from cecli.label_issues import LabelIssueFindings, find_label_issues
    >>> result = find_label_issues([0, 0, 1, 1], [[.9, .1], [.2, .8], [.1, .9], [.3, .7]])
    >>> section = LabelIssueSection(LabelIssueFindings("categorical", [result]), ["a", "b"], 10)
    >>> headline(section, 4)
    '1 of 4 rows (25.0%) look mislabelled (confident learning; it estimated 1).'
    """
    share = section.count / n_samples if n_samples else 0.0
    estimated = section.findings.estimated_issues
    return (
        f"{section.count:,} of {n_samples:,} rows ({share:.1%}) look mislabelled "
        f"(confident learning; it estimated {estimated:,})."
    )


def _pair_text(pair: dict[str, Any], escape: Any) -> str:
    where = f"{escape(pair['class'])}: " if "class" in pair else ""
    rows = "row" if pair["count"] == 1 else "rows"
    return (
        f"{where}labelled {escape(pair['label'])}, looks {escape(pair['suggested'])}: "
        f"{pair['count']:,} {rows}"
    )


def _columns(section: LabelIssueSection) -> list[str]:
    ids = any(r["id"] is not None for r in section.rows())
    head = ["row", *(["id"] if ids else []), *(["class"] if section.multilabel else [])]
    return [*head, "label", "suggested", "p_suggested", "quality"]


def _cells(section: LabelIssueSection, escape: Any) -> list[list[str]]:
    columns = _columns(section)
    out = []
    for r in section.rows():
        cells = [str(r["row"])]
        if "id" in columns:
            cells.append(escape(r["id"] or ""))
        if section.multilabel:
            cells.append(escape(r["class"]))
        cells += [escape(r["label"]), escape(r["suggested"])]
        cells += [fmt_number(r["p_suggested"]), fmt_number(r["score"])]
        out.append(cells)
    return out


def _matrix(section: LabelIssueSection) -> tuple[list[str], list[list[str]]] | None:
    """The noise matrix as a header and rows of cells, when it is small enough to read."""
    matrix = section.noise_matrix()
    if section.multilabel or matrix is None or len(matrix) > SHOWN_MATRIX_CLASSES:
        return None
    names = [section.class_name(i) for i in range(len(matrix))]
    return names, [[f"{p:.2f}" if p else "." for p in row] for row in matrix]


def table_parts(section: LabelIssueSection, n_samples: int) -> list[RenderableType]:
    """rich renderables: the headline, the issues worst first, the pairs and the matrix."""
    from rich import box
    from rich.markup import escape
    from rich.table import Table

    parts: list[RenderableType] = []
    shown = section.rows()
    title = f"Likely label errors: {len(shown)} of {section.count:,}, worst first"
    table = Table(box=box.SIMPLE_HEAD, title=title, title_justify="left")
    columns = _columns(section)
    for name in columns:
        right = name in ("row", "p_suggested", "quality")
        table.add_column(name, justify="right" if right else "left", overflow="fold")
    for cells in _cells(section, terminal):
        table.add_row(*cells)
    parts.append(table if shown else "No likely label errors.\n")
    lines = [headline(section, n_samples), *([QUALITY_NOTE] if shown else [])]
    pairs = section.confused_pairs()[:SHOWN_PAIRS]
    if pairs:
        lines += ["", "[bold]Most confused[/]"]
        lines += [f"  {escape(_pair_text(p, visible))}" for p in pairs]
    parts.append("\n".join(escape(line) if i < 2 else line for i, line in enumerate(lines)) + "\n")
    matrix = _matrix(section)
    if matrix is not None and section.count:
        names, rows = matrix
        grid = Table(
            box=box.SIMPLE_HEAD,
            title="Estimated noise: P(given label | true label), true labels across",
            title_justify="left",
            padding=(0, 1),
        )
        grid.add_column("given", overflow="fold")
        for name in names:
            grid.add_column(terminal(name), justify="right", no_wrap=True, overflow="fold")
        for name, row in zip(names, rows, strict=True):
            grid.add_row(terminal(name), *row)
        parts.append(grid)
    return parts


def markdown_lines(section: LabelIssueSection, n_samples: int) -> list[str]:
    """The section as GitHub-flavoured markdown lines."""
    from cecli.render.markdown import _table

    shown = section.rows()
    lines = [f"#### Likely label errors: {len(shown)} of {section.count:,}", ""]
    lines += [headline(section, n_samples) + (" " + QUALITY_NOTE.capitalize() if shown else ""), ""]
    if shown:
        columns = _columns(section)
        right = {0, len(columns) - 2, len(columns) - 1}
        lines += [*_table(columns, _cells(section, md), right), ""]
    pairs = section.confused_pairs()[:SHOWN_PAIRS]
    if pairs:
        lines += ["Most confused:", "", *(f"- {_pair_text(p, md)}" for p in pairs), ""]
    matrix = _matrix(section)
    if matrix is not None and section.count:
        names, rows = matrix
        header = ["given \\ true", *map(md, names)]
        cells = [[md(name), *row] for name, row in zip(names, rows, strict=True)]
        lines += ["Estimated noise, P(given label | true label):", ""]
        lines += [*_table(header, cells, set(range(1, len(header)))), ""]
    return lines
