"""Calibration statistics and temperature scaling, against references written here from the
definitions, scikit-learn, SciPy and mpmath.

Nothing here compares the module with its own earlier output. The references:

* equal-width bins: a loop over bins ``b / n < c <= (b + 1) / n`` (the first bin also
  holds 0), the convention of Guo et al. (2017), of torchmetrics' loop implementation
  and of scikit-learn's ``calibration_curve(strategy="uniform")``;
* equal-mass bins: the predictions sorted by confidence and cut by ``np.array_split``;
* Brier: ``sklearn.metrics.brier_score_loss``, and ``sum_k (p_k - t_k)^2`` for soft targets;
* entropies and KL: ``scipy.stats.entropy`` and ``scipy.special.rel_entr``, and mpmath for
  extreme logits; cross-entropy from ``cecli.categorical_cross_entropy`` (itself tested
  against mpmath in ``test_reference.py``);
* temperature: SciPy's bounded Brent search on ``log T`` over an objective written with
  ``scipy.special.log_softmax``.
"""

from __future__ import annotations

import itertools
import math
import pickle

import mpmath
import numpy as np
import pytest
from calibration_definitions import reference_bins, reference_ece_mce
from hypothesis import given
from hypothesis import strategies as st
from scipy import optimize, special, stats
from sklearn.calibration import calibration_curve
from sklearn.metrics import brier_score_loss

import cecli
from cecli.calibration import (
    DEFAULT_BINS,
    TEMPERATURE_BOUNDS,
    CalibrationAccumulator,
    ReservoirSample,
    calibration,
    fit_temperature,
)
from cecli.errors import EmptyInputError, OptionError, ProbabilityError, ShapeError, WeightError

CLOSE = dict(rel=1e-12, abs=1e-14)


# --- references ------------------------------------------------------------------------


def reference_equal_mass_ece(confidence, credit, n_bins):
    """Sort by confidence, cut into ``n_bins`` groups as ``np.array_split`` does."""
    order = np.argsort(confidence, kind="stable")
    groups = [g for g in np.array_split(order, n_bins) if len(g)]
    n = len(confidence)
    return sum(len(g) / n * abs(credit[g].mean() - confidence[g].mean()) for g in groups)


def top1(probs, labels):
    """Top-1 confidence and correctness, from the definition."""
    predicted = np.argmax(probs, axis=1)
    return probs[np.arange(len(probs)), predicted], (predicted == labels).astype(float)


def calibrated_logits(seed, n, k, scale=2.0):
    """Logits and labels drawn from their own softmax: a perfectly calibrated model."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0.0, scale, size=(n, k))
    probs = special.softmax(logits, axis=1)
    labels = (probs.cumsum(axis=1) > rng.random((n, 1))).argmax(axis=1)
    return logits, np.minimum(labels, k - 1)


def scipy_minimiser(loss, bounds=TEMPERATURE_BOUNDS):
    """SciPy's bounded Brent search for the T minimising ``loss(T)``, on log T."""
    found = optimize.minimize_scalar(
        lambda log_t: loss(math.exp(log_t)),
        bounds=(math.log(bounds[0]), math.log(bounds[1])),
        method="bounded",
        options={"xatol": 1e-10},
    )
    return math.exp(found.x), float(found.fun)


def assert_fit_is_the_minimum(fit, loss):
    """``fit`` is SciPy's minimiser of ``loss(T)``, and its loss is ``loss`` at its T.

    The loss is flat at its minimum, so rounding leaves T known to about 1e-7 and
    SciPy's search stops within about 1e-6 of it; the loss at our T must be no higher
    than at SciPy's.
    """
    temperature, minimum = scipy_minimiser(loss)
    assert fit.temperature == pytest.approx(temperature, rel=1e-6)
    assert fit.loss == pytest.approx(loss(fit.temperature), rel=1e-12)
    assert fit.loss <= minimum * (1 + 1e-12)


def categorical_loss(targets, logits):
    """The mean cross-entropy of softmax(logits / T), for class indices or soft targets."""
    targets = np.asarray(targets)
    if targets.ndim == 1:
        targets = np.eye(logits.shape[1])[targets]

    def loss(temperature):
        log_p = special.log_softmax(logits / temperature, axis=1)
        terms = np.multiply(targets, log_p, out=np.zeros_like(log_p), where=targets > 0)
        return float(-terms.sum(axis=1).mean())

    return loss


# --- data ------------------------------------------------------------------------------


@st.composite
def categorical_case(draw):
    seed = draw(st.integers(0, 2**32 - 1))
    n = draw(st.integers(1, 300))
    k = draw(st.integers(2, 12))
    n_bins = draw(st.integers(1, 20))
    concentration = draw(st.sampled_from([0.05, 0.5, 5.0]))
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.full(k, concentration), size=n)
    labels = rng.integers(0, k, n)
    weights = rng.uniform(0.0, 3.0, n) if draw(st.booleans()) else None
    return probs, labels, n_bins, weights


