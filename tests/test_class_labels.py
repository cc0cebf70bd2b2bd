"""Classes named as scikit-learn names them: ``labels=`` and ``pos_label``.

``labels`` is the column order of ``y_pred``, in the order given. scikit-learn's
``log_loss`` reads the columns in *sorted* order of ``labels`` (its #30910), so
each comparison hands scikit-learn the same columns sorted by class: the two
must then agree, whatever order cecli was given.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sklearn.metrics import log_loss

import cecli
from cecli.errors import LabelError, OptionError

NAMES = ["ant", "bee", "cat", "dog", "eel", "fox", "gnu"]


def sorted_columns(probs, labels):
    """``probs``' columns in the sorted order of ``labels``, as scikit-learn reads them."""
    order = sorted(range(len(labels)), key=lambda j: labels[j])
    return probs[:, order], [labels[j] for j in order]


@st.composite
def named_case(draw):
    k = draw(st.integers(2, 6))
    integers = draw(st.booleans())
    classes = draw(st.permutations(NAMES[:k] if not integers else [3, 5, 7, 11, 13, 17][:k]))
    n = draw(st.integers(1, 40))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    logits = rng.normal(scale=2.0, size=(n, k))
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    y = np.array(classes, dtype=object)[rng.integers(0, k, size=n)]
    if integers:
        y = y.astype(np.int64)
    weights = rng.uniform(0.1, 3, size=n) if draw(st.booleans()) else None
    return list(classes), y, probs, weights


@given(case=named_case(), normalize=st.booleans())
def test_named_classes_match_scikit_learn(case, normalize):
    labels, y, probs, weights = case
    sk_probs, sk_labels = sorted_columns(probs, labels)
    expected = log_loss(y, sk_probs, labels=sk_labels, sample_weight=weights, normalize=normalize)
    result = cecli.categorical_cross_entropy(
        y, probs, labels=labels, sample_weights=weights, reduction="mean" if normalize else "sum"
    )
    assert result.loss == pytest.approx(expected, rel=1e-12)


@given(case=named_case(), n_chunks=st.integers(1, 4))
def test_accumulator_with_labels_in_chunks_is_one_call(case, n_chunks):
    labels, y, probs, weights = case
    expected = cecli.categorical_cross_entropy(y, probs, labels=labels, sample_weights=weights)
    bounds = np.linspace(0, len(y), n_chunks + 1).astype(int)
    acc = cecli.Accumulator("categorical", labels=labels)
    for lo, hi in itertools.pairwise(bounds):
        if hi > lo:
            acc.update(y[lo:hi], probs[lo:hi], None if weights is None else weights[lo:hi])
    assert acc.result().mean_loss == pytest.approx(expected.loss, rel=1e-12)


def test_the_column_order_is_the_order_given():
    """scikit-learn #30910's example: a perfect prediction costs nothing in either order."""
    y_true = ["dog", "cat"]
    for labels, y_pred in ((["cat", "dog"], [[0, 1], [1, 0]]), (["dog", "cat"], [[1, 0], [0, 1]])):
        result = cecli.categorical_cross_entropy(y_true, y_pred, labels=labels)
        assert result.loss == pytest.approx(0.0, abs=1e-15)


def test_integer_labels_are_looked_up_not_taken_as_indices():
    probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]])
    named = cecli.categorical_cross_entropy([7, 3], probs, labels=[5, 7, 3], reduction="none")
    np.testing.assert_allclose(named.loss, -np.log([0.2, 0.6]))


def test_one_hot_targets_with_labels_keep_their_columns():
    t = np.array([[0, 1, 0], [1, 0, 0]])
    p = np.array([[0.2, 0.5, 0.3], [0.6, 0.3, 0.1]])
    named = cecli.categorical_cross_entropy(t, p, labels=["a", "b", "c"], reduction="none")
    np.testing.assert_allclose(named.loss, -np.log([0.5, 0.6]))


