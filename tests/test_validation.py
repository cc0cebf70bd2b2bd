"""Bad input raises the right CecliError, and its message names the problem and where it is."""

from __future__ import annotations

import math
import re
import warnings

import numpy as np
import pytest

import cecli
from cecli._validate import ROW_SUM_TOLERANCE
from cecli.errors import (
    CecliError,
    CecliWarning,
    EmptyInputError,
    LabelError,
    OptionError,
    ProbabilityError,
    ShapeError,
    WeightError,
)
from cecli.losses import score

categorical = cecli.categorical_cross_entropy
binary = cecli.binary_cross_entropy
multilabel = cecli.multilabel_cross_entropy

P3 = [[0.2, 0.3, 0.5], [0.6, 0.2, 0.2], [0.1, 0.1, 0.8], [0.3, 0.3, 0.4]]  # 4 x 3, valid


def fails(error: type[Exception], call, *fragments: str) -> str:
    """Run ``call``; it must raise ``error`` with every fragment in its message."""
    with pytest.raises(error) as info:
        call()
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    return message


@pytest.mark.parametrize(
    "error", [ShapeError, EmptyInputError, ProbabilityError, LabelError, WeightError, OptionError]
)
def test_every_error_is_a_cecli_error_and_a_value_error(error):
    assert issubclass(error, CecliError)
    assert issubclass(error, ValueError)


# --- shapes ----------------------------------------------------------------------------------


def test_categorical_row_mismatch_names_both_numbers():
    fails(ShapeError, lambda: categorical([0, 1, 2], P3), "predictions have 4 rows", "have 3")


def test_categorical_column_mismatch_names_both_numbers():
    targets = np.eye(4)[[0, 1, 2, 3]]
    fails(ShapeError, lambda: categorical(targets, P3), "3 columns", "have 4")


def test_binary_length_mismatch_names_both_numbers():
    fails(ShapeError, lambda: binary([0, 1], [0.2, 0.4, 0.9]), "predictions have 3 rows", "have 2")


def test_multilabel_shape_mismatches_name_both_numbers():
    fails(ShapeError, lambda: multilabel([[0, 1]] * 3, [[0.5, 0.5]] * 2), "2 rows", "have 3")
    fails(ShapeError, lambda: multilabel([[0, 1, 1]] * 2, [[0.5, 0.5]] * 2), "2 columns", "have 3")


def test_sample_weight_length_mismatch_names_both_numbers():
    fails(
        ShapeError,
        lambda: categorical([0, 1, 2, 0], P3, sample_weights=[1, 1, 1]),
        "sample_weights has 3 values",
        "4 samples",
    )


def test_predictions_of_the_wrong_dimension():
    fails(ShapeError, lambda: categorical([0, 1], [0.3, 0.7]), "2-D", "(2,)")
    fails(ShapeError, lambda: binary([0, 1], [[0.3, 0.7, 0.0]] * 2), "1-D", "(2, 3)")
    fails(ShapeError, lambda: multilabel([0, 1], np.zeros((2, 2, 2))), "2-D", "(2, 2, 2)")
    fails(ShapeError, lambda: categorical(np.zeros((4, 3, 1)), P3), "(4, 3, 1)")


# --- empty input -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        lambda: categorical(np.zeros(0, int), np.zeros((0, 3))),
        lambda: binary([], []),
        lambda: multilabel(np.zeros((0, 2)), np.zeros((0, 2))),
        lambda: score("categorical", [], np.zeros((0, 2))),
    ],
    ids=["categorical", "binary", "multilabel", "score"],
)
def test_no_rows(call):
    fails(EmptyInputError, call, "no samples", "0 rows")


def test_no_columns():
    fails(EmptyInputError, lambda: categorical([0], np.zeros((1, 0))), "0 columns")


def test_an_accumulator_with_no_rows_has_no_result():
    fails(EmptyInputError, lambda: cecli.Accumulator().result(), "no samples")


# --- probabilities ---------------------------------------------------------------------------


