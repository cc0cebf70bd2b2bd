"""``pos_weight`` is PyTorch's ``BCEWithLogitsLoss(pos_weight=...)``: a weight on the positive term.

From logits, cecli is compared with PyTorch itself (float64 tensors, on the
CPU), over random shapes, targets (0/1 and soft), weights and reductions;
from probabilities, with the definition ``-(w t log p + (1 - t) log(1 - p))``
written here. The accumulator fed in chunks, and two merged, give what one
call gives.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import cecli
from cecli.errors import OptionError, WeightError

torch = pytest.importorskip("torch")
F = torch.nn.functional

# random logits can look like probabilities, which rightly warns (tested in test_validation.py)
pytestmark = pytest.mark.filterwarnings("ignore::cecli.errors.CecliWarning")

REDUCTIONS = ("mean", "sum", "none")


@st.composite
def multilabel_case(draw, max_labels: int = 5):
    """Logits, targets (0/1 or soft), a pos_weight (one number or one per label), sample weights."""
    n = draw(st.integers(1, 40))
    k = draw(st.integers(1, max_labels))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    logits = rng.normal(scale=draw(st.sampled_from([0.5, 3.0, 30.0])), size=(n, k))
    if draw(st.booleans()):
        targets = rng.integers(0, 2, size=(n, k)).astype(np.float64)
    else:
        targets = rng.uniform(size=(n, k))
    one = draw(st.booleans())
    pos_weight = float(rng.uniform(0, 10)) if one else rng.uniform(0, 10, size=k)
    sample_weights = rng.uniform(0.1, 3, size=n) if draw(st.booleans()) else None
    return logits, targets, pos_weight, sample_weights


def torch_multilabel(logits, targets, pos_weight, sample_weights, reduction):
    """cecli's reductions of a multilabel loss, from PyTorch's per-cell losses.

    A cecli row's loss is the mean over its labels; a weighted mean divides by
    the sample weights' sum (PyTorch's ``weight`` rescales cells only).
    """
    n = len(logits)
    cells = F.binary_cross_entropy_with_logits(
        torch.tensor(logits),
        torch.tensor(targets),
        pos_weight=torch.as_tensor(pos_weight, dtype=torch.float64),
        reduction="none",
    ).numpy()
    rows = cells.mean(axis=1)
    w = np.ones(n) if sample_weights is None else sample_weights
    if reduction == "none":
        return w * rows
    if reduction == "sum":
        return float(np.sum(w * rows))
    return float(np.sum(w * rows) / w.sum())


@given(case=multilabel_case(), reduction=st.sampled_from(REDUCTIONS))
def test_multilabel_logits_match_pytorch(case, reduction):
    logits, targets, pos_weight, sample_weights = case
    result = cecli.multilabel_cross_entropy(
        targets,
        logits,
        from_logits=True,
        pos_weight=pos_weight,
        sample_weights=sample_weights,
        reduction=reduction,
    )
    expected = torch_multilabel(logits, targets, pos_weight, sample_weights, reduction)
    np.testing.assert_allclose(result.loss, expected, rtol=1e-12, atol=1e-13)


@given(case=multilabel_case(max_labels=1), reduction=st.sampled_from(REDUCTIONS))
def test_binary_logits_match_pytorch(case, reduction):
    logits, targets, pos_weight, sample_weights = case
    pos_weight = float(np.ravel(pos_weight)[0])
    result = cecli.binary_cross_entropy(
        targets[:, 0],
        logits[:, 0],
        from_logits=True,
        pos_weight=pos_weight,
        sample_weights=sample_weights,
        reduction=reduction,
    )
    expected = torch_multilabel(logits, targets, pos_weight, sample_weights, reduction)
    np.testing.assert_allclose(result.loss, expected, rtol=1e-12, atol=1e-13)


def test_pytorch_module_with_mean_over_cells():
    """``BCEWithLogitsLoss(pos_weight)`` with its default mean over every cell is cecli's mean."""
    rng = np.random.default_rng(3)
    logits, targets = rng.normal(size=(50, 4)), rng.integers(0, 2, size=(50, 4)).astype(float)
    pos_weight = np.array([1.0, 2.5, 0.5, 7.0])
    loss = torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor(pos_weight))
    expected = float(loss(torch.tensor(logits), torch.tensor(targets)))
    result = cecli.multilabel_cross_entropy(
        targets, logits, from_logits=True, pos_weight=pos_weight
    )
    assert result.loss == pytest.approx(expected, rel=1e-13)


def test_huge_logits_stay_finite_as_pytorch():
    """PyTorch's form never overflows: nor does cecli's, at logits of +-1000."""
    logits = np.array([[1000.0, -1000.0], [-1000.0, 1000.0]])
    targets = np.array([[1.0, 0.0], [1.0, 1.0]])
    expected = torch_multilabel(logits, targets, [3.0, 0.5], None, "none")
    result = cecli.multilabel_cross_entropy(
        targets, logits, from_logits=True, pos_weight=[3.0, 0.5], reduction="none"
    )
    assert np.isfinite(result.loss).all()
    np.testing.assert_allclose(result.loss, expected, rtol=1e-15)


