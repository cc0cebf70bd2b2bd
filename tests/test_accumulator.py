"""The accumulator's Summary, field by field, against the definitions written out here."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.utils.class_weight import compute_class_weight

import cecli
from cecli.errors import EmptyInputError, OptionError, ShapeError, WeightError
from cecli.losses import score

EPS64 = float(np.finfo(np.float64).eps)
CLOSE = dict(rel=1e-12)


def chunks(n: int, size: int):
    for lo in range(0, n, size):
        yield slice(lo, min(lo + size, n))


def top_rows(losses: np.ndarray, rows: np.ndarray, keep: int | None) -> list[int]:
    """Rows by loss, highest first, ties by lower row; at most ``keep``."""
    order = np.lexsort((rows, -losses))
    picked = rows[order].tolist()
    return picked if keep is None else picked[:keep]


@pytest.fixture
def categorical_data():
    """200 rows, 4 classes, with duplicated rows (tied losses), exact 0s, and sample weights."""
    rng = np.random.default_rng(12345)
    n, k = 200, 4
    probs = rng.dirichlet(np.full(k, 0.4), size=n)
    probs[::10] = probs[5]  # identical rows...
    labels = rng.integers(0, k, n)
    labels[::10] = 2  # ...with identical labels: exactly tied losses
    probs[7] = [0.0, 0.0, 0.0, 1.0]
    labels[7] = 1  # p_true exactly 0: clipped
    weights = rng.uniform(0.0, 3.0, n)
    return labels, probs, weights


def test_summary_fields_follow_their_definitions(categorical_data):
    labels, probs, s = categorical_data
    n, k = probs.shape
    threshold, keep = 0.7, 5

    acc = cecli.Accumulator("categorical", threshold=threshold, keep=keep)
    for part in chunks(n, 37):
        scores = acc.update(labels[part], probs[part], s[part])
        assert scores.rows.tolist() == list(range(n))[part]
    summary = acc.result()

    rows = np.arange(n)
    p_true = probs[rows, labels]
    loss = -np.log(np.clip(p_true, EPS64, 1 - EPS64))
    predicted = np.argmax(probs, axis=1)
    confidence = probs.max(axis=1)
    correct = predicted == labels
    flagged = ~correct & (confidence >= threshold)

    assert (summary.kind, summary.unit, summary.n_samples, summary.n_classes) == (
        "categorical",
        "nats",
        n,
        k,
    )
    assert summary.mean_loss == pytest.approx((s * loss).sum() / s.sum(), **CLOSE)
    assert summary.sum_loss == pytest.approx((s * loss).sum(), **CLOSE)
    assert summary.weight_sum == pytest.approx(s.sum(), **CLOSE)
    assert summary.perplexity == pytest.approx(math.exp(summary.mean_loss), **CLOSE)
    assert summary.accuracy == correct.mean()
    assert summary.clipped == 1
    assert summary.flagged_count == flagged.sum() > keep
    assert summary.threshold == threshold
    assert summary.sample_weighted is True
    assert summary.weighting is None
    assert summary.class_weights is None

    for c, cls in enumerate(summary.per_class):
        mine = labels == c
        assert cls.index == c
        assert cls.count == mine.sum()
        assert cls.support == mine.sum()
        assert cls.mean_loss == pytest.approx((s * loss)[mine].sum() / s[mine].sum(), **CLOSE)
        assert cls.accuracy == correct[mine].mean()  # the class's recall
        assert cls.flagged == flagged[mine].sum()
        assert cls.weight is None

    assert [r.row for r in summary.worst] == top_rows(loss, rows, keep)
    assert [r.row for r in summary.flagged] == top_rows(loss[flagged], rows[flagged], keep)
    for r in (*summary.worst, *summary.flagged):
        assert r.loss == pytest.approx(loss[r.row], **CLOSE)
        assert (r.label, r.predicted) == (labels[r.row], predicted[r.row])
        assert (r.confidence, r.p_true, r.weight) == (confidence[r.row], p_true[r.row], s[r.row])


def test_ties_are_broken_by_row_whatever_order_the_rows_arrive_in():
    n = 12
    probs = np.tile([[0.3, 0.7]], (n, 1))  # every row wrong, with the same loss
    labels = np.zeros(n, dtype=int)
    acc = cecli.Accumulator(threshold=0.6, keep=4)
    for part in reversed(list(chunks(n, 5))):
        acc.update(labels[part], probs[part], row_offset=part.start)
    summary = acc.result()
    assert [r.row for r in summary.worst] == [0, 1, 2, 3]
    assert [r.row for r in summary.flagged] == [0, 1, 2, 3]
    assert summary.flagged_count == n


def test_keep_none_keeps_every_row_and_keep_zero_none(categorical_data):
    labels, probs, _ = categorical_data
    n = len(labels)
    loss = -np.log(np.clip(probs[np.arange(n), labels], EPS64, 1 - EPS64))
    wrong = np.argmax(probs, axis=1) != labels
    flagged = wrong & (probs.max(axis=1) >= 0.5)

    everything = cecli.Accumulator(threshold=0.5, keep=None)
    nothing = cecli.Accumulator(threshold=0.5, keep=0)
    for part in chunks(n, 64):
        everything.update(labels[part], probs[part])
        nothing.update(labels[part], probs[part])
    all_rows, no_rows = everything.result(), nothing.result()

    assert [r.row for r in all_rows.worst] == top_rows(loss, np.arange(n), None)
    assert len(all_rows.worst) == n
    assert len(all_rows.flagged) == flagged.sum() == all_rows.flagged_count
    assert no_rows.worst == ()
    assert no_rows.flagged == ()
    assert no_rows.flagged_count == flagged.sum() > 0
    assert no_rows.mean_loss == all_rows.mean_loss


def test_balanced_weights_in_one_pass_equal_the_two_pass_function(categorical_data):
    labels, probs, s = categorical_data
    n, k = probs.shape
    acc = cecli.Accumulator(class_weights="balanced")
    for part in chunks(n, 23):
        acc.update(labels[part], probs[part], s[part])
    summary = acc.result()

    sklearn_weights = compute_class_weight("balanced", classes=np.arange(k), y=labels)
    two_pass = cecli.categorical_cross_entropy(
        labels, probs, class_weights="balanced", sample_weights=s
    )
    loss = -np.log(np.clip(probs[np.arange(n), labels], EPS64, 1 - EPS64))
    w = s * sklearn_weights[labels]

    assert summary.class_weights == pytest.approx(tuple(sklearn_weights), **CLOSE)
    assert [c.weight for c in summary.per_class] == pytest.approx(list(sklearn_weights), **CLOSE)
    assert summary.weighting == "balanced"
    assert summary.mean_loss == pytest.approx(two_pass.loss, **CLOSE)
    assert summary.mean_loss == pytest.approx((w * loss).sum() / w.sum(), **CLOSE)
    assert summary.weight_sum == pytest.approx(w.sum(), **CLOSE)
    assert summary.sum_loss == pytest.approx((w * loss).sum(), **CLOSE)


def test_balanced_gives_a_class_no_row_has_weight_zero():
    labels = np.array([0, 0, 0, 2])  # class 1 never occurs
    probs = np.tile([[0.5, 0.25, 0.25]], (4, 1))
    acc = cecli.Accumulator(class_weights="balanced")
    acc.update(labels, probs)
    summary = acc.result()
    # n / (n_present * count_c) over the 2 classes present: 4 / (2 * 3) and 4 / (2 * 1)
    assert summary.class_weights == pytest.approx((2 / 3, 0.0, 2.0), **CLOSE)
    assert summary.weight_sum == pytest.approx(4.0, **CLOSE)  # the weights sum to n
    direct = cecli.categorical_cross_entropy(labels, probs, class_weights="balanced")
    assert summary.mean_loss == pytest.approx(direct.loss, **CLOSE)
    assert summary.per_class[1].count == 0
    assert summary.per_class[1].mean_loss is None
    assert summary.per_class[1].accuracy is None


def test_binary_balanced_in_chunks_equals_sklearn_weights():
    rng = np.random.default_rng(3)
    n = 101
    targets = (rng.uniform(size=n) < 0.2).astype(int)
    probs = rng.uniform(size=n)
    acc = cecli.Accumulator("binary", class_weights="balanced")
    for part in chunks(n, 10):
        acc.update(targets[part], probs[part])
    summary = acc.result()

    sk = compute_class_weight("balanced", classes=np.array([0, 1]), y=targets)
    loss = -np.where(targets == 1, np.log(probs), np.log1p(-probs))
    assert summary.class_weights == pytest.approx(tuple(sk), **CLOSE)
    assert summary.mean_loss == pytest.approx(
        (sk[targets] * loss).sum() / sk[targets].sum(), **CLOSE
    )
    predicted = (probs >= 0.5).astype(int)
    assert summary.accuracy == (predicted == targets).mean()
    assert summary.per_class[1].count == targets.sum()
    assert summary.per_class[1].accuracy == (predicted[targets == 1] == 1).mean()


def test_explicit_class_weights_and_soft_targets_in_the_accumulator():
    targets = np.array([[0.25, 0.75], [1.0, 0.0], [0.5, 0.5]])
    probs = np.array([[0.5, 0.5], [0.9, 0.1], [0.2, 0.8]])
    class_weights = np.array([1.0, 3.0])
    acc = cecli.Accumulator(class_weights=class_weights)
    acc.update(targets, probs)
    summary = acc.result()

    # l_i = -sum_j t_ij log p_ij; a soft row's weight is t_i . class_weights
    loss = -(targets * np.log(probs)).sum(axis=1)
    w = targets @ class_weights
    assert summary.mean_loss == pytest.approx((w * loss).sum() / w.sum(), **CLOSE)
    assert summary.weight_sum == pytest.approx(w.sum(), **CLOSE)
    assert [c.support for c in summary.per_class] == pytest.approx(targets.sum(axis=0).tolist())
    assert summary.weighting == "explicit"


def test_multilabel_summary():
    targets = np.array([[1, 0, 1], [0, 0, 1], [1, 1, 0], [0, 1, 1]])
    probs = np.array([[0.9, 0.2, 0.6], [0.05, 0.3, 0.97], [0.8, 0.4, 0.1], [0.95, 0.6, 0.7]])
    label_weights = np.array([1.0, 2.0, 0.5])
    acc = cecli.Accumulator("multilabel", threshold=0.9, class_weights=label_weights)
    acc.update(targets[:2], probs[:2])
    acc.update(targets[2:], probs[2:])
    summary = acc.result()

    cell = -(targets * np.log(probs) + (1 - targets) * np.log1p(-probs))
    per_sample = cell @ label_weights / label_weights.sum()
    right = (probs >= 0.5) == (targets == 1)
    flagged_cell = ((targets == 1) & (probs <= 0.1)) | ((targets == 0) & (probs >= 0.9))

    assert summary.mean_loss == pytest.approx(per_sample.mean(), **CLOSE)
    assert summary.weight_sum == pytest.approx(4.0, **CLOSE)
    assert summary.accuracy == right.all(axis=1).mean()
    assert summary.flagged_count == flagged_cell.any(axis=1).sum() == 1
    assert [r.row for r in summary.flagged] == [3]
    for j, label in enumerate(summary.per_class):
        assert label.count == targets[:, j].sum()
        assert label.mean_loss == pytest.approx(cell[:, j].mean(), **CLOSE)
        assert label.accuracy == right[:, j].mean()
        assert label.flagged == flagged_cell[:, j].sum()
        assert label.weight == label_weights[j]
    assert [r.row for r in summary.worst] == top_rows(per_sample, np.arange(4), 10)


def test_options_carry_into_the_mean():
    rng = np.random.default_rng(11)
    logits = rng.normal(size=(50, 5)) * 3
    labels = rng.integers(0, 5, 50)
    options = dict(from_logits=True, label_smoothing=0.2, focal_gamma=1.5)
    acc = cecli.Accumulator(**options)
    for part in chunks(50, 7):
        acc.update(labels[part], logits[part])

    # the definition: smoothed targets, focal factor, softmax from the logits
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    t = np.full((50, 5), 0.2 / 5)
    t[np.arange(50), labels] += 0.8
    loss = -(t * (1 - p) ** 1.5 * np.log(p)).sum(axis=1)
    assert acc.result().mean_loss == pytest.approx(loss.mean(), rel=1e-11)
    assert acc.result().label_smoothing == 0.2
    assert acc.result().focal_gamma == 1.5


@pytest.mark.parametrize("base", ["e", 2, 10])
def test_perplexity_is_exp_of_the_mean_in_nats_whatever_the_base(base):
    labels = [0, 1, 2, 1]
    probs = [[0.5, 0.25, 0.25], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6], [0.3, 0.3, 0.4]]
    acc = cecli.Accumulator(base=base)
    acc.update(labels, probs)
    summary = acc.result()

    nats = -np.mean(np.log([0.5, 0.8, 0.6, 0.3]))
    ln_base = 1.0 if base == "e" else math.log(base)
    assert summary.unit == {"e": "nats", 2: "bits", 10: "bans"}[base]
    assert summary.mean_loss == pytest.approx(nats / ln_base, **CLOSE)
    assert summary.perplexity == pytest.approx(math.exp(nats), **CLOSE)
    if base == 2:
        assert summary.perplexity == pytest.approx(2**summary.mean_loss, **CLOSE)


def test_update_returns_the_chunks_scores_numbered_from_the_start():
    acc = cecli.Accumulator()
    acc.update([0, 1], [[0.6, 0.4], [0.3, 0.7]])
    scores = acc.update([1, 0, 0], [[0.2, 0.8], [0.9, 0.1], [0.4, 0.6]])
    assert scores.rows.tolist() == [2, 3, 4]
    assert scores.loss == pytest.approx(-np.log([0.8, 0.9, 0.4]), **CLOSE)
    assert scores.predicted.tolist() == [1, 0, 1]


def test_zero_total_weight_has_no_mean():
    acc = cecli.Accumulator(class_weights=[0.0, 1.0])
    acc.update([0, 0], [[0.6, 0.4], [0.3, 0.7]])
    with pytest.raises(WeightError, match="sum to zero"):
        acc.result()


# --- merging ---------------------------------------------------------------------------------


def test_merge_equals_one_accumulator_over_all_rows(categorical_data):
    labels, probs, s = categorical_data
    whole = cecli.Accumulator(class_weights="balanced", keep=7, threshold=0.6)
    whole.update(labels, probs, s)
    parts = []
    for part in chunks(len(labels), 60):
        acc = cecli.Accumulator(class_weights="balanced", keep=7, threshold=0.6)
        acc.update(labels[part], probs[part], s[part], row_offset=part.start)
        parts.append(acc)
    merged = parts[2].merge(parts[0]).merge(parts[3]).merge(parts[1])
    a, b = merged.result(), whole.result()
    assert a.mean_loss == pytest.approx(b.mean_loss, **CLOSE)
    assert a.class_weights == pytest.approx(b.class_weights, **CLOSE)
    assert [r.row for r in a.worst] == [r.row for r in b.worst]
    assert [r.row for r in a.flagged] == [r.row for r in b.flagged]
    assert (a.n_samples, a.flagged_count, a.accuracy) == (b.n_samples, b.flagged_count, b.accuracy)


@pytest.mark.parametrize(
    "other",
    [
        dict(kind="binary"),
        dict(from_logits=True),
        dict(base=2),
        dict(threshold=0.8),
        dict(keep=3),
        dict(eps=1e-7),
        dict(label_smoothing=0.1),
        dict(focal_gamma=2.0),
    ],
    ids=lambda o: next(iter(o)),
)
def test_merging_accumulators_with_different_options_raises(other):
    mine = cecli.Accumulator("categorical")
    mine.update([0, 1], [[0.6, 0.4], [0.3, 0.7]])
    theirs = cecli.Accumulator(**{"kind": "categorical", **other})
    with pytest.raises(OptionError, match="same options"):
        mine.merge(theirs)
    assert mine.result().n_samples == 2  # unchanged


def test_merging_accumulators_with_different_class_weights_raises():
    mine = cecli.Accumulator(class_weights=[1.0, 2.0])
    mine.update([0, 1], [[0.6, 0.4], [0.3, 0.7]])
    theirs = cecli.Accumulator(class_weights=[5.0, 1.0])
    theirs.update([0, 0], [[0.6, 0.4], [0.9, 0.1]], row_offset=2)
    with pytest.raises(OptionError):
        mine.merge(theirs)


def test_merging_accumulators_with_different_class_counts_raises():
    mine = cecli.Accumulator()
    mine.update([0, 1], [[0.6, 0.4], [0.3, 0.7]])
    theirs = cecli.Accumulator()
    theirs.update([0], [[0.6, 0.2, 0.2]], row_offset=2)
    with pytest.raises(ShapeError, match="3 classes but earlier ones had 2"):
        mine.merge(theirs)
    with pytest.raises(ShapeError):
        mine.update([0], [[0.6, 0.2, 0.2]])


def test_adding_scores_of_another_kind_or_unit_raises():
    acc = cecli.Accumulator("categorical")
    with pytest.raises(OptionError, match="Cannot add binary scores"):
        acc.add(score("binary", [0, 1], [0.2, 0.7]))
    with pytest.raises(OptionError, match="bits"):
        acc.add(score("categorical", [0], [[0.5, 0.5]], base=2))


def test_merging_an_empty_accumulator_changes_nothing():
    mine = cecli.Accumulator()
    mine.update([0, 1], [[0.6, 0.4], [0.3, 0.7]])
    before = mine.result()
    after = mine.merge(cecli.Accumulator()).result()
    assert after == before
    empty = cecli.Accumulator().merge(cecli.Accumulator())
    with pytest.raises(EmptyInputError):
        empty.result()


@pytest.mark.parametrize(
    ("kind", "soft"), [("multilabel", False), ("categorical", True), ("binary", False)]
)
def test_a_summary_is_the_same_bits_on_any_number_of_threads(monkeypatch, kind, soft):
    """Row blocks are one grid from row 0 whatever the threads, so sums do not move."""
    rng = np.random.default_rng(8)
    n, k = 120_000, 10
    probs = rng.dirichlet(np.ones(k), size=n)
    if kind == "multilabel":
        preds, targets = rng.random((n, k)), (rng.random((n, k)) < 0.3).astype(int)
    elif kind == "binary":
        preds, targets = rng.random(n), rng.integers(0, 2, n)
    else:
        preds, targets = probs, rng.dirichlet(np.ones(k), size=n) if soft else None
    summaries = []
    for threads in ("1", "2", "3"):
        monkeypatch.setenv("CECLI_NUM_THREADS", threads)
        acc = cecli.Accumulator(kind)
        acc.update(targets, preds)
        s = acc.result()
        summaries.append((s.mean_loss, s.sum_loss, [c.mean_loss for c in s.per_class]))
    assert summaries[0] == summaries[1] == summaries[2]
