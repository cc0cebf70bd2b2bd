"""``class_weights="balanced"`` is scikit-learn's ``compute_sample_weight("balanced", y)``.

scikit-learn balances over the classes that occur in ``y``: a row of class
``c`` weighs ``n / (n_present * count_c)``, so the weights sum to ``n``
whatever classes are missing. (``compute_class_weight("balanced", classes=...)``
refuses a class that is not in ``y``, so it cannot be the reference when one
is missing.) The reference here is ``compute_sample_weight`` itself, on label
vectors that leave classes out, for the one-shot functions (mean, sum and
none), one-hot targets, and the accumulator fed in chunks of random sizes and
merged. Soft targets follow the same definition written out here, with a
class's count its target mass.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sklearn.utils.class_weight import compute_class_weight, compute_sample_weight

import cecli

CLOSE = dict(rel=1e-12)


@st.composite
def labels_missing_classes(draw) -> tuple[np.ndarray, int]:
    """Class indices over ``k`` classes of which at least one never occurs."""
    k = draw(st.integers(2, 9))
    present = sorted(draw(st.sets(st.integers(0, k - 1), min_size=1, max_size=k - 1)))
    labels = draw(st.lists(st.sampled_from(present), min_size=1, max_size=60))
    return np.array(labels, dtype=np.int64), k


def random_probs(seed: int, n: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Probability rows away from 0 and 1 (clipping plays no part), and sample weights."""
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.full(k, 2.0), size=n)
    return probs, rng.uniform(0.1, 3.0, n)


def random_cuts(seed: int, n: int) -> list[slice]:
    """Consecutive chunks of random sizes (some of them a single row)."""
    rng = np.random.default_rng([seed, n])
    cuts = np.unique(np.concatenate([[0, n], rng.integers(0, n + 1, 4)]))
    return [slice(lo, hi) for lo, hi in itertools.pairwise(cuts)]


def test_compute_class_weight_refuses_an_absent_class_so_sample_weight_is_the_reference():
    y = np.array([0, 0, 2])
    with pytest.raises(ValueError, match="classes"):
        compute_class_weight("balanced", classes=np.arange(3), y=y)
    # compute_sample_weight balances over the 2 classes present: 3 / (2 * 2), 3 / (2 * 1)
    np.testing.assert_allclose(compute_sample_weight("balanced", y), [0.75, 0.75, 1.5])


@given(case=labels_missing_classes(), seed=st.integers(0, 2**32 - 1), weighted=st.booleans())
def test_categorical_balanced_is_compute_sample_weight(case, seed, weighted):
    labels, k = case
    n = len(labels)
    probs, s = random_probs(seed, n, k)
    s = s if weighted else np.ones(n)
    w = compute_sample_weight("balanced", labels) * s
    loss = -np.log(probs[np.arange(n), labels])
    sample_weights = s if weighted else None

    for targets in (labels, np.eye(k)[labels]):  # indices, and the same as one-hot rows
        kwargs = dict(class_weights="balanced", sample_weights=sample_weights)
        mean = cecli.categorical_cross_entropy(targets, probs, **kwargs)
        total = cecli.categorical_cross_entropy(targets, probs, reduction="sum", **kwargs)
        each = cecli.categorical_cross_entropy(targets, probs, reduction="none", **kwargs)
        assert mean.loss == pytest.approx((w * loss).sum() / w.sum(), **CLOSE)
        assert total.loss == pytest.approx((w * loss).sum(), **CLOSE)
        np.testing.assert_allclose(each.loss, w * loss, rtol=1e-12)
        for got in (mean.weight_sum, total.weight_sum):
            assert got == pytest.approx(w.sum(), **CLOSE)
    if not weighted:
        assert mean.weight_sum == pytest.approx(n, **CLOSE)  # balanced weights sum to n


