"""The calibration terms the loss kernels find per row, and what the calibration fold does
with them, against references written here, SciPy and scikit-learn.

The references: the entropy ``scipy.stats.entropy`` of ``scipy.special.softmax`` (float64,
of the same float32 values), the Brier score ``sum_j (p_j - [j = y])^2`` and
``sklearn.metrics.brier_score_loss``, the log-odds ``log(c / (1 - c))`` with mpmath, the
equal-width bins one bin at a time (``calibration_definitions.reference_bins``), and the
bottom-k sample as the rows of the smallest keys of the seeded generator.
"""

from __future__ import annotations

import mpmath
import numpy as np
import pytest
from calibration_definitions import reference_bins
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import special, stats
from sklearn.metrics import brier_score_loss

from cecli import _kernels
from cecli._probs_kernel import probs_hard
from cecli.calibration import CalibrationAccumulator, ReservoirSample
from cecli.calibration._bins import _bin_edges, _binned, _coarse_of_fine
from cecli.view import view_of

#: float32 inputs: the kernels' exp and sums run in float32 (see cecli/_row_terms.py)
FLOAT32 = dict(rel=2e-6, abs=1e-7)
FLOAT64 = dict(rel=1e-12, abs=1e-14)


def logits_case(seed, n, k, dtype):
    rng = np.random.default_rng(seed)
    scale = rng.uniform(0.1, 12.0, size=(n, 1))  # from nearly uniform to nearly one-hot
    z = (rng.normal(size=(n, k)) * scale).astype(dtype)
    z[::7, -1] = -np.inf  # a masked class, never the true one
    z[3] = z[3, 0]  # a row of ties
    return z, rng.integers(0, k - 1, size=n)


def brier_definition(p, labels):
    onehot = np.eye(p.shape[1])[labels]
    return ((p - onehot) ** 2).sum(axis=1)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("k", [2, 10, 64])
def test_logits_terms_are_the_softmax_entropy_and_brier_score(dtype, k):
    z, labels = logits_case(k, 5_000, k, dtype)
    scores = _kernels.logits_hard(z, labels, facts=True, terms=True)
    p = special.softmax(z.astype(np.float64), axis=1)
    close = FLOAT32 if dtype == np.float32 else FLOAT64
    assert scores.entropy == pytest.approx(stats.entropy(p, axis=1), **close)
    assert scores.brier == pytest.approx(brier_definition(p, labels), **close)
    assert scores.brier.mean() == pytest.approx(
        brier_score_loss(labels, p, labels=np.arange(k), scale_by_half=False), **close
    )


def test_the_brier_score_of_a_near_certain_row_keeps_its_small_gap():
    """1 - p_y of about 1e-12: the old float32 form 1 - p_y would have given 0."""
    z = np.array([[0.0, -30.0, -31.0]], dtype=np.float32)
    scores = _kernels.logits_hard(z, np.array([0]), facts=True, terms=True)
    mpmath.mp.dps = 40
    e = [mpmath.exp(mpmath.mpf(float(v))) for v in z[0]]
    p = [x / sum(e) for x in e]
    exact = (1 - p[0]) ** 2 + p[1] ** 2 + p[2] ** 2
    assert scores.brier[0] == pytest.approx(float(exact), rel=1e-6)


def test_log_odds_of_the_top_class_match_mpmath():
    """To the rounding of S = 1 + rest: about 2e-16 / (1 - c) absolute."""
    m = -np.inf
    z = np.array([[0, -3, m], [0, 0, m], [0, -1e-4, m], [0, -25, -26], [0, m, m]], np.float64)
    scores = _kernels.logits_hard(z, np.zeros(len(z), np.intp), facts=True, terms=True)
    mpmath.mp.dps = 40
    for row, got in zip(z, scores.log_odds, strict=True):
        e = [mpmath.exp(mpmath.mpf(float(v))) for v in row]
        c = max(e) / sum(e)
        if c == 1:
            assert got == np.inf
            continue
        expected = float(mpmath.log(c / (1 - c)))
        assert got == pytest.approx(expected, rel=1e-12, abs=4e-16 / float(1 - c))
    # where the rest is below float64's resolution of S, c is 1: beyond the fine bins
    far = _kernels.logits_hard(np.array([[0.0, -40.0]]), np.array([0]), True, True)
    assert far.log_odds[0] == np.inf


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_probability_terms_are_the_entropy_and_brier_score(dtype):
    rng = np.random.default_rng(5)
    p = rng.dirichlet(np.full(6, 0.3), size=4_000)
    p[::5, :3] = 0.0  # zeros: 0 log 0 is 0
    p /= p.sum(axis=1, keepdims=True)
    p = p.astype(dtype)
    labels = rng.integers(0, 6, size=4_000)
    scores = probs_hard(p, labels, 1e-7, 1e-3, facts=True, terms=True)
    exact = p.astype(np.float64)
    close = FLOAT32 if dtype == np.float32 else FLOAT64
    assert scores.entropy == pytest.approx(stats.entropy(exact, axis=1), **close)
    # the squares of the given probabilities are exact in float64
    assert scores.brier == pytest.approx(brier_definition(exact, labels), **FLOAT64)


