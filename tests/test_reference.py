"""cecli's losses agree with independent references on random inputs.

The references are scikit-learn's ``log_loss`` and ``compute_class_weight``,
and the definitions in ``definitions.py`` computed in mpmath at 50 digits from
the exact float values given to cecli.

Tolerances, once:

* float64: relative 1e-12. A loss from logits is ``log(S) - gap`` with
  ``S = sum_j exp(z_j - z_max) >= 1`` rounded to float64, which costs an
  absolute error of a few ``2**-53`` whatever the loss's size (every
  log-sum-exp, scikit-learn's and PyTorch's included, shares it), so logits
  also get an absolute term of ``8 * eps64`` (~1.8e-15) per unit of weight.
  Probabilities need none: ``-log(p)`` of a float ``p`` is accurate relatively.
* float32 input is computed in float32: relative 1e-6 (a few float32 ulps).
  From logits there is an absolute term as well: each ``exp(z_j - z_max)`` is
  a float32 with a relative error of about ``eps32``, which moves ``log(S)``
  by up to ``eps32``, and rounding ``z_j - z_max`` to float32 moves
  ``exp(z_j - z_max)`` by at most ``|d| e^d eps32 / 2 <= eps32 / (2e)`` per
  class, so ``log(S)`` is off by at most about ``(2 + K / 5) eps32``; the
  tests allow ``(4 + K) eps32`` (at most ~1.9e-6).
"""

from __future__ import annotations

import itertools
import math
import warnings

import mpmath
import numpy as np
import pytest
from definitions import (
    binary_cell_losses,
    categorical_losses,
    floats,
    in_base,
    log_softmax,
    logsumexp_rows,
    multilabel_losses,
    one_hot,
    weighted,
    weighted_mean,
    weighted_sum,
)
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from sklearn.metrics import log_loss
from sklearn.utils.class_weight import compute_class_weight

import cecli
from cecli.losses import score

# These tests check the arithmetic on random data; random logits can look like
# probabilities, which rightly warns (tested in test_validation.py), and is not their subject.
pytestmark = pytest.mark.filterwarnings("ignore::cecli.errors.CecliWarning")

EPS64 = float(np.finfo(np.float64).eps)
EPS32 = float(np.finfo(np.float32).eps)
RTOL64 = 1e-12
RTOL32 = 1e-6


def tolerance(dtype: np.dtype, from_logits: bool, k: int = 2) -> dict[str, float]:
    """``rtol`` and per-unit-weight ``atol`` for one loss, as explained in the module docstring."""
    if np.dtype(dtype) == np.float64:
        return {"rtol": RTOL64, "atol": 8 * EPS64 if from_logits else 0.0}
    return {"rtol": RTOL32, "atol": (4 + k) * EPS32 if from_logits else 0.0}


def approx(expected: float, tol: dict[str, float]):
    return pytest.approx(expected, rel=tol["rtol"], abs=tol["atol"])


def scaled(tol: dict[str, float], weight: float) -> dict[str, float]:
    """The tolerance of a sum whose weights add up to ``weight``."""
    return {"rtol": tol["rtol"], "atol": tol["atol"] * max(weight, 1.0)}


def assert_logit_losses_close(actual, expected, logits, labels):
    """Per-sample losses from logits, to float64 precision or to a float32 error bound.

    For float32 logits the bound is worked out row by row rather than taken as
    one absolute term: with ``d_j = z_j - z_max`` and ``S = sum_j exp(d_j)``,
    each float32 ``exp(d_j)`` is off by about ``eps32 exp(d_j)`` and rounding
    ``d_j`` to float32 moves it by ``|d_j| exp(d_j) eps32 / 2``; the maximum's
    ``exp(0) = 1`` is exact, and a float32 sum of the rest adds ``log2(K)``
    ulps. So ``log(S)`` is off by at most about
    ``(2 + log2 K) eps32 sum_{j != max} exp(d_j) (1 + |d_j|) / S``, the gap
    ``z_max - z_y`` by ``eps32 |gap|``, and forming ``S`` and its log in
    float64 adds a few ``eps64``. A tiny loss (a confident, right prediction)
    is thus held to float32 *relative* accuracy.
    """
    expected = np.asarray(expected, dtype=np.float64)
    if logits.dtype == np.float64:
        np.testing.assert_allclose(actual, expected, rtol=RTOL64, atol=8 * EPS64)
        return
    z = logits.astype(np.float64)
    rows = np.arange(len(z))
    top = z.max(axis=1)
    d = z - top[:, None]
    e = np.exp(d)  # -inf gives 0
    e_rest = e.copy()
    e_rest[rows, np.argmax(z, axis=1)] = 0.0
    spread = np.where(np.isfinite(d), np.abs(d), 0.0)
    log_s_error = (2 + np.log2(z.shape[1])) * (e_rest * (1 + spread)).sum(axis=1) / e.sum(axis=1)
    bound = EPS32 * (log_s_error + np.abs(top - z[rows, labels])) + 4 * EPS64
    assert (np.abs(np.asarray(actual) - expected) <= bound).all(), (actual, expected, bound)


# --- strategies ------------------------------------------------------------------------------

DTYPES = st.sampled_from([np.float64, np.float32])

#: probabilities at and near 0 and 1, before each row is normalised
SPECIAL_PROBS = [0.0, 0.0, 1.0, 5e-324, 1e-300, 1e-17, 1e-9, 1e-5, 0.5, 1.0 - 1e-9]


def prob_values() -> st.SearchStrategy[float]:
    return st.one_of(st.floats(0.0, 1.0), st.sampled_from(SPECIAL_PROBS))


def logit_values(width: int) -> st.SearchStrategy[float]:
    extreme = st.sampled_from([0.0, 1e4, -1e4, 745.0, -745.0, 40.0, -40.0, 1e-300])
    return st.one_of(st.floats(-1e4, 1e4, width=width), extreme)


@st.composite
def shapes(draw, max_n: int = 50, max_k: int = 12) -> tuple[int, int]:
    return draw(st.integers(1, max_n)), draw(st.integers(2, max_k))


@st.composite
def class_labels(draw, n: int, k: int) -> np.ndarray:
    return draw(hnp.arrays(np.int64, n, elements=st.integers(0, k - 1)))


@st.composite
def prob_matrices(draw, n: int, k: int, dtype=np.float64) -> np.ndarray:
    """Rows summing to 1: random, with exact 0s and 1s, subnormals and near-certain rows."""
    raw = draw(hnp.arrays(np.float64, (n, k), elements=prob_values()))
    which = draw(hnp.arrays(np.int64, n, elements=st.integers(0, k - 1)))
    certain = draw(hnp.arrays(np.bool_, n))  # one class at exactly 1, the rest exactly 0
    raw[certain] = 0.0
    raw[certain, which[certain]] = 1.0
    empty = raw.sum(axis=1) == 0
    raw[empty, which[empty]] = 1.0
    return (raw / raw.sum(axis=1, keepdims=True)).astype(dtype)


