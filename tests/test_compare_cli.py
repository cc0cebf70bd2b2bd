"""`cecli compare` as its users meet it: verdicts, JSON, gates, joins, logits, errors, plots.

References are independent of the code under test: scikit-learn's log_loss
and accuracy_score on the arrays the test itself wrote, and the definition
of a regression (candidate confidently wrong, baseline right) written here
in NumPy. The candidate is built to be worse on a known set
of rows, so the answer is known before the command runs. The statistics of
the bootstrap itself are tested in test_bootstrap.py, not here.
"""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import struct
import subprocess
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, log_loss
from typer.testing import CliRunner

from cecli.cli import app

runner = CliRunner()

NAMES = ("cat", "dog", "bird")
N_ROWS = 300
#: The class whose rows the candidate gets worse on.
WORSE_CLASS = 2
#: How many of those rows the candidate gets confidently wrong (the baseline right).
N_PLANTED = 6
#: Rows that both models get confidently wrong, the same way.
N_BOTH_WRONG = 3
THRESHOLD = 0.9
#: The statistics do not matter in most tests: a small bootstrap keeps the file fast.
QUICK = ("--bootstrap", "200")


@dataclass(frozen=True)
class Problem:
    """Labels, two models' probabilities, row weights, and files that hold them."""

    y: np.ndarray
    baseline: np.ndarray
    candidate: np.ndarray
    weights: np.ndarray
    #: The rows the candidate was made confidently wrong on.
    planted: np.ndarray
    base: Path
    cand: Path
    folder: Path

    @property
    def planted_ids(self) -> set[str]:
        return {f"s{row}" for row in self.planted}


def write_preds(
    path: Path,
    probs: np.ndarray,
    y: np.ndarray | None = None,
    *,
    rows: np.ndarray | None = None,
    ids: list[str] | None = None,
    columns: tuple[str, ...] = NAMES,
    weights: np.ndarray | None = None,
) -> Path:
    """A CSV of ``id``, one column per class, and optionally ``label`` and ``w``.

    ``rows`` picks and orders the rows written; floats are written with repr,
    so the file holds exactly the arrays the references see.
    """
    rows = np.arange(len(probs)) if rows is None else rows
    ids = [f"s{i}" for i in range(len(probs))] if ids is None else ids
    header = ["id", *columns]
    if y is not None:
        header.append("label")
    if weights is not None:
        header.append("w")
    lines = [",".join(header)]
    for i in rows:
        cells = [ids[i], *(repr(float(p)) for p in probs[i])]
        if y is not None:
            cells.append(NAMES[y[i]])
        if weights is not None:
            cells.append(repr(float(weights[i])))
        lines.append(",".join(cells))
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def problem(tmp_path_factory) -> Problem:
    """Three classes; the candidate is the baseline with class 2's rows made worse.

    On every row of class 2 the candidate's true-class probability is 0.6 of
    the baseline's, the rest shared equally (so no wrong class gets more than
    1/2, and the candidate is not confidently wrong there); on N_PLANTED of
    those rows, where the baseline is right, it puts 0.96 on "cat". Every
    other row is the same in both files, N_BOTH_WRONG of them confidently
    wrong in both.
    """
    folder = tmp_path_factory.mktemp("compare")
    rng = np.random.default_rng(11)
    y = rng.integers(0, len(NAMES), N_ROWS)
    logits = rng.normal(size=(N_ROWS, len(NAMES)))
    logits[np.arange(N_ROWS), y] += 2.0
    baseline = np.exp(logits - logits.max(axis=1, keepdims=True))
    baseline /= baseline.sum(axis=1, keepdims=True)
    of_class = np.flatnonzero(y == WORSE_CLASS)
    right = of_class[baseline[of_class].argmax(axis=1) == WORSE_CLASS]
    planted = np.sort(rng.choice(right, N_PLANTED, replace=False))
    candidate = baseline.copy()
    p_true = 0.6 * baseline[of_class, WORSE_CLASS]
    candidate[of_class] = np.column_stack([(1 - p_true) / 2, (1 - p_true) / 2, p_true])
    candidate[planted] = [0.96, 0.02, 0.02]
    # both models confidently wrong on a few rows of another class: neither regressed nor fixed
    both_wrong = rng.choice(np.flatnonzero(y == 0), N_BOTH_WRONG, replace=False)
    baseline[both_wrong] = candidate[both_wrong] = [0.03, 0.95, 0.02]
    weights = rng.uniform(0.5, 2.0, N_ROWS)
    return Problem(
        y=y,
        baseline=baseline,
        candidate=candidate,
        weights=weights,
        planted=planted,
        base=write_preds(folder / "base.csv", baseline, y),
        cand=write_preds(folder / "cand.csv", candidate, y),
        folder=folder,
    )


