"""Inputs the peers hand over: pandas, polars, PyTorch tensors; and ``np.asarray(result)``.

Each is scored as the NumPy array of the same values is; the reference is
the NumPy call (the conversion is what is tested, not the arithmetic).
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import cecli
from cecli.errors import LabelError, ProbabilityError
from cecli.losses import score

PROBS = np.array([[0.7, 0.2, 0.1], [0.1, 0.5, 0.4], [0.3, 0.3, 0.4], [0.25, 0.25, 0.5]])
LABELS = np.array([0, 2, 2, 1])


def numpy_loss(**options):
    return cecli.categorical_cross_entropy(LABELS, PROBS, reduction="none", **options).loss


def test_pandas_series_and_dataframes():
    frame = pd.DataFrame(PROBS, columns=["cat", "dog", "eel"])
    result = cecli.categorical_cross_entropy(pd.Series(LABELS), frame, reduction="none")
    np.testing.assert_array_equal(result.loss, numpy_loss())
    weights = pd.Series([1.0, 2.0, 0.5, 1.0])
    weighted = cecli.categorical_cross_entropy(
        pd.Series(LABELS), frame, sample_weights=weights, reduction="none"
    )
    np.testing.assert_array_equal(weighted.loss, numpy_loss(sample_weights=weights.to_numpy()))


def test_pandas_nullable_and_categorical_labels():
    nullable = pd.Series(LABELS, dtype="Int64")
    result = cecli.categorical_cross_entropy(nullable, PROBS, reduction="none")
    np.testing.assert_array_equal(result.loss, numpy_loss())
    names = pd.Series(pd.Categorical(np.array(["cat", "dog", "eel"])[LABELS]))
    named = cecli.categorical_cross_entropy(
        names, PROBS, labels=["cat", "dog", "eel"], reduction="none"
    )
    np.testing.assert_array_equal(named.loss, numpy_loss())
    # a missing label is named, not an error about object arrays
    missing = pd.Series([0, None, 2, 1], dtype="Int64")
    with pytest.raises(LabelError, match="row 1 has NaN"):
        cecli.categorical_cross_entropy(missing, PROBS)


def test_pandas_nullable_float_predictions():
    frame = pd.DataFrame(PROBS).astype("Float64")
    result = cecli.categorical_cross_entropy(LABELS, frame, reduction="none")
    np.testing.assert_array_equal(result.loss, numpy_loss())
    frame.iloc[2, 1] = pd.NA
    with pytest.raises(ProbabilityError, match="row 2, column 1 is NaN"):
        cecli.categorical_cross_entropy(LABELS, frame)


def test_polars_series_and_dataframes():
    pl = pytest.importorskip("polars")
    frame = pl.DataFrame({"cat": PROBS[:, 0], "dog": PROBS[:, 1], "eel": PROBS[:, 2]})
    result = cecli.categorical_cross_entropy(pl.Series(LABELS), frame, reduction="none")
    np.testing.assert_array_equal(result.loss, numpy_loss())


def test_torch_tensors_on_the_cpu():
    torch = pytest.importorskip("torch")
    logits = torch.tensor(np.log(PROBS), requires_grad=True)  # from a model: needs detaching
    result = cecli.categorical_cross_entropy(
        torch.tensor(LABELS), logits, from_logits=True, reduction="none"
    )
    expected = cecli.categorical_cross_entropy(
        LABELS, np.log(PROBS), from_logits=True, reduction="none"
    )
    np.testing.assert_array_equal(result.loss, expected.loss)
    # float32 stays float32, as a float32 array does; bfloat16 (no NumPy type) is widened
    single = cecli.binary_cross_entropy(
        torch.tensor([1, 0]), torch.tensor([0.8, 0.3], dtype=torch.float32)
    )
    assert single.loss == cecli.binary_cross_entropy([1, 0], np.float32([0.8, 0.3])).loss
    half = cecli.binary_cross_entropy(
        torch.tensor([1, 0]), torch.tensor([0.75, 0.25], dtype=torch.bfloat16)
    )
    assert half.loss == pytest.approx(-np.log(0.75), rel=1e-6)
    acc = cecli.Accumulator("categorical", from_logits=True)
    acc.update(torch.tensor(LABELS), logits)
    assert acc.result().mean_loss == pytest.approx(expected.loss.mean(), rel=1e-15)


def test_torch_is_not_imported_unless_given_a_tensor():
    code = (
        "import sys, numpy as np, pandas as pd, cecli\n"
        "cecli.categorical_cross_entropy(pd.Series([0, 1]), np.eye(2) * 0.8 + 0.1)\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_np_asarray_of_a_result():
    each = cecli.categorical_cross_entropy(LABELS, PROBS, reduction="none")
    np.testing.assert_array_equal(np.asarray(each), each.loss)
    assert np.asarray(each, dtype=np.float32).dtype == np.float32
    mean = cecli.categorical_cross_entropy(LABELS, PROBS)
    assert np.asarray(mean).shape == ()
    assert float(np.asarray(mean)) == mean.loss
    scores = score("categorical", LABELS, PROBS)
    np.testing.assert_array_equal(np.asarray(scores), scores.loss)
    np.testing.assert_array_equal(np.array(scores, copy=True), scores.loss)
    with pytest.raises(ValueError, match="without a copy"):
        np.array(mean, copy=False)
