"""Fixed cases: published values, clipping counts, and the per-sample facts of a report.

Published values are quoted to 7 decimals, so they are compared with an
absolute tolerance of 5e-8 (half a unit in the last place quoted).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import cecli
from cecli.losses import score

QUOTED = 5e-8
EPS64 = float(np.finfo(np.float64).eps)
EPS32 = float(np.finfo(np.float32).eps)

# --- published values ---------------------------------------------------------------------

LABELS = [0, 1, 2, 0]
PROBS = [[0.91, 0.04, 0.05], [0.11, 0.8, 0.09], [0.3, 0.1, 0.6], [0.25, 0.4, 0.35]]


def test_categorical_probabilities_published_per_sample_values_and_sum():
    each = cecli.categorical_cross_entropy(LABELS, PROBS, reduction="none")
    total = cecli.categorical_cross_entropy(LABELS, PROBS, reduction="sum")
    mean = cecli.categorical_cross_entropy(LABELS, PROBS)

    assert each.loss == pytest.approx([0.0943107, 0.2231436, 0.5108256, 1.3862944], abs=QUOTED)
    assert total.loss == pytest.approx(2.2145742, abs=QUOTED)
    assert mean.loss == pytest.approx(2.2145742 / 4, abs=QUOTED)
    assert (each.clipped, each.unit, each.reduction, each.weight_sum) == (0, "nats", "none", 4.0)
    assert float(total) == total.loss
    with pytest.raises(TypeError):
        float(each)


def test_binary_probabilities_published_sum():
    targets = [0, 1, 1, 0, 0, 1, 1]
    probs = [0.07, 0.91, 0.74, 0.23, 0.85, 0.17, 0.94]

    each = cecli.binary_cross_entropy(targets, probs, reduction="none")
    total = cecli.binary_cross_entropy(targets, probs, reduction="sum")

    # -log(0.93), -log(0.91), -log(0.74), -log(0.77), -log(0.15), -log(0.17), -log(0.94)
    expected = [0.0725707, 0.0943107, 0.3011051, 0.2613648, 1.8971200, 1.7719568, 0.0618754]
    assert each.loss == pytest.approx(expected, abs=QUOTED)
    assert total.loss == pytest.approx(4.4603035, abs=QUOTED)


LOGITS = [[2.0, 1.0, 0.1], [0.5, 2.5, 0.3]]


def test_categorical_logits_published_values():
    each = cecli.categorical_cross_entropy([0, 1], LOGITS, from_logits=True, reduction="none")
    mean = cecli.categorical_cross_entropy([0, 1], LOGITS, from_logits=True)

    assert each.loss == pytest.approx([0.4170300, 0.2200495], abs=QUOTED)
    assert mean.loss == pytest.approx(0.3185398, abs=QUOTED)
    assert mean.clipped == 0


def test_the_widely_copied_tutorial_figure_is_not_the_answer():
    # Tutorials quote 0.4685 for this example; the cross-entropy of these logits is 0.3185398.
    mean = cecli.categorical_cross_entropy([0, 1], LOGITS, from_logits=True)
    assert abs(mean.loss - 0.4685) > 0.1
    assert mean.loss != pytest.approx(0.4685, abs=1e-3)


def test_a_single_row_is_minus_log_of_the_true_class_probability():
    result = cecli.categorical_cross_entropy([0], [[0.7, 0.1, 0.2]])
    assert result.loss == pytest.approx(-math.log(0.7), rel=1e-15)
    assert result.loss == pytest.approx(0.35667494393873245, rel=1e-15)


def test_binary_logits_use_the_softplus_form():
    # t = 1, z = 2: log(1 + e^-2); t = 0, z = -1: log(1 + e^-1)
    each = cecli.binary_cross_entropy([1, 0], [2.0, -1.0], from_logits=True, reduction="none")
    assert each.loss == pytest.approx([math.log1p(math.exp(-2)), math.log1p(math.exp(-1))])
    big = cecli.binary_cross_entropy([0, 1], [800.0, -800.0], from_logits=True, reduction="none")
    assert big.loss == pytest.approx([800.0, 800.0], rel=1e-15)


def test_multilabel_sample_loss_is_the_mean_over_its_labels():
    targets = [[1, 0, 1], [0, 1, 0]]
    probs = [[0.9, 0.2, 0.6], [0.1, 0.7, 0.3]]
    each = cecli.multilabel_cross_entropy(targets, probs, reduction="none")
    first = -(math.log(0.9) + math.log(0.8) + math.log(0.6)) / 3
    second = -(math.log(0.9) + math.log(0.7) + math.log(0.7)) / 3
    assert each.loss == pytest.approx([first, second], rel=1e-14)
    weighted = cecli.multilabel_cross_entropy(
        targets, probs, class_weights=[2.0, 1.0, 1.0], reduction="none"
    )
    first_weighted = -(2 * math.log(0.9) + math.log(0.8) + math.log(0.6)) / 4
    assert weighted.loss[0] == pytest.approx(first_weighted, rel=1e-14)


def test_bits_and_bans():
    bits = cecli.categorical_cross_entropy([0], [[0.5, 0.5]], base=2)
    bans = cecli.categorical_cross_entropy([0], [[0.1, 0.9]], base=10)
    assert (bits.loss, bits.unit) == (pytest.approx(1.0, rel=1e-15), "bits")
    assert (bans.loss, bans.unit) == (pytest.approx(1.0, rel=1e-15), "bans")


# --- clipping --------------------------------------------------------------------------------


def test_an_exact_zero_or_one_at_the_true_class_is_clipped_and_counted():
    probs = [[0.0, 1.0], [1.0, 0.0], [0.5, 0.5]]
    each = cecli.categorical_cross_entropy([0, 0, 0], probs, reduction="none")

    # -log(eps) for the 0, -log(1 - eps) for the 1; the 0.5 is untouched
    assert each.loss == pytest.approx([-math.log(EPS64), -math.log1p(-EPS64), math.log(2)])
    assert each.loss[0] == pytest.approx(36.04365338911715, rel=1e-15)
    assert each.clipped == 2


def test_a_zero_at_a_class_that_is_not_the_true_one_is_not_counted():
    each = cecli.categorical_cross_entropy([1, 2], [[0.0, 0.5, 0.5], [0.0, 0.0, 1.0]])
    assert each.clipped == 1  # only row 1's true-class 1.0


def test_float32_probabilities_clip_at_float32_epsilon():
    probs = np.array([[0.0, 1.0], [1.0, 0.0]], dtype=np.float32)
    each = cecli.categorical_cross_entropy([0, 0], probs, reduction="none")
    assert each.loss == pytest.approx([-math.log(EPS32), -math.log1p(-EPS32)], rel=1e-6)
    assert each.loss[0] == pytest.approx(15.942385152878742, rel=1e-6)
    assert each.clipped == 2


def test_an_explicit_eps_sets_the_clipping_bounds():
    each = cecli.categorical_cross_entropy(
        [0, 1, 0], [[5e-8, 1 - 5e-8], [0.0, 1.0], [0.3, 0.7]], eps=1e-7, reduction="none"
    )
    assert each.loss == pytest.approx([-math.log(1e-7), -math.log1p(-1e-7), -math.log(0.3)])
    assert each.clipped == 2


def test_binary_clipping_counts_every_clipped_prediction():
    # both log p and log(1 - p) enter the binary loss, so every clipped value counts
    each = cecli.binary_cross_entropy([0, 1, 1, 0], [0.0, 1.0, 0.0, 0.5], reduction="none")
    assert each.loss == pytest.approx(
        [-math.log1p(-EPS64), -math.log1p(-EPS64), -math.log(EPS64), math.log(2)]
    )
    assert each.clipped == 3


def test_multilabel_clipping_counts_cells():
    result = cecli.multilabel_cross_entropy([[1, 0], [0, 1]], [[1.0, 0.0], [0.0, 0.25]])
    assert result.clipped == 3


def test_logits_are_never_clipped():
    result = cecli.categorical_cross_entropy([0, 1], [[1e4, -1e4], [50.0, -50.0]], from_logits=True)
    assert result.clipped == 0
    assert result.loss == pytest.approx((0.0 + 100.0) / 2, rel=1e-15)


# --- per-sample facts ------------------------------------------------------------------------


def test_categorical_facts_on_a_hand_made_case():
    labels = [0, 1, 2, 1, 2]
    probs = [
        [0.1, 0.9, 0.0],  # wrong, confidence exactly the threshold: flagged
        [0.2, 0.7, 0.1],  # right
        [0.3, 0.3, 0.4],  # right, not confident
        [0.45, 0.1, 0.45],  # wrong; a tie for the maximum goes to the first class
        [0.05, 0.91, 0.04],  # wrong, confident: flagged
    ]
    assert probs[0][1] == 0.9  # the boundary case is exactly at the threshold

    facts = score("categorical", labels, probs, threshold=0.9)

    assert facts.predicted.tolist() == [1, 1, 2, 0, 1]
    assert facts.confidence.tolist() == [0.9, 0.7, 0.4, 0.45, 0.91]
    assert facts.p_true.tolist() == [0.1, 0.7, 0.4, 0.1, 0.04]
    assert facts.label.tolist() == labels
    assert facts.correct.tolist() == [False, True, True, False, False]
    assert facts.flagged.tolist() == [True, False, False, False, True]
    assert facts.loss == pytest.approx(
        [-math.log(p[y]) for p, y in zip(probs, labels, strict=True)]
    )
    assert facts.rows.tolist() == [0, 1, 2, 3, 4]
    assert facts.weight.tolist() == [1.0] * 5


def test_just_below_the_threshold_is_not_flagged():
    below = np.nextafter(0.9, 0)
    facts = score("categorical", [0], [[1 - below, below]], threshold=0.9)
    assert facts.confidence[0] < 0.9
    assert facts.flagged.tolist() == [False]


def test_categorical_facts_from_logits():
    facts = score("categorical", [0, 1], LOGITS, from_logits=True, threshold=0.6)
    z = np.array(LOGITS)
    softmax = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    assert facts.predicted.tolist() == [0, 1]
    assert facts.confidence == pytest.approx(softmax.max(axis=1), rel=1e-14)
    assert facts.p_true == pytest.approx(softmax[[0, 1], [0, 1]], rel=1e-14)
    assert facts.correct.tolist() == [True, True]
    assert facts.flagged.tolist() == [False, False]


def test_binary_facts():
    targets = [0, 1, 1, 0, 1]
    probs = [0.9, 0.1, 0.5, 0.49, 0.95]
    facts = score("binary", targets, probs, threshold=0.9)

    # predicted is p >= 0.5; confidence is the probability of the predicted class
    assert facts.predicted.tolist() == [1, 0, 1, 0, 1]
    assert facts.confidence == pytest.approx([0.9, 0.9, 0.5, 0.51, 0.95], rel=1e-15)
    assert facts.p_true == pytest.approx([0.1, 0.1, 0.5, 0.51, 0.95], rel=1e-15)
    assert facts.correct.tolist() == [False, False, True, True, True]
    assert facts.flagged.tolist() == [True, True, False, False, False]


def test_multilabel_flag_rule():
    # threshold 0.75 and quarters are exact in binary, so the boundary is exact:
    # a cell is confidently wrong if t = 1 and p <= 0.25, or t = 0 and p >= 0.75
    targets = [[1, 0], [1, 0], [0, 1], [0, 1], [1, 1], [0, 0]]
    probs = [
        [0.25, 0.5],  # t=1, p=0.25: flagged
        [0.2500001, 0.5],  # t=1, just above 0.25: not
        [0.75, 0.5],  # t=0, p=0.75: flagged
        [0.7499999, 0.5],  # t=0, just below 0.75: not
        [0.6, 1.0],  # right everywhere
        [0.4, 0.26],  # right everywhere (both below 0.5)
    ]
    facts = score("multilabel", targets, probs, threshold=0.75)

    assert facts.flagged.tolist() == [True, False, True, False, False, False]
    assert facts.correct.tolist() == [False, False, False, False, True, True]
    # a row's facts describe its worst label
    assert facts.label.tolist()[:4] == [0, 0, 0, 0]
    assert facts.p_true[0] == 0.25
    assert facts.confidence[0] == 0.75
    assert facts.predicted[2] == 1
    assert facts.confidence[2] == 0.75


def test_the_accumulator_flags_at_the_boundary_too():
    acc = cecli.Accumulator("categorical", threshold=0.9)
    acc.update([0, 0, 1], [[0.1, 0.9], [0.9, 0.1], [0.95, 0.05]])
    summary = acc.result()
    assert summary.flagged_count == 2
    assert [r.row for r in summary.flagged] == [2, 0]  # highest loss first
    assert summary.flagged[0].confidence == 0.95


@pytest.mark.parametrize("k", [2, 70], ids=["narrow", "wide"])
def test_a_small_loss_from_float32_logits_keeps_float32_relative_accuracy(k):
    # a confident, right prediction: loss = log(1 + (K - 1) e^-20), about 2e-9 (K - 1)
    logits = np.zeros((3, k), dtype=np.float32)
    logits[:, 0] = 20.0
    each = cecli.categorical_cross_entropy([0, 0, 0], logits, from_logits=True, reduction="none")
    assert each.loss == pytest.approx([math.log1p((k - 1) * math.exp(-20))] * 3, rel=1e-6)


def test_soft_targets_count_only_the_clipped_values_they_use():
    targets = [[0.5, 0.5, 0.0], [0.0, 0.25, 0.75]]
    probs = [[0.5, 0.5, 0.0], [0.0, 0.0, 1.0]]
    each = cecli.categorical_cross_entropy(targets, probs, reduction="none")
    assert each.clipped == 2  # row 1's 0.0 at class 1 and 1.0 at class 2
    assert each.loss == pytest.approx(
        [math.log(2), -(0.25 * math.log(EPS64) + 0.75 * math.log1p(-EPS64))]
    )


def test_facts_show_probabilities_as_given_not_clipped():
    binary_facts = score("binary", [0, 1], [1.0, 1.0])
    assert binary_facts.confidence.tolist() == [1.0, 1.0]
    assert binary_facts.p_true.tolist() == [0.0, 1.0]
    assert binary_facts.flagged.tolist() == [True, False]
    assert binary_facts.clipped == 2
    facts = score("categorical", [0, 1], [[0.0, 1.0], [0.0, 1.0]])
    assert facts.confidence.tolist() == [1.0, 1.0]
    assert facts.p_true.tolist() == [0.0, 1.0]
    assert facts.loss == pytest.approx([-math.log(EPS64), -math.log1p(-EPS64)])
    smoothed = score("categorical", [0], [[0.0, 1.0]], label_smoothing=0.1)
    assert smoothed.p_true.tolist() == [0.0]
    assert smoothed.confidence.tolist() == [1.0]


def test_float16_probabilities_are_widened_to_float32():
    # half floats are a storage type: computed as float32, clipped at float32's epsilon
    # (scikit-learn would clip at float16's, 2**-10, capping every loss at 6.9 nats)
    eps32 = 2.0**-23
    probs = np.array([[0.0, 1.0], [0.5, 0.5]], dtype=np.float16)
    each = cecli.categorical_cross_entropy([0, 0], probs, reduction="none")
    assert each.loss == pytest.approx([-math.log(eps32), math.log(2)], rel=1e-6)
    assert each.clipped == 1
    same = cecli.categorical_cross_entropy([0, 0], probs.astype(np.float32), reduction="none")
    assert each.loss.tolist() == same.loss.tolist()


def test_binary_and_multilabel_facts_from_logits():
    def sigmoid(z):
        return 1 / (1 + math.exp(-z))

    facts = score("binary", [1, 0, 1], [2.0, 0.0, -3.0], from_logits=True, threshold=0.9)
    # predicted is z >= 0 (p >= 0.5)
    assert facts.predicted.tolist() == [1, 1, 0]
    assert facts.confidence == pytest.approx([sigmoid(2), 0.5, sigmoid(3)], rel=1e-15)
    assert facts.p_true == pytest.approx([sigmoid(2), 0.5, sigmoid(-3)], rel=1e-15)
    assert facts.flagged.tolist() == [False, False, True]

    facts = score("multilabel", [[1, 0], [0, 0]], [[3.0, -1.0], [0.5, 4.0]], from_logits=True)
    assert facts.correct.tolist() == [True, False]
    assert facts.label.tolist() == [1, 1]  # each row's worst label
    assert facts.predicted.tolist() == [0, 1]
    assert facts.confidence == pytest.approx([sigmoid(1), sigmoid(4)], rel=1e-15)
    assert facts.flagged.tolist() == [False, True]