def invoke(*args, **kwargs):
    return runner.invoke(app, ["compare", *map(str, args)], **kwargs)


def compare_json(*args) -> dict:
    """Run with ``-f json``; the whole of stdout must be the one JSON object."""
    result = invoke(*args, "-f", "json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def run_cecli(*args):
    """The installed command in a real process."""
    command = [sys.executable, "-m", "cecli", "compare", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, check=False)


def one_error_line(stderr: str) -> str:
    """The single line of a usage or input error."""
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("cecli: error: ")
    return lines[0]


def regressions_by_definition(baseline, candidate, y) -> set[int]:
    """Rows where the candidate is confidently wrong and the baseline right."""
    wrong = (candidate.argmax(axis=1) != y) & (candidate.max(axis=1) >= THRESHOLD)
    return set(np.flatnonzero(wrong & (baseline.argmax(axis=1) == y)).tolist())


# -- identical models ------------------------------------------------------------------


@pytest.mark.parametrize("gate", [[], ["--fail-if-worse"]], ids=["no gate", "fail-if-worse"])
def test_identical_files_make_exactly_no_difference(problem, tmp_path, gate):
    copy = shutil.copy(problem.base, tmp_path / "same.csv")
    data = compare_json(problem.base, copy, *QUICK, *gate)
    assert data["delta_mean_loss"] == 0.0
    assert data["ci_low"] == data["ci_high"] == 0.0
    assert data["verdict"] == "no_difference"
    assert data["p_better"] == 0.0
    assert data["rows_better"] == data["rows_worse"] == 0.0
    assert data["regressions"] == data["fixed"] == []
    assert data["baseline"]["mean_loss"] == data["candidate"]["mean_loss"]
    assert data["passed"] is True
    assert [g["name"] for g in data["gates"]] == [g.lstrip("-").replace("-", "_") for g in gate]


# -- a candidate made worse on known rows ------------------------------------------------


def test_a_candidate_worse_on_one_class_is_worse_there(problem):
    data = compare_json(problem.base, problem.cand, *QUICK, "--top", "0")
    assert data["verdict"] == "worse"
    assert 0 < data["ci_low"] <= data["delta_mean_loss"] <= data["ci_high"]
    assert data["p_better"] == 0.0  # no row got better, so no resample can
    # the class made worse comes first; the others did not change at all
    first, *others = data["per_class"]
    assert first["class"] == NAMES[WORSE_CLASS]
    rows = problem.y == WORSE_CLASS
    assert first["count"] == int(rows.sum())
    b_loss = -np.log(problem.baseline[rows, WORSE_CLASS]).mean()
    c_loss = -np.log(problem.candidate[rows, WORSE_CLASS]).mean()
    assert first["baseline_mean_loss"] == pytest.approx(b_loss, rel=1e-12)
    assert first["candidate_mean_loss"] == pytest.approx(c_loss, rel=1e-12)
    assert first["delta"] == pytest.approx(c_loss - b_loss, rel=1e-12)
    assert [c["delta"] for c in others] == [0.0, 0.0]


def test_regressions_are_exactly_the_rows_made_confidently_wrong(problem):
    data = compare_json(problem.base, problem.cand, *QUICK, "--top", "0")
    planted = set(problem.planted.tolist())
    assert regressions_by_definition(problem.baseline, problem.candidate, problem.y) == planted
    assert data["regressions_count"] == N_PLANTED
    assert {r["row"] for r in data["regressions"]} == planted
    assert {r["id"] for r in data["regressions"]} == problem.planted_ids
    for r in data["regressions"]:
        row = r["row"]
        assert (r["label"], r["baseline_predicted"], r["candidate_predicted"]) == (
            "bird",
            "bird",
            "cat",
        )
        assert r["candidate_confidence"] == pytest.approx(0.96)
        assert r["baseline_loss"] == pytest.approx(-np.log(problem.baseline[row, 2]), rel=1e-12)
        assert r["candidate_loss"] == pytest.approx(-np.log(0.02), rel=1e-12)
        assert r["delta_loss"] == pytest.approx(r["candidate_loss"] - r["baseline_loss"])
    deltas = [r["delta_loss"] for r in data["regressions"]]
    assert deltas == sorted(deltas, reverse=True)  # largest change first
    # rows both models get confidently wrong are neither regressions nor fixed
    assert data["baseline"]["flagged_count"] == N_BOTH_WRONG
    assert data["candidate"]["flagged_count"] == N_BOTH_WRONG + N_PLANTED
    assert data["fixed_count"] == 0
    assert data["fixed"] == []


def test_swapping_the_files_turns_worse_into_better_and_regressions_into_fixed(problem):
    data = compare_json(problem.cand, problem.base, *QUICK, "--top", "0")
    assert data["verdict"] == "better"
    assert data["ci_low"] <= data["delta_mean_loss"] <= data["ci_high"] < 0
    assert data["p_better"] == 1.0
    assert data["per_class"][-1]["class"] == NAMES[WORSE_CLASS]  # largest decrease last
    assert data["regressions"] == []
    assert data["fixed_count"] == N_PLANTED
    assert {r["row"] for r in data["fixed"]} == set(problem.planted.tolist())
    assert {r["id"] for r in data["fixed"]} == problem.planted_ids
    deltas = [r["delta_loss"] for r in data["fixed"]]
    assert deltas == sorted(deltas)  # largest decrease first
    assert all(r["baseline_predicted"] == "cat" for r in data["fixed"])


def test_top_limits_the_rows_listed_not_the_count(problem):
    data = compare_json(problem.base, problem.cand, *QUICK, "--top", "2")
    assert data["regressions_count"] == N_PLANTED
    assert len(data["regressions"]) == 2


def test_largest_increases_are_the_rows_whose_loss_rose_most(problem):
    data = compare_json(problem.base, problem.cand, *QUICK, "--top", "4")
    rows = np.arange(N_ROWS)
    y = problem.y
    delta = np.log(problem.baseline[rows, y]) - np.log(problem.candidate[rows, y])
    expected = np.argsort(-delta, kind="stable")[:4]
    assert [r["row"] for r in data["largest_increases"]] == expected.tolist()
    assert [r["id"] for r in data["largest_increases"]] == [f"s{row}" for row in expected]
    # every row whose loss rose, most of them neither regressions nor fixed, has its id
    everything = compare_json(problem.base, problem.cand, *QUICK, "--top", "0")
    listed = {r["row"] for r in everything["regressions"] + everything["fixed"]}
    others = [r for r in everything["largest_increases"] if r["row"] not in listed]
    assert others
    assert [r["id"] for r in others] == [f"s{r['row']}" for r in others]
    np.testing.assert_allclose(
        [r["delta_loss"] for r in data["largest_increases"]], delta[expected], rtol=1e-12
    )


def test_the_table_names_the_verdict_and_the_regressed_ids(problem):
    result = invoke(problem.base, problem.cand, *QUICK)
    assert result.exit_code == 0, result.stderr
    assert "worse: the candidate's mean loss is higher" in result.stdout
    for row in problem.planted:
        assert f"s{row}" in result.stdout


# -- the numbers, against scikit-learn ----------------------------------------------------


@pytest.mark.parametrize(
    "weighting", ["none", "weight-col", "class-weights", "both"], ids=lambda w: w
)
def test_losses_and_accuracies_match_scikit_learn(problem, tmp_path, weighting):
    y, p, c = problem.y, problem.baseline, problem.candidate
    base, cand, args = problem.base, problem.cand, []
    sample_weight = np.ones(N_ROWS)
    if weighting in ("weight-col", "both"):
        base = write_preds(tmp_path / "base_w.csv", p, y, weights=problem.weights)
        cand = write_preds(tmp_path / "cand_w.csv", c, y, weights=problem.weights)
        args += ["--weight-col", "w"]
        sample_weight = sample_weight * problem.weights
    if weighting in ("class-weights", "both"):
        args += ["--class-weights", "cat=1,dog=2.5,bird=0.5"]
        sample_weight = sample_weight * np.array([1.0, 2.5, 0.5])[y]
    data = compare_json(base, cand, *QUICK, *args)
    labels = list(range(len(NAMES)))
    b_ref = log_loss(y, p, sample_weight=sample_weight, labels=labels)
    c_ref = log_loss(y, c, sample_weight=sample_weight, labels=labels)
    assert data["baseline"]["mean_loss"] == pytest.approx(b_ref, rel=1e-12)
    assert data["candidate"]["mean_loss"] == pytest.approx(c_ref, rel=1e-12)
    assert data["delta_mean_loss"] == pytest.approx(c_ref - b_ref, rel=1e-10)
    # accuracy counts rows, whatever the weights (as in `cecli score`)
    b_acc, c_acc = accuracy_score(y, p.argmax(axis=1)), accuracy_score(y, c.argmax(axis=1))
    assert data["baseline"]["accuracy"] == pytest.approx(b_acc, abs=1e-15)
    assert data["candidate"]["accuracy"] == pytest.approx(c_acc, abs=1e-15)
    assert data["delta_accuracy"] == pytest.approx(c_acc - b_acc, abs=1e-15)
    assert c_acc < b_acc  # the check above can tell the sign
    assert data["baseline"]["n_samples"] == data["candidate"]["n_samples"] == N_ROWS
    assert data["n_samples"] == N_ROWS
    assert data["rows_worse"] == pytest.approx(np.mean(problem.y == WORSE_CLASS))


def test_base_2_gives_the_difference_in_bits(problem):
    data = compare_json(problem.base, problem.cand, *QUICK, "--base", "2")
    labels = list(range(len(NAMES)))
    nats = log_loss(problem.y, problem.candidate, labels=labels) - log_loss(
        problem.y, problem.baseline, labels=labels
    )
    assert data["unit"] == "bits"
    assert data["delta_mean_loss"] == pytest.approx(nats / np.log(2), rel=1e-10)


# -- the JSON -------------------------------------------------------------------------


def test_json_holds_the_keys_the_issue_asks_for_and_nothing_else_is_on_stdout(problem):
    out = run_cecli(problem.base, problem.cand, *QUICK, "-f", "json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)  # the whole of stdout, or this fails
    assert out.stderr == ""
    for key in (
        "baseline",
        "candidate",
        "delta_mean_loss",
        "ci_low",
        "ci_high",
        "confidence",
        "p_better",
        "verdict",
        "per_class",
        "regressions",
        "fixed",
        "gates",
        "passed",
    ):
        assert key in data, key
    for side in ("baseline", "candidate"):
        assert {"mean_loss", "accuracy", "n_samples"} <= set(data[side])
    assert data["baseline"]["file"] == str(problem.base)
    assert data["candidate"]["file"] == str(problem.cand)
    assert data["confidence"] == 0.95
    assert data["verdict"] in ("better", "worse", "no_difference")
    assert 0.0 <= data["p_better"] <= 1.0
    assert data["bootstrap"] == {"resamples": 200, "seed": 0, "method": "bca"}
    assert set(data["regressions"][0]) == {
        "row",
        "id",
        "label",
        "baseline_predicted",
        "baseline_confidence",
        "baseline_loss",
        "candidate_predicted",
        "candidate_confidence",
        "candidate_loss",
        "delta_loss",
    }
    assert set(data["per_class"][0]) >= {"class", "count", "delta"}
    assert (data["gates"], data["passed"]) == ([], True)


# -- gates ----------------------------------------------------------------------------


def test_fail_if_worse_fails_a_worse_candidate_and_still_prints_the_report(problem):
    result = invoke(problem.base, problem.cand, *QUICK, "--fail-if-worse", "-f", "json")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["verdict"] == "worse"
    assert data["passed"] is False
    (gate,) = data["gates"]
    assert (gate["name"], gate["passed"]) == ("fail_if_worse", False)
    assert gate["value"] == data["ci_low"]
    assert "gate failed: fail_if_worse" in result.stderr


def test_fail_if_worse_passes_a_better_candidate(problem):
    data = compare_json(problem.cand, problem.base, *QUICK, "--fail-if-worse")
    assert data["verdict"] == "better"
    assert data["passed"] is True
    assert [(g["name"], g["passed"]) for g in data["gates"]] == [("fail_if_worse", True)]


def test_max_increase_compares_the_upper_end_of_the_interval(problem):
    ci_high = compare_json(problem.base, problem.cand, *QUICK)["ci_high"]
    assert ci_high > 0
    at_limit = compare_json(problem.base, problem.cand, *QUICK, "--max-increase", repr(ci_high))
    (gate,) = at_limit["gates"]
    assert (gate["name"], gate["limit"], gate["value"]) == ("max_increase", ci_high, ci_high)
    assert gate["passed"] is True
    assert at_limit["passed"] is True

    below = ci_high * 0.999
    result = invoke(problem.base, problem.cand, *QUICK, "--max-increase", repr(below), "-f", "json")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["passed"] is False
    assert [(g["name"], g["passed"]) for g in data["gates"]] == [("max_increase", False)]
    assert "gate failed: max_increase" in result.stderr


def test_both_gates_report_each_its_own_result(problem):
    ci_high = compare_json(problem.base, problem.cand, *QUICK)["ci_high"]
    result = invoke(
        problem.base,
        problem.cand,
        *QUICK,
        "--fail-if-worse",
        "--max-increase",
        repr(ci_high + 1),
        "-f",
        "json",
    )
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    passed = {g["name"]: g["passed"] for g in data["gates"]}
    assert passed == {"fail_if_worse": False, "max_increase": True}
    assert data["passed"] is False


# -- bad options ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--confidence", "95"], ["--confidence", "0.95"]),
        (["--confidence", "0"], ["--confidence"]),
        (["--max-increase", "nan"], ["--max-increase"]),
    ],
    ids=["confidence 95", "confidence 0", "max-increase nan"],
)
def test_a_bad_value_is_one_line_and_exit_status_2(problem, args, says):
    result = invoke(problem.base, problem.cand, *args)
    assert result.exit_code == 2
    assert result.stdout == ""
    line = one_error_line(result.stderr)
    for text in says:
        assert text in line


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--bootstrap", "many"], ["--bootstrap", "many"]),
        (["--bootstrap", "2.5"], ["--bootstrap", "2.5"]),
        (["--ci-method", "foo"], ["--ci-method", "foo"]),
    ],
    ids=["bootstrap many", "bootstrap 2.5", "ci-method foo"],
)
def test_an_option_the_parser_refuses_is_one_line_in_a_real_process(problem, args, says):
    # these are refused before the command runs: only the real entry point makes them one line
    out = run_cecli(problem.base, problem.cand, *args)
    assert out.returncode == 2
    assert out.stdout == ""
    line = one_error_line(out.stderr)
    for text in says:
        assert text in line
    assert "cecli compare --help" in line