def test_nan_probability_names_row_and_column():
    probs = np.array(P3)
    probs[1, 2] = np.nan
    message = fails(ProbabilityError, lambda: categorical([0, 1, 2, 0], probs), "row 1, column 2")
    assert "NaN" in message


def test_infinite_probability_names_row_and_column():
    probs = np.array(P3)
    probs[2, 0] = np.inf
    fails(ProbabilityError, lambda: categorical([0, 1, 2, 0], probs), "row 2, column 0", "+inf")


def test_probability_outside_zero_one_is_quoted_with_the_logits_hint():
    probs = np.array(P3)
    probs[3] = [1.2, -0.2, 0.0]
    fails(
        ProbabilityError,
        lambda: categorical([0, 1, 2, 0], probs),
        "row 3, column 0 is 1.2",
        "outside [0, 1]",
        "2 values",
        "from_logits=True",
    )


def test_binary_and_multilabel_probabilities_outside_zero_one():
    fails(ProbabilityError, lambda: binary([0, 1, 1], [0.1, 0.2, 1.5]), "row 2 is 1.5")
    fails(ProbabilityError, lambda: binary([0, 1, 1], [0.1, np.nan, 0.5]), "row 1 is NaN")
    fails(
        ProbabilityError,
        lambda: multilabel([[0, 1], [1, 0]], [[0.5, 0.5], [-0.1, 0.3]]),
        "row 1, column 0 is -0.1",
    )


def test_the_message_counts_every_bad_value():
    probs = np.array(P3)
    probs[[0, 2, 3], 1] = np.nan
    fails(ProbabilityError, lambda: categorical([0, 1, 2, 0], probs), "row 0, column 1", "3 values")


def test_rows_not_summing_to_one_are_counted_quoted_and_explained():
    probs = np.array([*P3, [0.5, 0.5, 0.0]])
    probs[1] = [0.6, 0.4, 0.2]  # sums to 1.2
    probs[3] = [0.25, 0.25, 0.0]  # sums to 0.5
    message = fails(
        ProbabilityError,
        lambda: categorical([0, 1, 2, 0, 1], probs),
        "2 rows",
        "do not sum to 1",
        "row 1 sums to 1.2",
        "row 3 sums to 0.5",
        "from_logits=True",
        "divide each row by its sum",
    )
    assert "row 0" not in message
    assert "row 4" not in message


def test_many_rows_not_summing_to_one_quote_a_few_and_count_all():
    probs = np.full((10, 2), 0.6)
    message = fails(
        ProbabilityError, lambda: categorical(np.zeros(10, int), probs), "10 rows", "row 0 sums"
    )
    assert "..." in message
    assert "row 9" not in message


def test_the_row_sum_tolerance_admits_rounded_probabilities():
    assert ROW_SUM_TOLERANCE == 1e-3
    fine = categorical([0], [[0.5, 0.5 + 0.9e-3]])
    assert fine.loss == pytest.approx(math.log(2))
    fails(ProbabilityError, lambda: categorical([0], [[0.5, 0.5 + 1.1e-3]]), "1 rows", "row 0")
    # a value just above 1 by rounding is clipped (and counted), not rejected
    above = categorical([0], [[1.0005, 0.0]])
    assert above.clipped == 1
    assert above.loss == pytest.approx(-math.log1p(-np.finfo(float).eps))


def test_predictions_that_are_not_numbers():
    fails(ProbabilityError, lambda: categorical([0], [["a", "b"]]), "must be numbers")


# --- labels and targets ----------------------------------------------------------------------


def test_label_outside_the_classes_names_label_row_and_range():
    fails(
        LabelError,
        lambda: categorical([0, 1, 3, 0], P3),
        "Label 3 at row 2",
        "outside 0..2",
        "3 classes",
    )
    fails(LabelError, lambda: categorical([0, -1, 0, 5], P3), "Label -1 at row 1", "2 labels")


