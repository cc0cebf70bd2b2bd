"""The streaming Poisson bootstrap (:mod:`cecli.poisson_bootstrap`) as a statistician checks it.

References are independent of the code under test:

* the weights, against the Poisson(1) distribution (``scipy.stats.poisson``)
  and against independence (correlations between rows and resamples);
* the sums, against exact rational arithmetic (:class:`fractions.Fraction`)
  over the weights and values, correctly rounded;
* the interval, by its coverage in simulation on data whose true (weighted)
  mean is known, against the nominal level, and against the row bootstrap
  and the normal-theory interval on a large sample;
* chunking and splitting: one fold over all rows against folds over any
  split of them merged in any order, bit for bit.
"""

from __future__ import annotations

import itertools
import json
import math
from fractions import Fraction
from statistics import NormalDist

import numpy as np
import pytest
from scipy import stats
from typer.testing import CliRunner

from cecli.bootstrap import paired_bootstrap
from cecli.cli import app
from cecli.errors import OptionError, ValueRangeError, WeightError
from cecli.poisson_bootstrap import (
    ACCURACY,
    COUNT,
    FLOOR_BITS,
    LOSS,
    WEIGHT,
    PoissonBootstrap,
    poisson_compare,
    poisson_weights,
)

Z975 = NormalDist().inv_cdf(0.975)


# -- the weights -----------------------------------------------------------------------


def test_the_weights_are_poisson_1():
    w = poisson_weights(seed=3, first_row=0, n_rows=4000, n_resamples=250)
    values, counts = np.unique(w, return_counts=True)
    assert values.tolist() == list(range(len(values)))
    expected = stats.poisson(1).pmf(values) * w.size
    # the classes with at least 20 expected, the rest pooled
    keep = expected >= 20
    observed = np.append(counts[keep], counts[~keep].sum())
    expected = np.append(expected[keep], w.size - expected[keep].sum())
    p = stats.chisquare(observed, expected).pvalue
    assert p > 1e-3
    assert abs(w.mean() - 1) < 4 / math.sqrt(w.size)
    assert abs(w.var() - 1) < 8 / math.sqrt(w.size)


def test_the_weights_of_rows_and_resamples_are_uncorrelated():
    w = poisson_weights(seed=0, first_row=10**9, n_rows=2000, n_resamples=200).astype(float)
    bound = 4 / math.sqrt(w.size)
    for a, b in ((w[:-1], w[1:]), (w[:, :-1], w[:, 1:]), (w[:, :100], w[:, 100:])):
        assert abs(np.corrcoef(a.ravel(), b.ravel())[0, 1]) < bound


@pytest.mark.parametrize("n_resamples", [1, 7, 8, 9, 2000])
def test_a_rows_weights_do_not_depend_on_the_rows_drawn_with_it(n_resamples):
    whole = poisson_weights(5, 100, 300, n_resamples)
    for lo, hi in ((0, 1), (17, 18), (3, 290), (299, 300)):
        assert np.array_equal(poisson_weights(5, 100 + lo, hi - lo, n_resamples), whole[lo:hi])


def test_other_seeds_give_other_weights():
    a, b = poisson_weights(0, 0, 100, 100), poisson_weights(1, 0, 100, 100)
    assert np.mean(a == b) < 0.5


# -- the sums --------------------------------------------------------------------------


def exact_sum(weights: np.ndarray, x: np.ndarray) -> list[float]:
    """Each column's sum of weights times ``x``, exactly, then correctly rounded."""
    terms = [Fraction(v) for v in x]
    return [float(sum(int(k) * t for k, t in zip(col, terms, strict=True))) for col in weights.T]