@pytest.mark.parametrize("level", ["100", "250"])
def test_a_confidence_hint_is_never_itself_out_of_range(problem, level):
    result = invoke(problem.base, problem.cand, "--confidence", level)
    assert result.exit_code == 2
    line = one_error_line(result.stderr)
    assert "--confidence" in line
    hinted = re.search(r"write ([0-9.]+)", line)
    assert hinted is None or 0 < float(hinted.group(1)) < 1, line


def test_labels_cannot_be_standard_input(problem):
    result = invoke(problem.base, problem.cand, "-", input="label\ncat\n")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "LABELS" in one_error_line(result.stderr)


def test_only_one_prediction_file_can_be_standard_input(problem):
    result = invoke("-", "-", input=problem.base.read_text())
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "standard input" in one_error_line(result.stderr)


def test_one_prediction_file_can_be_standard_input(problem):
    result = invoke(problem.base, "-", *QUICK, "-f", "json", input=problem.cand.read_text())
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["verdict"] == "worse"
    assert data["regressions_count"] == N_PLANTED


# -- lining rows up -------------------------------------------------------------------


@pytest.fixture(scope="module")
def shuffled(problem) -> Path:
    """The candidate's rows in another order, each with its id and label."""
    order = np.random.default_rng(5).permutation(N_ROWS)
    return write_preds(
        problem.folder / "cand_shuffled.csv", problem.candidate, problem.y, rows=order
    )