def test_non_integral_labels_are_quoted():
    fails(
        LabelError,
        lambda: categorical([0.0, 1.5, 2.0, 0.0], P3),
        "whole class indices",
        "row 1 has 1.5",
    )
    fails(LabelError, lambda: categorical([0.0, np.nan, 2.0, 0.0], P3), "row 1 has NaN")


def test_labels_that_are_names_say_to_map_them():
    fails(LabelError, lambda: categorical(["cat", "dog", "cat", "cat"], P3), "pass labels=")


def test_non_binary_targets_in_binary_mode():
    fails(
        LabelError,
        lambda: binary([0, 1, 1, 2], [0.1, 0.2, 0.3, 0.4]),
        "Target at row 3 is 2",
        "0 or 1",
        "categorical_cross_entropy",
    )
    fails(LabelError, lambda: binary([1.5, 0.0], [0.2, 0.4]), "row 0 is 1.5", "[0, 1]")
    fails(LabelError, lambda: binary([0.0, -0.5], [0.2, 0.4]), "row 1 is -0.5")
    fails(LabelError, lambda: binary(["yes", "no"], [0.2, 0.4]), "0 or 1")
    fails(
        LabelError,
        lambda: multilabel([[0, 1], [1, 2]], [[0.5, 0.5], [0.5, 0.5]]),
        "row 1, column 1 is 2",
    )


def test_negative_soft_targets():
    targets = [[0.5, 0.5, 0.0], [0.6, -0.1, 0.5], [0, 0, 1], [1, 0, 0]]
    fails(
        LabelError,
        lambda: categorical(targets, P3),
        "row 1, column 1 is -0.1",
        "non-negative",
    )


def test_soft_targets_not_summing_to_one():
    targets = [[0.5, 0.5, 0.0], [0.4, 0.2, 0.2], [0, 0, 1], [0.5, 0.5, 0.5]]
    fails(
        LabelError,
        lambda: categorical(targets, P3),
        "2 target rows do not sum to 1",
        "row 1 sums to 0.8",
        "row 3 sums to 1.5",
        "multilabel",
    )


# --- weights ---------------------------------------------------------------------------------


def test_class_weights_of_the_wrong_length():
    fails(
        WeightError,
        lambda: categorical([0, 1, 2, 0], P3, class_weights=[1.0, 2.0]),
        "2 class weights",
        "3 classes",
    )
    fails(
        WeightError,
        lambda: binary([0, 1], [0.2, 0.7], class_weights=[1.0, 2.0, 3.0]),
        "3 class weights",
        "2 classes",
    )
    fails(
        WeightError,
        lambda: multilabel([[0, 1, 1]], [[0.2, 0.7, 0.5]], class_weights=[1.0, 2.0]),
        "2 label weights",
        "3 labels",
    )


def test_negative_or_nan_class_weights():
    fails(
        WeightError,
        lambda: categorical([0, 1, 2, 0], P3, class_weights=[1.0, -1.0, 1.0]),
        "class 1 the weight -1",
    )
    fails(
        WeightError,
        lambda: categorical([0, 1, 2, 0], P3, class_weights=[1.0, 1.0, np.nan]),
        "class 2 the weight NaN",
    )
    fails(
        WeightError,
        lambda: multilabel([[0, 1]], [[0.2, 0.7]], class_weights=[-2.0, 1.0]),
        "label 0 the weight -2",
    )


def test_class_weights_that_are_not_a_list_of_numbers():
    fails(WeightError, lambda: categorical([0, 1, 2, 0], P3, class_weights=[[1, 2, 3]]))
    fails(
        WeightError,
        lambda: categorical([0, 1, 2, 0], P3, class_weights="unbalanced"),
        "balanced",
        "'unbalanced'",
    )


def test_class_weights_summing_to_zero_over_the_rows_present():
    # class 2 has the only positive weight, and no row is of class 2
    fails(
        WeightError,
        lambda: categorical([0, 1, 1, 0], P3, class_weights=[0.0, 0.0, 1.0]),
        "class weights sum to zero over the rows present",
    )
    # a sum or per-sample losses need no division, so they are fine
    total = categorical([0, 1, 1, 0], P3, class_weights=[0.0, 0.0, 1.0], reduction="sum")
    assert total.loss == 0.0


