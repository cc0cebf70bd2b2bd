"""Two models' per-row facts, lined up: the rows a comparison reads, and the rows it lists.

:class:`RowScores` holds one model's facts for every row of an input, the
rows that ``ignore_index`` left out among them, marked (:attr:`RowScores.ignored`).
Both models' labels are checked equal row by row before they are compared,
so they leave out the same rows: :func:`kept_rows` drops them from both with
one mask, and keeps each remaining row's number in the input, by which the
listed rows (:class:`RowPair`) are named. Pure NumPy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray

from cecli.errors import LabelError, OptionError
from cecli.losses import SampleScores


@dataclass(frozen=True)
class RowScores:
    """One model's per-row facts over a whole input (see :class:`cecli.SampleScores`).

    ``weight`` is each row's whole weight in the mean loss: its sample weight
    times its class weight, if any. ``rank`` is each row's rank of its true
    class (with ``top_k``; else None); ``ignored`` marks the rows that
    ``ignore_index`` left out (None when none was), whose other facts are
    placeholders (see :meth:`cecli.view.ChunkView.per_sample_scores`).
    """

    loss: NDArray[np.float64]
    label: NDArray[np.intp]
    predicted: NDArray[np.intp]
    confidence: NDArray[np.float64]
    correct: NDArray[np.bool_]
    flagged: NDArray[np.bool_]
    weight: NDArray[np.float64]
    rank: NDArray[np.int64] | None = None
    ignored: NDArray[np.bool_] | None = None

    @classmethod
    def concatenate(cls, parts: Sequence[SampleScores]) -> RowScores:
        """The facts of consecutive chunks, as one.

        Examples
        --------
        >>> from cecli.view import view_of
        >>> view = view_of("categorical", [1, -100, 0], [[0.2, 0.8], [0.5, 0.5], [0.6, 0.4]],
        ...                ignore_index=-100, rank=True)
        >>> rows = RowScores.concatenate([view.per_sample_scores()])
        >>> rows.ignored.tolist(), rows.rank.tolist()
        ([False, True, False], [1, 0, 1])
        """
        if not parts:
            empty = np.empty(0)
            return cls(empty, empty.astype(np.intp), empty.astype(np.intp), empty,
                       empty.astype(bool), empty.astype(bool), empty)  # fmt: skip
        ignored = None
        if any(p.ignored is not None for p in parts):
            ignored = np.concatenate(
                [np.zeros(p.n_samples, bool) if p.ignored is None else p.ignored for p in parts]
            )
        ranked = all(p.rank is not None for p in parts)
        return cls(
            *(
                np.concatenate([getattr(p, name) for p in parts])
                for name in ("loss", "label", "predicted", "confidence", "correct", "flagged")
            ),
            np.concatenate([p.weight for p in parts]),
            rank=np.concatenate([p.rank for p in parts]) if ranked else None,  # type: ignore[misc]
            ignored=ignored,
        )

    def __len__(self) -> int:
        return len(self.loss)

    def take(self, order: NDArray[np.intp]) -> RowScores:
        """These rows in another order (or a subset of them)."""
        return RowScores(
            *(
                None if (values := getattr(self, name)) is None else values[order]
                for name in RowScores.__dataclass_fields__
            )
        )

    def with_weight(self, weight: NDArray[np.float64]) -> RowScores:
        return replace(self, weight=weight)


@dataclass(frozen=True)
class RowPair:
    """One row as both models see it. ``row`` is 0-based, in the baseline's order."""

    row: int
    label: int
    baseline_predicted: int
    baseline_confidence: float
    baseline_loss: float
    candidate_predicted: int
    candidate_confidence: float
    candidate_loss: float

    @property
    def delta(self) -> float:
        return self.candidate_loss - self.baseline_loss


@dataclass(frozen=True)
class KeptRows:
    """Both models' rows that no label left out, and each one's number in the input."""

    baseline: RowScores
    candidate: RowScores
    #: Each kept row's number in the input (the baseline's order); None when none was left out.
    row_numbers: NDArray[np.intp] | None
    n_ignored: int

    def spread(self, values: NDArray) -> NDArray[np.float64]:
        """Values of the kept rows over every row of the input, 0 where a row was left out.

        What the Poisson bootstrap adds, whose resamples weigh each row by its
        number in the input (:meth:`cecli.poisson_bootstrap.PoissonBootstrap.add`).
        """
        if self.row_numbers is None:
            return np.asarray(values, dtype=np.float64)
        out = np.zeros(len(self.row_numbers) + self.n_ignored)
        out[self.row_numbers] = values
        return out