def test_id_col_joins_shuffled_rows_to_the_same_result(problem, shuffled):
    straight = compare_json(problem.base, problem.cand, *QUICK, "--top", "0")
    joined = compare_json(problem.base, shuffled, *QUICK, "--top", "0", "--id-col", "id")
    # the same differences, row by row: the same bootstrap, to the last bit
    for key in ("delta_mean_loss", "ci_low", "ci_high", "p_better", "verdict"):
        assert joined[key] == straight[key], key
    # each model's own sums add its rows in its file's order: equal up to rounding
    assert joined["candidate"]["mean_loss"] == pytest.approx(straight["candidate"]["mean_loss"])
    # (so classes whose difference is 0 may come in another order)
    assert joined["per_class"][0]["class"] == NAMES[WORSE_CLASS]
    by_class = {c["class"]: c for c in straight["per_class"]}
    for j in joined["per_class"]:
        s = by_class[j["class"]]
        assert j["count"] == s["count"]
        assert j["baseline_mean_loss"] == s["baseline_mean_loss"]
        assert j["candidate_mean_loss"] == pytest.approx(s["candidate_mean_loss"], rel=1e-12)
    # rows are numbered in the baseline's order, and keep their ids
    assert [(r["row"], r["id"]) for r in joined["regressions"]] == [
        (r["row"], r["id"]) for r in straight["regressions"]
    ]
    assert {r["id"] for r in joined["regressions"]} == problem.planted_ids


