"""``cecli compare --by``: per slice, both models' mean loss and the paired difference.

Per slice the difference is the (weighted) mean of the per-row loss
differences ``candidate - baseline``, with the t interval of that mean from
per-slice sums (the interval :mod:`cecli.mean_interval` gives the mean loss,
applied to the differences, per slice). Each ranked slice is a test of "no
difference"; the family of them is corrected by Holm's step-down (1979): with
``m`` tests and p-values sorted ``p_(1) <= ... <= p_(m)``, the adjusted
p-value is ``max_{j <= i} min(1, (m - j + 1) p_(j))``, and a slice differs
when its adjusted p-value is at most ``alpha = 1 - confidence``. Holm controls
the chance of any false verdict at ``alpha``, as Bonferroni does, and finds
at least as many. The intervals shown are Bonferroni's simultaneous ones, at
``1 - alpha / m``: an interval that leaves out 0 is always a Holm verdict.

The rows ``ignore_index`` left out are in no sum; each slice counts them
(``n_ignored``), and a slice whose every row was left out is there with no
rows scored. With ``top_k``, each slice has both models' top-k accuracy
(rows counted), without an interval.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from cecli.errors import OptionError
from cecli.moments import t_sf
from cecli.slices._fold import SliceFold
from cecli.slices._result import mean_intervals, settle
from cecli.slices._spec import SliceSpec

#: Rows per call to the folds: their scratch arrays stay this size.
BLOCK_ROWS = 1 << 20


@dataclass(frozen=True)
class SliceDelta:
    """One slice of a comparison (see :class:`SliceComparison`)."""

    value: object
    n_samples: int
    baseline_mean_loss: float | None
    candidate_mean_loss: float | None
    delta: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    p_holm: float | None
    verdict: str
    ranked: bool
    #: The slice's rows left out by ``ignore_index`` (None without it).
    n_ignored: int | None = None
    #: Each model's top-k accuracy over the slice's rows (None without ``top_k``, or no rows).
    baseline_top_k_accuracy: float | None = None
    candidate_top_k_accuracy: float | None = None

    @property
    def delta_top_k_accuracy(self) -> float | None:
        if self.baseline_top_k_accuracy is None or self.candidate_top_k_accuracy is None:
            return None
        return self.candidate_top_k_accuracy - self.baseline_top_k_accuracy


@dataclass(frozen=True)
class SliceComparison:
    """Every slice of a comparison: ranked ones first, the largest increase first.

    ``verdict`` is "worse", "better" or "no_difference" for a ranked slice
    (Holm-corrected), "insufficient_data" for one with no interval, and
    "not_ranked" for one with fewer than ``min_rows`` rows.
    """

    specs: tuple[SliceSpec, ...]
    min_rows: int
    confidence: float
    values: list[object]
    n_samples: NDArray[np.int64]
    baseline_mean_loss: NDArray[np.float64]
    candidate_mean_loss: NDArray[np.float64]
    delta: NDArray[np.float64]
    ci_low: NDArray[np.float64]
    ci_high: NDArray[np.float64]
    p_value: NDArray[np.float64]
    p_holm: NDArray[np.float64]
    verdict: list[str]
    ranked: NDArray[np.bool_]
    #: How many ranked slices were tested (Holm's ``m``).
    n_tests: int
    correction: str = "holm"
    #: Per slice, the rows ``ignore_index`` left out; None without it.
    n_ignored: NDArray[np.int64] | None = None
    #: With ``top_k``: per slice, each model's top-k accuracy (NaN for a slice of no rows).
    top_k: int | None = None
    baseline_top_k_accuracy: NDArray[np.float64] | None = None
    candidate_top_k_accuracy: NDArray[np.float64] | None = None

    def __len__(self) -> int:
        return len(self.values)

    @property
    def alpha(self) -> float:
        """``1 - confidence``, as written (0.05, not 0.050000000000000044)."""
        return round(1.0 - self.confidence, 12)

    @property
    def interval_level(self) -> float:
        """The simultaneous (Bonferroni) level of each slice's interval: ``1 - alpha / m``."""
        return 1.0 - self.alpha / max(1, self.n_tests)

    @property
    def n_ranked(self) -> int:
        return int(self.ranked.sum())

    @property
    def n_worse(self) -> int:
        return self.verdict.count("worse")

    def rows(self, start: int = 0, stop: int | None = None) -> Iterator[SliceDelta]:
        stop = len(self) if stop is None else min(stop, len(self))
        for i in range(start, stop):
            yield SliceDelta(
                self.values[i],
                int(self.n_samples[i]),
                *(
                    _number(getattr(self, name)[i])
                    for name in (
                        "baseline_mean_loss",
                        "candidate_mean_loss",
                        "delta",
                        "ci_low",
                        "ci_high",
                        "p_value",
                        "p_holm",
                    )
                ),
                self.verdict[i],
                bool(self.ranked[i]),
                None if self.n_ignored is None else int(self.n_ignored[i]),
                *(
                    None if values is None else _number(values[i])
                    for values in (self.baseline_top_k_accuracy, self.candidate_top_k_accuracy)
                ),
            )

    def worst(self, top: int) -> list[SliceDelta]:
        n = self.n_ranked
        return list(self.rows(0, n if top == 0 else min(top, n)))