@st.composite
def logit_matrices(draw, labels: np.ndarray, k: int, dtype=np.float64, mask=True) -> np.ndarray:
    """Logits up to +-1e4, some -inf (masked) anywhere but at the true class."""
    width = 64 if dtype == np.float64 else 32
    n = len(labels)
    z = draw(hnp.arrays(np.float64, (n, k), elements=logit_values(width)))
    if mask:
        masked = draw(hnp.arrays(np.bool_, (n, k), elements=st.booleans()))
        masked[np.arange(n), labels] = False
        z[masked] = -np.inf
    return z.astype(dtype)


@st.composite
def soft_targets(draw, n: int, k: int) -> np.ndarray:
    raw = draw(hnp.arrays(np.float64, (n, k), elements=st.one_of(st.just(0.0), st.floats(0, 1))))
    which = draw(hnp.arrays(np.int64, n, elements=st.integers(0, k - 1)))
    raw[np.arange(n), which] += 0.5  # no row is all zero
    return raw / raw.sum(axis=1, keepdims=True)


@st.composite
def sample_weight_arrays(draw, n: int) -> np.ndarray:
    # zero or from 1e-3 up: a subnormal weight would make w_i * l_i underflow in any code
    positive = st.floats(1e-3, 10.0)
    w = draw(hnp.arrays(np.float64, n, elements=st.one_of(st.just(0.0), positive)))
    if not w.sum() > 0:
        w[0] = 1.0
    return w


@st.composite
def class_weight_arrays(draw, k: int) -> np.ndarray:
    return draw(hnp.arrays(np.float64, k, elements=st.floats(0.1, 10.0)))


def eps_of(dtype) -> float:
    return float(np.finfo(dtype).eps)


def true_class_clips(probs: np.ndarray, labels: np.ndarray) -> int:
    """How many true-class probabilities clipping to ``[eps, 1 - eps]`` changes."""
    eps = eps_of(probs.dtype)
    p = probs[np.arange(len(labels)), labels].astype(np.float64)
    return int(np.count_nonzero((p < eps) | (p > 1.0 - eps)))


# --- categorical -----------------------------------------------------------------------------


@given(data=st.data(), shape=shapes(), weighted_samples=st.booleans())
def test_categorical_probabilities_match_sklearn_log_loss(data, shape, weighted_samples):
    n, k = shape
    labels = data.draw(class_labels(n, k))
    probs = data.draw(prob_matrices(n, k))
    w = data.draw(sample_weight_arrays(n)) if weighted_samples else None

    mean = cecli.categorical_cross_entropy(labels, probs, sample_weights=w)
    total = cecli.categorical_cross_entropy(labels, probs, sample_weights=w, reduction="sum")

    classes = np.arange(k)
    assert mean.loss == pytest.approx(
        log_loss(labels, probs, sample_weight=w, labels=classes), rel=RTOL64
    )
    assert total.loss == pytest.approx(
        log_loss(labels, probs, sample_weight=w, labels=classes, normalize=False), rel=RTOL64
    )
    assert mean.clipped == total.clipped == true_class_clips(probs, labels)


@given(data=st.data(), shape=shapes(), dtype=DTYPES)
def test_categorical_probabilities_match_the_definition(data, shape, dtype):
    n, k = shape
    labels = data.draw(class_labels(n, k))
    probs = data.draw(prob_matrices(n, k, dtype))

    result = cecli.categorical_cross_entropy(labels, probs, reduction="none")

    expected = categorical_losses(one_hot(labels, k), probs, from_logits=False, eps=eps_of(dtype))
    assert result.loss.dtype == np.float64
    np.testing.assert_allclose(result.loss, floats(expected), **tolerance(dtype, False))
    assert result.clipped == true_class_clips(probs, labels)
    assert result.unit == "nats"
    assert result.weight_sum == n


@given(data=st.data(), shape=shapes(), dtype=DTYPES)
def test_categorical_logits_match_the_definition(data, shape, dtype):
    n, k = shape
    labels = data.draw(class_labels(n, k))
    logits = data.draw(logit_matrices(labels, k, dtype))

    each = cecli.categorical_cross_entropy(labels, logits, from_logits=True, reduction="none")
    mean = cecli.categorical_cross_entropy(labels, logits, from_logits=True)

    expected = categorical_losses(one_hot(labels, k), logits, from_logits=True, eps=0.0)
    tol = tolerance(dtype, True, k)
    assert_logit_losses_close(each.loss, floats(expected), logits, labels)
    assert mean.loss == approx(float(weighted_mean(expected, None)), tol)
    assert each.clipped == mean.clipped == 0


@given(
    data=st.data(),
    shape=shapes(),
    from_logits=st.booleans(),
    label_smoothing=st.sampled_from([0.0, 0.1, 0.37]),
    focal_gamma=st.sampled_from([0.0, 2.0]),
    weights=st.booleans(),
)
def test_one_hot_targets_give_exactly_what_class_indices_give(
    data, shape, from_logits, label_smoothing, focal_gamma, weights
):
    n, k = shape
    labels = data.draw(class_labels(n, k))
    if from_logits:
        preds = data.draw(logit_matrices(labels, k, mask=False))
    else:
        preds = data.draw(prob_matrices(n, k))
    targets = one_hot(labels, k)
    options = dict(
        from_logits=from_logits, label_smoothing=label_smoothing, focal_gamma=focal_gamma
    )
    if weights:
        options["class_weights"] = data.draw(class_weight_arrays(k))
        options["sample_weights"] = data.draw(sample_weight_arrays(n))

    by_index = cecli.categorical_cross_entropy(labels, preds, reduction="none", **options)
    one_hots = (targets, targets.astype(bool), targets.astype(np.int8))
    for same in (*one_hots, labels.astype(float), labels[:, None], labels.astype(np.uint8)):
        other = cecli.categorical_cross_entropy(same, preds, reduction="none", **options)
        assert np.array_equal(other.loss, by_index.loss)
        assert other.clipped == by_index.clipped
    mean_index = cecli.categorical_cross_entropy(labels, preds, **options)
    mean_one_hot = cecli.categorical_cross_entropy(targets, preds, **options)
    assert mean_one_hot.loss == mean_index.loss