@st.composite
def binary_case(draw):
    seed = draw(st.integers(0, 2**32 - 1))
    n = draw(st.integers(1, 300))
    n_bins = draw(st.integers(1, 20))
    rng = np.random.default_rng(seed)
    probs = rng.beta(0.7, 0.7, n)
    # some predictions exactly on bin edges, at 0 and at 1
    on_edges = rng.random(n) < 0.2
    probs[on_edges] = rng.integers(0, n_bins + 1, int(on_edges.sum())) / n_bins
    targets = (rng.random(n) < probs).astype(int)
    weights = rng.uniform(0.0, 3.0, n) if draw(st.booleans()) else None
    return probs, targets, n_bins, weights


# --- equal-width bins: ECE, MCE, the table -----------------------------------------------


def assert_bins_match(summary, rows):
    assert len(summary.bins) == len(rows)
    for row, want in zip(summary.bins, rows, strict=True):
        assert (row.lower, row.upper) == (want["lower"], want["upper"])
        assert row.count == want["count"]
        assert row.weight == pytest.approx(want["weight"], **CLOSE)
        conf, acc = want["confidence"], want["accuracy"]
        if conf is None:
            assert row.confidence is row.accuracy is row.gap is None
        else:
            assert row.confidence == pytest.approx(conf, **CLOSE)
            assert row.accuracy == pytest.approx(acc, **CLOSE)
            assert row.gap == pytest.approx(conf - acc, rel=1e-12, abs=1e-13)


@given(case=categorical_case(), from_logits=st.booleans())
def test_categorical_ece_mce_and_bins_follow_the_definition(case, from_logits):
    probs, labels, n_bins, weights = case
    if from_logits:
        preds = np.log(probs + 1e-9) + 3.0
        probs = special.softmax(preds, axis=1)
    else:
        preds = probs
    confidence, correct = top1(probs, labels)
    summary = calibration(
        labels, preds, from_logits=from_logits, sample_weights=weights, n_bins=n_bins
    )
    if from_logits:  # two softmaxes agree to rounding: compare only away from the edges
        edges = np.arange(n_bins + 1) / n_bins
        if np.min(np.abs(confidence[:, None] - edges)) < 1e-12:
            return
    rows = reference_bins(confidence, correct, n_bins, weights)
    if sum(b["weight"] for b in rows) == 0:
        return  # every weight is 0: nothing to average (tested below)
    ece, mce = reference_ece_mce(rows)
    assert summary.ece == pytest.approx(ece, rel=1e-9, abs=1e-12)
    assert summary.mce == pytest.approx(mce, rel=1e-9, abs=1e-12)
    assert summary.n_bins == n_bins
    if not from_logits:
        assert_bins_match(summary, rows)


@given(case=binary_case())
def test_binary_ece_mce_and_bins_follow_the_definition(case):
    probs, targets, n_bins, weights = case
    rows = reference_bins(probs, targets, n_bins, weights)
    if sum(b["weight"] for b in rows) == 0:
        return
    summary = calibration(targets, probs, kind="binary", sample_weights=weights, n_bins=n_bins)
    ece, mce = reference_ece_mce(rows)
    assert summary.ece == pytest.approx(ece, **CLOSE)
    assert summary.mce == pytest.approx(mce, **CLOSE)
    assert_bins_match(summary, rows)


@pytest.mark.parametrize("n_bins", [1, 5, 10, 15])
def test_binary_bins_are_sklearns_calibration_curve(n_bins):
    # scikit-learn's edges are np.linspace, which can differ from b / n by an ulp:
    # continuous random probabilities never land on either
    rng = np.random.default_rng(n_bins)
    probs = rng.beta(0.5, 0.8, 2_000)
    targets = (rng.random(2_000) < probs**1.3).astype(int)
    prob_true, prob_pred = calibration_curve(targets, probs, n_bins=n_bins, strategy="uniform")
    bins = [b for b in calibration(targets, probs, kind="binary", n_bins=n_bins).bins if b.count]
    assert [b.accuracy for b in bins] == pytest.approx(prob_true, **CLOSE)
    assert [b.confidence for b in bins] == pytest.approx(prob_pred, **CLOSE)


def test_confidences_on_the_edges_go_to_the_bin_below_and_zero_to_the_first():
    probs = np.array([0.0, 0.2, 0.2000001, 0.4, 0.6, 0.8, 1.0])
    targets = np.array([1, 0, 0, 1, 1, 1, 1])
    summary = calibration(targets, probs, kind="binary", n_bins=5)
    assert [b.count for b in summary.bins] == [2, 2, 1, 1, 1]
    assert summary.bins[0].confidence == pytest.approx(0.1)
    assert summary.bins[0].accuracy == 0.5
    # top-1 confidence 1/2 of two classes sits on the edge of two bins
    two = calibration([0, 1], [[0.5, 0.5], [0.0, 1.0]], n_bins=2)
    assert [b.count for b in two.bins] == [1, 1]
    assert two.bins[0].accuracy == 1.0  # argmax takes the first of tied classes, as NumPy does