def test_label_weights_summing_to_zero():
    fails(
        WeightError,
        lambda: multilabel([[0, 1]], [[0.2, 0.7]], class_weights=[0.0, 0.0]),
        "label weights sum to zero",
    )


def test_balanced_is_not_defined_for_multilabel():
    fails(
        WeightError,
        lambda: multilabel([[0, 1]], [[0.2, 0.7]], class_weights="balanced"),
        "balanced",
        "one weight per label",
    )
    fails(WeightError, lambda: cecli.Accumulator("multilabel", class_weights="balanced"))


def test_negative_or_nan_sample_weights_are_quoted_by_row():
    fails(
        WeightError,
        lambda: categorical([0, 1, 2, 0], P3, sample_weights=[1.0, 1.0, -1.0, 1.0]),
        "row 2 has -1",
        "non-negative",
    )
    fails(
        WeightError,
        lambda: binary([0, 1], [0.2, 0.7], sample_weights=[np.nan, 1.0]),
        "row 0 has NaN",
    )


def test_sample_weights_summing_to_zero():
    fails(
        WeightError,
        lambda: categorical([0, 1, 2, 0], P3, sample_weights=[0, 0, 0, 0]),
        "sample weights sum to zero",
    )


# --- logits ----------------------------------------------------------------------------------


def test_nan_and_plus_inf_logits_are_named_by_row_and_column():
    z = np.zeros((4, 3))
    z[1, 0] = np.nan
    fails(
        ProbabilityError,
        lambda: categorical([0, 1, 2, 0], z, from_logits=True),
        "Logit at row 1, column 0 is NaN",
        "never NaN or +inf",
    )
    z = np.zeros((4, 3))
    z[3, 2] = np.inf
    fails(
        ProbabilityError,
        lambda: categorical([0, 1, 2, 0], z, from_logits=True),
        "row 3, column 2 is +inf",
    )


def test_a_row_of_only_minus_inf_logits():
    z = np.zeros((4, 3))
    z[2] = -np.inf
    fails(
        ProbabilityError,
        lambda: categorical([0, 1, 2, 0], z, from_logits=True),
        "Row 2 has every logit -inf",
    )


def test_minus_inf_at_the_true_class():
    z = np.zeros((4, 3))
    z[1, 1] = -np.inf
    z[2, 0] = -np.inf  # not row 2's true class: allowed
    fails(
        ProbabilityError,
        lambda: categorical([0, 1, 2, 0], z, from_logits=True),
        "Row 1: class 1 has logit -inf",
    )


def test_minus_inf_where_a_smoothed_or_soft_target_is_positive():
    z = np.zeros((2, 3))
    z[0, 2] = -np.inf  # not the true class, but smoothing gives it a share of the target
    fails(
        ProbabilityError,
        lambda: categorical([0, 1], z, from_logits=True, label_smoothing=0.1),
        "Row 0: class 2 has logit -inf",
    )
    targets = [[0.5, 0.0, 0.5], [0.0, 1.0, 0.0]]
    fails(
        ProbabilityError,
        lambda: categorical(targets, z, from_logits=True),
        "Row 0: class 2 has logit -inf",
    )


def test_masked_classes_are_allowed():
    z = np.array([[0.0, -np.inf, 1.0], [-np.inf, 2.0, -np.inf]])
    result = categorical([0, 1], z, from_logits=True, reduction="none")
    assert result.loss == pytest.approx([math.log1p(math.e), 0.0])


