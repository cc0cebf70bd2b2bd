"""The mean loss's confidence interval: the t quantile, the mergeable moments, the accumulator.

References are independent of the code under test: scipy.stats (``t.ppf``,
``t.interval`` with ``sem``, ``norm.ppf``), and the weighted definitions
written here with numpy over all rows at once.
"""

from __future__ import annotations

import itertools
import pickle

import numpy as np
import pytest
import scipy.stats
from hypothesis import given
from hypothesis import strategies as st

import cecli
from cecli.mean_interval import NOTES, LossSpread
from cecli.moments import Moments, normal_quantile, power_moments, t_quantile, t_sf

# -- Student's t --------------------------------------------------------------------------


@pytest.mark.parametrize("df", [*np.logspace(0, 7, 57), 1.5, 2.0, 2.5, 999.0, 1000.0, 1e7])
def test_t_quantile_is_scipys(df):
    for p in (0.6, 0.9, 0.975, 0.995, 0.9995, 1 - 1e-8, 0.025, 1e-6, 1e-12):
        expected = scipy.stats.t.ppf(p, df)
        assert t_quantile(p, df) == pytest.approx(expected, rel=5e-11, abs=0)


def test_t_quantile_is_the_normal_one_at_infinite_df_and_zero_at_a_half():
    assert t_quantile(0.975, np.inf) == pytest.approx(scipy.stats.norm.ppf(0.975), rel=1e-15)
    assert t_quantile(0.5, 3.0) == 0.0


@pytest.mark.parametrize("p", [1e-300, 1e-20, 1e-5, 0.3, 0.5, 0.975, 1 - 1e-16])
def test_normal_quantile_is_scipys(p):
    assert normal_quantile(p) == pytest.approx(scipy.stats.norm.ppf(p), rel=1e-14, abs=1e-300)


@pytest.mark.parametrize("df", [1.0, 2.5, 7.0, 40.0, 900.0])
@pytest.mark.parametrize("t", [-3.0, 0.0, 0.4, 2.0, 30.0])
def test_t_tail_is_scipys(df, t):
    assert t_sf(t, df) == pytest.approx(scipy.stats.t.sf(t, df), rel=1e-11)


@pytest.mark.parametrize(("p", "df"), [(0.0, 3), (1.0, 3), (0.5, 0.0), (0.5, -1.0)])
def test_t_quantile_refuses_what_is_not_a_quantile(p, df):
    with pytest.raises(ValueError):  # noqa: PT011 - either argument's message
        t_quantile(p, df)


# -- mergeable moments ---------------------------------------------------------------------


def _weighted_moments(x, w):
    mean = np.sum(w * x) / np.sum(w)
    return np.sum(w), mean, np.sum(w * (x - mean) ** 2), np.sum(w * (x - mean) ** 3)


def test_moments_are_the_weighted_definition_per_group():
    rng = np.random.default_rng(3)
    x, w, g = rng.exponential(size=5000), rng.random(5000), rng.integers(0, 4, 5000)
    grouped = Moments.of(x, w, g, n_groups=5)  # group 4 has no rows
    for c in range(4):
        expected = _weighted_moments(x[g == c], w[g == c])
        got = grouped.weight[c], grouped.mean[c], grouped.m2[c], grouped.m3[c]
        np.testing.assert_allclose(got, expected, rtol=1e-11)
    assert (grouped.weight[4], grouped.mean[4], grouped.m2[4], grouped.m3[4]) == (0, 0, 0, 0)
    whole = Moments.of(x, w)
    np.testing.assert_allclose(
        [whole.weight[0], whole.mean[0], whole.m2[0], whole.m3[0]],
        _weighted_moments(x, w),
        rtol=1e-11,
    )


def test_power_moments_are_the_moments_under_each_power_of_the_weights():
    rng = np.random.default_rng(4)
    x, w = rng.lognormal(size=40_000), rng.lognormal(size=40_000)  # several blocks
    for k, m in enumerate(power_moments(x, w), start=1):
        expected = _weighted_moments(x, w**k)[: k + 1]
        got = (m.weight[0], m.mean[0], m.m2[0], m.m3[0])[: k + 1]
        np.testing.assert_allclose(got, expected, rtol=1e-10)


def test_moments_stay_exact_where_raw_power_sums_cancel():
    # a large mean against a tiny spread: sum x^2 - n mean^2 would lose every digit
    x = 1e9 + np.array([0.0, 1.0, 2.0, 3.0] * 2500)
    merged = Moments.of(x[:3001]).merge(Moments.of(x[3001:]))
    assert merged.m2[0] == pytest.approx(np.sum((x - x.mean()) ** 2), rel=1e-9)
    assert abs(merged.m3[0]) < 1e-3 * merged.m2[0]  # symmetric: no skew appears