def test_a_single_row_and_empty_bins():
    summary = calibration([2], [[0.1, 0.2, 0.7]])
    assert summary.n_bins == DEFAULT_BINS
    (full,) = [b for b in summary.bins if b.count]
    assert full.lower < 0.7 <= full.upper
    assert (full.confidence, full.accuracy) == (0.7, 1.0)
    assert summary.ece == pytest.approx(0.3)
    assert summary.mce == pytest.approx(0.3)
    empty = [b for b in summary.bins if not b.count]
    assert len(empty) == DEFAULT_BINS - 1
    assert all(b.confidence is None and b.weight == 0 for b in empty)
    assert summary.adaptive_ece == pytest.approx(0.3)
    assert len(summary.adaptive_bins) == 1


def test_all_correct_and_certain_is_perfectly_calibrated():
    labels = np.arange(6) % 3
    probs = np.eye(3)[labels]
    summary = calibration(labels, probs)
    assert (summary.ece, summary.mce, summary.adaptive_ece, summary.brier) == (0, 0, 0, 0)
    assert summary.bins[-1].count == 6
    assert summary.entropy == 0.0
    assert summary.accuracy == summary.mean_confidence == 1.0


def test_multilabel_bins_every_cell_as_a_binary_prediction():
    rng = np.random.default_rng(3)
    probs = rng.random((50, 4))
    targets = (rng.random((50, 4)) < probs).astype(int)
    weights = rng.uniform(0.5, 2.0, 50)
    summary = calibration(targets, probs, kind="multilabel", sample_weights=weights)
    cells = calibration(
        targets.ravel(), probs.ravel(), kind="binary", sample_weights=np.repeat(weights, 4)
    )
    assert (summary.n_samples, summary.n_predictions) == (50, 200)
    assert summary.ece == pytest.approx(cells.ece, **CLOSE)
    assert summary.brier == pytest.approx(cells.brier, **CLOSE)
    assert summary.entropy == pytest.approx(cells.entropy, **CLOSE)
    assert [b.count for b in summary.bins] == [b.count for b in cells.bins]


# --- adaptive (equal-mass) ECE ---------------------------------------------------------


@pytest.mark.parametrize(
    "spread",
    [
        # confidences over [0.1, 1], and an accuracy curve that crosses the diagonal
        # again and again, so that groups' gaps differ in sign and cuts matter
        "uniform",
        # an over-confident model: 1 - c between 1e-9 and 1e-3, where equal-width fine
        # bins in c would hold everything in one bin
        "saturated",
    ],
)
def test_adaptive_ece_agrees_with_the_exact_equal_mass_ece(spread):
    rng = np.random.default_rng(7)
    n = 20_000
    if spread == "uniform":
        confidence = rng.uniform(0.1, 1.0, n)
        accuracy = np.clip(confidence + 0.2 * np.sin(40 * confidence), 0, 1)
    else:
        log_gap = rng.uniform(-9, -3, n)
        confidence = 1.0 - 10.0**log_gap
        accuracy = 0.7 + 0.29 * np.sin(3 * log_gap)
    correct = (rng.random(n) < accuracy).astype(float)
    exact = reference_equal_mass_ece(confidence, correct, 15)
    summary = calibration(correct, confidence, kind="binary", n_bins=15)
    # continuous confidences: a fine bin holds about 0.03% of the rows (at most 0.1%),
    # so no cut moves far, and the bound (a worst case) is small
    assert summary.adaptive_ece_bound < 3e-3
    assert abs(summary.adaptive_ece - exact) <= summary.adaptive_ece_bound
    assert abs(summary.adaptive_ece - exact) < 1e-3
    assert len(summary.adaptive_bins) == 15
    assert sum(b.count for b in summary.adaptive_bins) == n
    assert all(abs(b.count - n / 15) <= 30 for b in summary.adaptive_bins)


@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 400),
    n_bins=st.integers(1, 20),
    n_distinct=st.integers(1, 50),
)
def test_adaptive_ece_is_within_its_bound_even_with_ties(seed, n, n_bins, n_distinct):
    rng = np.random.default_rng(seed)
    levels = rng.random(n_distinct)
    confidence = levels[rng.integers(0, n_distinct, n)]  # many exact ties
    correct = (rng.random(n) < confidence).astype(float)
    summary = calibration(correct, confidence, kind="binary", n_bins=n_bins)
    exact = reference_equal_mass_ece(confidence, correct, n_bins)
    assert abs(summary.adaptive_ece - exact) <= summary.adaptive_ece_bound + 1e-12
    assert summary.adaptive_ece_bound <= 1.0


