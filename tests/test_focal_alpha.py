"""``focal_alpha`` is Keras's: of ``BinaryFocalCrossentropy`` and ``CategoricalFocalCrossentropy``.

Keras is not a test dependency: its two formulas (``keras/src/losses/losses.py``)
are written out below, as Keras computes them, and cecli is compared with
them over random shapes, alphas, gammas, smoothing, weights and reductions.

* binary, ``apply_class_balancing=True``: ``bce = -(t log p + (1-t) log(1-p))``,
  ``p_t = t p + (1-t)(1-p)``, loss ``(t alpha + (1-t)(1-alpha)) (1 - p_t)^gamma bce``,
  averaged over the last axis (labels);
* categorical: ``sum_j alpha_j (1 - p_j)^gamma (-t_j log p_j)``, ``alpha`` one number
  or one per class, targets smoothed first as ``(1 - s) t + s / K``.

For soft (or smoothed) binary targets cecli weighs each term on its own (as
PyTorch's ``pos_weight`` does): that definition is written here too.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import cecli
from cecli.errors import OptionError

pytestmark = pytest.mark.filterwarnings("ignore::cecli.errors.CecliWarning")

REDUCTIONS = ("mean", "sum", "none")


def keras_binary_focal(t, p, alpha, gamma):
    """Keras's binary_focal_crossentropy(apply_class_balancing=True), per sample."""
    bce = -(t * np.log(p) + (1 - t) * np.log(1 - p))
    p_t = t * p + (1 - t) * (1 - p)
    focal = np.power(1 - p_t, gamma) * bce
    weight = t * alpha + (1 - t) * (1 - alpha)
    return np.mean(weight * focal, axis=-1)


def keras_categorical_focal(t, p, alpha, gamma):
    """Keras's categorical_focal_crossentropy, per sample (probabilities already normalised)."""
    cce = -t * np.log(p)
    return np.sum(np.power(1 - p, gamma) * alpha * cce, axis=-1)


def reduce(per_sample, weights, reduction):
    w = np.ones(len(per_sample)) if weights is None else weights
    if reduction == "none":
        return w * per_sample
    total = np.sum(w * per_sample)
    return total if reduction == "sum" else total / w.sum()


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


@st.composite
def bernoulli_case(draw):
    n, k = draw(st.integers(1, 30)), draw(st.integers(1, 4))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    logits = rng.normal(scale=3.0, size=(n, k))
    targets = rng.integers(0, 2, size=(n, k)).astype(np.float64)
    alpha = float(rng.uniform()) if draw(st.booleans()) else rng.uniform(size=k)
    gamma = draw(st.sampled_from([0.0, 0.5, 2.0, 3.7]))
    weights = rng.uniform(0.1, 2, size=n) if draw(st.booleans()) else None
    return logits, targets, alpha, gamma, weights


@given(case=bernoulli_case(), reduction=st.sampled_from(REDUCTIONS), from_logits=st.booleans())
def test_multilabel_is_keras_binary_focal_with_class_balancing(case, reduction, from_logits):
    logits, targets, alpha, gamma, weights = case
    probs = sigmoid(logits)
    expected = reduce(keras_binary_focal(targets, probs, alpha, gamma), weights, reduction)
    result = cecli.multilabel_cross_entropy(
        targets,
        logits if from_logits else probs,
        from_logits=from_logits,
        focal_gamma=gamma,
        focal_alpha=alpha,
        sample_weights=weights,
        reduction=reduction,
    )
    # from probabilities cecli clips at float64's eps; these sigmoids stay well inside
    np.testing.assert_allclose(result.loss, expected, rtol=1e-9, atol=1e-15)


@given(case=bernoulli_case(), reduction=st.sampled_from(REDUCTIONS))
def test_binary_is_keras_binary_focal_with_class_balancing(case, reduction):
    logits, targets, alpha, gamma, weights = case
    alpha = float(np.ravel(alpha)[0])
    probs = sigmoid(logits[:, 0])
    expected = reduce(
        keras_binary_focal(targets[:, :1], probs[:, None], alpha, gamma), weights, reduction
    )
    result = cecli.binary_cross_entropy(
        targets[:, 0],
        probs,
        focal_gamma=gamma,
        focal_alpha=alpha,
        sample_weights=weights,
        reduction=reduction,
    )
    np.testing.assert_allclose(result.loss, expected, rtol=1e-9, atol=1e-15)


def test_soft_binary_targets_weigh_each_term():
    """Soft targets: -(alpha t (1-p)^g log p + (1 - alpha)(1 - t) p^g log(1 - p))."""
    t = np.array([0.2, 0.7, 1.0, 0.0])
    p = np.array([0.9, 0.4, 0.3, 0.6])
    alpha, gamma = 0.3, 2.0
    expected = -(
        alpha * t * (1 - p) ** gamma * np.log(p) + (1 - alpha) * (1 - t) * p**gamma * np.log(1 - p)
    )
    result = cecli.binary_cross_entropy(
        t, p, focal_gamma=gamma, focal_alpha=alpha, reduction="none"
    )
    np.testing.assert_allclose(result.loss, expected, rtol=1e-13)


