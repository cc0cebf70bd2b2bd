"""Errors with ignored rows: they name each row by its number in the input; padding gets a hint.

A bad value among the rows kept must be named by its row in the whole input
(the rows ignored before it counted), whichever check finds it: the
reference is the position of the bad value in the arrays as given. A label
of -100 given without ``--ignore-label`` is probably padding: the one error
line says which option leaves it out.
"""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

import cecli
from cecli.cli import app

runner = CliRunner()
PAD = -100


def _case(kind: str, problem: str, n: int = 12, seed: int = 0):
    """Targets with PAD on every other row, predictions, weights, and the bad row's index."""
    rng = np.random.default_rng(seed)
    bad = 7  # a row kept, with ignored rows before it
    if kind == "categorical":
        y = rng.integers(0, 3, n)
        p = rng.dirichlet(np.ones(3), n)
    elif kind == "binary":
        y = rng.integers(0, 2, n)
        p = rng.uniform(0.1, 0.9, n)
    else:
        y = rng.integers(0, 2, (n, 3))
        p = rng.uniform(0.1, 0.9, (n, 3))
    y[::2] = PAD
    w = np.ones(n)
    if problem == "label":
        y[bad] = 5
    elif problem == "probability":
        p[bad] = 1.5 if kind != "categorical" else [0.9, 0.9, 0.9]
    elif problem == "weight":
        w[bad] = -1.0
    # an ignored row that is bad too is never checked
    p[bad - 1] = np.nan
    return y, p, w, bad


CASES = [
    (kind, problem)
    for kind in ("categorical", "binary", "multilabel")
    for problem in ("label", "probability", "weight")
]
FUNCTIONS = {
    "categorical": cecli.categorical_cross_entropy,
    "binary": cecli.binary_cross_entropy,
    "multilabel": cecli.multilabel_cross_entropy,
}


@pytest.mark.parametrize(("kind", "problem"), CASES)
def test_the_loss_functions_name_the_input_row(kind, problem):
    y, p, w, bad = _case(kind, problem)
    with pytest.raises(cecli.CecliError, match=rf"\b[Rr]ow {bad}\b") as caught:
        FUNCTIONS[kind](y, p, sample_weights=w, ignore_index=PAD)
    assert f"row {bad - 1}" not in str(caught.value)


@pytest.mark.parametrize(("kind", "problem"), CASES)
def test_the_accumulator_names_the_input_row_of_a_later_chunk(kind, problem):
    y, p, w, bad = _case(kind, problem)
    acc = cecli.Accumulator(kind, ignore_index=PAD)
    acc.update(y[:4], p[:4], w[:4])
    with pytest.raises(cecli.CecliError, match=rf"\b[Rr]ow {bad}\b"):
        acc.update(y[4:], p[4:], w[4:], row_offset=4)


def test_a_text_label_that_is_no_class_is_named_by_its_input_row(tmp_path):
    path = tmp_path / "p.csv"
    labels = ["PAD", "cat", "PAD", "PAD", "cow", "dog"]
    lines = ["cat,dog,label"] + [f"0.4,0.6,{label}" for label in labels]
    path.write_text("\n".join(lines) + "\n")
    result = runner.invoke(
        app, ["score", str(path), "--label-col", "label", "--ignore-label", "PAD"]
    )
    assert result.exit_code == 2
    assert f"row {labels.index('cow')} has the label 'cow'" in result.stderr


# -- a label that looks like padding, given without --ignore-label -----------------------


def _one_line(result) -> str:
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("cecli: error: ")
    return lines[0]


@pytest.mark.parametrize(
    ("header", "rows", "value"),
    [
        ("a,b,c,label", ["0.2,0.3,0.5,2", "0.6,0.3,0.1,-100", "0.1,0.8,0.1,1"], -100),
        ("p,label", ["0.9,1", "0.2,-100", "0.4,0"], -100),
        ("cat,dog,label", ["0.9,0.1,cat", "0.3,0.7,-1", "0.4,0.6,dog"], -1),
    ],
    ids=["categorical", "binary", "class-names"],
)
def test_a_negative_label_hints_at_padding(tmp_path, header, rows, value):
    path = tmp_path / "p.csv"
    path.write_text("\n".join([header, *rows]) + "\n")
    line = _one_line(runner.invoke(app, ["score", str(path), "--label-col", "label"]))
    assert "row 1" in line
    assert f"(padding? give --ignore-label {value}, or ignore_index={value} in Python)" in line
    # and the hint is right: with it, the row is left out
    fixed = runner.invoke(
        app, ["score", str(path), "--label-col", "label", "--ignore-label", str(value)]
    )
    assert fixed.exit_code == 0, fixed.output


def test_a_label_past_the_last_class_has_no_padding_hint(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("a,b,label\n0.5,0.5,0\n0.4,0.6,7\n")
    line = _one_line(runner.invoke(app, ["score", str(path), "--label-col", "label"]))
    assert "Label 7 at row 1" in line
    assert "padding" not in line


def test_the_python_api_gives_the_hint_too():
    with pytest.raises(cecli.CecliError, match=r"ignore_index=-100 in Python"):
        cecli.categorical_cross_entropy([0, PAD], [[0.5, 0.5], [0.5, 0.5]])