def test_rows_on_one_side_only_are_counted_and_shown(problem, tmp_path):
    ids = [f"s{i}" for i in range(N_ROWS)]
    ids[100], ids[101] = "new1", "new2"  # 2 ids the baseline does not have
    cand = write_preds(
        tmp_path / "cand.csv", problem.candidate, problem.y, rows=np.arange(7, N_ROWS), ids=ids
    )
    result = invoke(problem.base, cand, *QUICK, "--id-col", "id")
    assert result.exit_code == 2
    assert result.stdout == ""
    line = one_error_line(result.stderr)
    # 7 rows dropped and 2 ids renamed: 9 baseline ids are missing, 2 candidate ids extra
    assert "9 ids" in line
    assert "2 ids" in line
    assert "'s0'" in line
    assert "'new1'" in line


def test_repeated_ids_are_an_error(problem, tmp_path):
    ids = [f"s{i}" for i in range(N_ROWS)]
    ids[5] = "s4"
    cand = write_preds(tmp_path / "cand.csv", problem.candidate, problem.y, ids=ids)
    result = invoke(problem.base, cand, *QUICK, "--id-col", "id")
    assert result.exit_code == 2
    line = one_error_line(result.stderr)
    assert "'s4'" in line
    assert "unique" in line


@pytest.mark.parametrize("join", [[], ["--id-col", "id"]], ids=["by order", "by id"])
def test_label_columns_that_disagree_are_an_error(problem, tmp_path, join):
    labels = problem.y.copy()
    labels[10] = (labels[10] + 1) % len(NAMES)
    cand = write_preds(tmp_path / "cand.csv", problem.candidate, labels)
    result = invoke(problem.base, cand, *QUICK, *join)
    assert result.exit_code == 2
    line = one_error_line(result.stderr)
    assert "row 10" in line
    assert "label" in line


