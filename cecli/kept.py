"""The rows a report lists: the worst by loss, and the worst of the confidently wrong.

:class:`TopRows` is a fold over per-sample scores: it keeps the ``keep`` rows
with the highest loss (ties: the lower row first), or every row when ``keep``
is None. Bounded, it holds at most ``keep`` rows (plus, while a chunk is
added, that chunk's candidates). Unbounded, it keeps each chunk's rows as
NumPy columns and sorts them once, when read, instead of re-sorting
everything kept at every chunk; the columns are not put in that order then,
only the order is kept, and each block of rows is gathered when it is read.

:class:`KeptRows` is what it returns: a read-only sequence of
:class:`RowFacts` over one NumPy array per field, so that two million kept
rows cost 56 bytes each rather than a Python object each; a
:class:`RowFacts` is made only for the rows that are read one by one, and a
renderer may read whole columns (:meth:`KeptRows.column`) instead.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, overload

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    from cecli.losses import SampleScores

#: The facts kept of each row, and their types: one NumPy array per field.
FIELDS: dict[str, type] = {
    "row": np.int64,
    "loss": np.float64,
    "label": np.int64,
    "predicted": np.int64,
    "confidence": np.float64,
    "p_true": np.float64,
    "weight": np.float64,
    "rank": np.int64,
}
#: Kept rows as columns: a field of :data:`FIELDS` to its array, all of one length.
Columns = dict[str, NDArray]
#: Rows turned into Python objects at a time when a :class:`KeptRows` is iterated.
_BLOCK = 8192


@dataclass(frozen=True)
class RowFacts:
    """One row of the input, as the report shows it. ``row`` is 0-based.

    ``rank`` is the true class's rank among the row's predictions (1 = the
    top one), when the scores have ranks (``top_k``); else None.
    """

    row: int
    loss: float
    label: int
    predicted: int
    confidence: float
    p_true: float
    weight: float
    rank: int | None = None


def _facts(values: Sequence[object]) -> RowFacts:
    """A :class:`RowFacts` of one row's values in :data:`FIELDS` order; rank 0 is no rank."""
    facts = RowFacts(*values)  # type: ignore[arg-type]
    return facts if facts.rank else replace(facts, rank=None)


class KeptRows(Sequence[RowFacts]):
    """Kept rows, highest loss first, as a sequence of :class:`RowFacts` over NumPy columns.

    It compares equal to a tuple (or any sequence) of the same :class:`RowFacts`,
    and ``+`` with another sequence gives a tuple, as the tuple it replaces did.

    Parameters
    ----------
    columns : dict of str to numpy.ndarray, optional
        One array per field of :data:`FIELDS`, all of one length; none by default.
    order : numpy.ndarray of int, optional
        Positions in ``columns`` of the rows, in the order to show them; None
        (the default): the rows are in that order already. A slice keeps the
        columns and slices the order, so that a block of the rows is gathered
        only when it is read.

    Examples
    --------
    >>> import numpy as np
    >>> columns = {name: np.zeros(2, dtype) for name, dtype in FIELDS.items()}
    >>> columns["row"], columns["loss"] = np.array([4, 1]), np.array([2.5, 0.5])
    >>> kept = KeptRows(columns)
    >>> len(kept), kept[0].row, kept[-1].loss, [r.row for r in kept]
    (2, 4, 0.5, [4, 1])
    >>> kept.column("row").tolist(), len(kept[:1]), KeptRows() == ()
    ([4, 1], 1, True)
    >>> KeptRows(columns, order=np.array([1, 0]))[:1].column("row").tolist()
    [1]
    """

    __slots__ = ("_columns", "_order")

    def __init__(
        self, columns: Columns | None = None, order: NDArray[np.intp] | None = None
    ) -> None:
        if columns is None:
            columns = _empty()
        if set(columns) != set(FIELDS) or len({len(a) for a in columns.values()}) != 1:
            raise ValueError(f"KeptRows needs one array of one length for each of {list(FIELDS)}.")
        self._columns = {name: columns[name] for name in FIELDS}
        self._order = order

    def __len__(self) -> int:
        return len(self._columns["row"] if self._order is None else self._order)

    @overload
    def __getitem__(self, index: int) -> RowFacts: ...

    @overload
    def __getitem__(self, index: slice) -> KeptRows: ...

    def __getitem__(self, index: int | slice) -> RowFacts | KeptRows:
        if isinstance(index, slice):
            if self._order is not None:
                return KeptRows(self._columns, self._order[index])
            return KeptRows({name: a[index] for name, a in self._columns.items()})
        if self._order is not None:
            index = self._order[index]
        return _facts([a[index].item() for a in self._columns.values()])

    def __iter__(self) -> Iterator[RowFacts]:
        for start in range(0, len(self), _BLOCK):
            part = self[start : start + _BLOCK]
            block = [part.column(name).tolist() for name in FIELDS]
            yield from map(_facts, zip(*block, strict=True))

    def column(self, name: str) -> NDArray:
        """One field of every kept row, in order, as a read-only NumPy array.

        ``name`` is a field of :class:`RowFacts`: "row", "loss", "label",
        "predicted", "confidence", "p_true", "weight" or "rank" (0 for no
        rank). Read a slice's column to have only those rows gathered.
        """
        values = self._columns[name]
        # take, not values[order]: 1.3-1.8x as fast a gather of 1-D columns
        view = values.view() if self._order is None else values.take(self._order)
        view.flags.writeable = False
        return view

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, str):
            return NotImplemented
        return len(self) == len(other) and tuple(self) == tuple(other)

    def __hash__(self) -> int:
        return hash(tuple(self))

    def __add__(self, other: Sequence[RowFacts]) -> tuple[RowFacts, ...]:
        return (*self, *other)

    def __radd__(self, other: Sequence[RowFacts]) -> tuple[RowFacts, ...]:
        return (*other, *self)

    def __repr__(self) -> str:
        return f"KeptRows({list(self)!r})"