# --- Brier, entropy, and the split of cross-entropy --------------------------------------


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("from_logits", [False, True])
def test_binary_brier_is_sklearns(weighted, from_logits):
    rng = np.random.default_rng(11)
    probs = rng.random(500)
    probs[:3] = [0.0, 1.0, 0.5]
    targets = (rng.random(500) < probs).astype(int)
    weights = rng.uniform(0, 2, 500) if weighted else None
    with np.errstate(divide="ignore"):
        preds = special.logit(probs) if from_logits else probs
    if from_logits:
        preds[:2] = [-800.0, 800.0]  # sigmoid saturates to exactly 0 and 1
    summary = calibration(
        targets, preds, kind="binary", from_logits=from_logits, sample_weights=weights
    )
    expected = brier_score_loss(targets, probs, sample_weight=weights)
    assert summary.brier == pytest.approx(expected, rel=1e-12 if not from_logits else 1e-10)


@given(case=categorical_case())
def test_multiclass_brier_is_sklearns(case):
    probs, labels, _, weights = case
    k = probs.shape[1]
    if weights is not None and not weights.sum() > 0:
        return
    summary = calibration(labels, probs, sample_weights=weights)
    expected = brier_score_loss(
        labels, probs, sample_weight=weights, labels=np.arange(k), scale_by_half=False
    )
    assert summary.brier == pytest.approx(expected, **CLOSE)


def soft_targets(rng, n, k):
    targets = rng.dirichlet(np.full(k, 0.7), size=n)
    targets[0] = 0.0
    targets[0, 1] = 1.0  # a one-hot row among soft ones
    targets[1, :] = 0.0
    targets[1, :2] = 0.5  # zeros in a soft row: 0 log 0 = 0
    return targets


@pytest.mark.parametrize("from_logits", [False, True])
def test_soft_targets_brier_entropy_and_the_split_of_cross_entropy(from_logits):
    rng = np.random.default_rng(5)
    n, k = 300, 5
    targets = soft_targets(rng, n, k)
    logits = rng.normal(0, 2, (n, k))
    probs = special.softmax(logits, axis=1)
    weights = rng.uniform(0.1, 2.0, n)
    preds = logits if from_logits else probs
    summary = calibration(targets, preds, from_logits=from_logits, sample_weights=weights)

    def mean(values):
        return float((weights * values).sum() / weights.sum())

    assert summary.soft_targets
    assert summary.brier == pytest.approx(mean(((probs - targets) ** 2).sum(axis=1)), **CLOSE)
    assert summary.entropy == pytest.approx(mean(stats.entropy(probs, axis=1)), rel=1e-12)
    h_targets = mean(stats.entropy(targets, axis=1))
    kl = mean(special.rel_entr(targets, probs).sum(axis=1))
    assert summary.target_entropy == pytest.approx(h_targets, rel=1e-12)
    assert summary.kl_divergence == pytest.approx(kl, rel=1e-10)
    # H(t) + KL(t || p) is the cross-entropy, computed independently
    loss = cecli.categorical_cross_entropy(
        targets, preds, from_logits=from_logits, sample_weights=weights
    ).loss
    assert summary.cross_entropy == pytest.approx(loss, rel=1e-12)
    assert summary.target_entropy + summary.kl_divergence == pytest.approx(loss, rel=1e-12)
    # credit for a soft target: the target probability of the predicted class
    confidence = probs.max(axis=1)
    credit = targets[np.arange(n), probs.argmax(axis=1)]
    ece, _ = reference_ece_mce(reference_bins(confidence, credit, DEFAULT_BINS, weights))
    assert summary.ece == pytest.approx(ece, rel=1e-9)


def test_binary_soft_targets_split_of_cross_entropy():
    rng = np.random.default_rng(8)
    targets = rng.random(400)
    targets[:4] = [0.0, 1.0, 0.0, 1.0]
    probs = rng.random(400)
    summary = calibration(targets, probs, kind="binary", base=2)
    bernoulli_t = np.stack([targets, 1 - targets])
    bernoulli_p = np.stack([probs, 1 - probs])
    assert summary.unit == "bits"
    assert summary.target_entropy == pytest.approx(
        stats.entropy(bernoulli_t, base=2, axis=0).mean(), rel=1e-12
    )
    assert summary.kl_divergence == pytest.approx(
        special.rel_entr(bernoulli_t, bernoulli_p).sum(axis=0).mean() / math.log(2), rel=1e-12
    )
    loss = cecli.binary_cross_entropy(targets, probs, base=2).loss
    assert summary.cross_entropy == pytest.approx(loss, rel=1e-12)
    assert summary.brier == pytest.approx(((probs - targets) ** 2).mean(), **CLOSE)


