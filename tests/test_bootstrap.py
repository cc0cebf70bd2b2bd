"""The paired bootstrap (:func:`cecli.bootstrap.paired_bootstrap`) as a statistician checks it.

References are independent of the code under test:

* coverage, by simulation on data whose true (weighted) mean is known from
  its distribution, against the nominal level, with a tolerance from the
  binomial standard error of a rate measured over a few hundred trials;
* the bootstrap distribution, against its definition (its expected mean is
  the sample mean, its expected variance the plug-in variance over ``n``)
  and against a naive bootstrap written here (``rng.integers`` row numbers,
  one mean per resample), within Monte Carlo tolerances;
* the BCa interval, against ``scipy.stats.bootstrap`` (another random
  stream, so only approximately) and against Efron's formulas applied here to
  the code's own resamples (exactly);
* the resampling itself, which must draw every row with the same chance,
  through the means of indicator values.

Everything is seeded: the file gives the same result on every run.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pytest
from scipy import stats

import cecli.bootstrap
from cecli import CecliError
from cecli.bootstrap import BLOCK_ROWS, paired_bootstrap
from cecli.errors import EmptyInputError, OptionError, ShapeError, ValueRangeError, WeightError

Z975 = NormalDist().inv_cdf(0.975)


# -- coverage by simulation ------------------------------------------------------------

#: Trials per case and method, rows per trial, resamples per interval.
TRIALS, N_ROWS, RESAMPLES = 300, 1000, 1000
NOMINAL = 0.95
#: The binomial standard error of a coverage rate measured over TRIALS trials at NOMINAL.
COVERAGE_SE = math.sqrt(NOMINAL * (1 - NOMINAL) / TRIALS)
#: A measured rate further than this from NOMINAL fails: 3.5 standard errors, about 0.044.
#: (At 400 rows the intervals' own shortfall is about 0.005, measured over 2,000 trials.)
COVERAGE_TOLERANCE = 3.5 * COVERAGE_SE
#: The mean width of the intervals must be within this fraction of the normal-theory
#: width 2 * 1.96 * sd / sqrt(n): an interval at another level would be 20 to 30% off.
WIDTH_TOLERANCE = 0.06

LOGNORMAL_SIGMA = 0.75
LOGNORMAL_MEAN = math.exp(LOGNORMAL_SIGMA**2 / 2)
LOGNORMAL_SD = math.sqrt((math.exp(LOGNORMAL_SIGMA**2) - 1) * math.exp(LOGNORMAL_SIGMA**2))
#: Weighted case: a row's weight, and the mean of its value given that weight.
WEIGHT_MEANS = {1.0: -0.2, 2.0: 0.0, 4.0: 0.3}


def symmetric(rng: np.random.Generator, n: int):
    """Normal differences: mean 0.3, sd 1."""
    return rng.normal(0.3, 1.0, n), None, 0.3, 1.0


def skewed(rng: np.random.Generator, n: int):
    """Lognormal minus its mean plus 0.1: right-skewed (skewness about 2.9), as log losses are."""
    values = rng.lognormal(0.0, LOGNORMAL_SIGMA, n) - LOGNORMAL_MEAN + 0.1
    return values, None, 0.1, LOGNORMAL_SD


def weighted(rng: np.random.Generator, n: int):
    """Weights 1, 2 or 4 equally often; given the weight, a skewed value around its own mean.

    The true weighted mean is ``E[w v] / E[w]``; its estimator's asymptotic sd
    is ``sqrt(E[w^2 (v - mu)^2]) / E[w]`` over ``sqrt(n)`` (the delta method).
    """
    w = rng.choice(list(WEIGHT_MEANS), n)
    means = np.select([w == k for k in WEIGHT_MEANS], list(WEIGHT_MEANS.values()))
    values = means + rng.lognormal(0.0, LOGNORMAL_SIGMA, n) - LOGNORMAL_MEAN
    mean_w = sum(WEIGHT_MEANS) / 3
    true = sum(k * m for k, m in WEIGHT_MEANS.items()) / 3 / mean_w
    second = sum(k * k * ((m - true) ** 2 + LOGNORMAL_SD**2) for k, m in WEIGHT_MEANS.items()) / 3
    return values, w, true, math.sqrt(second) / mean_w


@pytest.mark.parametrize("method", ["bca", "percentile"])
@pytest.mark.parametrize("case", [symmetric, skewed, weighted], ids=lambda f: f.__name__)
def test_the_interval_covers_the_true_mean_at_the_nominal_rate(case, method):
    covered, widths = 0, []
    for trial in range(TRIALS):
        rng = np.random.default_rng([2026, trial])
        values, w, true_mean, sd = case(rng, N_ROWS)
        r = paired_bootstrap(
            values, w, n_resamples=RESAMPLES, confidence=NOMINAL, seed=trial, method=method
        )
        covered += r.ci_low <= true_mean <= r.ci_high
        widths.append(r.ci_high - r.ci_low)
    rate = covered / TRIALS
    assert abs(rate - NOMINAL) <= COVERAGE_TOLERANCE, (
        f"{case.__name__}, {method}: coverage {rate:.3f}, expected {NOMINAL} +- "
        f"{COVERAGE_TOLERANCE:.3f}"
    )
    normal_width = 2 * Z975 * sd / math.sqrt(N_ROWS)
    assert np.mean(widths) == pytest.approx(normal_width, rel=WIDTH_TOLERANCE)


#: Trials of the small-sample coverage test: the standard error of a rate near 0.9 is 0.013.
SMALL_TRIALS = 500


def small_sample_coverage(n: int) -> float:
    """How often the 95% BCa interval of ``n`` normal values holds their mean."""
    covered = 0
    for trial in range(SMALL_TRIALS):
        values, _, true_mean, _ = symmetric(np.random.default_rng([2027, n, trial]), n)
        r = paired_bootstrap(values, n_resamples=500, seed=trial)
        covered += r.ci_low <= true_mean <= r.ci_high
    return covered / SMALL_TRIALS


def test_min_rows_is_where_the_coverage_stops_falling_apart():
    """At MIN_ROWS a nominal 95% interval misses at most about twice as often as it should
    (coverage near 0.90); at 3 rows it misses five times as often (near 0.73). cecli
    compare's "insufficient_data" below MIN_ROWS rests on this."""
    se = math.sqrt(0.9 * 0.1 / SMALL_TRIALS)
    assert cecli.bootstrap.MIN_ROWS == 10
    assert small_sample_coverage(cecli.bootstrap.MIN_ROWS) >= 0.90 - 3 * se
    assert small_sample_coverage(3) <= 0.80