@pytest.mark.parametrize(
    ("y", "pos_label", "labels"),
    [
        (["spam", "ham", "spam", "ham", "ham"], "spam", None),
        (["spam", "ham", "spam", "ham", "ham"], None, ["ham", "spam"]),
        (["ham", "spam", "ham", "spam", "spam"], "ham", ["spam", "ham"]),
        ([-1, 1, 1, -1, 1], 1, None),
        ([1.0, -1.0, -1.0, 1.0, 1.0], -1, None),
        (np.array([True, False, True, True, False]), True, None),
    ],
)
def test_pos_label_matches_scikit_learn(y, pos_label, labels):
    p = np.array([0.9, 0.2, 0.6, 0.35, 0.05])
    positive = pos_label if pos_label is not None else labels[1]
    negative = next(v for v in np.asarray(y, dtype=object).tolist() if v != positive)
    # scikit-learn reads two columns in sorted class order: give it [P(neg), P(pos)] sorted
    columns = {negative: 1 - p, positive: p}
    sk_labels = sorted(columns)
    expected = log_loss(y, np.column_stack([columns[c] for c in sk_labels]), labels=sk_labels)
    result = cecli.binary_cross_entropy(y, p, pos_label=pos_label, labels=labels)
    assert result.loss == pytest.approx(expected, rel=1e-12)


def test_pos_label_for_multilabel_cells():
    y = np.array([[1, -1], [-1, 1]])
    p = np.array([[0.8, 0.3], [0.4, 0.6]])
    result = cecli.multilabel_cross_entropy(y, p, pos_label=1, reduction="none")
    plain = cecli.multilabel_cross_entropy((y == 1).astype(int), p, reduction="none")
    np.testing.assert_array_equal(result.loss, plain.loss)


def test_a_label_not_in_labels_is_named():
    with pytest.raises(LabelError, match=r"row 2 has the label 'emu', which is not in labels"):
        cecli.categorical_cross_entropy(
            ["ant", "bee", "emu"], np.full((3, 2), 0.5), labels=["ant", "bee"]
        )
    acc = cecli.Accumulator("binary", labels=["ham", "spam"])
    acc.update(["ham", "spam"], [0.1, 0.9])
    with pytest.raises(LabelError, match=r"row 4 has the label 'eggs'.*Add the missing classes"):
        acc.update(["spam", "ham", "eggs"], [0.8, 0.3, 0.5])


def test_names_without_labels_say_to_pass_labels():
    with pytest.raises(LabelError, match=r"pass labels=\[\.\.\.\].*never sorted"):
        cecli.categorical_cross_entropy(["ant", "bee"], np.full((2, 2), 0.5))
    with pytest.raises(LabelError, match="pos_label="):
        cecli.binary_cross_entropy(["ham", "spam"], [0.5, 0.5])
    with pytest.raises(LabelError, match=r"\{-1, 1\}.*pos_label=1"):
        cecli.binary_cross_entropy([-1, 1], [0.5, 0.5])


def test_label_option_refusals():
    with pytest.raises(OptionError, match="labels lists 3 classes but y_pred has 2 columns"):
        cecli.categorical_cross_entropy([0], [[0.5, 0.5]], labels=["a", "b", "c"])
    with pytest.raises(OptionError, match="labels names 'a' twice"):
        cecli.categorical_cross_entropy(["a"], [[0.5, 0.5]], labels=["a", "a"])
    with pytest.raises(OptionError, match=r"pos_label is 'x', which is not one of labels"):
        cecli.binary_cross_entropy(["a"], [0.5], labels=["a", "b"], pos_label="x")
    with pytest.raises(LabelError, match="take two values, pos_label 'spam' and one other"):
        cecli.binary_cross_entropy(["spam", "ham", "eggs"], [0.5] * 3, pos_label="spam")
    with pytest.raises(OptionError, match="pos_label is for binary and multilabel"):
        cecli.Accumulator("categorical", pos_label=1)
    with pytest.raises(OptionError, match="labels is for categorical and binary"):
        cecli.Accumulator("multilabel", labels=["a", "b"])