@given(st.lists(st.integers(1, 299), min_size=1, max_size=5, unique=True))
def test_moments_merge_to_the_whole_in_any_split_and_order(cuts):
    rng = np.random.default_rng(len(cuts))
    x, w = rng.exponential(size=300), rng.random(300) + 0.1
    bounds = [0, *sorted(cuts), 300]
    parts = [Moments.of(x[a:b], w[a:b]) for a, b in itertools.pairwise(bounds)]
    forward, backward = parts[0], parts[-1]
    for p in parts[1:]:
        forward = forward.merge(p)
    for p in parts[-2::-1]:
        backward = p.merge(backward)
    expected = _weighted_moments(x, w)
    for m in (forward, backward):
        np.testing.assert_allclose([m.weight[0], m.mean[0], m.m2[0], m.m3[0]], expected, rtol=1e-10)


def test_merge_changes_neither_side():
    a, b = Moments.of([1.0, 2.0]), Moments.of([5.0])
    before = [v.copy() for v in (a.weight, a.mean, a.m2, a.m3, b.weight, b.mean, b.m2, b.m3)]
    a.merge(b)
    after = [a.weight, a.mean, a.m2, a.m3, b.weight, b.mean, b.m2, b.m3]
    assert all(np.array_equal(x, y) for x, y in zip(before, after, strict=True))


# -- the interval: definitions written here -----------------------------------------------


def _ratio_interval(losses, b, level=0.95):
    """m +- t(n_eff - 1) sqrt(V): V the linearised variance, unbiased for i.i.d. losses."""
    s1, s2, s3 = b.sum(), (b * b).sum(), (b**3).sum()
    m = np.sum(b * losses) / s1
    factor = 1.0 / (1.0 - 2.0 * s3 / (s1 * s2) + s2 / s1**2)
    var = factor * np.sum(b * b * (losses - m) ** 2) / s1**2
    n_eff = s1 * s1 / s2
    half = scipy.stats.t.ppf(0.5 + level / 2, n_eff - 1) * np.sqrt(var)
    return m - half, m + half


def _stratified_interval(losses, labels, s, class_weight, level=0.95):
    """Each class a stratum, centred on its own mean; Welch-Satterthwaite degrees of freedom."""
    parts, dfs = [], []
    total = sum(class_weight[c] * s[labels == c].sum() for c in np.unique(labels))
    m = sum(class_weight[c] * np.sum(s[labels == c] * losses[labels == c]) for c in range(3))
    m /= total
    for c in np.unique(labels):
        x, w = losses[labels == c], s[labels == c]
        s1, s2, s3 = w.sum(), (w * w).sum(), (w**3).sum()
        mc = np.sum(w * x) / s1
        factor = 1.0 / (1.0 - 2.0 * s3 / (s1 * s2) + s2 / s1**2)
        parts.append(class_weight[c] ** 2 * factor * np.sum(w * w * (x - mc) ** 2) / total**2)
        dfs.append(s1 * s1 / s2 - 1)
    var = sum(parts)
    df = var**2 / sum(p * p / d for p, d in zip(parts, dfs, strict=True))
    half = scipy.stats.t.ppf(0.5 + level / 2, df) * np.sqrt(var)
    return m - half, m + half


@pytest.fixture
def problem():
    rng = np.random.default_rng(11)
    n, k = 900, 3
    labels = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k)) * 2
    logits[np.arange(n), labels] += 1.5
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    soft = rng.dirichlet(np.ones(k) * 0.7, n)
    return {
        "labels": labels,
        "probs": probs,
        "soft": soft,
        "s": rng.lognormal(0.0, 0.5, n),
        "losses": -np.log(probs[np.arange(n), labels]),
    }


def _result(kind, y, p, s=None, class_weights=None, chunk=None, **options):
    acc = cecli.Accumulator(kind, class_weights=class_weights, **options)
    chunk = chunk or len(p)
    for a in range(0, len(p), chunk):
        acc.update(y[a : a + chunk], p[a : a + chunk], None if s is None else s[a : a + chunk])
    return acc.result()


def test_the_unweighted_interval_is_scipys_t_interval(problem):
    r = _result("categorical", problem["labels"], problem["probs"], chunk=250)
    losses = problem["losses"]
    low, high = scipy.stats.t.interval(
        0.95, len(losses) - 1, loc=losses.mean(), scale=scipy.stats.sem(losses)
    )
    assert (r.ci_low, r.ci_high) == pytest.approx((low, high), rel=1e-10)
    assert r.ci_level == 0.95


def test_sample_weights_give_the_weighted_definition(problem):
    s = problem["s"]
    r = _result("categorical", problem["labels"], problem["probs"], s, chunk=128)
    assert (r.ci_low, r.ci_high) == pytest.approx(_ratio_interval(problem["losses"], s), rel=1e-10)