def test_hard_targets_have_no_split_and_report_their_entropy_in_the_unit():
    rng = np.random.default_rng(2)
    probs = rng.dirichlet(np.ones(4), size=100)
    probs[0] = [0.0, 0.0, 1.0, 0.0]  # zeros: 0 log 0 = 0
    labels = rng.integers(0, 4, 100)
    nats = calibration(labels, probs)
    bans = calibration(labels, probs, base=10)
    assert not nats.soft_targets
    assert nats.target_entropy is nats.kl_divergence is nats.cross_entropy is None
    assert nats.entropy == pytest.approx(stats.entropy(probs, axis=1).mean(), rel=1e-12)
    assert bans.unit == "bans"
    assert bans.entropy == pytest.approx(nats.entropy / math.log(10), rel=1e-12)
    # one-hot rows are class indices, as everywhere in cecli
    assert not calibration(np.eye(4)[labels], probs).soft_targets


def test_entropy_of_extreme_logits_matches_mpmath():
    logits = np.array(
        [[1000.0, 0.0, -1000.0], [30.0, 0.0, 0.0], [-5.0, -5.0, -5.0], [0.0, -np.inf, 2.0]]
    )
    summary = calibration([0, 0, 1, 2], logits, from_logits=True)
    with mpmath.workdps(50):
        expected = []
        for row in logits:
            z = [mpmath.mpf(float(v)) for v in row if np.isfinite(v)]
            lse = mpmath.log(mpmath.fsum(mpmath.exp(v) for v in z))
            expected.append(-mpmath.fsum(mpmath.exp(v - lse) * (v - lse) for v in z))
        mean = float(mpmath.fsum(expected) / len(expected))
    assert summary.entropy == pytest.approx(mean, rel=1e-12)


# --- chunks and merges ---------------------------------------------------------------------


def assert_same_summary(a, b):
    for name in ("n_samples", "n_predictions", "n_bins", "soft_targets", "sample_weighted"):
        assert getattr(a, name) == getattr(b, name), name
    for name in ("ece", "mce", "adaptive_ece", "brier", "entropy", "weight_sum", "accuracy"):
        assert getattr(a, name) == pytest.approx(getattr(b, name), **CLOSE), name
    assert [x.count for x in a.bins] == [x.count for x in b.bins]
    assert [x.count for x in a.adaptive_bins] == [x.count for x in b.adaptive_bins]
    for x, y in zip(a.bins, b.bins, strict=True):
        if x.count:
            assert x.confidence == pytest.approx(y.confidence, **CLOSE)
            assert x.accuracy == pytest.approx(y.accuracy, **CLOSE)
        else:
            assert x.confidence is y.confidence is None


@given(
    case=categorical_case(),
    soft=st.booleans(),
    cuts=st.lists(st.floats(0, 1), max_size=4),
)
def test_chunks_and_merges_equal_one_update_on_everything(case, soft, cuts):
    probs, labels, n_bins, weights = case
    n, k = probs.shape
    if weights is not None and not weights.sum() > 0:
        return
    targets = soft_targets(np.random.default_rng(n), n, k) if soft and n > 2 else labels
    whole = CalibrationAccumulator(n_bins=n_bins)
    whole.update(targets, probs, weights)

    edges = sorted({0, n, *(int(c * n) for c in cuts)})
    parts = list(itertools.pairwise(edges))
    chunked = CalibrationAccumulator(n_bins=n_bins)
    workers = []
    for lo, hi in parts:
        w = None if weights is None else weights[lo:hi]
        chunked.update(targets[lo:hi], probs[lo:hi], w)
        worker = CalibrationAccumulator(n_bins=n_bins)
        worker.update(targets[lo:hi], probs[lo:hi], w, row_offset=lo)
        workers.append(worker)
    merged = CalibrationAccumulator(n_bins=n_bins)
    for worker in reversed(workers):  # any order
        merged.merge(worker)
    assert_same_summary(chunked.result(), whole.result())
    assert_same_summary(merged.result(), whole.result())


@given(case=categorical_case(), dense=st.booleans())
def test_a_pickled_accumulator_is_the_same_accumulator(case, dense):
    # what a Dask worker ships: only the fine bins with rows, and no derivable table
    probs, labels, n_bins, weights = case
    if weights is not None and not weights.sum() > 0:
        return
    acc = CalibrationAccumulator(n_bins=n_bins)
    acc.update(labels, probs, weights)
    if dense:  # most fine bins hold rows: pickled as they are
        acc._fine.count[:] += 1
    back = pickle.loads(pickle.dumps(acc))
    for sums, again in ((acc._fine, back._fine), (acc._bins, back._bins)):
        for name in ("count", "weight", "confidence", "credit", "weight_sq"):
            x, y = getattr(sums, name), getattr(again, name)
            assert x.dtype == y.dtype, name
            assert np.array_equal(x, y), name
    assert np.array_equal(back._coarse_of_fine, acc._coarse_of_fine)
    if not dense:
        assert len(pickle.dumps(acc)) < 100_000  # not 65,536 bins x 5 sums x 8 bytes
        assert_same_summary(back.result(), acc.result())
    back.merge(acc)  # and it still merges
    assert back.n_samples == 2 * acc.n_samples


# --- temperature scaling -------------------------------------------------------------------