def test_different_row_counts_without_id_col_are_an_error(problem, tmp_path):
    cand = write_preds(
        tmp_path / "cand.csv", problem.candidate, problem.y, rows=np.arange(N_ROWS - 1)
    )
    result = invoke(problem.base, cand, *QUICK)
    assert result.exit_code == 2
    line = one_error_line(result.stderr)
    assert f"{N_ROWS - 1} rows" in line
    assert str(N_ROWS) in line


def test_ids_in_another_order_without_id_col_suggest_it(problem, shuffled):
    result = invoke(problem.base, shuffled, *QUICK)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "--id-col" in one_error_line(result.stderr)


def test_with_a_labels_file_id_col_checks_the_order(problem, tmp_path):
    labels = tmp_path / "labels.csv"
    labels.write_text("label\n" + "\n".join(NAMES[i] for i in problem.y) + "\n")
    base = write_preds(tmp_path / "base.csv", problem.baseline)
    cand = write_preds(tmp_path / "cand.csv", problem.candidate)
    order = np.random.default_rng(5).permutation(N_ROWS)
    shuffled = write_preds(tmp_path / "shuffled.csv", problem.candidate, rows=order)
    straight = compare_json(base, cand, labels, *QUICK, "--id-col", "id")
    assert straight["verdict"] == "worse"
    assert straight["regressions_count"] == N_PLANTED
    result = invoke(base, shuffled, labels, *QUICK, "--id-col", "id")
    assert result.exit_code == 2
    assert "order" in one_error_line(result.stderr)


# -- logits ---------------------------------------------------------------------------


def test_candidate_logits_of_the_baseline_probabilities_make_no_difference(problem, tmp_path):
    # softmax(log p + c) = p for any per-row constant c
    shift = np.random.default_rng(2).normal(scale=5.0, size=(N_ROWS, 1))
    logits = write_preds(tmp_path / "logits.csv", np.log(problem.baseline) + shift, problem.y)
    data = compare_json(problem.base, logits, *QUICK, "--candidate-logits")
    assert abs(data["delta_mean_loss"]) < 1e-9
    assert abs(data["ci_low"]) < 1e-9
    assert abs(data["ci_high"]) < 1e-9
    assert (data["baseline"]["input"], data["candidate"]["input"]) == ("probabilities", "logits")
    ref = log_loss(problem.y, problem.baseline, labels=[0, 1, 2])
    assert data["candidate"]["mean_loss"] == pytest.approx(ref, rel=1e-9)
    # the flag is what makes them logits: read as probabilities, they are refused
    result = invoke(problem.base, logits, *QUICK)
    assert result.exit_code == 2
    assert "--logits" in one_error_line(result.stderr)


def test_baseline_logits_only(problem, tmp_path):
    shift = np.random.default_rng(3).normal(scale=5.0, size=(N_ROWS, 1))
    logits = write_preds(tmp_path / "logits.csv", np.log(problem.baseline) + shift, problem.y)
    data = compare_json(logits, problem.cand, *QUICK, "--baseline-logits")
    assert (data["baseline"]["input"], data["candidate"]["input"]) == ("logits", "probabilities")
    labels = [0, 1, 2]
    ref = log_loss(problem.y, problem.candidate, labels=labels) - log_loss(
        problem.y, problem.baseline, labels=labels
    )
    assert data["delta_mean_loss"] == pytest.approx(ref, rel=1e-9)
    assert data["verdict"] == "worse"