@given(case=multilabel_case(), reduction=st.sampled_from(REDUCTIONS))
def test_multilabel_probabilities_match_the_definition(case, reduction):
    logits, targets, pos_weight, sample_weights = case
    probs = np.clip(1 / (1 + np.exp(-logits)), 1e-6, 1 - 1e-6)
    # the definition: -(w_j t log p + (1 - t) log(1 - p)), a row's mean over labels
    cells = -(np.asarray(pos_weight) * targets * np.log(probs) + (1 - targets) * np.log1p(-probs))
    rows = cells.mean(axis=1)
    w = np.ones(len(rows)) if sample_weights is None else sample_weights
    expected = {"none": w * rows, "sum": np.sum(w * rows), "mean": np.sum(w * rows) / w.sum()}
    result = cecli.multilabel_cross_entropy(
        targets, probs, pos_weight=pos_weight, sample_weights=sample_weights, reduction=reduction
    )
    np.testing.assert_allclose(result.loss, expected[reduction], rtol=1e-12)


def test_pos_weight_one_changes_nothing():
    rng = np.random.default_rng(0)
    probs, targets = rng.uniform(size=30), rng.integers(0, 2, size=30)
    plain = cecli.binary_cross_entropy(targets, probs, reduction="none").loss
    weighted = cecli.binary_cross_entropy(targets, probs, pos_weight=1.0, reduction="none").loss
    np.testing.assert_array_equal(weighted, plain)


@given(case=multilabel_case(), n_chunks=st.integers(1, 4))
def test_accumulator_in_chunks_is_one_call(case, n_chunks):
    logits, targets, pos_weight, sample_weights = case
    expected = cecli.multilabel_cross_entropy(
        targets, logits, from_logits=True, pos_weight=pos_weight, sample_weights=sample_weights
    ).loss
    bounds = np.linspace(0, len(logits), n_chunks + 1).astype(int)
    parts = []
    for lo, hi in itertools.pairwise(bounds):
        acc = cecli.Accumulator("multilabel", from_logits=True, pos_weight=pos_weight)
        if hi > lo:
            w = None if sample_weights is None else sample_weights[lo:hi]
            acc.update(targets[lo:hi], logits[lo:hi], w, row_offset=int(lo))
        parts.append(acc)
    merged = parts[0]
    for part in parts[1:]:
        merged.merge(part)
    summary = merged.result()
    assert summary.mean_loss == pytest.approx(expected, rel=1e-12)
    # as given; a list of one is one number, as PyTorch broadcasts it
    given = np.ravel(pos_weight).tolist()
    assert summary.pos_weight == (given[0] if len(given) == 1 else tuple(given))


def test_pos_weight_refusals():
    with pytest.raises(OptionError, match="pos_weight applies to binary and multilabel"):
        cecli.Accumulator("categorical", pos_weight=2.0)
    with pytest.raises(WeightError, match=r"pos_weight must be finite and >= 0; got -1"):
        cecli.binary_cross_entropy([1, 0], [0.5, 0.5], pos_weight=-1)
    with pytest.raises(WeightError, match="has 2 values but there are 3 labels"):
        cecli.multilabel_cross_entropy([[1, 0, 1]], [[0.5, 0.5, 0.5]], pos_weight=[1, 2])
    with pytest.raises(WeightError, match="gives label 1 the value NaN"):
        cecli.multilabel_cross_entropy([[1, 0]], [[0.5, 0.5]], pos_weight=[1, np.nan])
    with pytest.raises(WeightError, match="one positive class"):
        cecli.binary_cross_entropy([1, 0], [0.5, 0.5], pos_weight=[1, 2])
    left = cecli.Accumulator("binary", pos_weight=2.0)
    with pytest.raises(OptionError, match="pos_weight differ"):
        left.merge(cecli.Accumulator("binary", pos_weight=3.0))


def test_the_command_line_scores_with_pos_weight_and_focal_alpha(tmp_path):
    """``--pos-weight 3 --focal-alpha 0.25`` give the definition's loss, and the report says so."""
    import json

    from typer.testing import CliRunner

    from cecli.cli import app

    rng = np.random.default_rng(5)
    probs, targets = rng.uniform(0.05, 0.95, size=20), rng.integers(0, 2, size=20)
    path = tmp_path / "preds.csv"
    lines = ["p,label", *(f"{float(p)!r},{t}" for p, t in zip(probs, targets, strict=True))]
    path.write_text("\n".join(lines) + "\n")
    args = ["score", str(path), "--label-col", "label", "--pos-weight", "3"]
    result = CliRunner().invoke(app, [*args, "--focal-alpha", "0.25", "-f", "json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    # the definition: -(3 * 0.25 t log p + 0.75 (1 - t) log(1 - p)), averaged
    expected = np.mean(-(0.75 * targets * np.log(probs) + 0.75 * (1 - targets) * np.log1p(-probs)))
    assert report["mean_loss"] == pytest.approx(expected, rel=1e-12)
    assert (report["pos_weight"], report["focal_alpha"]) == (3.0, 0.25)