def test_temperature_of_logits_times_three_is_three():
    logits, labels = calibrated_logits(0, 20_000, 10)
    fit = fit_temperature(labels, 3.0 * logits, from_logits=True)
    # The fitted T is a maximum-likelihood estimate: its relative standard error is
    # 1 / sqrt(sum_i Var_p(z_i)) (Fisher information at beta = 1 of the true logits),
    # about 0.7% here. Five standard errors fail only if the fit is wrong.
    probs = special.softmax(logits, axis=1)
    variance = (probs * logits**2).sum(axis=1) - (probs * logits).sum(axis=1) ** 2
    relative_se = 1.0 / math.sqrt(variance.sum())
    assert 0.005 < relative_se < 0.01
    assert fit.temperature == pytest.approx(3.0, rel=5 * relative_se)
    assert not fit.at_bound
    assert fit.ece < fit.ece_before / 10
    assert fit.loss < fit.loss_before
    assert (fit.n_samples, fit.bounds, fit.unit) == (20_000, TEMPERATURE_BOUNDS, "nats")


@pytest.mark.parametrize("scale", [1.0, 1 / 3, 3.0])
def test_temperature_is_scipys_bounded_minimiser(scale):
    logits, labels = calibrated_logits(1, 5_000, 6)
    logits = scale * logits
    fit = fit_temperature(labels, logits, from_logits=True)
    assert_fit_is_the_minimum(fit, categorical_loss(labels, logits))
    before = cecli.categorical_cross_entropy(labels, logits, from_logits=True).loss
    assert fit.loss_before == pytest.approx(before, rel=1e-12)
    ece, _ = reference_ece_mce(
        reference_bins(*top1(special.softmax(logits / fit.temperature, axis=1), labels), 15)
    )
    assert fit.ece == pytest.approx(ece, rel=1e-9, abs=1e-12)
    if scale == 1.0:  # calibrated data: T near 1, within the same five standard errors
        assert fit.temperature == pytest.approx(1.0, rel=0.05)
    else:
        assert fit.ece < fit.ece_before


def test_temperature_of_probabilities_scales_their_logs():
    logits, labels = calibrated_logits(2, 5_000, 4, scale=1.5)
    probs = special.softmax(2.0 * logits, axis=1)
    from_probs = fit_temperature(labels, probs)
    from_logits = fit_temperature(labels, 2.0 * logits, from_logits=True)
    # softmax(log p / T) is softmax(z / T): the same T (no probability is below eps here)
    assert probs.min() > 1e-12
    assert from_probs.temperature == pytest.approx(from_logits.temperature, rel=1e-6)
    assert from_probs.loss == pytest.approx(from_logits.loss, rel=1e-9)
    assert from_probs.temperature == pytest.approx(2.0, rel=0.1)


def test_binary_temperature_is_scipys_and_recovers_three():
    rng = np.random.default_rng(4)
    logits = rng.normal(0, 2.5, 20_000)
    targets = (rng.random(20_000) < special.expit(logits)).astype(int)
    fit = fit_temperature(targets, 3.0 * logits, kind="binary", from_logits=True)

    def loss(temperature):
        z = 3.0 * logits / temperature
        return float(np.mean(np.logaddexp(0, -z) * targets + np.logaddexp(0, z) * (1 - targets)))

    assert_fit_is_the_minimum(fit, loss)
    assert fit.temperature == pytest.approx(3.0, rel=0.05)
    assert fit.ece < fit.ece_before
    probs = special.expit(3.0 * logits)
    from_probs = fit_temperature(targets, probs, kind="binary")
    assert from_probs.temperature == pytest.approx(fit.temperature, rel=1e-4)


def test_multilabel_temperature_is_one_temperature_for_every_cell():
    rng = np.random.default_rng(6)
    logits = rng.normal(0, 2, (3_000, 3))
    targets = (rng.random((3_000, 3)) < special.expit(logits)).astype(int)
    fit = fit_temperature(targets, 0.5 * logits, kind="multilabel", from_logits=True)
    cells = fit_temperature(targets.ravel(), 0.5 * logits.ravel(), kind="binary", from_logits=True)
    assert fit.temperature == pytest.approx(cells.temperature, rel=1e-9)
    assert fit.n_samples == 3_000


def test_temperature_with_sample_weights_equals_repeated_rows():
    logits, labels = calibrated_logits(9, 2_000, 5)
    repeats = np.random.default_rng(9).integers(0, 4, 2_000)
    weighted = fit_temperature(labels, 2 * logits, from_logits=True, sample_weights=repeats)
    repeated = fit_temperature(
        np.repeat(labels, repeats), np.repeat(2 * logits, repeats, axis=0), from_logits=True
    )
    assert weighted.temperature == pytest.approx(repeated.temperature, rel=1e-7)
    assert weighted.loss == pytest.approx(repeated.loss, rel=1e-10)
    assert weighted.ece == pytest.approx(repeated.ece, rel=1e-9)


