"""The ``--show`` columns' values of the listed rows: :class:`Shown`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Shown:
    """Extra columns of the input carried into every listed row (``--show``).

    ``names`` are the columns, in the order asked; ``values`` maps a row's
    0-based number to its values, one per name, each a string or None where
    the cell is missing. Only the rows a report lists have values, so the
    memory this takes is bounded by what is listed, not by the input.

    Examples
    --------
    >>> shown = Shown(("caption", "image"), {3: ("a cat", "img/3.png")})
    >>> shown.row(3)
    ('a cat', 'img/3.png')
    >>> shown.row(4)
    (None, None)
    >>> shown.as_dict(3)
    {'caption': 'a cat', 'image': 'img/3.png'}
    """

    names: tuple[str, ...]
    values: Mapping[int, tuple[str | None, ...]] = field(default_factory=dict)

    def row(self, row: int) -> tuple[str | None, ...]:
        """The values of ``row``, or one None per column if it has none."""
        return tuple(self.values.get(row, (None,) * len(self.names)))

    def as_dict(self, row: int) -> dict[str, str | None]:
        """The values of ``row`` keyed by column name, as JSON shows them."""
        return dict(zip(self.names, self.row(row), strict=True))
