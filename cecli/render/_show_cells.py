"""The ``--show`` columns of listed rows, for every renderer that lists rows.

A listed row's JSON gains ``"show"``, an object of the columns' values (text,
or null where a cell is missing), after its other keys; the streaming writers
of :mod:`cecli.render.json` fill it from :func:`json_texts`, the same text
:func:`json.dumps` writes with ``indent=2``. The table gains a column per
shown name, each cell made safe for the terminal and cut short, with an
ellipsis, when the terminal is too narrow; markdown escapes every value for
GitHub-flavoured markdown.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from cecli.errors import OptionError
from cecli.render import escape

if TYPE_CHECKING:
    from rich.console import Console, ConsoleOptions, RenderResult
    from rich.table import Column, Table
    from rich.text import Text

    from cecli.shown import Shown

_string = json.JSONEncoder().encode
#: The columns a per-sample file may have already: a ``--show`` column of one of these names
#: is written as ``show_NAME``.
_OWN_COLUMNS = ("row", "file", "file_row", "id", "label", "predicted", "confidence", "p_true",
                "loss", "flagged", "rank", "ignored", "weight", "label_issue", "label_quality",
                "el2n")  # fmt: skip
#: The widest a shown column is drawn when there is room; narrower when there is not.
MAX_WIDTH = 40
#: The narrowest a shown column is cut to.
MIN_WIDTH = 6


def json_texts(show: Shown, rows: Iterable[int]) -> list[str]:
    """Each row's ``"show"`` value as ``json.dumps(indent=2)`` writes it in a listed row.

    Examples
    --------
    >>> from cecli.shown import Shown
    >>> print(json_texts(Shown(("caption", "url")), [0])[0])
    {
            "caption": null,
            "url": null
          }
    """
    keys = [f"        {_string(name)}: " for name in show.names]
    out = []
    for row in rows:
        values = show.row(row)
        lines = ",\n".join(
            key + ("null" if v is None else _string(v)) for key, v in zip(keys, values, strict=True)
        )
        out.append("{\n" + lines + "\n      }" if keys else "{}")
    return out


def add_columns(table: Table, show: Shown | None) -> None:
    """A column per shown name, cut short with an ellipsis when the terminal is narrow."""
    if show is None:
        return
    for name in show.names:
        table.add_column(
            escape.terminal(name), overflow="ellipsis", no_wrap=True, max_width=MAX_WIDTH
        )


class Fitted:
    """A table whose ``--show`` columns (its last ``n_shown``) are cut to fit the width.

    rich narrows the columns that may wrap first, which would squeeze the numbers;
    here the shown columns give up their width instead, the widest first, down to
    :data:`MIN_WIDTH` each, their values ending in an ellipsis. If even then the
    table is too wide, the last shown columns are left out, and a line under the
    table names them: cecli's own columns are always drawn whole.

    Examples
    --------
    >>> from rich.console import Console
    >>> from rich.table import Table
    >>> from cecli.shown import Shown
    >>> table = Table("row", "loss")
    >>> add_columns(table, Shown(("caption", "source")))
    >>> table.add_row("0", "6.9282", "a cat on a mat, seen from the left", "the camera on the left")
    >>> def draw(width):
    ...     console = Console(width=width, color_system=None)
    ...     with console.capture() as captured:
    ...         console.print(Fitted(table, 2))
    ...     return captured.get().rstrip().splitlines()
    >>> print("\\n".join(draw(40)))
    ┏━━━━━┳━━━━━━━━┳━━━━━━━━━━━┳━━━━━━━━━━━┓
    ┃ row ┃ loss   ┃ caption   ┃ source    ┃
    ┡━━━━━╇━━━━━━━━╇━━━━━━━━━━━╇━━━━━━━━━━━┩
    │ 0   │ 6.9282 │ a cat on… │ the came… │
    └─────┴────────┴───────────┴───────────┘
    >>> lines = draw(30)
    >>> print(lines[3]); print(" ".join(lines[5:]))
    │ 0   │ 6.9282 │ a cat on a… │
    Left out for the width: source (see -f json).
    """

    def __init__(self, table: Table, n_shown: int) -> None:
        self.table, self.n_shown = table, n_shown

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        from rich.measure import Measurement

        table, left_out = self.table, []
        n_shown = self.n_shown
        while n_shown:
            shown = table.columns[len(table.columns) - n_shown :]
            for column in shown:
                column.max_width = MAX_WIDTH
            natural = Measurement.get(console, options.update(width=10**6), table).maximum
            over = natural - options.max_width
            if over <= 0:
                break
            widths = [_natural_width(console, options, c) for c in shown]
            narrowed = _narrowed(widths, over)
            if sum(widths) - sum(narrowed) >= over:
                for column, width in zip(shown, narrowed, strict=True):
                    column.max_width = width
                break
            left_out.insert(0, table.columns.pop())  # even at their narrowest they do not fit
            n_shown -= 1
        yield table
        if left_out:
            from rich.text import Text

            names = ", ".join(str(c.header) for c in left_out)  # escaped by add_columns
            yield Text(f"Left out for the width: {names} (see -f json).\n")  # not markup
        table.columns.extend(left_out)  # as it was, should it be drawn again
        for column in table.columns[len(table.columns) - self.n_shown :]:
            column.max_width = MAX_WIDTH


def _natural_width(console: Console, options: ConsoleOptions, column: Column) -> int:
    from rich.measure import Measurement

    cells = [column.header, *column.cells]
    wide = options.update(width=10**6)  # as the table's natural width is measured
    width = max(Measurement.get(console, wide, c).maximum for c in cells)
    return min(width, column.max_width or width)


def _narrowed(widths: list[int], over: int) -> list[int]:
    """``widths`` less ``over`` in all, the widest first, none below :data:`MIN_WIDTH`.

    Examples
    --------
    >>> _narrowed([30, 10, 5], 20)
    [10, 10, 5]
    >>> _narrowed([30, 10, 5], 25)
    [7, 8, 5]
    """
    widths = list(widths)
    while over > 0:
        widest = max(range(len(widths)), key=widths.__getitem__)
        if widths[widest] <= MIN_WIDTH:
            break
        widths[widest] -= 1
        over -= 1
    return widths


def fitted(table: Table, show: Shown | None) -> Table | Fitted:
    """``table``, its shown columns (added last by :func:`add_columns`) cut to fit."""
    return table if show is None else Fitted(table, len(show.names))


def terminal_cells(show: Shown | None, row: int) -> list[Text]:
    """The row's shown values for the table: made visible and inert, "" where missing."""
    if show is None:
        return []
    return [escape.terminal("" if v is None else v) for v in show.row(row)]