def test_temperature_soft_targets_and_masked_logits():
    rng = np.random.default_rng(10)
    n, k = 2_000, 4
    logits = rng.normal(0, 2, (n, k))
    targets = soft_targets(rng, n, k)
    logits[targets == 0] = -np.inf  # masked where the target is 0: allowed
    fit = fit_temperature(targets, logits, from_logits=True)
    assert_fit_is_the_minimum(fit, categorical_loss(targets, logits))


def test_masking_with_the_lowest_float32_is_masking_with_minus_inf():
    logits, labels = calibrated_logits(11, 3_000, 6)
    logits = logits.astype(np.float32)
    mask = (np.random.default_rng(11).random(logits.shape) < 0.3) & (
        np.arange(6) != labels[:, None]
    )
    lowest = logits.copy()
    lowest[mask] = np.finfo(np.float32).min  # -3.4e38: z - max(z) is beyond float32
    infinite = logits.copy()
    infinite[mask] = -np.inf
    fit_lowest = fit_temperature(labels, lowest, from_logits=True)
    fit_infinite = fit_temperature(labels, infinite, from_logits=True)
    assert math.isfinite(fit_lowest.loss)
    assert fit_lowest.temperature == pytest.approx(fit_infinite.temperature, rel=1e-12)
    assert fit_lowest.loss == pytest.approx(fit_infinite.loss, rel=1e-12)
    assert_fit_is_the_minimum(fit_infinite, categorical_loss(labels, infinite.astype(float)))
    summary = calibration(labels, lowest, from_logits=True)
    assert summary.brier == pytest.approx(calibration(labels, infinite, from_logits=True).brier)


def test_temperature_at_the_ends_of_the_range():
    # right, and separable: the loss keeps falling as T -> 0
    separable = fit_temperature([0, 1, 2], np.eye(3) * 5.0, from_logits=True)
    assert separable.temperature == pytest.approx(TEMPERATURE_BOUNDS[0])
    assert separable.at_bound
    # nothing to learn: every row uniform, the loss is the same at every T
    flat = fit_temperature([0, 1, 2, 0], np.zeros((4, 3)), from_logits=True)
    assert (flat.temperature, flat.at_bound) == (1.0, False)
    assert flat.loss == pytest.approx(math.log(3))
    # always wrong: the loss falls as T grows, up to the end of the range
    wrong = fit_temperature([1, 2, 0], np.eye(3) * 5.0, from_logits=True, bounds=(0.5, 4.0))
    assert wrong.temperature == pytest.approx(4.0)
    assert wrong.at_bound


def test_a_large_fit_takes_a_few_passes_over_the_rows():
    # safeguarded Newton converges in a handful of passes (bisection alone would take ~30)
    logits, labels = calibrated_logits(12, 200_000, 10)
    fit = fit_temperature(labels, 3.0 * logits, from_logits=True)
    assert fit.evaluations <= 12
    assert fit.temperature == pytest.approx(3.0, rel=0.02)


def test_the_temperature_is_the_same_bits_on_any_number_of_threads(monkeypatch):
    """The fit's sums run over one grid of blocks, added in row order, however many threads."""
    logits, labels = calibrated_logits(21, 200_000, 5)
    fits = []
    for threads in ("1", "2", "3"):
        monkeypatch.setenv("CECLI_NUM_THREADS", threads)
        fit = fit_temperature(labels, 1.7 * logits, from_logits=True)
        fits.append((fit.temperature, fit.loss, fit.loss_before, fit.ece, fit.ece_before))
    assert fits[0] == fits[1] == fits[2]
    assert fits[0][0] == pytest.approx(1.7, rel=0.02)


# --- the reservoir -------------------------------------------------------------------------


def test_reservoir_keeps_everything_below_its_capacity_in_order():
    sample = ReservoirSample(100, seed=1)
    values = np.arange(30) * 2.0
    labels = np.arange(30) % 3
    sample.update(values[:10], labels[:10], None)
    sample.update(values[10:], labels[10:], None)
    kept_values, kept_labels, nothing = sample.arrays()
    assert sample.rows.tolist() == list(range(30))
    assert kept_values.tolist() == values.tolist()
    assert kept_labels.tolist() == labels.tolist()
    assert nothing is None


def test_reservoir_sample_does_not_depend_on_the_chunking():
    rows = np.arange(1_000)
    one = ReservoirSample(50, seed=7)
    one.update(rows)
    many = ReservoirSample(50, seed=7)
    for lo in range(0, 1_000, 37):
        many.update(rows[lo : lo + 37])
    assert one.rows.tolist() == many.rows.tolist()
    assert many.arrays()[0].tolist() == many.rows.tolist()
    assert many.n_seen == 1_000


