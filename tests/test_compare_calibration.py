"""``cecli compare --calibration``: each model's ECE and Brier, and the differences' intervals.

References, independent of the code under test:

* each model's ECE and Brier score: :func:`cecli.calibration.calibration`
  on that model's predictions alone (what ``cecli score --calibration`` says),
  and the ECE's definition written here with ``np.digitize``;
* the bootstrap distribution of the ECE and Brier differences: a naive
  paired bootstrap written here (``rng.integers`` row numbers, the ECE of
  each resample from its definition), within Monte Carlo tolerances;
* the jackknife behind BCa: every leave-one-out ECE difference by brute force;
* coverage of the Brier difference's interval by simulation, on a model
  pair whose true Brier difference is known.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy.special import softmax
from typer.testing import CliRunner

from cecli.calibration import calibration
from cecli.cli import app
from cecli.compare_calibration import (
    CalibrationRows,
    _ece_jackknife,
    compare_calibration,
)


def ece_definition(confidence, credit, weight, n_bins):
    index = np.clip(np.digitize(confidence, np.arange(1, n_bins) / n_bins, right=True), 0, None)
    total = 0.0
    for b in range(n_bins):
        inside = index == b
        total += abs(np.sum(weight[inside] * (credit[inside] - confidence[inside])))
    return total / weight.sum()


def binary_pair(n, seed, weighted=False):
    rng = np.random.default_rng(seed)
    p = rng.random(n)
    t = (rng.random(n) < p).astype(float)
    q = np.clip(p + 0.2 * (p - 0.5) + rng.normal(0, 0.05, n), 0, 1)
    w = rng.choice([0.5, 1.0, 3.0], n) if weighted else np.ones(n)
    return (
        CalibrationRows(p, t, (p - t) ** 2, w),
        CalibrationRows(q, t, (q - t) ** 2, w),
    )


@pytest.mark.parametrize("weighted", [False, True])
def test_the_point_values_are_each_models_own_calibration(weighted):
    a, b = binary_pair(3000, 0, weighted)
    c = compare_calibration(a, b, n_bins=10, n_resamples=200)
    sides = ((a, c.baseline_ece, c.baseline_brier), (b, c.candidate_ece, c.candidate_brier))
    for rows, ece, brier in sides:
        alone = calibration(
            rows.credit, rows.confidence, kind="binary", n_bins=10, sample_weights=rows.weight
        )
        assert ece == pytest.approx(alone.ece, rel=1e-12)
        assert ece == pytest.approx(ece_definition(rows.confidence, rows.credit, rows.weight, 10))
        assert brier == pytest.approx(alone.brier, rel=1e-12)
    assert c.ece.estimate == pytest.approx(c.delta_ece, rel=1e-12)
    assert c.brier.estimate == pytest.approx(c.delta_brier, rel=1e-12)


@pytest.mark.parametrize("weighted", [False, True])
def test_the_resampled_differences_are_a_naive_paired_bootstraps(weighted):
    a, b = binary_pair(4000, 1, weighted)
    ours = compare_calibration(a, b, n_bins=10, n_resamples=4000, seed=3)
    rng = np.random.default_rng(9)
    ece, brier = [], []
    for _ in range(1500):
        i = rng.integers(0, 4000, 4000)
        w = a.weight[i]
        ece.append(
            ece_definition(b.confidence[i], b.credit[i], w, 10)
            - ece_definition(a.confidence[i], a.credit[i], w, 10)
        )
        brier.append(np.average(b.brier[i] - a.brier[i], weights=w))
    ece, brier = np.array(ece), np.array(brier)
    # means within 4 Monte Carlo errors of the naive one's; spreads within 7%
    for mine, naive in ((ours.ece.resamples, ece), (ours.brier.resamples, brier)):
        error = naive.std() * math.sqrt(1 / 1500 + 1 / 4000)
        assert abs(mine.mean() - naive.mean()) < 4 * error
        assert mine.std() == pytest.approx(naive.std(), rel=0.07)


def test_the_jackknife_is_every_leave_one_out_ece_difference():
    a, b = binary_pair(60, 2, weighted=True)
    edges = np.arange(6) / 5
    b_bin = np.clip(np.ceil(a.confidence * 5).astype(int) - 1, 0, 4)
    c_bin = np.clip(np.ceil(b.confidence * 5).astype(int) - 1, 0, 4)
    assert edges[0] == 0  # the bins of ece_definition
    loo = _ece_jackknife(b_bin, a.weight * (a.credit - a.confidence), c_bin,
                         b.weight * (b.credit - b.confidence), a.weight, 5)  # fmt: skip
    for i in range(60):
        keep = np.arange(60) != i
        expected = ece_definition(b.confidence[keep], b.credit[keep], b.weight[keep], 5) - (
            ece_definition(a.confidence[keep], a.credit[keep], a.weight[keep], 5)
        )
        assert loo[i] == pytest.approx(expected, abs=1e-12)


def test_the_brier_interval_covers_the_true_difference_at_the_nominal_rate():
    # p calibrated; q = p shrunk to 1/2 by a factor 0.6: E[(q - t)^2 - (p - t)^2] over p uniform
    # and t ~ Bernoulli(p) is E[(q - p)^2] = 0.16 E[(p - 1/2)^2] = 0.16 / 12
    true, trials, covered = 0.16 / 12, 300, 0
    for trial in range(trials):
        rng = np.random.default_rng([2040, trial])
        p = rng.random(400)
        t = (rng.random(400) < p).astype(float)
        q = 0.5 + 0.6 * (p - 0.5)
        a = CalibrationRows(p, t, (p - t) ** 2, np.ones(400))
        b = CalibrationRows(q, t, (q - t) ** 2, np.ones(400))
        c = compare_calibration(a, b, n_bins=10, n_resamples=500, seed=trial)
        covered += c.brier.ci_low <= true <= c.brier.ci_high
    rate = covered / trials
    assert abs(rate - 0.95) <= 3.5 * math.sqrt(0.95 * 0.05 / trials), rate


def test_too_few_rows_give_no_interval():
    a, b = binary_pair(8, 3)
    c = compare_calibration(a, b)
    assert c.ece is None
    assert c.brier is None


def write_model(path, y, z):
    p = softmax(z, axis=1)
    header = ",".join(f"p{j}" for j in range(p.shape[1])) + ",label,id"
    lines = [",".join(f"{v:.17g}" for v in row) + f",{label},r{i}"
             for i, (row, label) in enumerate(zip(p, y, strict=True))]  # fmt: skip
    path.write_text(header + "\n" + "\n".join(lines) + "\n")
    return p


def test_the_cli_compares_the_calibration_of_both_files(tmp_path):
    rng = np.random.default_rng(4)
    y = rng.integers(0, 3, 500)
    z = rng.normal(size=(500, 3)) * 2
    z[np.arange(500), y] += 1
    pa = write_model(tmp_path / "a.csv", y, z)
    pb = write_model(tmp_path / "b.csv", y, 1.8 * z)  # sharper: over-confident
    args = ["compare", str(tmp_path / "a.csv"), str(tmp_path / "b.csv"), "--label-col", "label"]
    plain = json.loads(CliRunner().invoke(app, [*args, "-f", "json"]).stdout)
    assert "calibration" not in plain
    result = CliRunner().invoke(app, [*args, "--calibration", "--bins", "10", "-f", "json"])
    assert result.exit_code == 0, result.output
    got = json.loads(result.stdout)["calibration"]
    for side, p in (("baseline", pa), ("candidate", pb)):
        alone = calibration(y, p, n_bins=10)
        assert got[f"{side}_ece"] == pytest.approx(alone.ece, rel=1e-9)
        assert got[f"{side}_brier"] == pytest.approx(alone.brier, rel=1e-9)
    assert got["ece_ci_low"] < got["delta_ece"] < got["ece_ci_high"]
    # joined on ids in another order: the same facts, the same resamples
    order = rng.permutation(500)
    write_model(tmp_path / "b2.csv", y[order], 1.8 * z[order])
    (tmp_path / "b2.csv").write_text(
        "\n".join(
            line if i == 0 else line.rsplit(",", 1)[0] + f",r{order[i - 1]}"
            for i, line in enumerate((tmp_path / "b2.csv").read_text().splitlines())
        )
        + "\n"
    )
    joined = CliRunner().invoke(
        app,
        ["compare", str(tmp_path / "a.csv"), str(tmp_path / "b2.csv"), "--label-col", "label",
         "--id-col", "id", "--calibration", "--bins", "10", "-f", "json"],
    )  # fmt: skip
    assert joined.exit_code == 0, joined.output
    again = json.loads(joined.stdout)["calibration"]
    assert again["delta_ece"] == pytest.approx(got["delta_ece"], rel=1e-9)
    assert again["delta_brier"] == pytest.approx(got["delta_brier"], rel=1e-9)
    table = CliRunner().invoke(app, [*args, "--calibration"])
    assert "ECE (15 bins)" in table.stdout


def test_bins_without_calibration_and_multilabel_are_refused(tmp_path):
    path, labels = tmp_path / "m.csv", tmp_path / "labels.csv"
    path.write_text("a,b\n0.2,0.9\n0.7,0.4\n")
    labels.write_text("a,b\n0,1\n1,0\n")
    runner = CliRunner()
    result = runner.invoke(app, ["compare", str(path), str(path), str(labels), "--bins", "5"])
    assert result.exit_code == 2
    assert "--bins applies to --calibration" in result.output
    result = runner.invoke(
        app,
        ["compare", str(path), str(path), str(labels), "--kind", "multilabel", "--calibration"],
    )
    assert result.exit_code == 2, result.output
    assert "multilabel" in result.output
