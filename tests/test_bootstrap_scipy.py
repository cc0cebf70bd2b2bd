"""``cecli compare``'s interval against ``scipy.stats.bootstrap`` on the two models' losses.

SciPy resamples the rows of (baseline loss, candidate loss, weight) together
(``paired=True``) and evaluates the weighted mean loss difference, written
here from its definition; cecli resamples the per-row differences with its
own random stream. The two intervals then differ by Monte Carlo error only,
and that error has a known size: the ``p`` quantile of ``R`` resampled means
has a standard error of ``sqrt(p (1 - p) / R) / f(q_p)``, where the density
``f`` of the (near-normal) bootstrap distribution at its ``p`` quantile is
``phi(z_p) / sd``. Each end must lie within 4.5 standard errors of the
difference of two independent estimates (``sqrt(2)`` times one): an interval
at another level, or of another statistic, is many times further off.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pytest
from scipy import stats

from cecli.bootstrap import BLOCK_ROWS
from cecli.compare import RowScores, compare_rows

ALPHA = 0.025


def skewed_losses(n: int, weighted: bool, seed: int):
    """Log losses of a baseline and a slightly better candidate (right-skewed), and weights."""
    rng = np.random.default_rng(seed)
    p_base = rng.beta(4, 2, n)
    p_cand = np.clip(p_base + rng.normal(0.02, 0.08, n), 1e-4, 1 - 1e-4)
    weights = rng.choice([0.5, 1.0, 3.0], n) if weighted else np.ones(n)
    return -np.log(p_base), -np.log(p_cand), weights


def rows_of(loss: np.ndarray, weights: np.ndarray) -> RowScores:
    n = len(loss)
    zeros = np.zeros(n, dtype=np.intp)
    return RowScores(loss, zeros, zeros, np.full(n, 0.5), np.ones(n, bool), np.zeros(n, bool),
                     weights)  # fmt: skip


def weighted_mean_difference(loss_b, loss_c, w, axis=-1):
    """The definition: sum(w * (candidate - baseline)) / sum(w) over the rows drawn."""
    return np.sum(w * (loss_c - loss_b), axis=axis) / np.sum(w, axis=axis)


def endpoint_tolerance(sd: float, n_resamples: int) -> float:
    one = math.sqrt(ALPHA * (1 - ALPHA) / n_resamples) / NormalDist().pdf(1.959964) * sd
    return 4.5 * math.sqrt(2) * one


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize(
    ("n", "method", "n_resamples"),
    [(400, "bca", 50_000), (400, "percentile", 50_000), (BLOCK_ROWS + 3000, "percentile", 4000)],
    ids=["bca", "percentile", "percentile over two blocks"],
)
def test_the_interval_is_scipys_to_monte_carlo_error(n, method, n_resamples, weighted):
    loss_b, loss_c, weights = skewed_losses(n, weighted, seed=31)
    c = compare_rows(rows_of(loss_b, weights), rows_of(loss_c, weights),
                     n_resamples=n_resamples, seed=0, method=method)  # fmt: skip
    reference = stats.bootstrap(
        (loss_b, loss_c, weights),
        weighted_mean_difference,
        paired=True,
        vectorized=True,
        n_resamples=n_resamples,
        method="BCa" if method == "bca" else "percentile",
        batch=1000,
        rng=np.random.default_rng(1),
    )
    assert c.bootstrap.method == method
    assert c.delta_mean_loss == pytest.approx(
        weighted_mean_difference(loss_b, loss_c, weights), rel=1e-12
    )
    tolerance = endpoint_tolerance(reference.standard_error, n_resamples)
    assert c.ci_low == pytest.approx(reference.confidence_interval.low, abs=tolerance)
    assert c.ci_high == pytest.approx(reference.confidence_interval.high, abs=tolerance)
    # the sd of R means has a relative standard error of 1 / sqrt(2 R); two of them differ
    # by sqrt(2) times that
    spread = np.std(c.bootstrap.resamples, ddof=1)
    assert spread == pytest.approx(reference.standard_error, rel=4.5 / math.sqrt(n_resamples))


def test_the_tolerance_tells_a_90_percent_interval_from_a_95_percent_one():
    # the check above can fail: at 90% the ends move by about 0.3 sd, many tolerances
    loss_b, loss_c, weights = skewed_losses(400, False, seed=31)
    c = compare_rows(rows_of(loss_b, weights), rows_of(loss_c, weights),
                     n_resamples=50_000, seed=0, confidence=0.90)  # fmt: skip
    reference = stats.bootstrap(
        (loss_b, loss_c, weights),
        weighted_mean_difference,
        paired=True,
        vectorized=True,
        n_resamples=50_000,
        batch=1000,
        rng=np.random.default_rng(1),
    )
    tolerance = endpoint_tolerance(reference.standard_error, 50_000)
    assert abs(c.ci_low - reference.confidence_interval.low) > 3 * tolerance
    assert abs(c.ci_high - reference.confidence_interval.high) > 3 * tolerance