def test_the_sums_are_the_exact_sums_correctly_rounded():
    rng = np.random.default_rng(0)
    n, r = 1100, 6
    d = rng.lognormal(0, 2, n) * rng.choice([-1, 1], n)  # values of many magnitudes
    w = rng.uniform(0, 3, n)
    a = rng.integers(-1, 2, n).astype(float)
    fold = PoissonBootstrap(r, seed=4).add(0, d, w, a)
    k = poisson_weights(4, 0, n, r)
    sums = fold.sums()
    ones = np.ones((n, 1), dtype=np.int64)
    for statistic, x in ((LOSS, w * d), (WEIGHT, w), (ACCURACY, a), (COUNT, np.ones(n))):
        assert sums[statistic, 1:].tolist() == exact_sum(k, x)
        assert sums[statistic, 0] == exact_sum(ones, x)[0]


def test_values_are_rounded_to_a_fixed_grid_before_summing():
    tiny = math.ldexp(1.0, -FLOOR_BITS - 2)  # rounds to 0
    fold = PoissonBootstrap(4, seed=0).add(0, np.array([1.0, tiny, -tiny]))
    assert fold.sums()[LOSS, 0] == 1.0


# -- chunks, splits and merges ---------------------------------------------------------


def problem(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    d = rng.normal(0.1, 1.0, n) ** 3  # skewed, of many magnitudes
    w = rng.choice([0.0, 0.5, 1.0, 3.0], n)
    a = rng.integers(-1, 2, n).astype(float)
    return d, w, a


def fold_over(pieces, n_resamples=300, seed=9, d=None, w=None, a=None) -> PoissonBootstrap:
    """One fold per piece (first row, last row + 1), merged in the order given."""
    folds = [
        PoissonBootstrap(n_resamples, seed).add(lo, d[lo:hi], w[lo:hi], a[lo:hi])
        for lo, hi in pieces
    ]
    merged = PoissonBootstrap(n_resamples, seed)
    for f in folds:
        merged.merge(f)
    return merged


@pytest.mark.parametrize("chunk", [1, 7, 511, 512, 513, 1000, 2500])
def test_the_chunk_size_does_not_change_a_bit(chunk):
    n = 2500
    d, w, a = problem(n)
    whole = PoissonBootstrap(300, 9).add(0, d, w, a)
    chunked = PoissonBootstrap(300, 9)
    for lo in range(0, n, chunk):
        chunked.add(lo, d[lo : lo + chunk], w[lo : lo + chunk], a[lo : lo + chunk])
    assert np.array_equal(whole.sums(), chunked.sums())
    assert np.array_equal(whole.result().resamples, chunked.result().resamples)
    assert whole.result().ci_low == chunked.result().ci_low


def test_two_halves_merged_are_one_fold_over_all_bit_for_bit():
    n = 3001
    d, w, a = problem(n, seed=1)
    whole = PoissonBootstrap(300, 9).add(0, d, w, a)
    rng = np.random.default_rng(2)
    for _ in range(5):
        cut = int(rng.integers(1, n))
        for order in ([(0, cut), (cut, n)], [(cut, n), (0, cut)]):
            merged = fold_over(order, d=d, w=w, a=a)
            assert np.array_equal(merged.sums(), whole.sums())
            r, s = merged.result(), whole.result()
            assert (r.estimate, r.ci_low, r.ci_high, r.p_below_zero) == (
                s.estimate,
                s.ci_low,
                s.ci_high,
                s.p_below_zero,
            )
            assert merged.accuracy_result().ci_low == whole.accuracy_result().ci_low


def test_uneven_shards_in_any_order_and_tree_give_the_same_bits():
    n = 4000
    d, w, a = problem(n, seed=3)
    whole = PoissonBootstrap(300, 9).add(0, d, w, a)
    cuts = [0, 1, 2, 700, 701, 2222, 3999, 4000]
    pieces = list(itertools.pairwise(cuts))
    shuffled = [pieces[i] for i in np.random.default_rng(0).permutation(len(pieces))]
    assert np.array_equal(fold_over(shuffled, d=d, w=w, a=a).sums(), whole.sums())
    # a tree: ((p0 + p1) + (p2 + p3)) + ((p4 + p5) + p6)
    leaves = [fold_over([p], d=d, w=w, a=a) for p in pieces]
    left = fold_over([], d=d, w=w, a=a).merge(leaves[0]).merge(leaves[1])
    left.merge(fold_over([], d=d, w=w, a=a).merge(leaves[2]).merge(leaves[3]))
    right = fold_over([], d=d, w=w, a=a).merge(leaves[4]).merge(leaves[5]).merge(leaves[6])
    assert np.array_equal(left.merge(right).sums(), whole.sums())


def test_a_merge_never_changes_its_argument():
    d, w, a = problem(1000)
    other = PoissonBootstrap(50, 1).add(500, d[500:], w[500:], a[500:])
    before, rows = other.limbs.copy(), other.n_rows
    first = PoissonBootstrap(50, 1).add(0, d[:500], w[:500], a[:500])
    first.merge(other)
    first.merge(other)  # merged twice on purpose: `other` must still be itself
    assert np.array_equal(other.limbs, before)
    assert other.n_rows == rows
    assert first.n_rows == 1500


def test_the_threads_do_not_change_a_bit(monkeypatch):
    import cecli._threads

    d, w, a = problem(6000, seed=4)
    found = []
    for threads in (1, 2):
        monkeypatch.setattr(cecli._threads, "n_threads", lambda t=threads: t)
        monkeypatch.setattr("cecli.poisson_bootstrap.n_threads", lambda t=threads: t)
        found.append(PoissonBootstrap(1500, 0).add(0, d, w, a).sums())
    assert np.array_equal(found[0], found[1])


def test_folds_of_other_seeds_or_sizes_do_not_merge():
    with pytest.raises(OptionError, match="cannot merge"):
        PoissonBootstrap(10, 0).merge(PoissonBootstrap(10, 1))
    with pytest.raises(OptionError, match="cannot merge"):
        PoissonBootstrap(10, 0).merge(PoissonBootstrap(11, 0))


# -- reproducibility -------------------------------------------------------------------


def test_the_same_seed_gives_the_same_result_and_another_seed_another():
    d, w, _ = problem(2000)
    r1 = PoissonBootstrap(400, 7).add(0, d, w).result()
    r2 = PoissonBootstrap(400, 7).add(0, d, w).result()
    r3 = PoissonBootstrap(400, 8).add(0, d, w).result()
    assert np.array_equal(r1.resamples, r2.resamples)
    assert (r1.ci_low, r1.ci_high) == (r2.ci_low, r2.ci_high)
    assert not np.array_equal(r1.resamples, r3.resamples)
    assert r1.estimate == r3.estimate


# -- the statistic and its interval ----------------------------------------------------


def test_the_estimate_is_the_weighted_mean():
    d, w, a = problem(5000)
    loss, accuracy = poisson_compare(d, w, a, n_resamples=50, seed=0)
    assert loss.estimate == pytest.approx(np.average(d, weights=w), rel=1e-14)
    assert accuracy.estimate == pytest.approx(np.mean(a), rel=1e-14)
    assert poisson_compare(d, None, a, n_resamples=50)[0].estimate == pytest.approx(np.mean(d))


TRIALS, N_ROWS, RESAMPLES = 300, 400, 400
COVERAGE_TOLERANCE = 3.5 * math.sqrt(0.95 * 0.05 / TRIALS)
#: Weighted case: a row's weight, and the mean of its value given that weight.
WEIGHT_MEANS = {1.0: -0.2, 2.0: 0.0, 4.0: 0.3}


def weighted_case(rng: np.random.Generator, n: int):
    w = rng.choice(list(WEIGHT_MEANS), n)
    d = np.array([WEIGHT_MEANS[x] for x in w]) + rng.normal(0, 1, n)
    truth = sum(k * m for k, m in WEIGHT_MEANS.items()) / sum(WEIGHT_MEANS)
    return d, w, truth


def symmetric_case(rng: np.random.Generator, n: int):
    return rng.normal(0.3, 1.0, n), None, 0.3


@pytest.mark.parametrize("case", [symmetric_case, weighted_case])
def test_the_interval_covers_the_true_mean_at_the_nominal_rate(case):
    covered, widths, sds = 0, [], []
    for trial in range(TRIALS):
        rng = np.random.default_rng(1000 + trial)
        d, w, truth = case(rng, N_ROWS)
        r = PoissonBootstrap(RESAMPLES, seed=trial).add(0, d, w).result()
        covered += r.ci_low <= truth <= r.ci_high
        widths.append(r.ci_high - r.ci_low)
        # the normal-theory width of a ratio mean: sd of w (d - mean) over mean w, over sqrt n
        ww = np.ones(N_ROWS) if w is None else w
        mean = np.average(d, weights=ww)
        sds.append(np.std(ww * (d - mean)) / np.mean(ww) / math.sqrt(N_ROWS))
    assert abs(covered / TRIALS - 0.95) < COVERAGE_TOLERANCE
    assert np.mean(widths) == pytest.approx(2 * Z975 * np.mean(sds), rel=0.06)


def test_on_a_large_sample_the_interval_is_the_row_bootstraps():
    rng = np.random.default_rng(5)
    n = 50_000
    p = rng.beta(8, 2, n)
    d = -np.log(np.clip(p + rng.normal(0.01, 0.05, n), 1e-6, 1 - 1e-6)) + np.log(p)
    w = rng.uniform(0.5, 2.0, n)
    for weights in (None, w):
        poisson, _ = poisson_compare(d, weights, np.zeros(n), n_resamples=2000, seed=1)
        rows = paired_bootstrap(d, weights, n_resamples=2000, seed=1, method="percentile")
        width = rows.ci_high - rows.ci_low
        assert poisson.ci_low == pytest.approx(rows.ci_low, abs=0.05 * width)
        assert poisson.ci_high == pytest.approx(rows.ci_high, abs=0.05 * width)
        assert np.std(poisson.resamples) == pytest.approx(np.std(rows.resamples), rel=0.06)
        ww = np.ones(n) if weights is None else weights
        mean = np.average(d, weights=ww)
        se = np.std(ww * (d - mean)) / np.mean(ww) / math.sqrt(n)
        assert poisson.ci_high - poisson.ci_low == pytest.approx(2 * Z975 * se, rel=0.06)


def test_a_weight_scales_its_rows_value_not_its_count():
    """A row of weight 2 is one row counted twice in the mean, drawn as one row.

    So its resamples spread as the row bootstrap's of weighted rows do: the variance
    of a ratio mean is sum(w**2 r**2) / sum(w)**2 (r the residual), where the rows
    repeated w times would give sum(w r**2) / sum(w)**2.
    """
    rng = np.random.default_rng(6)
    d = rng.normal(0, 1, 5000)
    w = rng.integers(1, 4, 5000).astype(float)
    weighted = PoissonBootstrap(2000, 0).add(0, d, w).result()
    repeated = PoissonBootstrap(2000, 0).add(0, np.repeat(d, w.astype(int))).result()
    assert weighted.estimate == pytest.approx(repeated.estimate, rel=1e-12)
    r = d - np.average(d, weights=w)
    expected = math.sqrt(np.sum(w**2 * r**2) / np.sum(w * r**2))
    ratio = np.std(weighted.resamples) / np.std(repeated.resamples)
    assert ratio == pytest.approx(expected, rel=0.06)
    rows = paired_bootstrap(d, w, n_resamples=2000, seed=0, method="percentile")
    assert np.std(weighted.resamples) == pytest.approx(np.std(rows.resamples), rel=0.06)


def test_a_constant_value_gives_the_point_interval():
    r = PoissonBootstrap(100, 0).add(0, np.full(50, -0.25)).result()
    assert (r.method, r.ci_low, r.ci_high, r.p_below_zero) == ("exact", -0.25, -0.25, 1.0)


def test_resamples_that_draw_no_row_are_left_out():
    # two rows and one resample: both weights are 0 in about 14% of seeds
    d = np.array([0.25, 0.75])
    found = [PoissonBootstrap(1, seed).add(0, d).result() for seed in range(40)]
    empty = [r for r in found if not len(r.resamples)]
    assert empty
    assert all(math.isnan(r.ci_low) and r.estimate == 0.5 for r in empty)
    assert all(0.25 <= r.ci_low <= 0.75 for r in found if len(r.resamples))


def test_bad_values_are_errors():
    with pytest.raises(ValueRangeError):
        PoissonBootstrap(10, 0).add(0, np.array([0.0, np.inf]))
    with pytest.raises(WeightError):
        PoissonBootstrap(10, 0).add(0, np.array([0.0, 1.0]), np.array([1.0, -1.0]))
    with pytest.raises(WeightError):
        PoissonBootstrap(10, 0).add(0, np.array([0.0, 1.0]), np.zeros(2)).result()
    with pytest.raises(OptionError, match="n_resamples"):
        PoissonBootstrap(0, 0)
    with pytest.raises(OptionError, match="first_row"):
        PoissonBootstrap(10, 0).add(-1, np.zeros(3))


# -- the command -----------------------------------------------------------------------

runner = CliRunner()


@pytest.fixture
def two_models(tmp_path):
    rng = np.random.default_rng(0)
    n = 600
    y = rng.integers(0, 2, n)
    base = np.clip(np.where(y == 1, 0.7, 0.3) + rng.normal(0, 0.15, n), 0.01, 0.99)
    cand = np.clip(base + np.where(y == 1, 0.05, -0.05) + rng.normal(0, 0.05, n), 0.01, 0.99)
    w = rng.choice([1.0, 2.0], n)
    paths = []
    for name, p in (("base", base), ("cand", cand)):
        path = tmp_path / f"{name}.csv"
        cells = zip(p.tolist(), y.tolist(), w.tolist(), strict=True)
        rows = [f"{p_i!r},{y_i},{w_i!r}" for p_i, y_i, w_i in cells]
        path.write_text("p,label,w\n" + "\n".join(rows) + "\n")
        paths.append(str(path))
    return paths, y, base, cand, w


def test_compare_ci_method_poisson_in_json_table_and_markdown(two_models):
    (base, cand), y, p_b, p_c, w = two_models
    args = ["compare", base, cand, "--ci-method", "poisson", "--bootstrap", "500"]
    args += ["--weight-col", "w"]
    out = runner.invoke(app, [*args, "-f", "json"])
    assert out.exit_code == 0, out.output
    report = json.loads(out.stdout)
    assert report["bootstrap"] == {"resamples": 500, "seed": 0, "method": "poisson"}
    # the reference: weighted mean log loss difference, written here
    loss_b = -np.log(np.where(y == 1, p_b, 1 - p_b))
    loss_c = -np.log(np.where(y == 1, p_c, 1 - p_c))
    assert report["delta_mean_loss"] == pytest.approx(np.average(loss_c - loss_b, weights=w))
    assert report["ci_low"] < report["delta_mean_loss"] < report["ci_high"] < 0
    assert report["verdict"] == "better"
    assert report["delta_accuracy_ci_low"] <= report["delta_accuracy"]
    assert report["delta_accuracy"] <= report["delta_accuracy_ci_high"]
    table = runner.invoke(app, args)
    assert table.exit_code == 0
    assert "500 paired resamples, poisson interval, seed 0" in table.stdout
    markdown = runner.invoke(app, [*args, "-f", "markdown"])
    assert "Bootstrap: 500 resamples, poisson interval, seed 0." in markdown.stdout


def test_compare_poisson_with_calibration_is_refused(two_models):
    (base, cand), *_ = two_models
    args = ["compare", base, cand, "--weight-col", "w", "--ci-method", "poisson", "--calibration"]
    out = runner.invoke(app, args)
    assert out.exit_code == 2
    assert out.stderr.startswith("cecli: error: --calibration")
    assert out.stderr.count("\n") == 1
