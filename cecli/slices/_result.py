"""Reading the slice fold: quantile bins, each slice's mean loss, interval, accuracy and ECE.

``--by col:N`` is settled only here: the fold kept every distinct value of
``col`` as a slice of its own, so the bins are exact quantile bins of the
whole input with no second pass. The distinct values, sorted, are grouped
into at most ``N`` runs of about equal row count (a value's rows are never
split, so a value that holds many rows makes fewer, uneven bins); bin ``i``
holds the values ``v`` with ``lower <= v < upper``, the last one up to its
largest value. This is :func:`pandas.qcut`'s grouping when no two values
tie at a cut; ``qcut`` cuts at interpolated quantiles and closes its bins on
the right instead.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from cecli.mean_interval import LEVEL
from cecli.moments import t_quantile
from cecli.slices._fold import SUMS, SliceFold, shift_sums
from cecli.slices._keys import first_rows
from cecli.slices._spec import SliceSpec

#: How a missing value (NaN, an empty cell) is shown in a table; JSON has null.
MISSING = "(missing)"


@dataclass(frozen=True)
class Slice:
    """One slice of the rows.

    ``value`` is the slice's value (a tuple of them for several columns;
    None for missing, a bin's range as text such as ``"[0.5, 1.2)"``);
    ``mean_loss`` is the (weighted) mean loss, ``ci_low`` and ``ci_high``
    its interval (None when there is none), ``ece`` its expected
    calibration error (with calibration bins), ``ranked`` whether it has
    enough rows to be ranked; ``marks`` the per-slice counts of named row
    masks (see :meth:`cecli.slices.SliceFold.count`).
    """

    value: object
    n_samples: int
    mean_loss: float | None
    ci_low: float | None
    ci_high: float | None
    accuracy: float
    flagged_count: int
    ranked: bool
    ece: float | None = None
    marks: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class SliceTable:
    """Every slice, worst first: the ranked ones (by mean loss, highest first), then the rest.

    Columns of arrays, one entry per slice in that order; :meth:`rows` makes
    :class:`Slice` objects of a range of them (a million slices are never a
    million objects at once unless asked).
    """

    specs: tuple[SliceSpec, ...]
    min_rows: int
    values: list[object]
    n_samples: NDArray[np.int64]
    mean_loss: NDArray[np.float64]
    ci_low: NDArray[np.float64]
    ci_high: NDArray[np.float64]
    accuracy: NDArray[np.float64]
    flagged_count: NDArray[np.int64]
    ranked: NDArray[np.bool_]
    ece: NDArray[np.float64] | None = None
    marks: dict[str, NDArray[np.int64]] = field(default_factory=dict)
    level: float = LEVEL
    sample_weighted: bool = False

    def __len__(self) -> int:
        return len(self.values)

    @property
    def n_ranked(self) -> int:
        return int(self.ranked.sum())

    def rows(self, start: int = 0, stop: int | None = None) -> Iterator[Slice]:
        stop = len(self) if stop is None else min(stop, len(self))
        for i in range(start, stop):
            yield Slice(
                self.values[i],
                int(self.n_samples[i]),
                _number(self.mean_loss[i]),
                _number(self.ci_low[i]),
                _number(self.ci_high[i]),
                float(self.accuracy[i]),
                int(self.flagged_count[i]),
                bool(self.ranked[i]),
                None if self.ece is None else _number(self.ece[i]),
                {name: int(counts[i]) for name, counts in self.marks.items()},
            )

    @property
    def slices(self) -> list[Slice]:
        """Every slice as a :class:`Slice`."""
        return list(self.rows())

    def worst(self, top: int) -> list[Slice]:
        """The ``top`` worst ranked slices (all ranked ones for 0)."""
        n = self.n_ranked
        return list(self.rows(0, n if top == 0 else min(top, n)))

    def unranked(self, top: int) -> list[Slice]:
        """The first ``top`` slices with too few rows to rank (all for 0), worst first."""
        n = self.n_ranked
        return list(self.rows(n, None if top == 0 else n + top))


def _number(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def _text_of(value: object) -> str:
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 2**53 else repr(value)
    return str(value)


def column_values(values: list[object]) -> tuple[np.ndarray, NDArray[np.intp]]:
    """A column's distinct values as an object array (whole numbers as ints), and their ranks.

    The rank is each value's place in sorted order, missing (None) last; one
    sort in NumPy, not a Python sort of a million values.

    Examples
    --------
    >>> from cecli.slices._result import column_values
    >>> out, rank = column_values([3.0, None, 1.0])
    >>> out.tolist(), rank.tolist()
    ([3, None, 1], [1, 3, 0])
    """
    n = len(values)
    out = np.empty(n, dtype=object)
    out[:] = values
    missing = np.equal(out, None)
    where = np.flatnonzero(~missing)
    rank = np.full(n, n, dtype=np.intp)
    if not len(where):
        return out, rank
    present = out[where]
    first = present[0]
    if isinstance(first, str):
        keys: np.ndarray = present.astype(str)
    elif isinstance(first, (bool, np.bool_)):
        keys = present.astype(bool)
    else:
        keys = present.astype(np.float64)
        whole = np.isfinite(keys).all() and (keys == np.round(keys)).all()
        if whole and np.abs(keys).max() < 2**53 and isinstance(first, float):
            out[where] = keys.astype(np.int64).astype(object)
    rank[where[np.argsort(keys, kind="stable")]] = np.arange(len(where))
    return out, rank


def quantile_bins(
    values: list[object], rows: NDArray[np.int64], n_bins: int
) -> tuple[NDArray[np.intp], list[object]]:
    """Group distinct numbers into at most ``n_bins`` runs of about equal row count.

    ``values`` are a column's distinct values (None for missing) and ``rows``
    how many rows hold each. Returns each value's bin (missing ones the last
    code) and each bin's label. Value ``j`` in sorted order, with ``R`` rows
    before it of ``N`` in all, goes in bin ``floor(n_bins R / N)``.

    Examples
    --------
    >>> import numpy as np
    >>> from cecli.slices._result import quantile_bins
    >>> bins, labels = quantile_bins([4.0, 1.0, 3.0, 2.0, None], np.array([1, 1, 1, 1, 2]), 2)
    >>> bins.tolist(), labels
    ([1, 0, 1, 0, 2], ['[1, 3)', '[3, 4]', None])
    """
    n = len(values)
    present = np.array([v is not None for v in values], dtype=bool)
    idx = np.flatnonzero(present)
    x = np.array([values[i] for i in idx.tolist()], dtype=np.float64)
    order = idx[np.argsort(x, kind="stable")]
    counts = rows[order]
    before = np.concatenate([[0], np.cumsum(counts)[:-1]])
    total = int(counts.sum())
    # a value with no rows (only rows left out by ignore_index) joins the bin it falls in
    raw = np.minimum((n_bins * before) // max(total, 1), n_bins - 1)
    # the bins present, numbered 0.. in order
    _, dense = np.unique(raw, return_inverse=True)
    n_made = int(dense.max(initial=-1)) + 1
    code = np.full(n, n_made, dtype=np.intp)
    code[order] = dense
    labels: list[object] = []
    sorted_values = [values[i] for i in order.tolist()]
    starts = np.flatnonzero(np.diff(np.concatenate([[-1], dense])) != 0)
    for b, start in enumerate(starts.tolist()):
        low = _text_of(sorted_values[start])
        if b + 1 < len(starts):
            labels.append(f"[{low}, {_text_of(sorted_values[starts[b + 1]])})")
        else:
            labels.append(f"[{low}, {_text_of(sorted_values[-1])}]")
    if not present.all():
        labels.append(None)
    return code, labels


def _dense(codes: NDArray[np.intp]) -> tuple[NDArray[np.intp], int]:
    """Codes renumbered 0.. in order of first appearance."""
    import pandas as pd

    dense, uniques = pd.factorize(codes)
    return dense.astype(np.intp, copy=False), len(uniques)


def _t_quantiles(df: NDArray[np.float64], level: float) -> NDArray[np.float64]:
    """The t quantile of each degrees of freedom (each distinct one computed once)."""
    out = np.full(len(df), np.nan)
    ok = np.isfinite(df) & (df > 0)
    distinct, inverse = np.unique(df[ok], return_inverse=True)
    q = np.array([t_quantile(0.5 + level / 2.0, float(v)) for v in distinct.tolist()])
    out[ok] = q[inverse] if len(q) else q
    return out


@dataclass(frozen=True)
class Settled:
    """A fold's final slices (bins joined), in the order of their first rows.

    ``sums`` holds the fold's sums per final slice; ``final`` maps each of the
    fold's slices to its final one; ``codes`` are each final slice's codes in
    each column, ``values`` and ``ranks`` each column's values and sort ranks.
    """

    sums: dict[str, np.ndarray]
    final: NDArray[np.intp]
    n_final: int
    codes: NDArray[np.intp]
    values: list[np.ndarray]
    ranks: list[NDArray[np.intp]]
    marks: dict[str, NDArray[np.int64]]

    def value_order(self) -> list[NDArray[np.intp]]:
        """Sort keys of the final slices by their values, last column first (for lexsort)."""
        return [self.ranks[j][self.codes[:, j]] for j in reversed(range(len(self.ranks)))]

    def value_of(self, order: NDArray[np.intp]) -> list[object]:
        """The values of the final slices ``order``: one each, a tuple for several columns."""
        columns = [v[self.codes[order, j]].tolist() for j, v in enumerate(self.values)]
        if len(columns) == 1:
            return columns[0]
        return list(zip(*columns, strict=True))


def settle(fold: SliceFold) -> Settled:
    """The fold's slices with their quantile bins joined: a :class:`Settled`."""
    specs = fold.specs
    codes = fold.slice_codes()  # n_slices x n_columns
    sums = {name: fold.sums[name] for name in fold.sums.columns}
    n = fold.n_slices
    new_codes = np.empty_like(codes)
    columns: list[np.ndarray] = []
    rank_of: list[NDArray[np.intp]] = []
    for j, (spec, column) in enumerate(zip(specs, fold.columns, strict=True)):
        values = list(column.values)
        if spec.bins is not None:
            rows = np.bincount(codes[:, j], weights=sums["count"], minlength=len(values))
            bins, labels = quantile_bins(values, rows.astype(np.int64), spec.bins)
            new_codes[:, j] = bins[codes[:, j]]
            shown = np.empty(len(labels), dtype=object)
            shown[:] = labels
            columns.append(shown)
            rank_of.append(np.arange(len(labels), dtype=np.intp))
        else:
            new_codes[:, j] = codes[:, j]
            shown, rank = column_values(values)
            columns.append(shown)
            rank_of.append(rank)
    # the final slices: the fold's, grouped where bins joined them (in order of first row)
    final = new_codes[:, 0]
    for j in range(1, len(specs)):
        final, _ = _dense(final * (int(new_codes[:, j].max(initial=0)) + 1) + new_codes[:, j])
    final, n_final = _dense(final) if n else (final, 0)
    lead = first_rows(final, n_final)
    if n_final != n:
        shifted = shift_sums({k: sums[k] for k in SUMS}, sums["shift"][lead][final])
        merged = {k: np.bincount(final, weights=shifted[k], minlength=n_final) for k in SUMS[1:]}
        merged["shift"] = sums["shift"][lead]
        for k in ("count", "correct", "flagged"):
            merged[k] = np.bincount(final, weights=sums[k], minlength=n_final).astype(np.int64)
        sums = merged
    final_codes = new_codes[lead]
    marks = {}
    for name, counts in fold.marks.items():
        padded = np.zeros(n, dtype=np.int64)
        padded[: len(counts)] = counts
        marks[name] = np.bincount(final, weights=padded, minlength=n_final).astype(np.int64)

    return Settled(sums, final, n_final, final_codes, columns, rank_of, marks)


