"""An interval read from the statistics of bootstrap resamples: BCa or percentile.

The row bootstrap of :mod:`cecli.bootstrap` and the calibration differences
of :mod:`cecli.compare_calibration` resample differently but read their
intervals the same way: the percentiles of the resamples' statistics, moved
for BCa (Efron 1987) by the bias (the share of resamples below the estimate)
and the acceleration (from the jackknife's leave-one-out statistics). BCa
falls back to the percentile interval when the bias correction is undefined
(every resample on one side of the estimate).

Examples
--------
>>> import numpy as np
>>> from cecli.bootstrap_interval import read_interval
>>> stats = np.linspace(-1.0, 3.0, 401)
>>> r = read_interval(stats, 1.0, lambda: np.array([0.9, 1.1]), 0.9, "percentile", 401, 0)
>>> round(r.ci_low, 2), round(r.ci_high, 2), r.method
(-0.8, 2.8, 'percentile')
"""

from __future__ import annotations

import math
from collections.abc import Callable
from statistics import NormalDist
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    from cecli.bootstrap import BootstrapResult, Method


def mean_jackknife(
    values: NDArray[np.float64], w: NDArray[np.float64] | None, estimate: float
) -> NDArray[np.float64]:
    """The (weighted) mean of ``values`` with each row left out in turn, in closed form.

    A row whose weight is all there is leaves no mean: it gets ``estimate``.

    Examples
    --------
    >>> mean_jackknife(np.array([1.0, 2.0, 6.0]), None, 3.0).tolist()
    [4.0, 3.5, 1.5]
    """
    if w is None:
        n = len(values)
        return (np.sum(values) - values) / (n - 1) if n > 1 else values.copy()
    rest = np.sum(w) - w
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(rest > 0, (np.dot(w, values) - w * values) / rest, estimate)


def bca_levels(below: float, loo: NDArray[np.float64], alpha: float) -> tuple[float, float] | None:
    """BCa's quantile levels (Efron 1987) from the bias and the jackknife, or None.

    ``below`` is the fraction of resamples below the estimate (ties count
    half), ``loo`` the statistic with each row left out in turn; ``alpha``
    the tail on each side. None when a level is not finite.

    Examples
    --------
    >>> low, high = bca_levels(0.5, np.array([1.0, 2.0, 3.0]), 0.025)
    >>> round(low, 4), round(high, 4)
    (0.025, 0.975)
    """
    normal = NormalDist()
    z0 = normal.inv_cdf(below)
    u = np.mean(loo) - loo
    denominator = 6.0 * float(np.sum(u * u)) ** 1.5
    a = float(np.sum(u**3)) / denominator if denominator > 0 else 0.0
    levels = []
    for z in (normal.inv_cdf(alpha), normal.inv_cdf(1 - alpha)):
        shifted = z0 + z
        level = normal.cdf(z0 + shifted / (1 - a * shifted))
        if not math.isfinite(level):
            return None
        levels.append(level)
    return levels[0], levels[1]


def read_interval(
    stats: NDArray[np.float64],
    estimate: float,
    jackknife: Callable[[], NDArray[np.float64]],
    confidence: float,
    method: Method,
    n_resamples: int,
    seed: int | None,
    *,
    exact_if_constant: bool = False,
) -> BootstrapResult:
    """The interval of ``estimate`` from the resamples' ``stats``.

    ``jackknife`` gives the leave-one-out statistics, asked for only when BCa
    needs them. Resamples without a statistic (NaN: only rows of weight 0
    drawn) are left out. With ``exact_if_constant``, resamples that all agree
    make the method ``"exact"``.
    """
    from cecli.bootstrap import BootstrapResult

    stats = stats[np.isfinite(stats)]
    alpha = (1 - confidence) / 2
    used: str = method
    levels = None
    if method == "bca":
        below = float(np.mean(stats < estimate)) + 0.5 * float(np.mean(stats == estimate))
        levels = bca_levels(below, jackknife(), alpha) if 0 < below < 1 else None
        if levels is None:
            used = "percentile"
    if levels is None:
        levels = (alpha, 1 - alpha)
    if exact_if_constant and stats.min() == stats.max():
        used = "exact"
    low, high = np.quantile(stats, levels)
    return BootstrapResult(estimate, float(low), float(high), confidence,
                           float(np.mean(stats < 0)), n_resamples, used, seed, stats)  # fmt: skip
