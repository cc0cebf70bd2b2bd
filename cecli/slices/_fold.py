"""The slice fold: per-slice sums of the per-row facts, chunk by chunk; mergeable.

Per slice it keeps the row count, the rows right and flagged, and the sums
the mean loss and its interval need (those of :mod:`cecli.mean_interval`,
kept per slice): ``S1 = sum b``, ``S2 = sum b^2``, ``S3 = sum b^3``, and of
the losses shifted by the slice's first loss ``K`` (``d = l - K``, so that
no sum of squares cancels when the mean is large against the spread):
``A = sum b d``, ``B = sum b^2 d``, ``C = sum b^2 d^2``. ``b`` is a row's
weight in the mean: its sample weight times its class weight.

Each sum is added in row order, one row at a time (a chunk's rows follow
the slice's total so far in one :func:`numpy.bincount`), so the sums have
the same bits whatever the chunk size. Merging two folds adds their sums
slice by slice (after shifting to one ``K``): the same to rounding, and the
same bits for the same states merged in the same order.

With calibration bins, each (slice, bin) pair present keeps its weight and
weighted sums of confidence and credit, for the slice's ECE: at most one
entry per prediction value, and no more than ``slices x bins``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from cecli.errors import OptionError
from cecli.slices._keys import ValueCodes, first_rows
from cecli.slices._spec import SliceSpec
from cecli.view import ChunkView

if TYPE_CHECKING:
    from cecli.slices._result import SliceTable

#: The float sums kept per slice, in this order.
SUMS = ("shift", "s1", "s2", "s3", "a", "b", "c")
#: The counts kept per slice.
COUNTS = ("count", "correct", "flagged")
#: The sums kept per (slice, calibration bin).
BIN_SUMS = ("weight", "confidence", "credit")


def _ordered_add(
    totals: NDArray[np.float64], where: NDArray[np.intp], local: NDArray[np.intp], x: np.ndarray
) -> None:
    """``totals[where[j]] += x[i]`` for each row ``i`` of local slice ``j = local[i]``, in order.

    ``bincount`` adds its weights one at a time in order: the slice's total so
    far goes first, then the chunk's rows, so the result does not depend on
    where the chunks begin.
    """
    m = len(where)
    index = np.concatenate([np.arange(m, dtype=np.intp), local])
    totals[where] = np.bincount(index, weights=np.concatenate([totals[where], x]), minlength=m)


class _Table:
    """Growable columns of equal length: float sums and int counts."""

    def __init__(self, floats: Sequence[str], ints: Sequence[str]) -> None:
        self.n = 0
        self.columns = {name: np.zeros(0) for name in floats}
        self.columns |= {name: np.zeros(0, dtype=np.int64) for name in ints}

    def grow(self, n: int) -> None:
        """Room for ``n`` entries, the new ones zero."""
        if n <= self.n:
            return
        for name, column in self.columns.items():
            if n > len(column):
                bigger = np.zeros(max(n, 2 * len(column), 16), dtype=column.dtype)
                bigger[: self.n] = column[: self.n]
                self.columns[name] = bigger
        self.n = n

    def __getitem__(self, name: str) -> np.ndarray:
        return self.columns[name][: self.n]

    def copy(self) -> _Table:
        out = _Table((), ())
        out.n = self.n
        out.columns = {name: column[: self.n].copy() for name, column in self.columns.items()}
        return out


class SliceFold:
    """Per-slice row counts, loss sums, right and flagged rows; a fold over checked chunks.

    Parameters
    ----------
    specs : sequence of SliceSpec
        The slicing columns (see :func:`cecli.slices.parse_by`).
    class_weights : array-like, optional
        Explicit per-class weights, applied to each row as the mean loss does
        (not for multilabel, whose losses are already label-weighted).
    calibration_bins : int, optional
        Equal-width confidence bins for each slice's ECE; None for none.

    Examples
    --------
    >>> import numpy as np
    >>> from cecli.slices import SliceFold, SliceSpec
    >>> from cecli.view import view_of
    >>> fold = SliceFold([SliceSpec("group")])
    >>> view = view_of("binary", [1, 1, 0, 0], [0.9, 0.6, 0.2, 0.7])
    >>> _ = fold.add(view, [np.array(["a", "b", "a", "b"], dtype=object)])
    >>> table = fold.result(min_rows=1)
    >>> [(s.value, s.n_samples, round(s.mean_loss, 4)) for s in table.slices]
    [('b', 2, 0.8574), ('a', 2, 0.1643)]
    """

    def __init__(
        self,
        specs: Sequence[SliceSpec],
        class_weights: NDArray[np.float64] | None = None,
        calibration_bins: int | None = None,
    ) -> None:
        self.specs = tuple(specs)
        if not self.specs:
            raise OptionError("--by needs at least one column.")
        self.class_weights = None if class_weights is None else np.asarray(class_weights, float)
        self.calibration_bins = calibration_bins
        self.columns = [ValueCodes() for _ in self.specs]
        #: Several columns: each slice's code in each column, and the slice of a combination.
        self._combos: dict[tuple[int, ...], int] = {}
        self._combo_codes = _Table((), [str(j) for j in range(len(self.specs))])
        self.sums = _Table(SUMS, COUNTS)
        self.sample_weighted = False
        #: Extra per-slice counts of named row masks (see :meth:`count`).
        self.marks: dict[str, NDArray[np.int64]] = {}
        #: Calibration: the (slice, bin) pairs present, and their sums.
        self._bin_keys: dict[int, int] = {}
        self._bin_slice = _Table((), ("slice",))
        self.bin_sums = _Table(BIN_SUMS, ())

    @property
    def n_slices(self) -> int:
        return self.sums.n

    # -- keys --------------------------------------------------------------------------

    def slice_rows(self, values: Sequence[np.ndarray]) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
        """Each row's local slice (0.. in order of appearance) and each local slice's number.

        New slices are numbered here, in the order their first rows come.
        """
        if len(values) != len(self.columns):
            raise OptionError(f"--by has {len(self.columns)} columns; got {len(values)}.")
        parts = [column.chunk(v) for column, v in zip(self.columns, values, strict=True)]
        if len(parts) == 1:
            local, where = parts[0]
            self.sums.grow(max(self.sums.n, len(self.columns[0])))
            return local, where
        # the chunk's combinations of local codes, two columns at a time (no overflow:
        # a local code is below the chunk's rows)
        local = parts[0][0]
        for codes, _ in parts[1:]:
            local, _ = _local_codes(local * (int(codes.max(initial=0)) + 1) + codes)
        n_local = int(local.max(initial=-1)) + 1
        first = first_rows(local, n_local)
        combos = np.column_stack([where[codes[first]] for codes, where in parts])
        where = np.empty(n_local, dtype=np.intp)
        known = self._combos
        for j, combo in enumerate(map(tuple, combos.tolist())):
            number = known.get(combo)
            if number is None:
                number = known[combo] = len(known)
            where[j] = number
        start = self._combo_codes.n
        self._combo_codes.grow(len(known))
        self.sums.grow(len(known))
        new = where >= start
        for j in range(len(parts)):
            self._combo_codes.columns[str(j)][where[new]] = combos[new, j]
        return local, where

    def slice_codes(self) -> NDArray[np.intp]:
        """Each slice's code in each column: ``n_slices x n_columns``."""
        if len(self.columns) == 1:
            return np.arange(self.n_slices, dtype=np.intp)[:, None]
        return np.column_stack(
            [self._combo_codes[str(j)] for j in range(len(self.columns))]
        ).astype(np.intp)

    # -- adding ------------------------------------------------------------------------

    def row_weights(self, view: ChunkView) -> NDArray[np.float64] | None:
        """Each row's weight in the mean loss: sample weight times class weight (None: 1)."""
        w = self.class_weights
        if view.cell_ignored is not None:  # a multilabel row weighs its share of cells kept
            return view.scores.weight
        if w is None or view.kind == "multilabel":
            return view.weights
        scores = view.scores
        if view.kind == "binary":
            t = view.targets
            assert t is not None
            row = w[1] * t + w[0] * (1.0 - t)
        else:
            row = w[scores.label] if scores.targets is None else scores.targets @ w
        return row if view.weights is None else row * view.weights

    def add(
        self,
        view: ChunkView,
        values: Sequence[np.ndarray],
        marks: Mapping[str, NDArray[np.bool_]] | None = None,
    ) -> NDArray[np.intp]:
        """Add a checked chunk whose rows have the slicing columns' ``values``.

        ``marks`` are named boolean masks of the chunk's rows, counted per
        slice (see :meth:`count`). Returns each row's slice number, for a fold
        that keeps some rows and counts them per slice at the end.
        """
        self.sample_weighted |= view.weights is not None
        scores = view.scores
        slices = self.add_rows(
            values, scores.loss, self.row_weights(view), scores.correct, scores.flagged, marks
        )
        if self.calibration_bins is not None:
            self._add_bins(view, slices)
        return slices

    def add_rows(
        self,
        values: Sequence[np.ndarray],
        loss: NDArray[np.float64],
        weights: NDArray[np.float64] | None = None,
        correct: NDArray[np.bool_] | None = None,
        flagged: NDArray[np.bool_] | None = None,
        marks: Mapping[str, NDArray[np.bool_]] | None = None,
    ) -> NDArray[np.intp]:
        """Add rows given as arrays: their slicing values, losses, weights ``b`` (None: 1).

        What :meth:`add` does with a view's facts; ``cecli compare`` adds the
        per-row loss differences this way. Returns each row's slice number.
        """
        local, where = self.slice_rows(values)
        sums = self.sums
        columns = sums.columns
        m = len(where)
        fresh = sums["count"][where] == 0
        if fresh.any():  # a new slice is shifted by its first loss
            first = first_rows(local, m)
            sums["shift"][where[fresh]] = loss[first[fresh]]
        for name, mask in (("count", None), ("correct", correct), ("flagged", flagged)):
            if name == "count" or mask is not None:
                counted = local if mask is None else local[mask]
                columns[name][where] += np.bincount(counted, minlength=m)
        d = loss - sums["shift"][where][local]
        b = weights
        if b is None:
            n = np.bincount(local, minlength=m).astype(np.float64)  # whole numbers: exact
            for name in ("s1", "s2", "s3"):
                columns[name][where] += n
            _ordered_add(columns["a"], where, local, d)
            columns["b"][where] = columns["a"][where]
            _ordered_add(columns["c"], where, local, d * d)
        else:
            b2 = b * b
            for name, x in (("s1", b), ("s2", b2), ("s3", b2 * b), ("a", b * d), ("b", b2 * d)):
                _ordered_add(columns[name], where, local, x)
            _ordered_add(columns["c"], where, local, b2 * d * d)
        for name, mask in (marks or {}).items():
            self._mark(name, where, np.bincount(local[mask], minlength=m))
        return where[local]

    def _mark(self, name: str, where: NDArray[np.intp], counts: NDArray[np.int64]) -> None:
        mine = self.marks.get(name, np.zeros(0, dtype=np.int64))
        if len(mine) < self.n_slices:
            mine = np.concatenate([mine, np.zeros(self.n_slices - len(mine), dtype=np.int64)])
        np.add.at(mine, where, counts)
        self.marks[name] = mine

    def count(self, name: str, slices: NDArray[np.intp]) -> None:
        """Count rows per slice under ``name``, given each row's slice number.

        The hook for a statistic known only at the end (say, rows chosen as
        label issues): keep the slice number :meth:`add` returns for the rows
        it may choose, then count the chosen ones here. The counts appear as
        ``marks[name]`` of each slice in the result.
        """
        slices = np.asarray(slices, dtype=np.intp)
        self._mark(name, np.arange(self.n_slices), np.bincount(slices, minlength=self.n_slices))

    def count_totals(self, name: str, counts: NDArray[np.int64]) -> None:
        """Add ``counts[i]`` rows to slice ``i`` under ``name`` (:meth:`count`, already counted).

        Examples
        --------
        >>> import numpy as np
        >>> from cecli.slices import SliceFold, SliceSpec
        >>> fold = SliceFold([SliceSpec("g")])
        >>> local, where = fold.slice_rows([np.array(["a", "b", "a"], dtype=object)])
        >>> fold.count_totals("label_issues", np.array([2, 0]))
        >>> fold.marks["label_issues"].tolist()
        [2, 0]
        """
        counts = np.asarray(counts, dtype=np.int64)
        self._mark(name, np.arange(len(counts)), counts)

    def _add_bins(self, view: ChunkView, slices: NDArray[np.intp]) -> None:
        from cecli.calibration._bins import _bin_edges, _bin_index
        from cecli.calibration._facts import facts_of_view

        facts = facts_of_view(view)
        n_bins = self.calibration_bins
        assert n_bins is not None
        per_value = len(facts.confidence) // max(1, view.n_rows)
        if per_value != 1:
            slices = np.repeat(slices, per_value)
        key = slices.astype(np.int64) * n_bins + _bin_index(facts.confidence, _bin_edges(n_bins))
        local, keys = _local_codes(key)
        where = self._bin_numbers(keys)
        w = view.weights
        if w is not None and per_value != 1:
            w = np.repeat(w, per_value)
        credit = np.asarray(facts.credit, dtype=np.float64)
        columns = self.bin_sums.columns
        if w is None:
            columns["weight"][where] += np.bincount(local, minlength=len(where))
            values = (("confidence", facts.confidence), ("credit", credit))
        else:
            _ordered_add(columns["weight"], where, local, w)
            values = (("confidence", w * facts.confidence), ("credit", w * credit))
        for name, x in values:
            _ordered_add(columns[name], where, local, x)

    def _bin_numbers(self, keys: NDArray[np.int64]) -> NDArray[np.intp]:
        """The entry of each (slice, bin) key, new ones numbered in order."""
        known = self._bin_keys
        found = np.fromiter((known.get(k, -1) for k in keys.tolist()), np.intp, len(keys))
        new = np.flatnonzero(found < 0)
        if len(new):
            start = len(known)
            fresh = keys[new].tolist()
            known.update(zip(fresh, range(start, start + len(fresh)), strict=True))
            found[new] = np.arange(start, start + len(fresh))
            self.bin_sums.grow(len(known))
            self._bin_slice.grow(len(known))
            self._bin_slice.columns["slice"][found[new]] = keys[new] // self.calibration_bins
        return found

    def bin_entries(self) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
        """Each (slice, bin) entry's slice and bin."""
        keys = np.fromiter(self._bin_keys, dtype=np.int64, count=len(self._bin_keys))
        n_bins = self.calibration_bins or 1
        return (keys // n_bins).astype(np.intp), (keys % n_bins).astype(np.intp)

    # -- merging -----------------------------------------------------------------------

    def merge(self, other: SliceFold) -> SliceFold:
        """Add the slices of ``other`` (over later rows) to these; ``other`` is not changed."""
        if other.specs != self.specs or other.calibration_bins != self.calibration_bins:
            raise OptionError("Only slice folds with the same --by and bins can be merged.")
        if not _same(self.class_weights, other.class_weights):
            raise OptionError("Only slice folds with the same class weights can be merged.")
        pairs = zip(self.columns, other.columns, strict=True)
        maps = [mine.merge_codes(theirs) for mine, theirs in pairs]
        codes = other.slice_codes()
        if len(self.columns) == 1:
            where = maps[0][codes[:, 0]]
            self.sums.grow(len(self.columns[0]))
        else:
            mapped = np.column_stack([m[codes[:, j]] for j, m in enumerate(maps)])
            where = np.empty(len(mapped), dtype=np.intp)
            for j, combo in enumerate(map(tuple, mapped.tolist())):
                number = self._combos.get(combo)
                if number is None:
                    number = self._combos[combo] = len(self._combos)
                where[j] = number
            start = self._combo_codes.n
            self._combo_codes.grow(len(self._combos))
            self.sums.grow(len(self._combos))
            new = where >= start
            for j in range(len(maps)):
                self._combo_codes.columns[str(j)][where[new]] = mapped[new, j]
        theirs = other.sums
        mine = self.sums.columns
        fresh = mine["count"][where] == 0
        mine["shift"][where[fresh]] = theirs["shift"][fresh]
        shifted = shift_sums({name: theirs[name] for name in SUMS}, mine["shift"][where])
        for name in SUMS[1:]:
            mine[name][where] += shifted[name]
        for name in COUNTS:
            mine[name][where] += theirs[name]
        self.sample_weighted |= other.sample_weighted
        for name, counts in other.marks.items():
            self._mark(name, where[: len(counts)], counts)
        if self.calibration_bins is not None and other._bin_keys:
            slices, bins = other.bin_entries()
            keys = where[slices].astype(np.int64) * self.calibration_bins + bins
            entries = self._bin_numbers(keys)
            for name in BIN_SUMS:
                self.bin_sums.columns[name][entries] += other.bin_sums[name]
        return self

    def result(self, min_rows: int = 30) -> SliceTable:
        """The slices, worst first (see :class:`cecli.slices.SliceTable`)."""
        from cecli.slices._result import slice_table

        return slice_table(self, min_rows)


def shift_sums(sums: Mapping[str, np.ndarray], to: np.ndarray) -> dict[str, np.ndarray]:
    """The sums of losses shifted by ``sums["shift"]``, as if shifted by ``to`` instead.

    With ``e = K - K'``, ``d' = d + e``: ``A' = A + e S1``, ``B' = B + e S2``,
    ``C' = C + 2 e B + e^2 S2``.
    """
    e = sums["shift"] - to
    out = dict(sums)
    out["shift"] = to
    out["a"] = sums["a"] + e * sums["s1"]
    out["b"] = sums["b"] + e * sums["s2"]
    out["c"] = sums["c"] + 2.0 * e * sums["b"] + e * e * sums["s2"]
    return out


def _local_codes(values: np.ndarray) -> tuple[NDArray[np.intp], np.ndarray]:
    import pandas as pd

    codes, uniques = pd.factorize(values)
    return codes.astype(np.intp, copy=False), np.asarray(uniques)


def _same(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    return (a is None and b is None) or (
        a is not None and b is not None and bool(np.array_equal(a, b))
    )