@given(
    data=st.data(),
    shape=shapes(),
    from_logits=st.booleans(),
    dtype=DTYPES,
    use_class=st.booleans(),
    use_sample=st.booleans(),
)
def test_weighted_mean_sum_and_per_sample_follow_the_definition(
    data, shape, from_logits, dtype, use_class, use_sample
):
    n, k = shape
    labels = data.draw(class_labels(n, k))
    if from_logits:
        preds = data.draw(logit_matrices(labels, k, dtype))
    else:
        preds = data.draw(prob_matrices(n, k, dtype))
    class_weights = data.draw(class_weight_arrays(k)) if use_class else None
    sample_weights = data.draw(sample_weight_arrays(n)) if use_sample else None
    options = dict(
        from_logits=from_logits, class_weights=class_weights, sample_weights=sample_weights
    )

    results = {
        r: cecli.categorical_cross_entropy(labels, preds, reduction=r, **options)
        for r in ("none", "sum", "mean")
    }

    # w_i = sample_weight_i * class_weight[y_i]
    w = np.ones(n)
    if class_weights is not None:
        w = w * class_weights[labels]
    if sample_weights is not None:
        w = w * sample_weights
    each = categorical_losses(one_hot(labels, k), preds, from_logits=from_logits, eps=eps_of(dtype))
    tol = tolerance(dtype, from_logits, k)
    np.testing.assert_allclose(
        results["none"].loss, floats(weighted(each, w)), **scaled(tol, w.max())
    )
    assert results["sum"].loss == approx(float(weighted_sum(each, w)), scaled(tol, w.sum()))
    assert results["mean"].loss == approx(float(weighted_mean(each, w)), tol)
    for result in results.values():
        assert result.weight_sum == pytest.approx(w.sum(), rel=1e-15)


@st.composite
def labels_with_every_class(draw, n_min: int = 1) -> tuple[np.ndarray, int]:
    k = draw(st.integers(2, 12))
    extra = draw(hnp.arrays(np.int64, draw(st.integers(0, 40)), elements=st.integers(0, k - 1)))
    labels = np.concatenate([np.arange(k), extra])
    order = draw(st.permutations(range(len(labels))))
    return labels[list(order)], k


@given(data=st.data(), case=labels_with_every_class(), from_logits=st.booleans())
def test_balanced_class_weights_are_sklearns(data, case, from_logits):
    labels, k = case
    n = len(labels)
    preds = data.draw(logit_matrices(labels, k)) if from_logits else data.draw(prob_matrices(n, k))

    balanced = cecli.categorical_cross_entropy(
        labels, preds, from_logits=from_logits, class_weights="balanced"
    )

    sklearn_weights = compute_class_weight("balanced", classes=np.arange(k), y=labels)
    each = categorical_losses(one_hot(labels, k), preds, from_logits=from_logits, eps=EPS64)
    expected = weighted_mean(each, sklearn_weights[labels])
    assert balanced.loss == approx(float(expected), tolerance(np.float64, from_logits))
    assert balanced.weight_sum == pytest.approx(sklearn_weights[labels].sum(), rel=1e-12)
    if not from_logits:
        assert balanced.loss == pytest.approx(
            log_loss(labels, preds, sample_weight=sklearn_weights[labels], labels=np.arange(k)),
            rel=RTOL64,
        )


@given(data=st.data(), shape=shapes(), from_logits=st.booleans(), dtype=DTYPES)
def test_soft_targets_follow_the_definition(data, shape, from_logits, dtype):
    n, k = shape
    targets = data.draw(soft_targets(n, k))
    if from_logits:
        preds = data.draw(logit_matrices(np.argmax(targets, axis=1), k, dtype, mask=False))
    else:
        preds = data.draw(prob_matrices(n, k, dtype))

    each = cecli.categorical_cross_entropy(
        targets, preds, from_logits=from_logits, reduction="none"
    )
    mean = cecli.categorical_cross_entropy(targets, preds, from_logits=from_logits)

    expected = categorical_losses(targets, preds, from_logits=from_logits, eps=eps_of(dtype))
    tol = tolerance(dtype, from_logits, k)
    np.testing.assert_allclose(each.loss, floats(expected), **tol)
    assert mean.loss == approx(float(weighted_mean(expected, None)), tol)
    if not from_logits:
        # only the probabilities a positive target takes the log of count as clipped
        eps = eps_of(dtype)
        p = preds.astype(np.float64)
        assert each.clipped == np.count_nonzero(((p < eps) | (p > 1 - eps)) & (targets > 0))


@given(data=st.data(), shape=shapes(), from_logits=st.booleans())
def test_soft_target_class_weight_is_the_target_weighted_mean_of_the_class_weights(
    data, shape, from_logits
):
    n, k = shape
    targets = data.draw(soft_targets(n, k))
    if from_logits:
        preds = data.draw(logit_matrices(np.argmax(targets, axis=1), k, mask=False))
    else:
        preds = data.draw(prob_matrices(n, k))
    class_weights = data.draw(class_weight_arrays(k))

    each = cecli.categorical_cross_entropy(
        targets, preds, from_logits=from_logits, class_weights=class_weights, reduction="none"
    )
    mean = cecli.categorical_cross_entropy(
        targets, preds, from_logits=from_logits, class_weights=class_weights
    )
    balanced = cecli.categorical_cross_entropy(
        targets, preds, from_logits=from_logits, class_weights="balanced"
    )

    # a soft target's weight is t_i . class_weights; "balanced" counts class c as sum_i t_ic
    expected = categorical_losses(targets, preds, from_logits=from_logits, eps=EPS64)
    tol = tolerance(np.float64, from_logits, k)
    w = targets @ class_weights
    np.testing.assert_allclose(each.loss, floats(weighted(expected, w)), **scaled(tol, w.max()))
    assert mean.loss == approx(float(weighted_mean(expected, w)), tol)
    assert mean.weight_sum == pytest.approx(w.sum(), rel=1e-12)
    support = targets.sum(axis=0)
    present = support > 0  # a class no row has gets weight 0, and is not counted
    # w_i = sum_c t_ic * n / (P S_c) over the P classes present, with t_ic / S_c formed
    # first: a subnormal S_c would make n / (P S_c) overflow, though every t_ic / S_c <= 1
    w_balanced = (targets[:, present] / support[present]).sum(axis=1) * (n / present.sum())
    assert balanced.loss == approx(float(weighted_mean(expected, w_balanced)), tol)


def test_soft_targets_allow_masked_logits_where_the_target_is_zero_without_warnings():
    targets = np.array([[0.25, 0.75, 0.0], [0.0, 0.5, 0.5]])
    logits = np.array([[0.5, 1.5, -np.inf], [-np.inf, 2.0, -1.0]])

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a masked class is documented as allowed: no warning
        each = cecli.categorical_cross_entropy(targets, logits, from_logits=True, reduction="none")

    expected = categorical_losses(targets, logits, from_logits=True, eps=0.0)
    np.testing.assert_allclose(each.loss, floats(expected), **tolerance(np.float64, True))


