"""The accuracy difference's interval in ``cecli compare``, as a statistician checks it.

References are independent of the code under test:

* coverage, by simulation: two models whose per-row correctness is drawn
  from a known joint distribution (so the true accuracy difference is known),
  against the nominal level, within the binomial standard error of a rate;
* the bootstrap distribution, against a naive row bootstrap written here
  (``rng.integers`` row numbers, one mean per resample): the same mean and
  spread, within Monte Carlo tolerances;
* the interval's width, against the normal-theory width of a paired
  difference of proportions (``sqrt((p10 + p01 - (p10 - p01)^2) / n)``).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from cecli.bootstrap import count_bootstrap
from cecli.compare import RowScores, compare_rows
from cecli.errors import EmptyInputError, ValueRangeError
from cecli.losses import score

TRIALS, N_ROWS, RESAMPLES = 400, 500, 1000
NOMINAL = 0.95
COVERAGE_TOLERANCE = 3.5 * math.sqrt(NOMINAL * (1 - NOMINAL) / TRIALS)
#: P(baseline right, candidate right), P(right, wrong), P(wrong, right), P(wrong, wrong).
JOINT = (0.6, 0.08, 0.14, 0.18)
TRUE_DIFFERENCE = JOINT[2] - JOINT[1]


def paired_correct(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    cell = rng.choice(4, size=n, p=JOINT)
    return np.isin(cell, (0, 1)), np.isin(cell, (0, 2))


@pytest.mark.parametrize("method", ["bca", "percentile"])
def test_the_interval_covers_the_true_accuracy_difference_at_the_nominal_rate(method):
    covered, widths = 0, []
    for trial in range(TRIALS):
        b, c = paired_correct(np.random.default_rng([2031, trial]), N_ROWS)
        r = count_bootstrap(
            c.astype(int) - b.astype(int), n_resamples=RESAMPLES, seed=trial, method=method
        )
        covered += r.ci_low <= TRUE_DIFFERENCE <= r.ci_high
        widths.append(r.ci_high - r.ci_low)
    rate = covered / TRIALS
    assert abs(rate - NOMINAL) <= COVERAGE_TOLERANCE, f"{method}: coverage {rate:.3f}"
    p10, p01 = JOINT[1], JOINT[2]
    sd = math.sqrt(p10 + p01 - (p01 - p10) ** 2)
    assert np.mean(widths) == pytest.approx(2 * 1.959964 * sd / math.sqrt(N_ROWS), rel=0.06)


def test_the_resampled_differences_are_those_of_a_naive_row_bootstrap():
    rng = np.random.default_rng(7)
    b, c = paired_correct(rng, 2000)
    d = c.astype(float) - b.astype(float)
    ours = count_bootstrap(d, n_resamples=20_000, seed=1).resamples
    naive = d[rng.integers(0, len(d), (4000, len(d)))].mean(axis=1)
    # means within 4 Monte Carlo standard errors; spreads within 5%
    se = d.std() / math.sqrt(len(d))
    assert abs(ours.mean() - d.mean()) < 4 * se / math.sqrt(20_000)
    assert abs(naive.mean() - d.mean()) < 4 * se / math.sqrt(4000)
    assert ours.std() == pytest.approx(se, rel=0.03)
    assert naive.std() == pytest.approx(ours.std(), rel=0.05)


def test_equal_correctness_everywhere_gives_the_exact_point():
    r = count_bootstrap(np.zeros(50), seed=0)
    assert (r.estimate, r.ci_low, r.ci_high, r.method) == (0.0, 0.0, 0.0, "exact")


def test_bad_values_are_refused():
    with pytest.raises(EmptyInputError):
        count_bootstrap([])
    with pytest.raises(ValueRangeError):
        count_bootstrap([0.0, math.nan])


def test_compare_rows_gives_the_accuracy_interval_around_the_difference():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 400)
    good = np.clip(np.where(y == 1, 0.7, 0.3) + rng.normal(0, 0.2, 400), 0.01, 0.99)
    bad = np.clip(np.where(y == 1, 0.6, 0.4) + rng.normal(0, 0.3, 400), 0.01, 0.99)
    a = RowScores.concatenate([score("binary", y, bad)])
    b = RowScores.concatenate([score("binary", y, good)])
    c = compare_rows(a, b, seed=0)
    expected = np.mean(b.correct) - np.mean(a.correct)
    assert c.delta_accuracy == pytest.approx(expected)
    assert c.accuracy_ci_low < c.delta_accuracy < c.accuracy_ci_high
    assert c.accuracy_bootstrap is not None
    assert c.accuracy_bootstrap.method == "bca"
    few = compare_rows(a.take(np.arange(5)), b.take(np.arange(5)))
    assert math.isnan(few.accuracy_ci_low)
    assert math.isnan(few.accuracy_ci_high)
