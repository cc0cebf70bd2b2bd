"""``--by COLUMN[,COLUMN]``: which columns slice the rows, and which are cut into bins."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cecli.errors import OptionError

#: The most quantile bins ``--by col:N`` may ask for.
MAX_BINS = 1000


@dataclass(frozen=True)
class SliceSpec:
    """One slicing column: its name, and ``bins`` quantile bins (None: each value a slice)."""

    column: str
    bins: int | None = None

    def __str__(self) -> str:
        return self.column if self.bins is None else f"{self.column}:{self.bins}"


def parse_by(text: str) -> tuple[SliceSpec, ...]:
    """``--by``: comma-separated column names, each optionally ``:N`` for N quantile bins.

    Raises
    ------
    cecli.errors.OptionError
        For an empty name, a repeated column, or an ``N`` that is not a whole
        number from 1 to :data:`MAX_BINS`.

    Examples
    --------
    >>> from cecli.slices import parse_by
    >>> parse_by("country, length:10")
    (SliceSpec(column='country', bins=None), SliceSpec(column='length', bins=10))
    >>> parse_by("length:x")
    Traceback (most recent call last):
    ...
    cecli.errors.OptionError: --by 'length:x': the number of bins must be a whole number ...
    """
    specs: list[SliceSpec] = []
    for part in text.split(","):
        item = part.strip()
        name, colon, count = item.rpartition(":") if ":" in item else (item, "", "")
        name = name.strip()
        if not name:
            raise OptionError(
                f"--by {text!r}: every slice needs a column name (write --by COLUMN[,COLUMN], "
                "and COLUMN:10 for 10 quantile bins)."
            )
        bins = None
        if colon:
            count = count.strip()
            if not (count.isdigit() and 1 <= int(count) <= MAX_BINS):
                raise OptionError(
                    f"--by {item!r}: the number of bins must be a whole number from 1 to "
                    f"{MAX_BINS}; got {count!r}."
                )
            bins = int(count)
        if any(s.column == name for s in specs):
            raise OptionError(f"--by {text!r} names the column {name!r} twice.")
        specs.append(SliceSpec(name, bins))
    return tuple(specs)


def check_slice_fields(specs: tuple[SliceSpec, ...], fields: Sequence[tuple[Any, Any]]) -> None:
    """Refuse a ``--by`` column that cannot slice: a row of numbers, or bins of text.

    ``fields`` are ``(source, field)`` pairs, one per spec (see
    :meth:`cecli.inputs.Inputs.slice_fields`).
    """
    for spec, (source, f) in zip(specs, fields, strict=True):
        if f.kind == "matrix":
            raise OptionError(
                f"--by {spec.column!r}: {source.display}'s column {f.name!r} holds a list of "
                "numbers per row; slice by a column of single values."
            )
        if spec.bins is not None and f.kind != "number":
            what = "text" if f.kind == "string" else "true/false values"
            raise OptionError(
                f"--by {spec}: {source.display}'s column {f.name!r} holds {what}, which cannot "
                f"be cut into quantile bins; write --by {spec.column} to slice by its values."
            )