@given(
    data=st.data(),
    shape=shapes(),
    from_logits=st.booleans(),
    dtype=DTYPES,
    label_smoothing=st.one_of(st.sampled_from([0.0, 0.1, 1.0]), st.floats(1e-6, 1.0)),
    focal_gamma=st.one_of(st.sampled_from([0.0, 0.5, 1.0, 2.0, 5.0]), st.floats(0.0, 8.0)),
    use_class=st.booleans(),
)
def test_label_smoothing_and_focal_loss_follow_the_definition(
    data, shape, from_logits, dtype, label_smoothing, focal_gamma, use_class
):
    n, k = shape
    labels = data.draw(class_labels(n, k))
    if from_logits:
        # smoothing gives every class a share of the target, so no class may be masked
        mask = label_smoothing == 0
        preds = data.draw(logit_matrices(labels, k, dtype, mask=mask))
    else:
        preds = data.draw(prob_matrices(n, k, dtype))
    class_weights = data.draw(class_weight_arrays(k)) if use_class else None

    each = cecli.categorical_cross_entropy(
        labels,
        preds,
        from_logits=from_logits,
        label_smoothing=label_smoothing,
        focal_gamma=focal_gamma,
        class_weights=class_weights,
        reduction="none",
    )

    expected = categorical_losses(
        one_hot(labels, k),
        preds,
        from_logits=from_logits,
        eps=eps_of(dtype),
        label_smoothing=label_smoothing,
        focal_gamma=focal_gamma,
    )
    # class weights follow the unsmoothed targets
    w = None if class_weights is None else class_weights[labels]
    scale = 1.0 if w is None else w.max()
    tol = scaled(tolerance(dtype, from_logits, k), scale)
    np.testing.assert_allclose(each.loss, floats(weighted(expected, w)), **tol)
    if not from_logits and label_smoothing:
        # every smoothed target is positive, so every clipped probability counts
        eps = eps_of(dtype)
        p = preds.astype(np.float64)
        assert each.clipped == np.count_nonzero((p < eps) | (p > 1 - eps))


@given(
    data=st.data(),
    shape=shapes(max_n=20),
    from_logits=st.booleans(),
    kind=st.sampled_from(["categorical", "binary", "multilabel"]),
    base=st.sampled_from([2, 10, "2", 10.0]),
)
def test_base_2_and_10_divide_nats_by_the_log_of_the_base(data, shape, from_logits, kind, base):
    n, k = shape
    if kind == "categorical":
        targets = data.draw(class_labels(n, k))
        preds = (
            data.draw(logit_matrices(targets, k)) if from_logits else data.draw(prob_matrices(n, k))
        )
        each = categorical_losses(one_hot(targets, k), preds, from_logits=from_logits, eps=EPS64)
        function = cecli.categorical_cross_entropy
    else:
        cells = n if kind == "binary" else (n, k)
        targets = data.draw(hnp.arrays(np.int64, cells, elements=st.integers(0, 1)))
        preds = data.draw(
            hnp.arrays(
                np.float64, cells, elements=logit_values(64) if from_logits else prob_values()
            )
        )
        if kind == "binary":
            each = binary_cell_losses(targets, preds, from_logits=from_logits, eps=EPS64)
            function = cecli.binary_cross_entropy
        else:
            each = multilabel_losses(targets, preds, from_logits=from_logits, eps=EPS64)
            function = cecli.multilabel_cross_entropy

    result = function(targets, preds, from_logits=from_logits, base=base, reduction="none")
    mean = function(targets, preds, from_logits=from_logits, base=base)

    numeric_base = int(float(base))
    assert result.unit == mean.unit == {2: "bits", 10: "bans"}[numeric_base]
    tol = tolerance(np.float64, from_logits)
    expected = floats([in_base(v, numeric_base) for v in each])
    np.testing.assert_allclose(result.loss, expected, **tol)
    assert mean.loss == approx(float(in_base(weighted_mean(each, None), numeric_base)), tol)


@given(
    data=st.data(),
    shape=shapes(),
    shift=st.one_of(
        st.floats(-1e4, 1e4), st.sampled_from([1e4, -1e4, 0.5, 1e-3, 2.0**20, -(2.0**-30)])
    ),
    per_row=st.booleans(),
)
def test_adding_a_constant_to_each_row_of_logits_changes_losses_only_by_rounding(
    data, shape, shift, per_row
):
    n, k = shape
    labels = data.draw(class_labels(n, k))
    logits = data.draw(logit_matrices(labels, k))
    c = np.full((n, 1), shift)
    if per_row:
        c = data.draw(hnp.arrays(np.float64, (n, 1), elements=st.floats(-1e4, 1e4)))
    shifted = logits + c

    before = cecli.categorical_cross_entropy(labels, logits, from_logits=True, reduction="none")
    after = cecli.categorical_cross_entropy(labels, shifted, from_logits=True, reduction="none")

    # Exactly, the loss does not change. Rounding z + c moves each logit by r_j, and the
    # loss, whose gradient p - t has an L1 norm of at most 2, by at most 2 max_j |r_j|.
    with mpmath.workdps(50):
        rounding = np.zeros(n)
        for i in range(n):
            for j in range(k):
                if np.isfinite(logits[i, j]):
                    exact = mpmath.mpf(logits[i, j]) + mpmath.mpf(c[i, 0])
                    err = abs(float(mpmath.mpf(shifted[i, j]) - exact))
                    rounding[i] = max(rounding[i], err)
    slack = 2 * rounding + RTOL64 * np.maximum(before.loss, after.loss) + 16 * EPS64
    assert (np.abs(after.loss - before.loss) <= slack).all()


# --- binary ----------------------------------------------------------------------------------


@st.composite
def binary_targets(draw, n: int, soft: bool = False) -> np.ndarray:
    if soft:
        values = st.one_of(st.sampled_from([0.0, 1.0, 0.5]), st.floats(0.0, 1.0))
        return draw(hnp.arrays(np.float64, n, elements=values))
    return draw(hnp.arrays(np.int64, n, elements=st.integers(0, 1)))


@given(data=st.data(), n=st.integers(1, 50), weighted_samples=st.booleans())
def test_binary_probabilities_match_sklearn_log_loss(data, n, weighted_samples):
    targets = data.draw(binary_targets(n))
    probs = data.draw(hnp.arrays(np.float64, n, elements=prob_values()))
    w = data.draw(sample_weight_arrays(n)) if weighted_samples else None

    mean = cecli.binary_cross_entropy(targets, probs, sample_weights=w)
    total = cecli.binary_cross_entropy(targets, probs, sample_weights=w, reduction="sum")

    assert mean.loss == pytest.approx(
        log_loss(targets, probs, sample_weight=w, labels=[0, 1]), rel=RTOL64
    )
    assert total.loss == pytest.approx(
        log_loss(targets, probs, sample_weight=w, labels=[0, 1], normalize=False), rel=RTOL64
    )
    assert mean.clipped == np.count_nonzero((probs < EPS64) | (probs > 1 - EPS64))