def test_wide_arrays_get_no_terms_and_calibration_still_follows_the_definitions():
    z, labels = logits_case(1, 300, 100, np.float64)
    assert _kernels.logits_hard(z, labels, facts=True, terms=True).entropy is None
    view = view_of("categorical", labels, z, from_logits=True, calibration=True)
    assert view.terms is None
    acc = CalibrationAccumulator("categorical", from_logits=True)
    acc.add(view)
    p = special.softmax(z, axis=1)
    assert acc.result().entropy == pytest.approx(stats.entropy(p, axis=1).mean(), **FLOAT64)


def test_a_view_with_terms_feeds_the_same_sums_as_the_checking_update():
    z, labels = logits_case(2, 3_000, 10, np.float32)
    by_view = CalibrationAccumulator("categorical", from_logits=True)
    checking = CalibrationAccumulator("categorical", from_logits=True)
    for lo in range(0, 3_000, 1_000):
        rows = slice(lo, lo + 1_000)
        view = view_of("categorical", labels[rows], z[rows], from_logits=True, calibration=True)
        assert view.terms is not None
        by_view.add(view)
        checking.update(labels[rows], z[rows], row_offset=lo)
    assert by_view.result() == checking.result()


@settings(max_examples=30, deadline=None)
@given(n_bins=st.sampled_from([1, 2, 3, 7, 15, 100, 1000]), seed=st.integers(0, 2**16))
def test_bins_from_the_fine_bins_are_the_bins_of_the_definition(n_bins, seed):
    rng = np.random.default_rng(seed)
    edges = _bin_edges(n_bins)
    # values on the edges and one ulp either side, among spread and extreme ones
    confidence = np.concatenate(
        [
            edges,
            np.nextafter(edges, 2.0).clip(0.0, 1.0),
            np.nextafter(edges, -1.0).clip(0.0),
            special.expit(rng.normal(0.0, 8.0, 2_000)),
            rng.random(2_000),
        ]
    )
    credit = rng.random(len(confidence)) < confidence
    weight = rng.random(len(confidence))
    for w in (None, weight):
        bins, _ = _binned(confidence, credit, w, edges, _coarse_of_fine(edges))
        for b, ref in zip(
            range(n_bins), reference_bins(confidence, credit, n_bins, w), strict=True
        ):
            assert bins.count[b] == ref["count"]
            assert bins.weight[b] == pytest.approx(ref["weight"], **FLOAT64)
            if ref["weight"]:
                assert bins.confidence[b] / bins.weight[b] == pytest.approx(
                    ref["confidence"], **FLOAT64
                )
                assert bins.credit[b] / bins.weight[b] == pytest.approx(ref["accuracy"], **FLOAT64)


def splitmix64(seed: int, i: int) -> int:
    """The i-th output (from 1) of SplitMix64 seeded with ``seed``, its top 53 bits kept."""
    mask = (1 << 64) - 1
    z = (seed + i * 0x9E3779B97F4A7C15) & mask
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
    return (z ^ (z >> 31)) >> 11 << 11


@pytest.mark.parametrize("chunks", [[5_000], [3_000, 2_000], [100] * 50, [4_999, 1]])
def test_the_reservoir_keeps_the_rows_of_the_smallest_keys(chunks):
    """Bottom-k sampling, whatever the chunks: the rows of the capacity smallest keys."""
    capacity, seed = 700, 11
    sample = ReservoirSample(capacity, seed=seed)
    values = np.arange(sum(chunks)) * 3
    lo = 0
    for size in chunks:
        sample.update(values[lo : lo + size])
        lo += size
    keys = np.array([splitmix64(seed, row + 1) / 2.0**64 for row in range(sum(chunks))])
    expected = np.sort(np.argsort(keys, kind="stable")[:capacity])
    assert sample.rows.tolist() == expected.tolist()
    assert sample.arrays()[0].tolist() == (expected * 3).tolist()