def test_logits_for_both(problem, tmp_path):
    rng = np.random.default_rng(4)
    b_logits = np.log(problem.baseline) + rng.normal(scale=3.0, size=(N_ROWS, 1))
    c_logits = np.log(problem.candidate) + rng.normal(scale=3.0, size=(N_ROWS, 1))
    base = write_preds(tmp_path / "base_logits.csv", b_logits, problem.y)
    cand = write_preds(tmp_path / "cand_logits.csv", c_logits, problem.y)
    data = compare_json(base, cand, *QUICK, "--logits", "--top", "0")
    labels = [0, 1, 2]
    b_ref = log_loss(problem.y, problem.baseline, labels=labels)
    c_ref = log_loss(problem.y, problem.candidate, labels=labels)
    assert (data["baseline"]["input"], data["candidate"]["input"]) == ("logits", "logits")
    assert data["baseline"]["mean_loss"] == pytest.approx(b_ref, rel=1e-9)
    assert data["delta_mean_loss"] == pytest.approx(c_ref - b_ref, rel=1e-9)
    assert {r["row"] for r in data["regressions"]} == set(problem.planted.tolist())


# -- class columns --------------------------------------------------------------------


def test_class_columns_in_another_order_give_the_same_result(problem, tmp_path):
    order = [2, 0, 1]  # bird, cat, dog
    cand = write_preds(
        tmp_path / "cand.csv",
        problem.candidate[:, order],
        problem.y,
        columns=tuple(NAMES[i] for i in order),
    )
    same = compare_json(problem.base, problem.cand, *QUICK, "--top", "0")
    other = compare_json(problem.base, cand, *QUICK, "--top", "0")
    for key in ("delta_mean_loss", "ci_low", "ci_high", "p_better", "verdict", "per_class"):
        assert other[key] == same[key], key
    assert other["regressions"] == same["regressions"]
    assert other["classes"] == list(NAMES)
    assert other["candidate"]["mean_loss"] == pytest.approx(same["candidate"]["mean_loss"])


def test_class_weights_follow_the_class_names_in_another_column_order(problem, tmp_path):
    order = [2, 0, 1]
    cand = write_preds(
        tmp_path / "cand.csv",
        problem.candidate[:, order],
        problem.y,
        columns=tuple(NAMES[i] for i in order),
    )
    data = compare_json(problem.base, cand, *QUICK, "--class-weights", "cat=1,dog=2.5,bird=0.5")
    sample_weight = np.array([1.0, 2.5, 0.5])[problem.y]
    labels = [0, 1, 2]
    b_ref = log_loss(problem.y, problem.baseline, sample_weight=sample_weight, labels=labels)
    c_ref = log_loss(problem.y, problem.candidate, sample_weight=sample_weight, labels=labels)
    assert data["delta_mean_loss"] == pytest.approx(c_ref - b_ref, rel=1e-10)
    assert data["baseline"]["mean_loss"] == pytest.approx(b_ref, rel=1e-12)
    assert data["candidate"]["mean_loss"] == pytest.approx(c_ref, rel=1e-12)


def test_different_class_names_are_an_error(problem, tmp_path):
    cand = write_preds(
        tmp_path / "cand.csv", problem.candidate, problem.y, columns=("cat", "dog", "fish")
    )
    result = invoke(problem.base, cand, *QUICK)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "'fish'" in one_error_line(result.stderr)


# -- the bootstrap's options ------------------------------------------------------------


def test_the_same_seed_gives_the_same_interval(problem, tmp_path):
    # two models equally noisy around the baseline: each better on some rows, worse on
    # others, so that p_better is neither 0 nor 1 and the resamples matter
    def noisy(seed: int) -> np.ndarray:
        noise = np.random.default_rng(seed).normal(scale=0.5, size=problem.baseline.shape)
        probs = problem.baseline * np.exp(noise)
        return probs / probs.sum(axis=1, keepdims=True)

    base = write_preds(tmp_path / "noisy_base.csv", noisy(6), problem.y)
    cand = write_preds(tmp_path / "noisy_cand.csv", noisy(9), problem.y)
    first = compare_json(base, cand, *QUICK, "--seed", "7")
    again = compare_json(base, cand, *QUICK, "--seed", "7")
    other = compare_json(base, cand, *QUICK, "--seed", "8")
    assert 0 < first["p_better"] < 1
    keys = ("ci_low", "ci_high", "p_better")
    assert [first[k] for k in keys] == [again[k] for k in keys]
    assert [first[k] for k in keys] != [other[k] for k in keys]  # the seed is used
    assert (first["bootstrap"]["seed"], other["bootstrap"]["seed"]) == (7, 8)