@given(case=labels_missing_classes(), seed=st.integers(0, 2**32 - 1), weighted=st.booleans())
def test_the_accumulator_in_chunks_and_merged_is_compute_sample_weight(case, seed, weighted):
    labels, k = case
    n = len(labels)
    probs, s = random_probs(seed, n, k)
    s = s if weighted else np.ones(n)
    w = compute_sample_weight("balanced", labels) * s
    loss = -np.log(probs[np.arange(n), labels])

    # each chunk in its own accumulator: a chunk may lack a class that another holds
    parts = []
    for part in random_cuts(seed, n):
        acc = cecli.Accumulator(class_weights="balanced")
        acc.update(labels[part], probs[part], s[part] if weighted else None)
        parts.append(acc)
    merged = parts[0]
    for other in parts[1:]:
        merged.merge(other)
    summary = merged.result()

    assert summary.mean_loss == pytest.approx((w * loss).sum() / w.sum(), **CLOSE)
    assert summary.sum_loss == pytest.approx((w * loss).sum(), **CLOSE)
    assert summary.weight_sum == pytest.approx(w.sum(), **CLOSE)
    present = np.unique(labels)
    expected = np.zeros(k)
    expected[present] = n / (len(present) * np.bincount(labels, minlength=k)[present])
    assert summary.class_weights == pytest.approx(tuple(expected), **CLOSE)


@given(
    targets=st.lists(st.sampled_from([0, 1]), min_size=1, max_size=60),
    seed=st.integers(0, 2**32 - 1),
)
def test_binary_balanced_is_compute_sample_weight_even_with_one_class(targets, seed):
    y = np.array(targets)
    n = len(y)
    p = np.random.default_rng(seed).uniform(0.01, 0.99, n)
    w = compute_sample_weight("balanced", y)
    loss = -np.where(y == 1, np.log(p), np.log1p(-p))

    mean = cecli.binary_cross_entropy(y, p, class_weights="balanced")
    total = cecli.binary_cross_entropy(y, p, class_weights="balanced", reduction="sum")
    acc = cecli.Accumulator("binary", class_weights="balanced")
    for part in random_cuts(seed, n):
        acc.update(y[part], p[part])
    summary = acc.result()

    for got in (mean.loss, summary.mean_loss):
        assert got == pytest.approx((w * loss).sum() / w.sum(), **CLOSE)
    for got in (total.loss, summary.sum_loss):
        assert got == pytest.approx((w * loss).sum(), **CLOSE)
    for got in (mean.weight_sum, summary.weight_sum):
        assert got == pytest.approx(n, **CLOSE)


@given(
    k=st.integers(2, 6),
    n=st.integers(1, 40),
    seed=st.integers(0, 2**32 - 1),
    missing=st.integers(0, 5),
)
def test_soft_targets_balance_over_the_classes_with_target_mass(k, n, seed, missing):
    """A class's count is its target mass ``S_c = sum_i t_ic``; ``w_i = sum_c t_ic n / (P S_c)``."""
    rng = np.random.default_rng(seed)
    targets = rng.dirichlet(np.ones(k), size=n)
    targets[:, missing % k] = 0.0  # one class with no mass at all
    targets /= targets.sum(axis=1, keepdims=True)
    probs = rng.dirichlet(np.full(k, 2.0), size=n)
    support = targets.sum(axis=0)
    present = support > 0
    w = (targets[:, present] / support[present]).sum(axis=1) * n / present.sum()
    loss = -(targets * np.log(probs)).sum(axis=1)

    total = cecli.categorical_cross_entropy(
        targets, probs, class_weights="balanced", reduction="sum"
    )
    acc = cecli.Accumulator(class_weights="balanced")
    for part in random_cuts(seed, n):
        acc.update(targets[part], probs[part])
    summary = acc.result()

    assert w.sum() == pytest.approx(n, **CLOSE)  # the definition's weights sum to n
    for got in (total.loss, summary.sum_loss):
        assert got == pytest.approx((w * loss).sum(), **CLOSE)
    for got in (total.weight_sum, summary.weight_sum):
        assert got == pytest.approx(n, **CLOSE)
    assert summary.mean_loss == pytest.approx((w * loss).sum() / n, **CLOSE)
