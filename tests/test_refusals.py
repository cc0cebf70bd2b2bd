"""The README's "What cecli refuses where its peers score", row by row, true as written.

Each row is tried through the Python API (a ``CecliError`` of the kind the
README names, with a message that says what and where) and through the
command line (exit status 2, one line on stderr, nothing on stdout), in
several variants. The multilabel Brier score is checked against
scikit-learn's ``brier_score_loss`` over the cells.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import brier_score_loss
from typer.testing import CliRunner

import cecli
from cecli.calibration import calibration
from cecli.cli import app
from cecli.errors import EmptyInputError, LabelError, WeightError

README = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
P = np.array([[0.7, 0.2, 0.1], [0.2, 0.7, 0.1], [0.1, 0.3, 0.6], [0.5, 0.25, 0.25]])
Y = np.array([0, 1, 2, 0])
runner = CliRunner()


def refused(error: type[Exception], call, *words: str) -> None:
    with pytest.raises(error) as info:
        call()
    assert isinstance(info.value, cecli.CecliError)
    for word in words:
        assert word in str(info.value), (word, str(info.value))


def test_the_readme_has_the_section():
    assert "### What cecli refuses where its peers score" in README


# -- negative weights -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "words"),
    [
        (lambda: cecli.categorical_cross_entropy(Y, P, class_weights=[1, -0.5, 1]), ["class 1"]),
        (lambda: cecli.binary_cross_entropy([0, 1], [0.2, 0.7], class_weights=[-1, 1]), []),
        (lambda: cecli.multilabel_cross_entropy([[0, 1]], [[0.2, 0.7]], class_weights=[1, -2]), []),
        (lambda: cecli.categorical_cross_entropy(Y, P, sample_weights=[1, 1, -1e-9, 1]), ["row 2"]),
        (lambda: cecli.binary_cross_entropy([0, 1], [0.2, 0.7], sample_weights=[-3, 1]), ["row 0"]),
        (lambda: cecli.Accumulator().update(Y, P, [1, -1, 1, 1]), ["row 1"]),
    ],
    ids=["class", "binary class", "label", "sample", "binary sample", "accumulator sample"],
)
def test_negative_weights_are_refused(call, words):
    refused(WeightError, call, "non-negative", *words)


# -- soft targets that are not distributions -------------------------------------------


@pytest.mark.parametrize(
    ("call", "words"),
    [
        (lambda: cecli.categorical_cross_entropy([[0.5, 0.6, 0]], P[:1]), ["sums to 1.1"]),
        (lambda: cecli.categorical_cross_entropy([[0.2, 0.2, 0.2]], P[:1]), ["sums to 0.6"]),
        (lambda: cecli.categorical_cross_entropy([[1.5, -0.5, 0]], P[:1]), ["column 1", "-0.5"]),
        (lambda: cecli.categorical_cross_entropy([[np.nan, 1, 0]], P[:1]), ["column 0"]),
        (lambda: cecli.binary_cross_entropy([1.5, 0], [0.3, 0.8]), ["row 0", "1.5"]),
        (lambda: cecli.binary_cross_entropy([0, -0.25], [0.3, 0.8]), ["row 1", "-0.25"]),
    ],
    ids=["sum above 1", "sum below 1", "negative", "NaN", "binary above 1", "binary negative"],
)
def test_soft_targets_that_are_not_distributions_are_refused(call, words):
    refused(LabelError, call, *words)


# -- no rows ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        lambda: cecli.categorical_cross_entropy(np.zeros(0, int), np.zeros((0, 3))),
        lambda: cecli.binary_cross_entropy([], []),
        lambda: cecli.multilabel_cross_entropy(np.zeros((0, 2)), np.zeros((0, 2))),
        lambda: cecli.Accumulator().result(),
    ],
    ids=["categorical", "binary", "multilabel", "accumulator"],
)
def test_no_rows_are_refused(call):
    refused(EmptyInputError, call, "0 rows")


# -- a total weight of 0 ---------------------------------------------------------------


def zero_weight_accumulator():
    acc = cecli.Accumulator(class_weights=[0, 0, 1])
    acc.update([0, 1, 0], P[:3])  # class 2, the only one with weight, has no row
    return acc.result()


@pytest.mark.parametrize(
    "call",
    [
        lambda: cecli.categorical_cross_entropy(Y, P, sample_weights=np.zeros(4)),
        lambda: cecli.categorical_cross_entropy([0, 1, 0], P[:3], class_weights=[0, 0, 1]),
        lambda: cecli.binary_cross_entropy([0, 0], [0.2, 0.7], class_weights=[0, 1]),
        lambda: cecli.multilabel_cross_entropy([[0, 1]], [[0.2, 0.7]], class_weights=[0, 0]),
        zero_weight_accumulator,
    ],
    ids=["sample weights", "class weights", "binary class weights", "label weights", "accumulator"],
)
def test_a_total_weight_of_zero_is_refused_for_the_mean(call):
    refused(WeightError, call, "sum to zero")


def test_a_total_weight_of_zero_is_fine_where_nothing_is_divided():
    kwargs = dict(sample_weights=np.zeros(4))
    assert cecli.categorical_cross_entropy(Y, P, reduction="sum", **kwargs).loss == 0.0
    each = cecli.categorical_cross_entropy(Y, P, reduction="none", **kwargs).loss
    np.testing.assert_array_equal(each, np.zeros(4))


# -- the same refusals on the command line ---------------------------------------------


def write(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize(
    ("files", "options", "words"),
    [
        ({"p.csv": "a,b,label\n0.7,0.3,a\n0.2,0.8,b\n"}, ["--class-weights", "a=-1"], ["-1"]),
        ({"p.csv": "a,b,label\n0.7,0.3,a\n0.2,0.8,b\n"}, ["--class-weights=-1,1"], ["-1"]),
        ({"p.csv": "a,b,label,w\n0.7,0.3,a,1\n0.2,0.8,b,-1\n"}, ["--weight-col", "w"], ["row 1"]),
        ({"p.csv": "a,b\n0.7,0.3\n0.2,0.8\n", "l.csv": "a,b\n0.5,0.6\n0,1\n"}, [], ["sums to"]),
        ({"p.csv": "a,b\n0.7,0.3\n0.2,0.8\n", "l.csv": "a,b\n1.5,-0.5\n0,1\n"}, [], ["-0.5"]),
        ({"p.csv": "a,b\n"}, [], ["no rows"]),
        ({"p.csv": ""}, [], ["empty"]),
        ({"p.csv": "a,b,label,w\n0.7,0.3,a,0\n0.2,0.8,b,0\n"}, ["--weight-col", "w"], ["zero"]),
        ({"p.csv": "a,b,label\n0.7,0.3,a\n0.2,0.8,b\n"}, ["--class-weights", "0,0"], ["zero"]),
    ],
    ids=[
        "negative class weight by name",
        "negative class weight by position",
        "negative sample weight",
        "soft targets not summing to 1",
        "negative soft target",
        "header only",
        "empty file",
        "sample weights all 0",
        "class weights all 0",
    ],
)
def test_the_command_line_refuses_them_in_one_line(tmp_path, files, options, words):
    paths = [write(tmp_path / name, text) for name, text in files.items()]
    result = runner.invoke(app, ["score", *paths, *options])
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("cecli: error: ")
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in lines[0]


# -- multilabel Brier: the mean over labels --------------------------------------------


@pytest.mark.parametrize("n_labels", [1, 3, 7])
def test_the_multilabel_brier_score_is_the_mean_over_labels(n_labels):
    rng = np.random.default_rng(n_labels)
    probs = rng.uniform(0.01, 0.99, (40, n_labels))
    targets = (rng.uniform(size=(40, n_labels)) < probs).astype(int)
    summary = calibration(targets, probs, kind="multilabel")
    cells = brier_score_loss(targets.ravel(), probs.ravel())
    assert summary.brier == pytest.approx(cells, rel=1e-12)
    # not the sum over labels, which would grow with their number
    by_definition = np.mean(np.mean((probs - targets) ** 2, axis=1))
    assert summary.brier == pytest.approx(by_definition, rel=1e-12)
    assert 0 <= summary.brier <= 1