# -- the bootstrap distribution, against its definition and a naive bootstrap ----------


def naive_bootstrap(values, weights, n_resamples, rng):
    """The textbook bootstrap: n row numbers drawn uniformly per resample, and their mean."""
    n = len(values)
    out = np.empty(n_resamples)
    for start in range(0, n_resamples, 250):
        rows = rng.integers(0, n, size=(min(250, n_resamples - start), n))
        if weights is None:
            out[start : start + len(rows)] = values[rows].mean(axis=1)
        else:
            w = weights[rows]
            out[start : start + len(rows)] = (w * values[rows]).sum(axis=1) / w.sum(axis=1)
    return out


def skewed_sample(n: int, weighted: bool, seed: int = 11):
    rng = np.random.default_rng(seed)
    values = rng.lognormal(0.0, 1.0, n) - 1.5
    weights = rng.uniform(0.2, 3.0, n) if weighted else None
    return values, weights


def plugin_sd_of_mean(values, weights):
    """The bootstrap's exact sd of a resample's mean: the plug-in sd over sqrt(n).

    With weights, the delta-method sd of the ratio, which the bootstrap gives
    for large n: ``sqrt(sum(w^2 (v - m)^2)) / sum(w)``.
    """
    if weights is None:
        return np.sqrt(np.mean((values - values.mean()) ** 2) / len(values))
    m = np.dot(weights, values) / weights.sum()
    return np.sqrt(np.sum(weights**2 * (values - m) ** 2)) / weights.sum()


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize(
    ("n", "n_resamples"),
    [(500, 20_000), (2 * BLOCK_ROWS + 1000, 1000)],
    ids=["one partial block", "three blocks"],
)
def test_the_resample_means_agree_with_the_definition_and_a_naive_bootstrap(
    n, n_resamples, weighted
):
    values, weights = skewed_sample(n, weighted)
    r = paired_bootstrap(values, weights, n_resamples=n_resamples, seed=3, method="percentile")
    naive = naive_bootstrap(values, weights, n_resamples, np.random.default_rng(4))
    assert len(r.resamples) == n_resamples
    estimate = values.mean() if weights is None else np.dot(weights, values) / weights.sum()
    assert r.estimate == pytest.approx(estimate, rel=1e-12)
    sd = plugin_sd_of_mean(values, weights)
    # the mean of B resample means is the estimate to within 4 of its standard errors
    for means in (r.resamples, naive):
        assert abs(np.mean(means) - estimate) <= 4 * sd / math.sqrt(n_resamples)
    # the sd of B means estimates sd with a relative standard error of about 1/sqrt(2B)
    sd_tolerance = 4 / math.sqrt(2 * n_resamples)
    assert np.std(r.resamples) == pytest.approx(sd, rel=sd_tolerance + (0.01 if weighted else 0))
    assert np.std(r.resamples) == pytest.approx(np.std(naive), rel=math.sqrt(2) * sd_tolerance)
    # a 2.5% quantile of B draws has a standard error of sqrt(p(1-p)/B) / density, in sd
    quantile_se = math.sqrt(0.025 * 0.975 / n_resamples) / NormalDist().pdf(Z975) * sd
    low, high = np.quantile(naive, [0.025, 0.975])
    assert r.ci_low == pytest.approx(low, abs=4 * math.sqrt(2) * quantile_se)
    assert r.ci_high == pytest.approx(high, abs=4 * math.sqrt(2) * quantile_se)
    assert r.p_below_zero == pytest.approx(np.mean(naive < 0), abs=4 * 0.5 / math.sqrt(n_resamples))


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_bca_agrees_with_scipy(weighted):
    values, weights = skewed_sample(300, weighted, seed=21)
    r = paired_bootstrap(values, weights, n_resamples=9999, seed=5, method="bca")
    if weights is None:
        data, statistic = (values,), np.mean
    else:
        data = (values, weights)

        def statistic(v, w, axis=-1):
            return np.sum(w * v, axis=axis) / np.sum(w, axis=axis)

    reference = stats.bootstrap(
        data,
        statistic,
        paired=weights is not None,
        vectorized=True,
        n_resamples=9999,
        confidence_level=0.95,
        method="BCa",
        rng=np.random.default_rng(6),
    )
    assert r.method == "bca"
    # two independent streams of 9,999 resamples: each end within 0.15 sd of the other's
    tolerance = 0.15 * reference.standard_error
    assert r.ci_low == pytest.approx(reference.confidence_interval.low, abs=tolerance)
    assert r.ci_high == pytest.approx(reference.confidence_interval.high, abs=tolerance)
    assert np.std(r.resamples, ddof=1) == pytest.approx(reference.standard_error, rel=0.04)