def test_explicit_class_weights_weigh_each_row_by_its_class(problem):
    w = np.array([0.5, 2.0, 1.0])
    y, s = problem["labels"], problem["s"]
    r = _result("categorical", y, problem["probs"], s, class_weights=w, chunk=300)
    expected = _ratio_interval(problem["losses"], s * w[y])
    assert (r.ci_low, r.ci_high) == pytest.approx(expected, rel=1e-10)
    assert r.mean_loss == pytest.approx(np.sum(s * w[y] * problem["losses"]) / np.sum(s * w[y]))


def test_soft_targets_with_explicit_class_weights_weigh_by_the_targets(problem):
    t, p, w = problem["soft"], problem["probs"], np.array([0.5, 2.0, 1.0])
    losses = -np.sum(t * np.log(p), axis=1)
    r = _result("categorical", t, p, class_weights=w, chunk=200)
    assert (r.ci_low, r.ci_high) == pytest.approx(_ratio_interval(losses, t @ w), rel=1e-10)


def test_soft_targets_without_class_weights(problem):
    t, p, s = problem["soft"], problem["probs"], problem["s"]
    losses = -np.sum(t * np.log(p), axis=1)
    r = _result("categorical", t, p, s)
    assert (r.ci_low, r.ci_high) == pytest.approx(_ratio_interval(losses, s), rel=1e-10)


def test_balanced_class_weights_make_each_class_a_stratum(problem):
    y, s = problem["labels"], problem["s"]
    y = np.where(np.arange(len(y)) % 7 == 0, y, 0)  # class 0 is most of the rows
    r = _result("categorical", y, problem["probs"], s, class_weights="balanced", chunk=100)
    counts = np.bincount(y, minlength=3)
    balanced = len(y) / (3 * counts)
    losses = -np.log(problem["probs"][np.arange(len(y)), y])
    expected = _stratified_interval(losses, y, s, balanced)
    assert (r.ci_low, r.ci_high) == pytest.approx(expected, rel=1e-10)
    assert r.ci_low < r.mean_loss < r.ci_high


def test_soft_targets_with_balanced_weights_get_no_interval_and_say_why(problem):
    r = _result("categorical", problem["soft"], problem["probs"], class_weights="balanced")
    assert (r.ci_low, r.ci_high, r.ci_note) == (None, None, "soft_targets_balanced")


def test_binary_soft_targets_with_class_weights(problem):
    rng = np.random.default_rng(5)
    t, p = rng.random(400), rng.uniform(0.05, 0.95, 400)
    w = np.array([1.0, 3.0])
    losses = -(t * np.log(p) + (1 - t) * np.log1p(-p))
    r = _result("binary", t, p, class_weights=w, chunk=64)
    assert (r.ci_low, r.ci_high) == pytest.approx(_ratio_interval(losses, (1 - t) + 3 * t))


def test_multilabel_rows_count_with_their_label_weighted_mean_loss():
    rng = np.random.default_rng(6)
    t, p = rng.integers(0, 2, (500, 4)), rng.uniform(0.02, 0.98, (500, 4))
    s, w = rng.random(500) + 0.5, np.array([1.0, 2.0, 0.5, 1.0])
    cells = -(t * np.log(p) + (1 - t) * np.log1p(-p))
    losses = cells @ (w / w.sum())
    r = _result("multilabel", t, p, s, class_weights=w, chunk=70)
    assert r.mean_loss == pytest.approx(np.sum(s * losses) / s.sum())
    assert (r.ci_low, r.ci_high) == pytest.approx(_ratio_interval(losses, s), rel=1e-10)


@given(st.integers(5, 500), st.integers(0, 2**32 - 1))
def test_chunk_size_and_merge_order_do_not_change_the_interval(chunk, seed):
    rng = np.random.default_rng(seed)
    n = 500
    y, p = rng.integers(0, 3, n), rng.dirichlet(np.ones(3), n)
    s = rng.lognormal(size=n)
    for class_weights in (None, "balanced", [1.0, 2.0, 0.5]):
        whole = _result("categorical", y, p, s, class_weights)
        parts = []
        for a in range(0, n, chunk):
            acc = cecli.Accumulator(class_weights=class_weights)
            acc.update(y[a : a + chunk], p[a : a + chunk], s[a : a + chunk], row_offset=a)
            parts.append(acc)
        merged = cecli.Accumulator(class_weights=class_weights)
        for acc in reversed(parts):
            merged.merge(pickle.loads(pickle.dumps(acc)))  # what a worker sends back
        r = merged.result()
        assert (r.ci_low, r.ci_high) == pytest.approx((whole.ci_low, whole.ci_high), rel=1e-9)
        assert r.ci_note == whole.ci_note


