"""The "Likely label errors" section, for the terminal table and for markdown.

Both read :class:`~cecli.report.label_issues.LabelIssueSection`; class
names and ids are data, escaped for where they go
(:func:`cecli.render.escape.terminal`, :func:`cecli.render.escape.markdown`).
rich is imported only by :func:`table_parts`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cecli.render._show_cells import MAX_WIDTH, fitted
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
    """One sentence: how many rows look mislabelled, and confident learning's own estimate.

    Examples
    --------
    >>> from cecli.label_issues import LabelIssueFindings, find_label_issues
    >>> result = find_label_issues([0, 0, 1, 1], [[.9, .1], [.2, .8], [.1, .9], [.3, .7]])
    >>> section = LabelIssueSection(LabelIssueFindings("categorical", [result]), ["a", "b"], 10)
    >>> text = headline(section, 4)
    >>> text.split(";")[0], "alone counts 1 " in text
    ('1 of 4 rows (25.0%) look mislabelled', True)
    """
    share = section.count / n_samples if n_samples else 0.0
    estimated = section.findings.estimated_issues
    return (
        f"{section.count:,} of {n_samples:,} rows ({share:.1%}) look mislabelled; the "
        f"confident joint alone counts {estimated:,} (cleanlab's num_label_issues)."
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


def _shown_names(section: LabelIssueSection) -> list[str]:
    """The ``--show`` columns' names (data: each renderer escapes them), after the others."""
    return [] if section.show is None else list(section.show.names)


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
        cells += [escape(v or "") for v in r.get("show", {}).values()]
        out.append(cells)
    return out


def _matrix(section: LabelIssueSection) -> tuple[list[str], list[list[str]]] | None:
    """The noise matrix as a header and rows of cells, when it is small enough to read."""
    matrix = section.noise_matrix()
    if section.multilabel or matrix is None or len(matrix) > SHOWN_MATRIX_CLASSES:
        return None
    names = [section.class_name(i) for i in range(len(matrix))]
    return names, [[f"{p:.2f}" if p else "." for p in row] for row in matrix]


def _fits(names: list[str], width: int) -> bool:
    """Whether a matrix of these class names, and numbers like 0.97, fits in ``width`` columns."""
    cells = [max(len(visible(name)), 4) + 2 for name in names]
    return max(len("given"), *(len(visible(n)) for n in names)) + 2 + sum(cells) <= width


def table_parts(
    section: LabelIssueSection, n_samples: int, width: int = 80
) -> list[RenderableType]:
    """rich renderables: the headline, the issues worst first, the pairs and the matrix.

    The noise matrix is left out when it would not fit in ``width`` columns
    (a line says it is in the JSON): a cut name or number would mislead.
    """
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
    for name in _shown_names(section):
        table.add_column(terminal(name), overflow="ellipsis", no_wrap=True, max_width=MAX_WIDTH)
    for cells in _cells(section, terminal):
        table.add_row(*cells)
    parts.append(fitted(table, section.show) if shown else "No likely label errors.\n")
    lines = [headline(section, n_samples), *([QUALITY_NOTE] if shown else [])]
    pairs = section.confused_pairs()[:SHOWN_PAIRS]
    if pairs:
        lines += ["", "[bold]Most confused[/]"]
        lines += [f"  {escape(_pair_text(p, visible))}" for p in pairs]
    parts.append("\n".join(escape(line) if i < 2 else line for i, line in enumerate(lines)) + "\n")
    matrix = _matrix(section)
    wide = matrix is not None and not _fits(matrix[0], width)
    if section.count and not section.multilabel and (matrix is None or wide):
        parts.append("The estimated noise matrix is in -f json (noise_matrix).\n")
    elif matrix is not None and section.count:
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
        header = columns + [md(name) for name in _shown_names(section)]
        lines += [*_table(header, _cells(section, md), right), ""]
    pairs = section.confused_pairs()[:SHOWN_PAIRS]
    if pairs:
        lines += ["Most confused:", "", *(f"- {_pair_text(p, md)}" for p in pairs), ""]
    matrix = _matrix(section)
    if section.count and matrix is None and not section.multilabel:
        lines += ["The estimated noise matrix is in `-f json` (`noise_matrix`).", ""]
    if matrix is not None and section.count:
        names, rows = matrix
        header = ["given \\ true", *map(md, names)]
        cells = [[md(name), *row] for name, row in zip(names, rows, strict=True)]
        lines += ["Estimated noise, P(given label | true label):", ""]
        lines += [*_table(header, cells, set(range(1, len(header)))), ""]
    return lines