@st.composite
def categorical_case(draw):
    n, k = draw(st.integers(1, 30)), draw(st.integers(2, 6))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    logits = rng.normal(scale=2.0, size=(n, k))
    labels = rng.integers(0, k, size=n)
    alpha = float(rng.uniform(0, 2)) if draw(st.booleans()) else rng.uniform(0, 2, size=k)
    gamma = draw(st.sampled_from([0.0, 1.0, 2.0, 4.5]))
    smoothing = draw(st.sampled_from([0.0, 0.0, 0.1, 0.4]))
    weights = rng.uniform(0.1, 2, size=n) if draw(st.booleans()) else None
    return logits, labels, alpha, gamma, smoothing, weights


@given(case=categorical_case(), reduction=st.sampled_from(REDUCTIONS), from_logits=st.booleans())
def test_categorical_is_keras_categorical_focal(case, reduction, from_logits):
    logits, labels, alpha, gamma, smoothing, weights = case
    k = logits.shape[1]
    probs = softmax(logits)
    targets = np.eye(k)[labels] * (1 - smoothing) + smoothing / k
    expected = reduce(keras_categorical_focal(targets, probs, alpha, gamma), weights, reduction)
    result = cecli.categorical_cross_entropy(
        labels,
        logits if from_logits else probs,
        from_logits=from_logits,
        focal_gamma=gamma,
        focal_alpha=alpha,
        label_smoothing=smoothing,
        sample_weights=weights,
        reduction=reduction,
    )
    np.testing.assert_allclose(result.loss, expected, rtol=1e-9, atol=1e-15)


def test_categorical_soft_targets_take_alpha_per_class():
    t = np.array([[0.2, 0.8, 0.0], [0.5, 0.25, 0.25]])
    p = np.array([[0.1, 0.6, 0.3], [0.2, 0.2, 0.6]])
    alpha = np.array([0.5, 2.0, 1.0])
    expected = keras_categorical_focal(t, p, alpha, 2.0)
    result = cecli.categorical_cross_entropy(
        t, p, focal_gamma=2.0, focal_alpha=alpha, reduction="none"
    )
    np.testing.assert_allclose(result.loss, expected, rtol=1e-13)


@given(case=categorical_case(), n_chunks=st.integers(1, 4))
def test_accumulator_in_chunks_is_one_call(case, n_chunks):
    logits, labels, alpha, gamma, smoothing, weights = case
    options = dict(
        from_logits=True, focal_gamma=gamma, focal_alpha=alpha, label_smoothing=smoothing
    )
    expected = cecli.categorical_cross_entropy(labels, logits, sample_weights=weights, **options)
    bounds = np.linspace(0, len(labels), n_chunks + 1).astype(int)
    parts = []
    for lo, hi in itertools.pairwise(bounds):
        acc = cecli.Accumulator("categorical", **options)
        if hi > lo:
            w = None if weights is None else weights[lo:hi]
            acc.update(labels[lo:hi], logits[lo:hi], w, row_offset=int(lo))
        parts.append(acc)
    merged = parts[0]
    for part in parts[1:]:
        merged.merge(part)
    assert merged.result().mean_loss == pytest.approx(expected.loss, rel=1e-12)


def test_calibration_terms_keep_the_unweighted_cross_entropy():
    """The calibration's KL term is -log p_y whatever focal alpha does to the loss."""
    from cecli.view import view_of

    probs = np.array([[0.7, 0.2, 0.1], [0.2, 0.5, 0.3]])
    view = view_of("categorical", [0, 2], probs, focal_alpha=[0.25, 1.0, 3.0], calibration=True)
    np.testing.assert_allclose(view.terms.cross_entropy, -np.log([0.7, 0.3]), rtol=1e-15)
    np.testing.assert_allclose(view.scores.loss, [-0.25 * np.log(0.7), -3 * np.log(0.3)])


def test_focal_alpha_refusals():
    with pytest.raises(OptionError, match=r"focal_alpha must be in \[0, 1\]; got 1.5"):
        cecli.binary_cross_entropy([1, 0], [0.5, 0.5], focal_alpha=1.5)
    with pytest.raises(OptionError, match=r"gives label 1 the value 2; each must be in \[0, 1\]"):
        cecli.Accumulator("multilabel", focal_alpha=[0.5, 2.0])
    with pytest.raises(OptionError, match="has 2 values but there are 3 classes"):
        cecli.categorical_cross_entropy([0], [[0.2, 0.3, 0.5]], focal_alpha=[1, 2])
    with pytest.raises(OptionError, match="gives class 1 the value -1"):
        cecli.categorical_cross_entropy([0], [[0.2, 0.3, 0.5]], focal_alpha=[1, -1, 1])
    # a categorical alpha may exceed 1 (Keras suggests inverse class frequencies)
    assert cecli.categorical_cross_entropy([0], [[0.5, 0.5]], focal_alpha=4).loss == pytest.approx(
        -4 * np.log(0.5)
    )