def _empty() -> Columns:
    return {name: np.empty(0, dtype) for name, dtype in FIELDS.items()}


def _concatenate(parts: list[Columns]) -> Columns:
    if len(parts) == 1:
        return parts[0]
    return {name: np.concatenate([p[name] for p in parts]) for name in FIELDS}


def _concatenate_freeing(parts: list[Columns]) -> Columns:
    """:func:`_concatenate`, a field at a time, letting go of each field of ``parts`` once copied.

    Two million kept rows are 112 MB a copy: this way the parts and their
    concatenation are held at once only one field at a time. ``parts`` (the
    caller's list) is emptied; the dicts in it are not changed (another fold
    may share them). If the copy fails (no memory), ``parts`` is as it was.
    """
    if len(parts) == 1:
        return parts[0]
    lengths = [len(part["row"]) for part in parts]
    fields = [dict(part) for part in parts]
    parts.clear()  # now the copies of the dicts alone hold the arrays
    rows: Columns = {}
    try:
        for name in FIELDS:
            rows[name] = np.concatenate([f[name] for f in fields])
            for f in fields:
                del f[name]
    except BaseException:
        edges = np.cumsum(lengths)[:-1]
        for name, joined in rows.items():  # the fields copied go back as views of the copy
            for f, piece in zip(fields, np.split(joined, edges), strict=True):
                f[name] = piece
        parts.extend({name: f[name] for name in FIELDS} for f in fields)
        raise
    return rows


def records(scores: SampleScores, positions: NDArray[np.intp] | None = None) -> Columns:
    """The rows of ``scores`` at ``positions`` (all when None), as columns.

    Without ``positions`` the columns are those of ``scores`` where their type is
    already right (no copy): per-sample scores are not changed once made.
    """
    columns = {}
    for name, dtype in FIELDS.items():
        values = getattr(scores, "rows" if name == "row" else name)
        if values is None:  # no ranks: 0, which reads as None
            values = np.zeros(len(scores.loss), dtype)
        if positions is not None:
            values = values[positions]
        columns[name] = np.asarray(values, dtype=dtype)
    return columns


def candidates(loss: NDArray[np.float64], keep: int | None) -> NDArray[np.intp]:
    """Positions of the ``keep`` highest losses, and of every loss tied with the last of them.

    Only these can be among the worst rows, so only these become records.
    """
    if keep is None or len(loss) <= keep:
        return np.arange(len(loss))
    if keep == 0:
        return np.arange(0)
    kth = np.partition(loss, len(loss) - keep)[len(loss) - keep]
    return np.flatnonzero(loss >= kth)


def top(rows: Columns, keep: int | None) -> Columns:
    """The ``keep`` rows with the highest loss, highest first, ties by row.

    Every row tied with the ``keep``-th loss is a candidate, so the result
    does not depend on the order the rows arrived in.
    """
    loss, n = rows["loss"], len(rows["loss"])
    if keep is not None and n > keep:
        if keep == 0:
            return {name: a[:0] for name, a in rows.items()}
        kth = np.partition(loss, n - keep)[n - keep]
        rows = {name: a[loss >= kth] for name, a in rows.items()}
    order = _order(rows["loss"], rows["row"])
    if keep is not None:
        order = order[:keep]
    return {name: a[order] for name, a in rows.items()}