@given(
    data=st.data(),
    n=st.integers(1, 50),
    from_logits=st.booleans(),
    dtype=DTYPES,
    soft=st.booleans(),
    label_smoothing=st.sampled_from([0.0, 0.0, 0.2, 1.0]),
    focal_gamma=st.one_of(st.sampled_from([0.0, 0.0, 2.0]), st.floats(0.0, 5.0)),
)
def test_binary_follows_the_definition(
    data, n, from_logits, dtype, soft, label_smoothing, focal_gamma
):
    targets = data.draw(binary_targets(n, soft))
    width = 64 if dtype == np.float64 else 32
    values = logit_values(width) if from_logits else prob_values()
    preds = data.draw(hnp.arrays(np.float64, n, elements=values)).astype(dtype)

    result = cecli.binary_cross_entropy(
        targets,
        preds,
        from_logits=from_logits,
        label_smoothing=label_smoothing,
        focal_gamma=focal_gamma,
        reduction="none",
    )

    expected = binary_cell_losses(
        targets,
        preds,
        from_logits=from_logits,
        eps=eps_of(dtype),
        label_smoothing=label_smoothing,
        focal_gamma=focal_gamma,
    )
    # binary inputs are computed in float64 whatever their type
    np.testing.assert_allclose(result.loss, floats(expected), **tolerance(np.float64, from_logits))
    if not from_logits:
        eps = eps_of(dtype)
        p = preds.astype(np.float64)
        assert result.clipped == np.count_nonzero((p < eps) | (p > 1 - eps))


@given(data=st.data(), n=st.integers(1, 50))
def test_binary_targets_as_bool_int_and_float_are_the_same(data, n):
    targets = data.draw(binary_targets(n))
    probs = data.draw(hnp.arrays(np.float64, n, elements=prob_values()))
    base = cecli.binary_cross_entropy(targets, probs, reduction="none").loss
    for same in (targets.astype(bool), targets.astype(float), targets[:, None]):
        assert np.array_equal(cecli.binary_cross_entropy(same, probs, reduction="none").loss, base)


@given(data=st.data(), n=st.integers(2, 60), weighted_samples=st.booleans())
def test_binary_class_weights_and_balanced(data, n, weighted_samples):
    targets = data.draw(binary_targets(n))
    targets[:2] = [0, 1]  # sklearn's "balanced" needs both classes present
    probs = data.draw(hnp.arrays(np.float64, n, elements=prob_values()))
    sample_weights = data.draw(sample_weight_arrays(n)) if weighted_samples else None
    explicit = data.draw(class_weight_arrays(2))

    balanced = cecli.binary_cross_entropy(
        targets, probs, class_weights="balanced", sample_weights=sample_weights
    )
    given_weights = cecli.binary_cross_entropy(
        targets, probs, class_weights=explicit, sample_weights=sample_weights
    )

    each = binary_cell_losses(targets, probs, from_logits=False, eps=EPS64)
    s = np.ones(n) if sample_weights is None else sample_weights
    sk = compute_class_weight("balanced", classes=np.array([0, 1]), y=targets)
    assert balanced.loss == pytest.approx(float(weighted_mean(each, sk[targets] * s)), rel=RTOL64)
    assert given_weights.loss == pytest.approx(
        float(weighted_mean(each, explicit[targets] * s)), rel=RTOL64
    )
    assert balanced.loss == pytest.approx(
        log_loss(targets, probs, sample_weight=sk[targets] * s, labels=[0, 1]), rel=RTOL64
    )


@given(data=st.data(), n=st.integers(1, 40), soft=st.booleans(), from_logits=st.booleans())
def test_binary_soft_target_class_weight_is_the_target_weighted_mean(data, n, soft, from_logits):
    targets = data.draw(binary_targets(n, soft))
    values = logit_values(64) if from_logits else prob_values()
    preds = data.draw(hnp.arrays(np.float64, n, elements=values))
    w_neg, w_pos = data.draw(class_weight_arrays(2))

    result = cecli.binary_cross_entropy(
        targets, preds, from_logits=from_logits, class_weights=[w_neg, w_pos], reduction="none"
    )

    # a soft target t gets (1 - t) w_neg + t w_pos
    w = (1 - targets) * w_neg + targets * w_pos
    each = binary_cell_losses(targets, preds, from_logits=from_logits, eps=EPS64)
    tol = scaled(tolerance(np.float64, from_logits), max(w_neg, w_pos))
    np.testing.assert_allclose(result.loss, floats(weighted(each, w)), **tol)


# --- multilabel ------------------------------------------------------------------------------


@given(data=st.data(), shape=shapes(max_k=8), weighted_samples=st.booleans())
def test_multilabel_mean_is_the_mean_of_per_label_sklearn_log_losses(data, shape, weighted_samples):
    n, k = shape
    targets = data.draw(hnp.arrays(np.int64, (n, k), elements=st.integers(0, 1)))
    probs = data.draw(hnp.arrays(np.float64, (n, k), elements=prob_values()))
    w = data.draw(sample_weight_arrays(n)) if weighted_samples else None

    mean = cecli.multilabel_cross_entropy(targets, probs, sample_weights=w)

    # sum_i s_i (1/K sum_j l_ij) / sum_i s_i = 1/K sum_j (column j's weighted log loss)
    per_label = [
        log_loss(targets[:, j], probs[:, j], sample_weight=w, labels=[0, 1]) for j in range(k)
    ]
    assert mean.loss == pytest.approx(np.mean(per_label), rel=RTOL64)


@given(
    data=st.data(),
    shape=shapes(max_k=8),
    from_logits=st.booleans(),
    dtype=DTYPES,
    use_label_weights=st.booleans(),
    soft=st.booleans(),
    label_smoothing=st.sampled_from([0.0, 0.3]),
    focal_gamma=st.sampled_from([0.0, 1.5]),
)
def test_multilabel_follows_the_definition(
    data, shape, from_logits, dtype, use_label_weights, soft, label_smoothing, focal_gamma
):
    n, k = shape
    if soft:
        targets = data.draw(hnp.arrays(np.float64, (n, k), elements=st.floats(0, 1)))
    else:
        targets = data.draw(hnp.arrays(np.int64, (n, k), elements=st.integers(0, 1)))
    width = 64 if dtype == np.float64 else 32
    values = logit_values(width) if from_logits else prob_values()
    preds = data.draw(hnp.arrays(np.float64, (n, k), elements=values)).astype(dtype)
    label_weights = data.draw(class_weight_arrays(k)) if use_label_weights else None
    sample_weights = data.draw(sample_weight_arrays(n))

    options = dict(
        from_logits=from_logits,
        class_weights=label_weights,
        sample_weights=sample_weights,
        label_smoothing=label_smoothing,
        focal_gamma=focal_gamma,
    )
    each = cecli.multilabel_cross_entropy(targets, preds, reduction="none", **options)
    mean = cecli.multilabel_cross_entropy(targets, preds, **options)

    expected = multilabel_losses(
        targets,
        preds,
        from_logits=from_logits,
        eps=eps_of(dtype),
        label_weights=label_weights,
        label_smoothing=label_smoothing,
        focal_gamma=focal_gamma,
    )
    tol = tolerance(np.float64, from_logits)
    np.testing.assert_allclose(
        each.loss, floats(weighted(expected, sample_weights)), **scaled(tol, sample_weights.max())
    )
    assert mean.loss == approx(float(weighted_mean(expected, sample_weights)), tol)
    assert mean.weight_sum == pytest.approx(sample_weights.sum(), rel=1e-15)


# --- per-sample facts, narrow and wide ------------------------------------------------------