def bca_by_the_definition(values, weights, resamples, confidence):
    """Efron's BCa levels, from the resamples given, with a leave-one-out jackknife."""
    normal = NormalDist()
    n = len(values)
    w = np.ones(n) if weights is None else weights
    estimate = np.dot(w, values) / w.sum()
    below = np.mean(resamples < estimate) + 0.5 * np.mean(resamples == estimate)
    z0 = normal.inv_cdf(below)
    keep = np.ones(n, dtype=bool)
    jackknife = np.empty(n)
    for i in range(n):
        keep[i] = False
        jackknife[i] = np.dot(w[keep], values[keep]) / w[keep].sum()
        keep[i] = True
    u = jackknife.mean() - jackknife
    a = np.sum(u**3) / (6 * np.sum(u**2) ** 1.5)
    alpha = (1 - confidence) / 2
    levels = []
    for z in (normal.inv_cdf(alpha), normal.inv_cdf(1 - alpha)):
        levels.append(normal.cdf(z0 + (z0 + z) / (1 - a * (z0 + z))))
    return np.quantile(resamples, levels)


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("confidence", [0.8, 0.95, 0.99])
def test_the_intervals_are_their_definitions_applied_to_the_resamples(weighted, confidence):
    values, weights = skewed_sample(120, weighted, seed=8)
    bca = paired_bootstrap(values, weights, n_resamples=3000, confidence=confidence, seed=9)
    low, high = bca_by_the_definition(values, weights, bca.resamples, confidence)
    assert bca.method == "bca"
    assert (bca.ci_low, bca.ci_high) == pytest.approx((low, high), rel=1e-9)
    plain = paired_bootstrap(
        values, weights, n_resamples=3000, confidence=confidence, seed=9, method="percentile"
    )
    # the same seed draws the same rows, whatever the interval
    np.testing.assert_array_equal(plain.resamples, bca.resamples)
    alpha = (1 - confidence) / 2
    low, high = np.quantile(plain.resamples, [alpha, 1 - alpha])
    assert (plain.ci_low, plain.ci_high) == (low, high)
    assert plain.p_below_zero == np.mean(plain.resamples < 0)
    assert plain.estimate == bca.estimate