def _order(loss: NDArray[np.float64], row: NDArray[np.int64]) -> NDArray[np.intp]:
    """``np.lexsort((row, -loss))``: loss descending, ties by row; three times faster.

    A quicksort of the losses, then each run of equal losses put in row order.
    """
    key = -loss
    if np.isnan(key).any():
        return np.lexsort((row, key))
    order = np.argsort(key)
    ordered = key[order]
    tied = ordered[1:] == ordered[:-1]
    if not tied.any():
        return order
    in_run = np.zeros(len(key), dtype=bool)
    in_run[:-1] |= tied
    in_run[1:] |= tied
    starts = in_run.copy()
    starts[1:] &= ~tied  # a run starts where the one before is not equal to it
    where = np.flatnonzero(in_run)
    run = np.cumsum(starts[where]) - 1
    tied_rows = row[order[where]]
    low = int(tied_rows.min())
    span = int(tied_rows.max()) - low + 1
    if int(run[-1]) < 2**62 // span:
        # one integer key, run then row: the runs come in order already, which a
        # stable sort (timsort) is quick to see, some ten times faster than the lexsort
        within = np.argsort(run * span + (tied_rows - low), kind="stable")
    else:
        within = np.lexsort((tied_rows, run))
    order[where] = order[where][within]
    return order


class TopRows:
    """A fold that keeps the rows with the highest loss: ``keep`` of them, or all (None).

    :meth:`update` adds a chunk's rows (those ``mask`` marks, or all);
    :meth:`merge` adds another fold's, leaving it as it was; :meth:`result`
    reads them, highest loss first and ties by row, whatever order the chunks
    and merges came in.

    Parameters
    ----------
    keep : int or None
        How many rows to keep; None keeps every row (memory grows with the rows,
        56 bytes each).

    Examples
    --------
    >>> from cecli.losses import score
    >>> scores = score("categorical", [0, 1, 1], [[0.9, 0.1], [0.6, 0.4], [0.2, 0.8]])
    >>> worst = TopRows(keep=2)
    >>> worst.update(scores)
    >>> [r.row for r in worst.result()]
    [1, 2]
    >>> everything = TopRows(keep=None)
    >>> everything.update(scores, mask=scores.loss > 0.2)
    >>> [r.row for r in everything.result()], sorted(everything.rows())
    ([1, 2], [1, 2])
    """

    def __init__(self, keep: int | None) -> None:
        self.keep = keep
        self._parts: list[Columns] = []
        #: Unbounded, once sorted: the order to show the rows of ``_parts[0]``, its one part.
        self._shown: NDArray[np.intp] | None = None

    def update(self, scores: SampleScores, mask: NDArray[np.bool_] | None = None) -> None:
        """Add the rows of ``scores`` that ``mask`` marks (every row when None)."""
        positions = None if mask is None else np.flatnonzero(mask)
        if self.keep is None:
            if len(scores.loss) if positions is None else len(positions):
                self._parts.append(records(scores, positions))
                self._shown = None
            return
        loss = scores.loss if positions is None else scores.loss[positions]
        pick = candidates(loss, self.keep)
        if positions is not None:
            pick = positions[pick]
        self._parts = [top(_concatenate([*self._parts, records(scores, pick)]), self.keep)]

    def merge(self, other: TopRows) -> TopRows:
        """Add the rows ``other`` keeps to this fold (in place), and return it."""
        if other.keep != self.keep:
            raise ValueError("Only folds that keep the same number of rows can be merged.")
        if self.keep is None:
            self._parts = [*self._parts, *other._parts]
            if other._parts:
                self._shown = None
        elif other._parts:
            self._parts = [top(_concatenate([*self._parts, *other._parts]), self.keep)]
        return self

    def row_numbers(self) -> NDArray[np.int64]:
        """The row numbers kept so far, in no order, as one array."""
        if not self._parts:
            return np.empty(0, np.int64)
        return np.concatenate([part["row"] for part in self._parts])

    def rows(self) -> set[int]:
        """The row numbers kept so far, in no order."""
        return set(self.row_numbers().tolist())

    def result(self) -> KeptRows:
        """The rows kept, highest loss first (ties: the lower row first)."""
        if not self._parts:
            return KeptRows()
        if self.keep is not None:  # a bounded fold keeps its rows in order
            return KeptRows(self._parts[0])
        if self._shown is None or len(self._parts) > 1:
            # the one sort of an unbounded fold, kept for the next read; the rows
            # are not moved into that order: each block is gathered as it is read
            rows = _concatenate_freeing(self._parts)
            self._parts = [rows]
            self._shown = _order(rows["loss"], rows["row"])
        return KeptRows(self._parts[0], self._shown)