@st.composite
def tied_logit_matrices(draw, n: int, k: int, dtype) -> np.ndarray:
    """Logits from a few values, so that rows often tie for the maximum."""
    values = st.sampled_from([-3.0, 0.0, 0.5, 2.0, 2.0, 7.25])
    return draw(hnp.arrays(np.float64, (n, k), elements=values)).astype(dtype)


@given(
    data=st.data(),
    n=st.integers(1, 6),
    k=st.one_of(st.integers(2, 12), st.integers(60, 70)),  # both sides of the 64-column switch
    from_logits=st.booleans(),
    dtype=DTYPES,
    ties=st.booleans(),
)
def test_per_sample_facts_follow_their_definitions(data, n, k, from_logits, dtype, ties):
    labels = data.draw(class_labels(n, k))
    if from_logits:
        if ties:
            preds = data.draw(tied_logit_matrices(n, k, dtype))
        else:
            preds = data.draw(logit_matrices(labels, k, dtype))
    else:
        preds = data.draw(prob_matrices(n, k, dtype))
        if ties:  # a row of equal probabilities ties everywhere
            preds[0] = np.asarray(1.0 / k, dtype=dtype)
    threshold = data.draw(st.sampled_from([0.5, 0.9, 1.0]))

    facts = score("categorical", labels, preds, from_logits=from_logits, threshold=threshold)

    rows = np.arange(n)
    if from_logits:
        log_p = [log_softmax(row) for row in preds]
        with mpmath.workdps(50):
            p = np.array([[float(mpmath.exp(v)) for v in row] for row in log_p])
        expected = categorical_losses(one_hot(labels, k), preds, from_logits=True, eps=0.0)
    else:
        p = preds.astype(np.float64)
        expected = categorical_losses(
            one_hot(labels, k), preds, from_logits=False, eps=eps_of(dtype)
        )
    predicted = np.argmax(preds, axis=1)  # the first class among tied maxima
    assert np.array_equal(facts.predicted, predicted)
    assert np.array_equal(facts.label, labels)
    assert np.array_equal(facts.correct, predicted == labels)
    if from_logits:
        assert_logit_losses_close(facts.loss, floats(expected), preds, labels)
    else:
        np.testing.assert_allclose(facts.loss, floats(expected), **tolerance(dtype, False))
    if from_logits:
        # softmax probabilities: relative to the working precision, and below its normal
        # range (a tiny p_true is exp(z_y - z_max) in that precision) to one subnormal step
        rtol = 1e-13 if dtype == np.float64 else 1e-6
        atol = float(np.finfo(dtype).smallest_subnormal)
        np.testing.assert_allclose(facts.confidence, p[rows, predicted], rtol=rtol, atol=atol)
        np.testing.assert_allclose(facts.p_true, p[rows, labels], rtol=rtol, atol=atol)
        # flags are compared away from the boundary, where rounding could go either way
        clear = np.abs(p[rows, predicted] - threshold) > 1e-5
        wrong = predicted != labels
        assert np.array_equal(
            facts.flagged[clear], (wrong & (p[rows, predicted] >= threshold))[clear]
        )
    else:
        # probabilities are reported as given
        assert np.array_equal(facts.confidence, p[rows, predicted])
        assert np.array_equal(facts.p_true, p[rows, labels])
        wrong = predicted != labels
        assert np.array_equal(facts.flagged, wrong & (p[rows, predicted] >= threshold))


@given(data=st.data(), n=st.integers(1, 5), k=st.integers(60, 70), dtype=DTYPES)
def test_wide_rows_match_the_definition(data, n, k, dtype):
    labels = data.draw(class_labels(n, k))
    logits = data.draw(logit_matrices(labels, k, dtype))
    probs = data.draw(prob_matrices(n, k, dtype))

    from_logits = cecli.categorical_cross_entropy(
        labels, logits, from_logits=True, reduction="none"
    )
    from_probs = cecli.categorical_cross_entropy(labels, probs, reduction="none")

    z_expected = categorical_losses(one_hot(labels, k), logits, from_logits=True, eps=0.0)
    p_expected = categorical_losses(one_hot(labels, k), probs, from_logits=False, eps=eps_of(dtype))
    assert_logit_losses_close(from_logits.loss, floats(z_expected), logits, labels)
    np.testing.assert_allclose(from_probs.loss, floats(p_expected), **tolerance(dtype, False))
    assert from_probs.clipped == true_class_clips(probs, labels)


LAYOUTS = st.sampled_from(["C", "F", "strided"])


def laid_out(array: np.ndarray, layout: str) -> np.ndarray:
    """The same values in Fortran order, or as a view with gaps between columns."""
    if layout == "F":
        return np.asfortranarray(array)
    if layout == "strided":
        wide = np.zeros((array.shape[0], 2 * array.shape[1]), dtype=array.dtype)
        wide[:, ::2] = array
        return wide[:, ::2]
    return array


@given(
    data=st.data(),
    n=st.integers(1, 20),
    k=st.one_of(st.integers(2, 8), st.integers(64, 70)),
    from_logits=st.booleans(),
    dtype=DTYPES,
    layout=LAYOUTS,
)
def test_memory_layout_does_not_matter(data, n, k, from_logits, dtype, layout):
    labels = data.draw(class_labels(n, k))
    if from_logits:
        preds = data.draw(logit_matrices(labels, k, dtype))
    else:
        preds = data.draw(prob_matrices(n, k, dtype))
    arranged = laid_out(preds, layout)

    each = cecli.categorical_cross_entropy(
        labels, arranged, from_logits=from_logits, reduction="none"
    )
    facts = score("categorical", labels, arranged, from_logits=from_logits)

    expected = categorical_losses(
        one_hot(labels, k), preds, from_logits=from_logits, eps=eps_of(dtype)
    )
    for losses in (each.loss, facts.loss):
        if from_logits:
            assert_logit_losses_close(losses, floats(expected), preds, labels)
        else:
            np.testing.assert_allclose(losses, floats(expected), **tolerance(dtype, False))
    assert np.array_equal(facts.predicted, np.argmax(preds, axis=1))


# --- the accumulator: chunks and merges ------------------------------------------------------