def test_a_skewed_sample_moves_the_bca_interval_to_the_right_of_the_percentile_one():
    # right skew: the percentile interval is too short on the right; BCa stretches it there
    values, _ = skewed_sample(200, False, seed=13)
    bca = paired_bootstrap(values, n_resamples=4000, seed=1, method="bca")
    plain = paired_bootstrap(values, n_resamples=4000, seed=1, method="percentile")
    assert bca.ci_low > plain.ci_low
    assert bca.ci_high > plain.ci_high


# -- values that cannot vary -------------------------------------------------------------


@pytest.mark.parametrize("method", ["bca", "percentile"])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_identical_models_give_exactly_zero(method, weighted):
    weights = np.linspace(0.5, 2.0, 40) if weighted else None
    r = paired_bootstrap(np.zeros(40), weights, n_resamples=500, seed=0, method=method)
    assert (r.estimate, r.ci_low, r.ci_high, r.p_below_zero) == (0.0, 0.0, 0.0, 0.0)
    assert r.method == "exact"
    assert r.confidence == 0.95
    assert r.n_resamples == 500


@pytest.mark.parametrize(("value", "p_below_zero"), [(0.25, 0.0), (-0.25, 1.0)])
def test_a_constant_difference_gives_the_point_interval(value, p_below_zero):
    r = paired_bootstrap(np.full(30, value), n_resamples=200, seed=0)
    assert (r.estimate, r.ci_low, r.ci_high) == (value, value, value)
    assert r.p_below_zero == p_below_zero
    assert r.method == "exact"


def test_rows_of_weight_zero_do_not_vary_the_mean():
    r = paired_bootstrap([0.5, 0.5, 0.5, 9.0], [1.0, 2.0, 1.0, 0.0], seed=0)
    assert (r.estimate, r.ci_low, r.ci_high, r.method) == (0.5, 0.5, 0.5, "exact")


def test_two_rows_that_differ_give_an_interval_within_their_range():
    r = paired_bootstrap([0.0, 1.0], n_resamples=1000, seed=0, method="percentile")
    # each resample's mean is 0, 0.5 or 1, with chances 1/4, 1/2, 1/4
    assert set(np.unique(r.resamples)) == {0.0, 0.5, 1.0}
    assert np.mean(r.resamples == 0.5) == pytest.approx(0.5, abs=4 * 0.5 / math.sqrt(1000))
    assert (r.ci_low, r.ci_high) == (0.0, 1.0)


# -- reproducibility ---------------------------------------------------------------------


def test_the_same_seed_gives_the_same_result_bit_for_bit():
    values, weights = skewed_sample(1000, True)
    first = paired_bootstrap(values, weights, n_resamples=700, seed=42)
    again = paired_bootstrap(values.copy(), weights.copy(), n_resamples=700, seed=42)
    np.testing.assert_array_equal(first.resamples, again.resamples)
    assert (first.ci_low, first.ci_high, first.p_below_zero) == (
        again.ci_low,
        again.ci_high,
        again.p_below_zero,
    )
    assert first.seed == 42


def test_another_seed_gives_other_resamples():
    values, _ = skewed_sample(1000, False)
    a = paired_bootstrap(values, n_resamples=700, seed=1)
    b = paired_bootstrap(values, n_resamples=700, seed=2)
    assert not np.array_equal(a.resamples, b.resamples)
    assert (a.ci_low, a.ci_high) != (b.ci_low, b.ci_high)


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_the_result_does_not_depend_on_the_number_of_threads(monkeypatch, weighted):
    n, n_resamples = 3 * BLOCK_ROWS + 1234, 100
    assert n * n_resamples >= 1 << 22  # large enough for the thread pool
    values, weights = skewed_sample(n, weighted)
    pools = []

    class CountedPool(cecli.bootstrap.ThreadPoolExecutor):
        def __init__(self, *args, **kwargs):
            pools.append(kwargs.get("max_workers"))
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(cecli.bootstrap, "ThreadPoolExecutor", CountedPool)
    results = {}
    for threads in ("1", "2"):
        monkeypatch.setenv("CECLI_NUM_THREADS", threads)
        results[threads] = paired_bootstrap(values, weights, n_resamples=n_resamples, seed=7)
    assert pools == [2]  # one thread: no pool; two: a pool of two
    one, two = results["1"], results["2"]
    np.testing.assert_array_equal(one.resamples, two.resamples)
    for field in ("ci_low", "ci_high", "p_below_zero"):
        assert getattr(one, field) == getattr(two, field)


# -- every row is drawn with the same chance ------------------------------------------------