def kept_rows(baseline: RowScores, candidate: RowScores) -> KeptRows:
    """Both models' rows without those ``ignore_index`` left out: one mask for both.

    The two models are scored against the same labels, so the same rows are
    left out of each; a difference is an error. Every row may be left out
    (a shard's, say); :func:`cecli.compare.compare_rows` refuses that.

    Examples
    --------
    >>> from cecli.view import view_of
    >>> y, p = [1, -100, 0], [[0.2, 0.8], [0.5, 0.5], [0.6, 0.4]]
    >>> rows = RowScores.concatenate([view_of("categorical", y, p, ignore_index=-100)
    ...                               .per_sample_scores()])
    >>> kept = kept_rows(rows, rows)
    >>> kept.row_numbers.tolist(), kept.n_ignored, len(kept.baseline)
    ([0, 2], 1, 2)
    """
    b_mask, c_mask = baseline.ignored, candidate.ignored
    if b_mask is None and c_mask is None:
        return KeptRows(baseline, candidate, None, 0)
    n = len(baseline)
    b_mask = np.zeros(n, bool) if b_mask is None else b_mask
    c_mask = np.zeros(len(candidate), bool) if c_mask is None else c_mask
    if len(c_mask) != n or not np.array_equal(b_mask, c_mask):
        row = int(np.flatnonzero(b_mask != c_mask)[0]) if len(c_mask) == n else 0
        raise LabelError(
            f"row {row} is ignored for one model and not the other; both models must be "
            "scored against the same labels, with the same ignore_index."
        )
    keep = np.flatnonzero(~b_mask)
    return KeptRows(baseline.take(keep), candidate.take(keep), keep, n - len(keep))


def largest_increases(diff: NDArray[np.float64], keep: int | None) -> NDArray[np.intp]:
    """Rows with a positive difference, at least the ``keep`` largest of them."""
    rows = np.flatnonzero(diff > 0)
    if keep is None or len(rows) <= keep:
        return rows
    kth = np.partition(diff[rows], len(rows) - keep)[len(rows) - keep]
    return rows[diff[rows] >= kth]


def listed_pairs(
    baseline: RowScores,
    candidate: RowScores,
    rows: NDArray[np.intp],
    diff: NDArray[np.float64],
    sign: int,
    keep: int | None,
    wrong: RowScores,
    row_numbers: NDArray[np.intp] | None = None,
) -> tuple[RowPair, ...]:
    """``rows`` ordered by ``sign * diff`` (ties: lower row first), at most ``keep``.

    The label shown is the ``wrong`` model's: for multilabel rows each model's
    facts describe its own worst label, and the one that matters is the one
    it got confidently wrong. ``row_numbers`` name each position by its row
    in the input (:attr:`KeptRows.row_numbers`); None: positions are rows.
    """
    order = np.lexsort((rows, sign * diff[rows]))
    if keep is not None:
        order = order[:keep]
    return tuple(
        RowPair(
            row=int(r if row_numbers is None else row_numbers[r]),
            label=int(wrong.label[r]),
            baseline_predicted=int(baseline.predicted[r]),
            baseline_confidence=float(baseline.confidence[r]),
            baseline_loss=float(baseline.loss[r]),
            candidate_predicted=int(candidate.predicted[r]),
            candidate_confidence=float(candidate.confidence[r]),
            candidate_loss=float(candidate.loss[r]),
        )
        for r in rows[order]
    )


def top_k_accuracy(rows: RowScores, top_k: int | None) -> float | None:
    """The fraction of ``rows`` whose true class ranks ``top_k`` or better; None without.

    Rows are counted, as the accuracy counts them.

    Examples
    --------
    >>> rows = RowScores(*(np.zeros(3),) * 7, rank=np.array([1, 3, 2]))
    >>> top_k_accuracy(rows, 2), top_k_accuracy(rows, None)
    (0.6666666666666666, None)
    """
    if top_k is None:
        return None
    if rows.rank is None:
        raise OptionError(
            "counts top-k accuracy, but these rows have no ranks (score them with top_k).",
            option="top_k",
        )
    return float(np.count_nonzero(rows.rank <= top_k)) / max(1, len(rows))
