"""A reader of the ``--html`` page for the tests, on :mod:`html.parser` (no browser).

:class:`Page` keeps every start tag with its attributes, the text of each
table's body cells (by the table's ``data-table``), the text of each
section, and the scripts and style sheets: what the tests compare with the
JSON document and check for anything that could act.
"""

from __future__ import annotations

from html.parser import HTMLParser


class Page(HTMLParser):
    def __init__(self, source: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.tables: dict[str, list[list[str]]] = {}
        self.heads: dict[str, list[str]] = {}
        self.scripts: list[str] = []
        self.styles: list[str] = []
        self._table: str | None = None
        self._part: str | None = None
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self._raw: list[str] | None = None
        #: Per element: the ``aria-label`` of the picture it is drawn in (None outside one).
        self.drawn_in: list[str | None] = []
        self._svgs: list[str | None] = []
        self.feed(source)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        if tag == "svg":
            self._svgs.append(named.get("aria-label"))
        self.tags.append((tag, named))
        self.drawn_in.append(self._svgs[-1] if self._svgs else None)
        if tag == "table":
            self._table = named.get("data-table") or ""
            self.tables[self._table] = []
            self.heads[self._table] = []
        elif tag in ("thead", "tbody"):
            self._part = tag
        elif tag == "tr" and self._table is not None:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []
        elif tag in ("script", "style"):
            self._raw = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "svg" and self._svgs:
            self._svgs.pop()
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append("".join(self._cell))
            self._cell = None
        elif tag == "tr" and self._row is not None and self._table is not None:
            target = self.tables if self._part == "tbody" else self.heads
            if self._part == "tbody":
                target[self._table].append(self._row)
            else:
                target[self._table] = self._row
            self._row = None
        elif tag == "table":
            self._table = None
        elif tag in ("script", "style") and self._raw is not None:
            (self.scripts if tag == "script" else self.styles).append("".join(self._raw))
            self._raw = None

    def handle_data(self, data: str) -> None:
        if self._raw is not None:
            self._raw.append(data)
        elif self._cell is not None:
            self._cell.append(data)

    def column(self, table: str, name: str) -> list[str]:
        """The cells of the column headed ``name`` (its text, sort marks aside)."""
        index = self.heads[table].index(name)
        return [row[index] for row in self.tables[table]]

    def elements(self, tag: str, drawn_in: str | None = None) -> list[dict[str, str | None]]:
        """The attributes of each ``tag``; with ``drawn_in``, those in the picture of that label."""
        return [
            attrs
            for (t, attrs), picture in zip(self.tags, self.drawn_in, strict=True)
            if t == tag and (drawn_in is None or (picture or "").startswith(drawn_in))
        ]