def test_percentile_interval_is_reported_as_such(problem):
    bca = compare_json(problem.base, problem.cand, *QUICK)
    plain = compare_json(problem.base, problem.cand, *QUICK, "--ci-method", "percentile")
    assert bca["bootstrap"]["method"] == "bca"
    assert plain["bootstrap"]["method"] == "percentile"
    assert plain["ci_low"] <= plain["delta_mean_loss"] <= plain["ci_high"]
    assert plain["delta_mean_loss"] == bca["delta_mean_loss"]
    # skewed per-row differences: the bias-corrected interval is not the plain one
    assert (plain["ci_low"], plain["ci_high"]) != (bca["ci_low"], bca["ci_high"])


def test_confidence_widens_the_interval(problem):
    narrow = compare_json(problem.base, problem.cand, *QUICK, "--confidence", "0.5")
    wide = compare_json(problem.base, problem.cand, *QUICK, "--confidence", "0.99")
    assert (narrow["confidence"], wide["confidence"]) == (0.5, 0.99)
    assert wide["ci_low"] < narrow["ci_low"] < narrow["ci_high"] < wide["ci_high"]


# -- other output formats ---------------------------------------------------------------


def test_csv_output_is_one_header_and_one_row(problem):
    result = invoke(problem.base, problem.cand, *QUICK, "-f", "csv")
    assert result.exit_code == 0, result.stderr
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert len(rows) == 2
    header, values = rows
    row = dict(zip(header, values, strict=True))
    labels = [0, 1, 2]
    b_ref = log_loss(problem.y, problem.baseline, labels=labels)
    c_ref = log_loss(problem.y, problem.candidate, labels=labels)
    assert row["verdict"] == "worse"
    assert float(row["baseline_mean_loss"]) == pytest.approx(b_ref, rel=1e-12)
    assert float(row["candidate_mean_loss"]) == pytest.approx(c_ref, rel=1e-12)
    assert float(row["delta_mean_loss"]) == pytest.approx(c_ref - b_ref, rel=1e-10)
    assert float(row["ci_low"]) > 0
    assert row["regressions_count"] == str(N_PLANTED)
    assert row["passed"] == "true"


def test_markdown_output_states_the_verdict_and_tabulates_the_losses(problem):
    result = invoke(problem.base, problem.cand, *QUICK, "-f", "markdown")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert any(line.startswith("**Verdict: worse") for line in lines)
    labels = [0, 1, 2]
    delta = log_loss(problem.y, problem.candidate, labels=labels) - log_loss(
        problem.y, problem.baseline, labels=labels
    )
    (loss_row,) = [line for line in lines if line.startswith("| mean loss (nats) |")]
    assert loss_row.rstrip(" |").endswith(f"+{delta:.6f}")
    assert any(line.startswith("| bird |") for line in lines)  # the per-class table


# -- plots ----------------------------------------------------------------------------


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk, after checking its signature."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    length, chunk = struct.unpack(">I4s", data[8:16])
    assert (length, chunk) == (13, b"IHDR")
    return struct.unpack(">II", data[16:24])


def test_plot_writes_a_png_of_the_bootstrap(problem, tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "out.png"
    data = compare_json(problem.base, problem.cand, *QUICK, "--plot", out)
    assert data["verdict"] == "worse"  # the JSON is still alone on stdout
    assert png_size(out) == (800, 500)


@pytest.mark.parametrize("name", ["out.txt", "no_such_folder/out.png"])
def test_a_plot_path_it_cannot_write_fails_before_any_output(problem, tmp_path, name):
    pytest.importorskip("matplotlib")
    target = tmp_path / name
    result = invoke(problem.base, problem.cand, *QUICK, "--plot", target)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "--plot" in one_error_line(result.stderr)
    assert not target.exists()
    # it is checked before the inputs are read: a missing input is not what it reports
    result = invoke(tmp_path / "missing.csv", problem.cand, "--plot", target)
    assert result.exit_code == 2
    assert "--plot" in one_error_line(result.stderr)


def test_plot_without_matplotlib_says_how_to_install_it(problem, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib raises ImportError
    result = invoke(problem.base, problem.cand, *QUICK, "--plot", tmp_path / "x.png")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "pip install 'cecli[plot]'" in one_error_line(result.stderr)
    assert not (tmp_path / "x.png").exists()


def test_an_infinite_loss_is_named_as_a_number_not_a_numpy_repr():
    from cecli.compare import RowScores, compare_rows
    from cecli.errors import ValueRangeError
    from cecli.losses import score

    base = RowScores.concatenate([score("binary", [0, 1], [0.2, 0.7])])
    cand = replace(base, loss=np.array([0.1, np.inf]))
    with pytest.raises(ValueRangeError) as raised:
        compare_rows(base, cand)
    assert "row 1: the candidate's loss is inf," in str(raised.value)