def test_every_row_is_drawn_uniformly_across_blocks():
    """Cells of rows (block x eighth of the block x odd or even row) are drawn in proportion.

    A value of 1 on a cell's rows and 0 elsewhere makes a resample's mean the
    share of its draws that fell in the cell. The same seed draws the same rows
    whatever the values, so one run per cell counts the cells of the same draws.
    """
    n, n_resamples = 3 * BLOCK_ROWS + 5000, 100
    rows = np.arange(n)
    cell = (rows // BLOCK_ROWS) * 16 + ((rows % BLOCK_ROWS) // (BLOCK_ROWS // 8)) * 2 + rows % 2
    cells, sizes = np.unique(cell, return_counts=True)
    assert len(cells) == 3 * 16 + 3 * 2  # the partial block has 5,000 rows: 3 eighths
    counts = np.empty((len(cells), n_resamples))
    for i, c in enumerate(cells):
        r = paired_bootstrap((cell == c).astype(float), n_resamples=n_resamples, seed=99)
        counts[i] = r.resamples * n
    assert np.allclose(counts, np.round(counts), rtol=0, atol=1e-6)
    counts = np.round(counts)
    # every resample draws exactly n rows
    np.testing.assert_array_equal(counts.sum(axis=0), n)
    # over all resamples, each cell's draws against its size: a chi-square test
    totals = counts.sum(axis=1)
    _, p_value = stats.chisquare(totals, n_resamples * sizes)
    assert p_value > 1e-3
    # within each resample, the cells' counts are multinomial(n, sizes / n): the chi-square
    # statistic of a resample has mean (cells - 1) and variance 2 (cells - 1)
    expected = sizes[:, None].astype(float)
    per_resample = ((counts - expected) ** 2 / expected).sum(axis=0)
    dof = len(cells) - 1
    assert abs(per_resample.mean() - dof) <= 4 * math.sqrt(2 * dof / n_resamples)
    # the same at the level of whole blocks: the number drawn from each block varies as a
    # multinomial's (a split fixed in proportion to the blocks' sizes would give 0)
    block_counts = np.add.reduceat(counts, np.searchsorted(cells, [0, 16, 32, 48]), axis=0)
    block_sizes = np.array([BLOCK_ROWS] * 3 + [5000])[:, None]
    per_block = ((block_counts - block_sizes) ** 2 / block_sizes).sum(axis=0)
    assert abs(per_block.mean() - 3) <= 4 * math.sqrt(2 * 3 / n_resamples)


# -- bad arguments -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "kwargs", "error", "words"),
    [
        (
            [0.1, 0.2],
            {"n_resamples": 0},
            OptionError,
            "n_resamples must be a whole number from 1 to 10,000,000; got 0",
        ),
        ([0.1, 0.2], {"n_resamples": -5}, OptionError, "got -5"),
        ([0.1, 0.2], {"n_resamples": 2.5}, OptionError, "got 2.5"),
        ([0.1, 0.2], {"confidence": 0.0}, OptionError, "confidence must lie in (0, 1); got 0"),
        ([0.1, 0.2], {"confidence": 1.0}, OptionError, "got 1"),
        ([0.1, 0.2], {"confidence": 95}, OptionError, "for 95%, write 0.95"),
        ([0.1, 0.2], {"confidence": float("nan")}, OptionError, "got nan"),
        ([0.1, 0.2], {"method": "basic"}, OptionError, "bca or percentile; got 'basic'"),
        ([0.1, float("nan"), 0.3], {}, ValueRangeError, "row 1: the value nan is not finite"),
        ([0.1, 0.2, float("inf")], {}, ValueRangeError, "row 2: the value inf is not finite"),
        ([], {}, EmptyInputError, "no rows"),
        ([[0.1, 0.2]], {}, ShapeError, "got shape (1, 2)"),
        ([0.1, 0.2], {"weights": [1.0, -1.0]}, WeightError, "non-negative"),
        ([0.1, 0.2], {"weights": [0.0, 0.0]}, WeightError, "not all 0"),
        ([0.1, 0.2], {"weights": [1.0, float("nan")]}, WeightError, "finite"),
        ([0.1, 0.2], {"weights": [1.0, 2.0, 3.0]}, ShapeError, "weights have shape (3,)"),
    ],
)
def test_bad_arguments_are_errors_that_say_what_is_wrong(values, kwargs, error, words):
    with pytest.raises(error) as raised:
        paired_bootstrap(values, seed=0, **kwargs)
    assert isinstance(raised.value, CecliError)
    assert words in str(raised.value)