def test_reservoirs_of_one_seed_merged_keep_the_sample_of_one_reservoir():
    """A row's key depends on the seed and the row only: how rows are shared does not matter."""
    rows = np.arange(5_000)
    one = ReservoirSample(300, seed=5)
    one.update(rows)
    parts = [ReservoirSample(300, seed=5) for _ in range(3)]
    for part, (lo, hi) in zip(parts, [(0, 1_234), (1_234, 1_300), (1_300, 5_000)], strict=True):
        part.update(rows[lo:hi], row_offset=lo)
    merged = parts[0].merge(parts[1]).merge(parts[2])
    assert merged.rows.tolist() == one.rows.tolist()
    assert merged.arrays()[0].tolist() == one.rows.tolist()


def test_reservoir_and_merged_reservoirs_sample_uniformly():
    n, capacity, trials = 20, 5, 2_000
    single = np.zeros(n)
    merged = np.zeros(n)
    seeds = np.random.SeedSequence(2024).spawn(3 * trials)
    for trial in range(trials):
        sample = ReservoirSample(capacity, seed=seeds[3 * trial])
        for lo in range(0, n, 3):
            sample.update(np.arange(lo, min(lo + 3, n)))
        single[sample.rows] += 1
        left = ReservoirSample(capacity, seed=seeds[3 * trial + 1])
        right = ReservoirSample(capacity, seed=seeds[3 * trial + 2])
        left.update(np.arange(0, 7))  # unequal halves: merging must weigh them by size
        right.update(np.arange(7, n), row_offset=7)
        merged_sample = left.merge(right)
        assert (merged_sample.n_seen, len(merged_sample.rows)) == (n, capacity)
        merged[merged_sample.rows] += 1
    # each row is kept with probability capacity / n = 0.25; standard error 0.0097
    for counts in (single, merged):
        assert np.abs(counts / trials - capacity / n).max() < 0.045


def test_a_reservoir_sample_feeds_the_temperature_fit():
    logits, labels = calibrated_logits(13, 30_000, 5)
    sample = ReservoirSample(5_000, seed=0)
    for lo in range(0, 30_000, 4_096):
        sample.update(labels[lo : lo + 4_096], 2.0 * logits[lo : lo + 4_096])
    fit = fit_temperature(*sample.arrays(), from_logits=True)
    assert fit.n_samples == 5_000
    assert fit.temperature == pytest.approx(2.0, rel=0.06)


# --- errors --------------------------------------------------------------------------------


def test_bad_input_raises_cecli_errors_naming_the_row():
    acc = CalibrationAccumulator()
    acc.update([0, 1], [[0.5, 0.5], [0.2, 0.8]])
    with pytest.raises(ProbabilityError, match="row 3"):
        acc.update([0, 1], [[0.5, 0.5], [0.9, 0.8]])  # the second row sums to 1.7
    with pytest.raises(ProbabilityError, match="NaN"):
        calibration([0], [[np.nan, 1.0]])
    with pytest.raises(ProbabilityError, match="-inf"):
        calibration([1], [[0.0, -np.inf]], from_logits=True)
    with pytest.raises(ProbabilityError, match="-inf"):
        fit_temperature([1], [[0.0, -np.inf]], from_logits=True)
    with pytest.raises(ShapeError, match="3 classes but earlier ones had 2"):
        acc.update([0], [[0.2, 0.2, 0.6]])
    # a failed update leaves the sums as they were
    assert acc.result().n_samples == 2


def test_options_and_empty_input_are_checked():
    with pytest.raises(OptionError, match="n_bins"):
        CalibrationAccumulator(n_bins=0)
    with pytest.raises(OptionError, match="kind"):
        CalibrationAccumulator("ordinal")
    with pytest.raises(EmptyInputError):
        CalibrationAccumulator().result()
    with pytest.raises(OptionError, match="same options"):
        CalibrationAccumulator(n_bins=10).merge(CalibrationAccumulator(n_bins=15))
    with pytest.raises(WeightError):
        calibration([0, 1], [[0.5, 0.5], [0.5, 0.5]], sample_weights=[0, 0])
    with pytest.raises(OptionError, match="bounds"):
        fit_temperature([0], [[0.5, 0.5]], bounds=(2.0, 1.0))
    with pytest.raises(OptionError, match="capacity"):
        ReservoirSample(0)
    with pytest.raises(ShapeError, match="same number of rows"):
        ReservoirSample(5).update(np.arange(3), np.arange(4))


def test_the_wilson_quantile_kept_is_the_normal_quantile_of_its_level():
    from statistics import NormalDist

    from cecli.calibration._bins import _WILSON_Z, WILSON_LEVEL, wilson_interval

    assert NormalDist().inv_cdf((1 + WILSON_LEVEL) / 2) == _WILSON_Z
    # another level finds its own quantile: the interval of 0.5 over 10 trials at 90%
    z = special.ndtri(0.95)
    centre, half = 0.5, z / (1 + z * z / 10) * math.sqrt(0.025 + z * z / 400)
    low, high = wilson_interval(0.5, 10, level=0.9)
    assert (low, high) == pytest.approx((centre - half, centre + half), rel=1e-12)