def markdown_header(show: Shown | None) -> list[str]:
    return [] if show is None else [escape.markdown(name) for name in show.names]


def markdown_cells(show: Shown | None, row: int) -> list[str]:
    """The row's shown values for a GFM table: escaped, "" where missing."""
    if show is None:
        return []
    return ["" if v is None else escape.markdown(v) for v in show.row(row)]


def per_sample_names(show: Sequence[str], suffix: str) -> tuple[str, ...]:
    """The per-sample file's names of the ``--show`` columns; NPY refuses them (numbers only).

    A name of one of the file's own columns gains ``show_``; in CSV, a name that a
    spreadsheet would run as a formula is defused as the cells are
    (:func:`~cecli.render.escape.spreadsheet`): the header is a row of cells too.

    Examples
    --------
    >>> per_sample_names(["caption", "loss"], ".csv")
    ('caption', 'show_loss')
    >>> per_sample_names(["=1+1", "-x"], ".csv"), per_sample_names(["=1+1"], ".parquet")
    (("'=1+1", "'-x"), ('=1+1',))
    """
    if show and suffix == ".npy":
        raise OptionError(
            "--per-sample: an .npy file holds numbers only, not the --show columns; name it "
            ".csv or .parquet to have them, or leave out --show."
        )
    names: list[str] = []
    for name in show:
        if suffix == ".csv":
            name = escape.spreadsheet(name)
        while name in _OWN_COLUMNS or name in names:
            name = f"show_{name}"
        names.append(name)
    return tuple(names)