@st.composite
def accumulator_inputs(draw):
    """An input with many exactly tied losses (rows drawn from a small pool), and its options."""
    kind = draw(st.sampled_from(["categorical", "binary", "multilabel"]))
    n = draw(st.integers(1, 60))
    k = draw(st.integers(2, 6))
    from_logits = draw(st.booleans())
    pool_size = draw(st.integers(1, 5))
    pick = draw(hnp.arrays(np.int64, n, elements=st.integers(0, pool_size - 1)))
    if kind == "categorical":
        labels = draw(class_labels(n, k))
        if from_logits:
            pool = draw(hnp.arrays(np.float64, (pool_size, k), elements=st.floats(-20, 20)))
        else:
            pool = draw(prob_matrices(pool_size, k))
        y_true, y_pred = labels, pool[pick]
    else:
        shape = (n,) if kind == "binary" else (n, k)
        y_true = draw(hnp.arrays(np.int64, shape, elements=st.integers(0, 1)))
        elements = st.floats(-20, 20) if from_logits else prob_values()
        pool = draw(hnp.arrays(np.float64, (pool_size, *shape[1:]), elements=elements))
        y_pred = pool[pick]
        k = 2 if kind == "binary" else k
    choices = ["none", "explicit"] + (["balanced"] if kind != "multilabel" else [])
    weighting = draw(st.sampled_from(choices))
    class_weights = {
        "none": None,
        "balanced": "balanced",
        "explicit": draw(class_weight_arrays(k)),
    }[weighting]
    sample_weights = None
    if draw(st.booleans()):
        weight = st.one_of(st.just(0.0), st.floats(1e-3, 3.0))
        sample_weights = draw(hnp.arrays(np.float64, n, elements=weight))
        sample_weights[0] = 1.0
    options = dict(
        from_logits=from_logits,
        class_weights=class_weights,
        threshold=draw(st.sampled_from([0.5, 0.6, 0.9])),
        keep=draw(st.one_of(st.none(), st.integers(0, 6))),
        label_smoothing=draw(st.sampled_from([0.0, 0.1])),
        focal_gamma=draw(st.sampled_from([0.0, 2.0])),
        base=draw(st.sampled_from(["e", 2])),
    )
    cuts = sorted(draw(st.sets(st.integers(1, max(1, n - 1)), max_size=8)) if n > 1 else [])
    return kind, y_true, y_pred, sample_weights, options, [0, *cuts, n]


def assert_same_summary(a, b, keep):
    close = dict(rel=1e-12, abs=1e-300)
    assert a.n_samples == b.n_samples
    assert a.mean_loss == pytest.approx(b.mean_loss, **close)
    assert a.sum_loss == pytest.approx(b.sum_loss, **close)
    assert a.weight_sum == pytest.approx(b.weight_sum, **close)
    assert a.perplexity == pytest.approx(b.perplexity, **close)
    assert a.accuracy == b.accuracy
    assert a.clipped == b.clipped
    assert a.flagged_count == b.flagged_count
    assert (a.class_weights is None) == (b.class_weights is None)
    if a.class_weights is not None:
        assert a.class_weights == pytest.approx(b.class_weights, **close)
    assert len(a.per_class) == len(b.per_class)
    for ca, cb in zip(a.per_class, b.per_class, strict=True):
        assert (ca.index, ca.count, ca.flagged) == (cb.index, cb.count, cb.flagged)
        assert ca.accuracy == cb.accuracy
        assert ca.support == pytest.approx(cb.support, **close)
        assert (ca.mean_loss is None) == (cb.mean_loss is None)
        if ca.mean_loss is not None:
            assert ca.mean_loss == pytest.approx(cb.mean_loss, **close)
    for listed in ("worst", "flagged"):
        assert_same_rows(getattr(a, listed), getattr(b, listed), keep)


def assert_same_rows(got, expected, keep):
    """The same rows, highest loss first, ties by row, where losses tie to rounding.

    A loss computed in a chunk of another size may differ in its last bit, so
    rows whose losses agree to 1e-12 may come in either order, and at a full
    list's end either of two such rows may be the one kept.
    """
    close = dict(rel=1e-12, abs=1e-300)
    assert len(got) == len(expected)
    assert [r.loss for r in got] == pytest.approx([r.loss for r in expected], **close)
    runs, start = [], 0
    for i in range(1, len(expected) + 1):
        if i == len(expected) or expected[i].loss != pytest.approx(expected[start].loss, **close):
            runs.append((start, i))
            start = i
    for lo, hi in runs:
        rows_got = sorted(r.row for r in got[lo:hi])
        rows_expected = sorted(r.row for r in expected[lo:hi])
        full = keep is not None and len(expected) == keep
        if not (full and hi == len(expected)):
            assert rows_got == rows_expected
        exact_tie = {r.loss for r in (*got[lo:hi], *expected[lo:hi])} == {expected[lo].loss}
        if exact_tie:
            assert [r.row for r in got[lo:hi]] == [r.row for r in expected[lo:hi]]
    by_row = {r.row: r for r in expected}
    for r in got:
        if r.row in by_row:
            e = by_row[r.row]
            assert (r.label, r.predicted, r.weight) == (e.label, e.predicted, e.weight)
            assert r.loss == pytest.approx(e.loss, **close)
            assert r.confidence == pytest.approx(e.confidence, **close)
            assert r.p_true == pytest.approx(e.p_true, **close)


@given(case=accumulator_inputs(), order=st.randoms(use_true_random=False))
def test_chunked_merged_and_one_shot_accumulation_agree(case, order):
    kind, y_true, y_pred, sample_weights, options, edges = case

    def weights(lo, hi):
        return None if sample_weights is None else sample_weights[lo:hi]

    one_shot = cecli.Accumulator(kind, **options)
    one_shot.update(y_true, y_pred, weights(0, len(y_true)))

    chunked = cecli.Accumulator(kind, **options)
    for lo, hi in itertools.pairwise(edges):
        chunked.update(y_true[lo:hi], y_pred[lo:hi], weights(lo, hi))

    parts = []
    for lo, hi in itertools.pairwise(edges):
        part = cecli.Accumulator(kind, **options)
        part.update(y_true[lo:hi], y_pred[lo:hi], weights(lo, hi), row_offset=lo)
        parts.append(part)
    order.shuffle(parts)
    merged = parts[0]
    for part in parts[1:]:
        merged = merged.merge(part)

    expected = one_shot.result()
    assert_same_summary(chunked.result(), expected, options["keep"])
    assert_same_summary(merged.result(), expected, options["keep"])

    # and the one-shot mean is the loss function's
    function = {
        "categorical": cecli.categorical_cross_entropy,
        "binary": cecli.binary_cross_entropy,
        "multilabel": cecli.multilabel_cross_entropy,
    }[kind]
    loss_options = ("from_logits", "class_weights", "label_smoothing", "focal_gamma", "base")
    direct = function(
        y_true, y_pred, sample_weights=sample_weights, **{o: options[o] for o in loss_options}
    )
    assert expected.mean_loss == pytest.approx(direct.loss, rel=1e-12, abs=1e-300)
    assert expected.weight_sum == pytest.approx(direct.weight_sum, rel=1e-12)


# --- precision of accumulation, and the large-array kernels ----------------------------------


def test_float32_losses_are_accumulated_in_float64():
    n = 10**6
    # logits [0, 0]: each loss is log 2, and the kernel's log of the float64 sum 2.0 is exact
    logits = np.zeros((n, 2), dtype=np.float32)
    labels = np.zeros(n, dtype=np.int64)
    ln2 = float(mpmath.log(2))

    total = cecli.categorical_cross_entropy(labels, logits, from_logits=True, reduction="sum")
    mean = cecli.categorical_cross_entropy(labels, logits, from_logits=True)

    assert total.loss == pytest.approx(n * ln2, rel=1e-12)
    assert mean.loss == pytest.approx(ln2, rel=1e-12)
    # a float32 running sum of the same losses is far off: the test can tell the two apart
    running32 = np.add.accumulate(np.full(n, ln2, dtype=np.float32), dtype=np.float32)[-1]
    assert abs(float(running32) - n * ln2) / (n * ln2) > 1e-6