def test_binary_and_multilabel_logits_must_be_finite():
    for bad, shown in ((np.nan, "NaN"), (np.inf, "+inf"), (-np.inf, "-inf")):
        fails(
            ProbabilityError,
            lambda bad=bad: binary([0, 1, 0], [0.5, bad, 1.0], from_logits=True),
            f"row 1 is {shown}",
            "finite",
        )
    fails(
        ProbabilityError,
        lambda: multilabel([[0, 1], [1, 0]], [[0.5, 1.0], [2.0, np.nan]], from_logits=True),
        "row 1, column 1 is NaN",
    )


# --- options ---------------------------------------------------------------------------------


@pytest.mark.parametrize("threshold", [0.0, -0.5, 1.5, math.nan, math.inf])
def test_bad_threshold(threshold):
    fails(OptionError, lambda: cecli.Accumulator(threshold=threshold), "threshold", "(0, 1]")
    fails(OptionError, lambda: score("categorical", [0], [[1.0, 0.0]], threshold=threshold))


def test_threshold_one_is_allowed():
    facts = score("categorical", [0], [[0.0, 1.0]], threshold=1.0)
    assert facts.flagged.tolist() == [True]


@pytest.mark.parametrize("eps", ["bogus", 0.0, 0.5, -1e-7, math.nan, 1.0])
def test_bad_eps(eps):
    message = fails(OptionError, lambda: categorical([0], [[0.5, 0.5]], eps=eps), "eps must be")
    assert '"auto"' in message
    assert "(0, 0.5)" in message


@pytest.mark.parametrize("base", [3, "ten", 0, None, 2.5])
def test_bad_base(base):
    fails(OptionError, lambda: categorical([0], [[0.5, 0.5]], base=base), "base must be", "bits")
    fails(OptionError, lambda: cecli.Accumulator(base=base), "base must be")


@pytest.mark.parametrize("reduction", ["avg", "MEAN", "", None])
def test_bad_reduction(reduction):
    fails(
        OptionError,
        lambda: categorical([0], [[0.5, 0.5]], reduction=reduction),
        'reduction must be "none", "mean" or "sum"',
    )


@pytest.mark.parametrize("alpha", [-0.1, 1.5, math.nan])
def test_bad_label_smoothing(alpha):
    for function in (categorical, binary, multilabel):
        y_true, y_pred = {
            categorical: ([0], [[0.5, 0.5]]),
            binary: ([0], [0.5]),
            multilabel: ([[0, 1]], [[0.5, 0.5]]),
        }[function]
        fails(
            OptionError,
            lambda f=function, t=y_true, p=y_pred: f(t, p, label_smoothing=alpha),
            "label_smoothing must lie in [0, 1]",
        )
    fails(OptionError, lambda: cecli.Accumulator(label_smoothing=alpha), "label_smoothing")


@pytest.mark.parametrize("gamma", [-1.0, math.inf, math.nan])
def test_bad_focal_gamma(gamma):
    fails(
        OptionError,
        lambda: categorical([0], [[0.5, 0.5]], focal_gamma=gamma),
        "focal_gamma must be a finite number >= 0",
    )
    fails(OptionError, lambda: binary([0], [0.5], focal_gamma=gamma), "focal_gamma")
    fails(OptionError, lambda: cecli.Accumulator(focal_gamma=gamma), "focal_gamma")


def test_bad_kind_and_keep():
    fails(OptionError, lambda: cecli.Accumulator("multiclass"), "kind must be one of", "binary")
    fails(OptionError, lambda: score("multiclass", [0], [[1.0, 0.0]]), "kind must be one of")
    fails(OptionError, lambda: cecli.Accumulator(keep=-1), "keep must be")
    fails(OptionError, lambda: cecli.Accumulator(keep=2.5), "keep must be")


# --- row numbers of a chunk ------------------------------------------------------------------


def fed(kind="categorical", **options) -> cecli.Accumulator:
    """An accumulator that has already seen 5 good rows (rows 0..4)."""
    acc = cecli.Accumulator(kind, **options)
    # fine as probabilities or logits (as logits, they rightly warn that they look like
    # probabilities; that warning is tested on its own)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CecliWarning)
        if kind == "categorical":
            acc.update([0, 1, 0, 1, 0], [[0.5, 0.5]] * 5)
        elif kind == "binary":
            acc.update([0, 1, 0, 1, 0], [0.5] * 5)
        else:
            acc.update([[0, 1]] * 5, [[0.5, 0.5]] * 5)
    return acc