def test_merging_leaves_the_other_accumulator_as_it_was(problem):
    y, p = problem["labels"], problem["probs"]
    left, right = cecli.Accumulator(), cecli.Accumulator()
    left.update(y[:400], p[:400])
    right.update(y[400:], p[400:], row_offset=400)
    before = right.result()
    left.merge(right)
    after = right.result()
    assert (after.ci_low, after.ci_high) == (before.ci_low, before.ci_high)


def test_the_scale_of_the_weights_does_not_matter(problem):
    y, p, s = problem["labels"], problem["probs"], problem["s"]
    plain = _result("categorical", y, p, s)
    for scale in (2.0**-300, 1e-100, 3.0, 1e120):
        scaled = _result("categorical", y, p, s * scale, chunk=300)
        assert (scaled.ci_low, scaled.ci_high) == pytest.approx(
            (plain.ci_low, plain.ci_high), rel=1e-9
        )


# -- when not to trust it -----------------------------------------------------------------


def test_one_row_has_no_interval_and_two_have_a_marked_one():
    r = _result("binary", np.array([1]), np.array([0.8]))
    assert (r.ci_low, r.ci_high, r.ci_note) == (None, None, "too_few_rows")
    r = _result("binary", np.array([1, 1]), np.array([0.8, 0.6]))
    assert r.ci_note == "few_rows"
    losses = -np.log([0.8, 0.6])
    expected = scipy.stats.t.interval(0.95, 1, loc=losses.mean(), scale=scipy.stats.sem(losses))
    assert (r.ci_low, r.ci_high) == pytest.approx(expected)


def test_a_class_of_one_row_with_balanced_weights_gives_no_interval():
    y = np.array([0] * 50 + [1])
    p = np.full(51, 0.3)
    r = _result("binary", y, p, class_weights="balanced")
    assert (r.ci_low, r.ci_note) == (None, "too_few_rows")


def test_a_few_rows_carrying_the_loss_mark_the_interval_heavy_tailed():
    losses_p = np.concatenate([np.full(2000, 0.99), np.full(4, 1e-8)])  # 4 rows: 18 nats each
    r = _result("binary", np.ones(len(losses_p), int), losses_p)
    assert r.ci_note == "heavy_tail"
    r = _result("binary", np.ones(2000, int), np.linspace(0.2, 0.99, 2000))
    assert r.ci_note is None


def test_equal_losses_give_an_interval_of_no_width():
    r = _result("categorical", np.zeros(100, int), np.tile([0.5, 0.5], (100, 1)))
    assert r.ci_low == r.ci_high == pytest.approx(np.log(2))
    assert r.ci_note is None


def test_every_note_has_words():
    assert set(NOTES) == {
        "too_few_rows",
        "few_rows",
        "heavy_tail",
        "soft_targets_balanced",
        "not_finite",
    }


def _two_percent_wrong(rng, n):
    """Most rows nearly right, 2% confidently wrong: they carry most of the loss."""
    return np.where(rng.random(n) < 0.02, rng.uniform(5.0, 20.0, n), rng.exponential(0.05, n))


def _coverage(draw, truth, n, trials=300):
    covered = marked = 0
    for trial in range(trials):
        x = draw(np.random.default_rng([n, trial]), n)
        spread = LossSpread()
        spread.add(x)
        ci = spread.interval(x.mean())
        covered += ci.low <= truth <= ci.high
        marked += ci.note is not None
    return covered / trials, marked / trials


@pytest.mark.parametrize(
    ("draw", "truth", "n"),
    [
        (lambda rng, n: rng.uniform(0, 1, n), 0.5, 50),
        (lambda rng, n: rng.exponential(1.0, n), 1.0, 1000),
    ],
    ids=["uniform-50", "exponential-1000"],
)
def test_where_it_is_not_marked_it_covers_near_95_percent(draw, truth, n):
    covered, marked = _coverage(draw, truth, n)
    assert 0.92 <= covered <= 0.98  # 300 trials: the standard error is 0.013
    assert marked <= 0.05


@pytest.mark.parametrize(
    ("draw", "truth", "n"),
    [
        (lambda rng, n: rng.lognormal(0.0, 1.5, n), np.exp(1.125), 100),
        (lambda rng, n: rng.exponential(1.0, n), 1.0, 5),
        (_two_percent_wrong, 0.98 * 0.05 + 0.02 * 12.5, 300),
    ],
    ids=["lognormal-100", "exponential-5", "2%-wrong-300"],
)
def test_where_it_covers_poorly_it_is_marked(draw, truth, n):
    covered, marked = _coverage(draw, truth, n)
    assert covered < 0.93  # the t interval is too narrow here ...
    assert marked >= 0.9  # ... and says so