def mean_intervals(
    sums: dict[str, np.ndarray], level: float = LEVEL
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Each slice's mean, interval (NaN where there is none), standard error and df.

    The interval of :mod:`cecli.mean_interval` (without class strata), per slice.
    """
    s1, s2, s3 = sums["s1"], sums["s2"], sums["s3"]
    with np.errstate(all="ignore"):
        e = sums["a"] / s1
        mean = sums["shift"] + e
        v2 = np.maximum(sums["c"] - 2.0 * e * sums["b"] + e * e * s2, 0.0)
        shrink = 1.0 - 2.0 * s3 / (s1 * s2) + s2 / (s1 * s1)
        variance = v2 / shrink / (s1 * s1)
        n_eff = s1 * s1 / s2
        usable = (n_eff >= 2.0) & (shrink > 0) & np.isfinite(variance) & np.isfinite(mean)
        df = np.where(usable, n_eff - 1.0, np.nan)
        se = np.where(usable, np.sqrt(variance), np.nan)
        half = _t_quantiles(df, level) * se
    low, high = np.where(usable, mean - half, np.nan), np.where(usable, mean + half, np.nan)
    return mean, low, high, se, df


def slice_table(fold: SliceFold, min_rows: int = 30, level: float = LEVEL) -> SliceTable:
    """The fold's slices, their bins settled, worst first: a :class:`SliceTable`."""
    settled = settle(fold)
    sums, final, n_final, marks = settled.sums, settled.final, settled.n_final, settled.marks
    count = sums["count"].astype(np.int64)
    mean, low, high, _, _ = mean_intervals(sums, level)
    with np.errstate(all="ignore"):
        accuracy = sums["correct"] / count
    ece = None
    if fold.calibration_bins is not None:
        ece = _slice_ece(fold, final, n_final)
    # worst first: ranked before unranked, then the higher mean loss, then the values' order
    sortable = np.where(np.isfinite(mean), -mean, np.inf)
    order = np.lexsort([*settled.value_order(), sortable, count < min_rows])
    values_out = settled.value_of(order)
    return SliceTable(
        specs=fold.specs,
        min_rows=min_rows,
        values=values_out,
        n_samples=count[order],
        mean_loss=mean[order],
        ci_low=low[order],
        ci_high=high[order],
        accuracy=accuracy[order],
        flagged_count=sums["flagged"].astype(np.int64)[order],
        ranked=(count >= min_rows)[order],
        ece=None if ece is None else ece[order],
        marks={name: counts[order] for name, counts in marks.items()},
        level=level,
        sample_weighted=fold.sample_weighted,
    )


def _slice_ece(fold: SliceFold, final: NDArray[np.intp], n_final: int) -> NDArray[np.float64]:
    """``ECE = sum_b |A_b - C_b| / W`` of each final slice, from its (slice, bin) entries."""
    n_bins = fold.calibration_bins
    assert n_bins is not None
    slices, bins = fold.bin_entries()
    entry_final = final[slices] if len(slices) else slices
    key, n_keys = (slices, 0)
    if len(slices):
        key, n_keys = _dense(entry_final.astype(np.int64) * n_bins + bins)
    sums = {
        name: np.bincount(key, weights=fold.bin_sums[name], minlength=n_keys)
        for name in ("weight", "confidence", "credit")
    }
    owner = np.zeros(n_keys, dtype=np.intp)
    owner[key] = entry_final
    gap = np.abs(sums["credit"] - sums["confidence"])
    gaps = np.bincount(owner, weights=gap, minlength=n_final)
    total = np.bincount(owner, weights=sums["weight"], minlength=n_final)
    with np.errstate(all="ignore"):
        return np.where(total > 0, gaps / total, np.nan)