def _number(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def holm(p_values: NDArray[np.float64]) -> NDArray[np.float64]:
    """Holm's adjusted p-values: ``max_{j <= i} min(1, (m - j + 1) p_(j))`` in sorted order.

    Examples
    --------
    >>> import numpy as np
    >>> from cecli.slices._compare import holm
    >>> holm(np.array([0.01, 0.04, 0.03])).tolist()
    [0.03, 0.06, 0.06]
    """
    p = np.asarray(p_values, dtype=np.float64)
    m = len(p)
    order = np.argsort(p, kind="stable")
    scaled = np.minimum(1.0, (m - np.arange(m)) * p[order])
    out = np.empty(m)
    out[order] = np.maximum.accumulate(scaled) if m else scaled
    return out


def _p_values(delta: np.ndarray, se: np.ndarray, df: np.ndarray) -> np.ndarray:
    """Two-sided p-values of "the mean difference is 0"; NaN where there is no interval."""
    out = np.full(len(delta), np.nan)
    for i in np.flatnonzero(np.isfinite(se) & np.isfinite(delta)).tolist():
        if se[i] > 0:
            out[i] = min(1.0, 2.0 * t_sf(abs(float(delta[i] / se[i])), float(df[i])))
        else:  # every difference the same
            out[i] = 1.0 if delta[i] == 0 else 0.0
    return out


def compare_slices(
    specs: Sequence[SliceSpec],
    values: Sequence[np.ndarray],
    baseline_loss: NDArray[np.float64],
    candidate_loss: NDArray[np.float64],
    weights: NDArray[np.float64] | None = None,
    *,
    min_rows: int = 30,
    confidence: float = 0.95,
    ignored: NDArray[np.bool_] | None = None,
    top_k: int | None = None,
    baseline_rank: NDArray[np.int64] | None = None,
    candidate_rank: NDArray[np.int64] | None = None,
) -> SliceComparison:
    """Compare two models' per-row losses slice by slice (rows in the same order).

    ``ignored`` marks the rows ``ignore_index`` left out (their losses and
    weights are not read); with ``top_k``, each model's rank of every row's
    true class gives the slices' top-k accuracies.

    Examples
    --------
    >>> import numpy as np
    >>> from cecli.slices import SliceSpec
    >>> from cecli.slices._compare import compare_slices
    >>> g = np.array(["a"] * 40 + ["b"] * 40, dtype=object)
    >>> base = np.tile([0.5, 0.7], 40)
    >>> cand = base + np.where(g == "a", 0.3, 0.0) + np.tile([0.01, -0.01], 40)
    >>> c = compare_slices([SliceSpec("g")], [g], base, cand)
    >>> [(s.value, s.verdict) for s in c.rows()]
    [('a', 'worse'), ('b', 'no_difference')]
    """
    folds = [SliceFold(specs) for _ in range(3)]
    diff = candidate_loss - baseline_loss
    ranks = None
    if top_k is not None:
        if baseline_rank is None or candidate_rank is None:
            raise OptionError("needs both models' ranks of each row's true class.", option="top_k")
        ranks = {"baseline_top_k": baseline_rank, "candidate_top_k": candidate_rank}
    for start in range(0, len(diff), BLOCK_ROWS):
        part = slice(start, start + BLOCK_ROWS)
        chunk = [v[part] for v in values]
        losses = [x[part] for x in (baseline_loss, candidate_loss, diff)]
        w = None if weights is None else weights[part]
        hits = None if ranks is None else {name: r[part] <= top_k for name, r in ranks.items()}
        if ignored is not None and ignored[part].any():
            kept = ~ignored[part]
            _count_ignored(folds, [v[~kept] for v in chunk])
            chunk = [v[kept] for v in chunk]
            losses = [x[kept] for x in losses]
            w = None if w is None else w[kept]
            hits = None if hits is None else {name: h[kept] for name, h in hits.items()}
            if not kept.any():
                continue
        for fold, loss in zip(folds, losses, strict=True):
            fold.add_rows(chunk, loss, w, marks=hits if fold is folds[2] else None)
    # the same rows, the same values: the three folds' slices are the same, in one order
    settled = [settle(fold) for fold in folds]
    count = settled[2].sums["count"].astype(np.int64)
    means = [mean_intervals(s.sums)[0] for s in settled[:2]]
    delta, _, _, se, df = mean_intervals(settled[2].sums)
    ranked = count >= min_rows
    p = _p_values(delta, se, df)
    tested = ranked & np.isfinite(p)
    m = int(tested.sum())
    alpha = round(1.0 - confidence, 12)
    adjusted = np.full(len(p), np.nan)
    adjusted[tested] = holm(p[tested])
    _, low, high, _, _ = mean_intervals(settled[2].sums, 1.0 - alpha / max(1, m))
    verdict = np.full(len(p), "not_ranked", dtype=object)
    verdict[ranked] = "insufficient_data"
    verdict[tested] = "no_difference"
    verdict[tested & (adjusted <= alpha) & (delta > 0)] = "worse"
    verdict[tested & (adjusted <= alpha) & (delta < 0)] = "better"
    sortable = np.where(np.isfinite(delta), -delta, np.inf)
    order = np.lexsort([*settled[2].value_order(), sortable, ~ranked])
    marks = settled[2].marks

    def marked(name: str) -> NDArray[np.int64]:
        return marks.get(name, np.zeros(len(count), dtype=np.int64))

    top_k_accuracy: list[NDArray[np.float64] | None] = [None, None]
    if top_k is not None:
        with np.errstate(invalid="ignore", divide="ignore"):
            top_k_accuracy = [
                (marked(f"{side}_top_k") / count)[order] for side in ("baseline", "candidate")
            ]
    return SliceComparison(
        specs=tuple(specs),
        min_rows=min_rows,
        confidence=confidence,
        values=settled[2].value_of(order),
        n_samples=count[order],
        baseline_mean_loss=means[0][order],
        candidate_mean_loss=means[1][order],
        delta=delta[order],
        ci_low=low[order],
        ci_high=high[order],
        p_value=p[order],
        p_holm=adjusted[order],
        verdict=verdict[order].tolist(),
        ranked=ranked[order],
        n_tests=m,
        n_ignored=None if ignored is None else marked("n_ignored")[order],
        top_k=top_k,
        baseline_top_k_accuracy=top_k_accuracy[0],
        candidate_top_k_accuracy=top_k_accuracy[1],
    )


def _count_ignored(folds: Sequence[SliceFold], values: Sequence[np.ndarray]) -> None:
    """Count rows left out by ``ignore_index`` in their slices (a new slice has no rows).

    Every fold numbers the slices alike; the last counts the rows (``n_ignored``).
    """
    for fold in folds:
        local, where = fold.slice_rows(values)
    folds[-1]._mark("n_ignored", where, np.bincount(local, minlength=len(where)))