@pytest.mark.parametrize(
    ("kind", "options", "y_true", "y_pred", "weights", "error", "where"),
    [
        ("categorical", {}, [0, 1, 0], [[0.5, 0.5], [np.nan, 0.5], [0.5, 0.5]], None,
         ProbabilityError, "row 6, column 0 is NaN"),
        ("categorical", {}, [0, 1, 0], [[0.5, 0.5], [0.5, 0.5], [0.9, 0.5]], None,
         ProbabilityError, "row 7 sums to 1.4"),
        ("categorical", {}, [0, 1, 2], [[0.5, 0.5]] * 3, None,
         LabelError, "Label 2 at row 7"),
        ("categorical", {}, [0.0, 0.5, 1.0], [[0.5, 0.5]] * 3, None,
         LabelError, "row 6 has 0.5"),
        ("categorical", {}, [[1, 0], [0.5, 0.6], [0, 1]], [[0.5, 0.5]] * 3, None,
         LabelError, "row 6 sums to 1.1"),
        ("categorical", {}, [[1, 0], [1.5, -0.5], [0, 1]], [[0.5, 0.5]] * 3, None,
         LabelError, "row 6, column 1 is -0.5"),
        ("categorical", {}, [0, 1, 0], [[0.5, 0.5]] * 3, [1.0, 1.0, -2.0],
         WeightError, "row 7 has -2"),
        ("categorical", {"from_logits": True}, [0, 1, 0], [[0.0, 0.0], [0.0, np.nan], [0, 0]],
         None, ProbabilityError, "row 6, column 1 is NaN"),
        ("categorical", {"from_logits": True}, [0, 1, 0], [[0.0, 0.0], [0.0, -np.inf], [0, 0]],
         None, ProbabilityError, "Row 6: class 1 has logit -inf"),
        ("categorical", {"from_logits": True}, [0, 1, 0],
         [[0.0, 0.0], [0.0, 0.0], [-np.inf, -np.inf]], None,
         ProbabilityError, "Row 7 has every logit -inf"),
        ("binary", {}, [0, 3, 0], [0.5] * 3, None, LabelError, "Target at row 6 is 3"),
        ("binary", {}, [0, 1, 0], [0.5, 0.5, 1.5], None, ProbabilityError, "row 7 is 1.5"),
        ("binary", {"from_logits": True}, [0, 1, 0], [0.5, np.inf, 0.0], None,
         ProbabilityError, "row 6 is +inf"),
        ("multilabel", {}, [[0, 1]] * 3, [[0.5, 0.5], [0.5, 0.5], [0.5, -1.0]], None,
         ProbabilityError, "row 7, column 1 is -1"),
        ("multilabel", {}, [[0, 1], [0, 1], [2, 1]], [[0.5, 0.5]] * 3, None,
         LabelError, "row 7, column 0 is 2"),
    ],
)  # fmt: skip
def test_row_numbers_in_messages_count_from_the_start_of_the_input(
    kind, options, y_true, y_pred, weights, error, where
):
    acc = fed(kind, **options)
    fails(error, lambda: acc.update(y_true, y_pred, weights), where)
    # the failed chunk added nothing
    assert acc.result().n_samples == 5
    # an explicit row_offset numbers the rows instead
    shifted = re.sub(r"(row|Row) (\d+)", lambda m: f"{m[1]} {int(m[2]) - 5 + 100}", where)
    fails(error, lambda: acc.update(y_true, y_pred, weights, row_offset=100), shifted)


def test_row_offset_in_score():
    fails(
        LabelError,
        lambda: score("categorical", [0, 5], [[0.5, 0.5]] * 2, row_offset=1000),
        "at row 1001",
    )
