"""`cecli compare` on rows that cannot give an interval: a verdict of their own, never a gate.

Too few rows, or a difference that is the same on every row, leave the
bootstrap nothing to measure: its interval is a point (or too short to trust),
which is not significance. The rule, as the README states it and as it is
written out here independently of the code:

* fewer than ``MIN_ROWS_BY_THE_README`` rows of non-zero weight, or the same
  loss difference on every row (to float64 rounding) but not 0: the verdict is
  ``insufficient_data``, with a reason naming which; the interval and
  ``p_better`` are not estimated (null in JSON, empty in CSV);
* the same loss on every row (to rounding): ``no_difference``;
* ``--fail-if-worse`` and ``--max-increase`` are then not evaluated: each
  passes (exit 0), and the report and stderr say it was not evaluated.

The losses themselves are checked against scikit-learn's log_loss.
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import log_loss
from typer.testing import CliRunner

from cecli.cli import app

runner = CliRunner()
MIN_ROWS_BY_THE_README = 10
NAMES = ("cat", "dog", "bird")
GATES = ("--fail-if-worse", "--max-increase", "0")


def write(path: Path, probs: np.ndarray, y: np.ndarray, weights: np.ndarray | None = None) -> Path:
    """A CSV of one column per class, the label, and optionally a weight; floats written exactly."""
    header = [*NAMES, "label", *(["w"] if weights is not None else [])]
    lines = [",".join(header)]
    for i, row in enumerate(probs):
        cells = [repr(float(p)) for p in row] + [NAMES[y[i]]]
        cells += [repr(float(weights[i]))] if weights is not None else []
        lines.append(",".join(cells))
    path.write_text("\n".join(lines) + "\n")
    return path


def clearly_worse(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels, a good baseline and a candidate much worse on every row, by varying amounts."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    p_true = rng.uniform(0.7, 0.95, n)
    baseline = np.empty((n, 3))
    baseline[:] = ((1 - p_true) / 2)[:, None]
    baseline[np.arange(n), y] = p_true
    candidate = np.empty((n, 3))
    q_true = rng.uniform(0.02, 0.1, n)
    candidate[:] = ((1 - q_true) / 2)[:, None]
    candidate[np.arange(n), y] = q_true
    return y, baseline, candidate


def run(*args) -> tuple[int, dict, str]:
    result = runner.invoke(app, ["compare", *map(str, args), "--bootstrap", "500", "-f", "json"])
    assert "Traceback" not in result.stderr
    return result.exit_code, json.loads(result.stdout), result.stderr


def assert_not_evaluated(status: int, data: dict, stderr: str, says: str) -> None:
    """The verdict is insufficient_data; both gates pass, marked not evaluated, on stderr too."""
    assert data["verdict"] == "insufficient_data"
    assert says in data["verdict_reason"]
    assert (data["ci_low"], data["ci_high"], data["p_better"]) == (None, None, None)
    assert status == 0
    assert data["passed"] is True
    gates = {g["name"]: (g["passed"], g["evaluated"], g["value"]) for g in data["gates"]}
    assert gates == {"fail_if_worse": (True, False, None), "max_increase": (True, False, None)}
    warnings = [line for line in stderr.splitlines() if "gate not evaluated" in line]
    assert len(warnings) == 2, stderr
    assert all(line.startswith("cecli: warning: ") and says in line for line in warnings)
    assert "gate failed" not in stderr


@pytest.mark.parametrize("n", [1, 2, 5, MIN_ROWS_BY_THE_README - 1])
def test_too_few_rows_are_insufficient_data_and_no_gate_fails(tmp_path, n):
    y, baseline, candidate = clearly_worse(n, seed=n)
    base = write(tmp_path / "b.csv", baseline, y)
    cand = write(tmp_path / "c.csv", candidate, y)
    status, data, stderr = run(base, cand, *GATES)
    labels = [0, 1, 2]
    delta = log_loss(y, candidate, labels=labels) - log_loss(y, baseline, labels=labels)
    assert data["delta_mean_loss"] == pytest.approx(delta, rel=1e-12)  # still reported
    assert_not_evaluated(status, data, stderr, f"only {n} row")
    assert f"at least {MIN_ROWS_BY_THE_README}" in data["verdict_reason"]


def test_the_minimum_number_of_rows_gives_a_verdict_and_the_gates_are_evaluated(tmp_path):
    n = MIN_ROWS_BY_THE_README
    y, baseline, candidate = clearly_worse(n, seed=3)
    base = write(tmp_path / "b.csv", baseline, y)
    cand = write(tmp_path / "c.csv", candidate, y)
    status, data, stderr = run(base, cand, *GATES)
    assert data["verdict"] == "worse"
    assert data["verdict_reason"] is None
    assert 0 < data["ci_low"] < data["ci_high"]
    assert status == 1
    assert all(g["evaluated"] and not g["passed"] for g in data["gates"])
    assert "gate failed: fail_if_worse" in stderr


def test_rows_of_weight_zero_do_not_count_towards_the_minimum(tmp_path):
    n = MIN_ROWS_BY_THE_README + 5
    y, baseline, candidate = clearly_worse(n, seed=4)
    weights = np.ones(n)
    weights[:6] = 0.0  # n - 6 = MIN_ROWS - 1 rows of non-zero weight
    base = write(tmp_path / "b.csv", baseline, y, weights)
    cand = write(tmp_path / "c.csv", candidate, y, weights)
    status, data, stderr = run(base, cand, "--weight-col", "w", *GATES)
    assert data["n_samples"] == n
    assert_not_evaluated(status, data, stderr, f"only {n - 6} rows of non-zero weight")

    weights[:6] = [0, 0, 0, 0, 0, 0.5]  # one more row with weight: enough
    base = write(tmp_path / "b.csv", baseline, y, weights)
    cand = write(tmp_path / "c.csv", candidate, y, weights)
    status, data, _ = run(base, cand, "--weight-col", "w", *GATES)
    assert (data["verdict"], status) == ("worse", 1)


def constant_difference(n: int, exact: bool, factor: float) -> tuple[np.ndarray, ...]:
    """A candidate whose true-class probability is ``factor`` times the baseline's on every row.

    The loss difference is then ``-log(factor)`` on every row: exactly (every
    baseline row alike, so each row computes the same numbers) or up to
    rounding (rows that differ, each rounding its own way).
    """
    rng = np.random.default_rng(5)
    y = rng.integers(0, 3, n)
    p_true = np.full(n, 0.5) if exact else rng.uniform(0.3, 0.75, n)
    baseline = np.empty((n, 3))
    baseline[:] = ((1 - p_true) / 2)[:, None]
    baseline[np.arange(n), y] = p_true
    q_true = p_true * factor
    candidate = np.empty((n, 3))
    candidate[:] = ((1 - q_true) / 2)[:, None]
    candidate[np.arange(n), y] = q_true
    return y, baseline, candidate


@pytest.mark.parametrize("exact", [True, False], ids=["exactly", "to rounding"])
@pytest.mark.parametrize("factor", [0.5, 0.999, 1.25])
def test_the_same_difference_on_every_row_is_insufficient_data(tmp_path, exact, factor):
    y, baseline, candidate = constant_difference(200, exact, factor)
    base = write(tmp_path / "b.csv", baseline, y)
    cand = write(tmp_path / "c.csv", candidate, y)
    status, data, stderr = run(base, cand, *GATES)
    assert data["delta_mean_loss"] == pytest.approx(-np.log(factor), rel=1e-9)
    assert_not_evaluated(status, data, stderr, "differs by the same amount")
    (amount,) = re.findall(r"same amount, ([-+][0-9.e-]+),", data["verdict_reason"])
    assert float(amount) == pytest.approx(-np.log(factor), rel=1e-5)


def test_the_same_losses_to_rounding_are_no_difference(tmp_path):
    # softmax(log p + c) = p: the same predictions, each row's loss computed another way
    y, baseline, _ = clearly_worse(200, seed=6)
    shift = np.random.default_rng(7).normal(scale=5.0, size=(200, 1))
    base = write(tmp_path / "b.csv", baseline, y)
    logits = write(tmp_path / "l.csv", np.log(baseline) + shift, y)
    status, data, _ = run(base, logits, "--candidate-logits", "--fail-if-worse")
    assert data["verdict"] == "no_difference"
    assert "same on every row" in data["verdict_reason"]
    assert abs(data["delta_mean_loss"]) < 1e-12
    assert status == 0
    assert all(g["evaluated"] and g["passed"] for g in data["gates"])


@pytest.fixture
def one_row(tmp_path) -> tuple[Path, Path]:
    y, baseline, candidate = clearly_worse(1)
    return write(tmp_path / "b.csv", baseline, y), write(tmp_path / "c.csv", candidate, y)


def test_the_table_says_insufficient_data_and_that_the_gate_was_not_evaluated(one_row):
    result = runner.invoke(app, ["compare", *map(str, one_row), "--fail-if-worse"])
    assert result.exit_code == 0
    out = " ".join(result.stdout.split())  # the table wraps long cells
    assert "insufficient data: only 1 row" in out
    assert "not estimated" in out
    assert "gate not evaluated fail_if_worse: only 1 row" in out
    assert "p_better" not in out


def test_markdown_says_insufficient_data_and_that_the_gate_was_not_evaluated(one_row):
    args = ["compare", *map(str, one_row), "--fail-if-worse", "-f", "markdown"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert any(line.startswith("**Verdict: insufficient data: only 1 row") for line in lines)
    assert any(line.startswith("| 95% interval |") and "not estimated" in line for line in lines)
    assert any(line.startswith("- gate fail_if_worse: not evaluated") for line in lines)
    assert "**FAILED**" not in result.stdout


def test_csv_holds_the_verdict_reason_and_leaves_the_interval_empty(one_row):
    result = runner.invoke(app, ["compare", *map(str, one_row), "--fail-if-worse", "-f", "csv"])
    assert result.exit_code == 0
    header, values = list(csv.reader(io.StringIO(result.stdout)))
    row = dict(zip(header, values, strict=True))
    assert row["verdict"] == "insufficient_data"
    assert row["verdict_reason"].startswith("only 1 row")
    assert (row["ci_low"], row["ci_high"], row["p_better"]) == ("", "", "")
    assert row["passed"] == "true"