def test_the_accumulator_sums_a_million_float32_losses_to_1e_12():
    n = 10**6
    logits = np.zeros((n, 2), dtype=np.float32)
    labels = np.zeros(n, dtype=np.int64)
    ln2 = float(mpmath.log(2))

    one_chunk = cecli.Accumulator(from_logits=True)
    one_chunk.update(labels, logits)
    four_chunks = cecli.Accumulator(from_logits=True)
    for lo in range(0, n, 250_000):
        four_chunks.update(labels[lo : lo + 250_000], logits[lo : lo + 250_000])

    for summary in (one_chunk.result(), four_chunks.result()):
        assert summary.sum_loss == pytest.approx(n * ln2, rel=1e-12)
        assert summary.mean_loss == pytest.approx(ln2, rel=1e-12)
        assert summary.per_class[0].mean_loss == pytest.approx(ln2, rel=1e-12)


def test_float32_probability_losses_sum_in_float64():
    n = 10**6
    probs = np.tile(np.array([[0.25, 0.75]], dtype=np.float32), (n, 1))
    labels = np.ones(n, dtype=np.int64)

    each = cecli.categorical_cross_entropy(labels, probs, reduction="none").loss
    total = cecli.categorical_cross_entropy(labels, probs, reduction="sum").loss

    # each loss is -log(0.75) to float32 precision; n copies of one float32 add exactly in float64
    assert each.dtype == np.float64
    assert np.all(each == each[0])
    assert each[0] == pytest.approx(-math.log(0.75), rel=RTOL32)
    assert total == n * float(each[0])


@pytest.fixture(params=[1, 2], ids=["1-thread", "2-threads"])
def threads(request, monkeypatch):
    """Run with 1 or 2 threads; yields the number of row ranges each kernel call used."""
    from cecli import _threads

    monkeypatch.setenv("CECLI_NUM_THREADS", str(request.param))
    ranges: list[int] = []
    original = _threads.map_row_ranges

    def recording(n_rows, row_bytes, work):
        results = original(n_rows, row_bytes, work)
        ranges.append(len(results))
        return results

    monkeypatch.setattr(_threads, "map_row_ranges", recording)
    yield ranges
    # every pass over these large inputs was split across the threads
    assert ranges
    assert set(ranges) == {request.param}


def test_narrow_float32_logits_and_probabilities_through_the_threaded_kernel(threads):
    # 30,000 x 20 float32 is 2.4 MB: over the 2 MiB at which the kernels use threads,
    # and at most 64 columns, so the transposed ("narrow") loop order.
    rng = np.random.default_rng(20240601)
    n, k = 30_000, 20
    logits = (rng.standard_normal((n, k)) * 8).astype(np.float32)
    logits[::97, 3] = 60.0  # confident rows
    labels = rng.integers(0, k, n)
    labels[::89] = 3

    loss = cecli.categorical_cross_entropy(labels, logits, from_logits=True, reduction="none").loss
    facts = score("categorical", labels, logits, from_logits=True)

    # reference: log-sum-exp of the float32 values in long double
    z = logits.astype(np.float64)
    lse = logsumexp_rows(z)
    expected = np.asarray(lse - z[np.arange(n), labels], dtype=np.float64)
    assert_logit_losses_close(loss, expected, logits, labels)
    assert_logit_losses_close(facts.loss, expected, logits, labels)
    assert np.array_equal(facts.predicted, np.argmax(logits, axis=1))
    softmax = np.exp(z - lse[:, None].astype(np.float64))
    np.testing.assert_allclose(facts.confidence, softmax.max(axis=1), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(facts.p_true, softmax[np.arange(n), labels], rtol=1e-5, atol=1e-7)

    probs = (softmax / softmax.sum(axis=1, keepdims=True)).astype(np.float32)
    each = cecli.categorical_cross_entropy(labels, probs, reduction="none")
    p_true = np.clip(probs[np.arange(n), labels].astype(np.float64), EPS32, 1 - EPS32)
    np.testing.assert_allclose(each.loss, -np.log(p_true), rtol=RTOL32)
    given_p_true = probs[np.arange(n), labels]
    assert each.clipped == np.count_nonzero((given_p_true < EPS32) | (given_p_true > 1 - EPS32))
    assert each.clipped > 0
    facts = score("categorical", labels, probs)
    assert np.array_equal(facts.predicted, np.argmax(probs, axis=1))
    assert np.array_equal(facts.confidence, probs.max(axis=1).astype(np.float64))


def test_wide_float64_logits_and_probabilities_through_the_threaded_kernel(threads):
    # 600 x 1000 float64 is 4.8 MB: threaded, and more than 64 columns ("wide").
    rng = np.random.default_rng(7)
    n, k = 600, 1000
    logits = rng.standard_normal((n, k)) * 30
    logits[::7, 11] = 1e4
    logits[1::5, 500:520] = -np.inf
    labels = rng.integers(0, k, n)
    labels[1::5] = 0
    labels[::7] = 11

    loss = cecli.categorical_cross_entropy(labels, logits, from_logits=True, reduction="none").loss
    facts = score("categorical", labels, logits, from_logits=True)

    # the NumPy reference in long double, checked on a sample of rows against mpmath
    expected = np.asarray(logsumexp_rows(logits) - logits[np.arange(n), labels], dtype=np.float64)
    sample = rng.choice(n, 12, replace=False)
    definition = categorical_losses(
        one_hot(labels[sample], k), logits[sample], from_logits=True, eps=0.0
    )
    np.testing.assert_allclose(expected[sample], floats(definition), rtol=1e-13, atol=1e-14)

    np.testing.assert_allclose(loss, expected, rtol=RTOL64, atol=8 * EPS64)
    np.testing.assert_allclose(facts.loss, expected, rtol=RTOL64, atol=8 * EPS64)
    assert np.array_equal(facts.predicted, np.argmax(logits, axis=1))

    probs = np.exp(logits - logsumexp_rows(logits)[:, None].astype(np.float64))
    probs /= probs.sum(axis=1, keepdims=True)
    each = cecli.categorical_cross_entropy(labels, probs, reduction="none")
    p_true = np.clip(probs[np.arange(n), labels], EPS64, 1 - EPS64)
    np.testing.assert_allclose(each.loss, -np.log(p_true), rtol=RTOL64)
    mean = cecli.categorical_cross_entropy(labels, probs)
    assert mean.loss == pytest.approx(log_loss(labels, probs, labels=np.arange(k)), rel=RTOL64)
    facts = score("categorical", labels, probs)
    assert np.array_equal(facts.predicted, np.argmax(probs, axis=1))
    assert np.array_equal(facts.confidence, probs.max(axis=1))
    assert np.array_equal(facts.p_true, probs[np.arange(n), labels])
