"""``class_axis=1``: PyTorch's ``N x C x d1 x ...`` layout, compared with PyTorch itself.

``torch.nn.functional.cross_entropy`` on ``(N, C, d1, ...)`` logits and
``(N, d1, ...)`` class indices (or ``(N, C, d1, ...)`` probabilities), with
``weight``, ``label_smoothing`` and each reduction, on float64 CPU tensors;
``binary_cross_entropy_with_logits`` for multilabel cells. The accumulator
fed chunk by chunk gives what one call gives.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import cecli
from cecli.errors import OptionError, ProbabilityError, ShapeError

torch = pytest.importorskip("torch")
F = torch.nn.functional

pytestmark = pytest.mark.filterwarnings("ignore::cecli.errors.CecliWarning")

REDUCTIONS = ("mean", "sum", "none")


@st.composite
def grid_case(draw):
    n = draw(st.integers(1, 5))
    k = draw(st.integers(2, 5))
    extra = tuple(draw(st.lists(st.integers(1, 4), min_size=0, max_size=3)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    logits = rng.normal(scale=3.0, size=(n, k, *extra))
    labels = rng.integers(0, k, size=(n, *extra))
    class_weights = rng.uniform(0.1, 3, size=k) if draw(st.booleans()) else None
    smoothing = 0.0 if class_weights is not None else draw(st.sampled_from([0.0, 0.2]))
    return logits, labels, class_weights, smoothing


@given(case=grid_case(), reduction=st.sampled_from(REDUCTIONS))
def test_class_indices_match_pytorch(case, reduction):
    logits, labels, class_weights, smoothing = case
    expected = F.cross_entropy(
        torch.tensor(logits),
        torch.tensor(labels),
        weight=None if class_weights is None else torch.tensor(class_weights),
        label_smoothing=smoothing,
        reduction=reduction,
    ).numpy()
    result = cecli.categorical_cross_entropy(
        labels,
        logits,
        from_logits=True,
        class_axis=1,
        class_weights=class_weights,
        label_smoothing=smoothing,
        reduction=reduction,
    )
    assert np.shape(result.loss) == np.shape(expected)  # (N, d1, ...) for "none"
    np.testing.assert_allclose(result.loss, expected, rtol=1e-12, atol=1e-13)


@given(case=grid_case(), reduction=st.sampled_from(REDUCTIONS))
def test_probability_targets_match_pytorch(case, reduction):
    logits, _, _, smoothing = case
    rng = np.random.default_rng(int(abs(logits.sum()) * 1000) % 2**32)
    targets = rng.dirichlet(np.ones(logits.shape[1]), size=logits.shape[:1] + logits.shape[2:])
    targets = np.moveaxis(targets, -1, 1)  # classes second, as the logits
    expected = F.cross_entropy(
        torch.tensor(logits), torch.tensor(targets), label_smoothing=smoothing, reduction=reduction
    ).numpy()
    result = cecli.categorical_cross_entropy(
        targets,
        logits,
        from_logits=True,
        class_axis=1,
        label_smoothing=smoothing,
        reduction=reduction,
    )
    np.testing.assert_allclose(result.loss, expected, rtol=1e-12, atol=1e-13)


@given(case=grid_case())
def test_multilabel_cells_match_pytorch(case):
    logits, _, _, _ = case
    targets = (np.sin(np.arange(logits.size)).reshape(logits.shape) > 0).astype(np.float64)
    expected = F.binary_cross_entropy_with_logits(torch.tensor(logits), torch.tensor(targets))
    result = cecli.multilabel_cross_entropy(targets, logits, from_logits=True, class_axis=1)
    assert result.loss == pytest.approx(float(expected), rel=1e-12)


def test_a_weight_per_sample_is_shared_by_its_positions():
    rng = np.random.default_rng(1)
    logits, labels = rng.normal(size=(3, 4, 5)), rng.integers(0, 4, size=(3, 5))
    weights = np.array([1.0, 0.5, 2.0])
    each = F.cross_entropy(torch.tensor(logits), torch.tensor(labels), reduction="none").numpy()
    # the definition: a weighted mean over positions, each weighing its sample's weight
    expected = np.sum(weights[:, None] * each) / (5 * weights.sum())
    result = cecli.categorical_cross_entropy(
        labels, logits, from_logits=True, class_axis=1, sample_weights=weights
    )
    assert result.loss == pytest.approx(expected, rel=1e-13)
    per_position = np.broadcast_to(weights[:, None], (3, 5))
    same = cecli.categorical_cross_entropy(
        labels, logits, from_logits=True, class_axis=1, sample_weights=per_position
    )
    assert same.loss == pytest.approx(expected, rel=1e-13)


@given(case=grid_case(), n_chunks=st.integers(1, 3))
def test_accumulator_in_chunks_is_one_call(case, n_chunks):
    logits, labels, class_weights, smoothing = case
    options = dict(from_logits=True, class_weights=class_weights, label_smoothing=smoothing)
    expected = cecli.categorical_cross_entropy(labels, logits, class_axis=1, **options)
    acc = cecli.Accumulator("categorical", class_axis=1, **options)
    for part in np.array_split(np.arange(len(logits)), n_chunks):
        if len(part):
            acc.update(labels[part], logits[part])
    summary = acc.result()
    assert summary.n_samples == labels.size  # every position is a row
    assert summary.mean_loss == pytest.approx(expected.loss, rel=1e-12)


def test_labels_and_class_axis_together():
    logits = np.log(np.array([[[0.7, 0.1], [0.3, 0.9]]]))  # 1 x 2 classes x 2 positions
    result = cecli.categorical_cross_entropy(
        [["b", "a"]], logits, from_logits=True, class_axis=1, labels=["b", "a"], reduction="none"
    )
    np.testing.assert_allclose(result.loss, -np.log([[0.7, 0.9]]))


def test_shape_errors_say_what_fits():
    logits = np.zeros((2, 3, 4))
    with pytest.raises(ShapeError, match=r"take class indices of shape \(2, 4\)"):
        cecli.categorical_cross_entropy(np.zeros((2, 3), int), logits, class_axis=1)
    with pytest.raises(ShapeError, match=r"sample_weights must have shape \(2, 4\)"):
        cecli.categorical_cross_entropy(
            np.zeros((2, 4), int), logits, class_axis=1, sample_weights=[1, 2, 3]
        )
    with pytest.raises(ShapeError, match="needs predictions with that axis"):
        cecli.categorical_cross_entropy([0], [0.5], class_axis=1)
    with pytest.raises(OptionError, match="class_axis is for categorical and multilabel"):
        cecli.Accumulator("binary", class_axis=1)


def test_an_error_says_how_rows_map_to_positions():
    logits = np.zeros((2, 3, 4))
    logits[1, 0, 2] = np.nan  # sample 1, position 2: row 1 * 4 + 2 = 6
    with pytest.raises(ProbabilityError, match=r"row 6.*np\.unravel_index\(r, \(2, 4\)\)"):
        cecli.categorical_cross_entropy(
            np.zeros((2, 4), int), logits, from_logits=True, class_axis=1
        )
