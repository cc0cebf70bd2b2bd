"""`cecli score`'s mean-loss interval as users meet it: JSON, the table, CSV, markdown.

The references are scipy.stats's t interval of losses the test computes
itself from the probabilities it wrote, and the weighted definition.
"""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest
import scipy.stats
from typer.testing import CliRunner

from cecli.cli import app

runner = CliRunner()


def _write(tmp_path, probs, labels, weights=None, name="preds.csv"):
    path = tmp_path / name
    k = probs.shape[1]
    header = [f"c{j}" for j in range(k)] + ["label"] + (["w"] if weights is not None else [])
    lines = [",".join(header)]
    for i, row in enumerate(probs):
        cells = [repr(float(p)) for p in row] + [f"c{labels[i]}"]
        if weights is not None:
            cells.append(repr(float(weights[i])))
        lines.append(",".join(cells))
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def data():
    rng = np.random.default_rng(21)
    n, k = 400, 4
    labels = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k))
    logits[np.arange(n), labels] += 1.0
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    losses = -np.log(probs[np.arange(n), labels])
    return probs, labels, losses, rng.lognormal(0.0, 0.5, n)


def _json(args):
    result = runner.invoke(app, ["score", *args, "-f", "json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_json_holds_scipys_t_interval_of_the_losses(tmp_path, data):
    probs, labels, losses, _ = data
    doc = _json([str(_write(tmp_path, probs, labels)), "--label-col", "label"])
    low, high = scipy.stats.t.interval(
        0.95, len(losses) - 1, loc=losses.mean(), scale=scipy.stats.sem(losses)
    )
    assert (doc["ci_low"], doc["ci_high"]) == pytest.approx((low, high), rel=1e-9)
    assert doc["ci_level"] == 0.95
    assert doc["ci_note"] is None  # 400 rows of moderately skewed losses
    keys = list(doc)
    assert keys[keys.index("mean_loss") + 1 : keys.index("mean_loss") + 5] == [
        "ci_low",
        "ci_high",
        "ci_level",
        "ci_note",
    ]


def test_json_interval_with_sample_weights_and_bits(tmp_path, data):
    probs, labels, losses, w = data
    path = _write(tmp_path, probs, labels, w)
    doc = _json([str(path), "--label-col", "label", "--weight-col", "w", "--base", "2"])
    bits = losses / np.log(2)
    s1, s2, s3 = w.sum(), (w * w).sum(), (w**3).sum()
    m = np.sum(w * bits) / s1
    var = np.sum(w * w * (bits - m) ** 2) / s1**2 / (1 - 2 * s3 / (s1 * s2) + s2 / s1**2)
    half = scipy.stats.t.ppf(0.975, s1 * s1 / s2 - 1) * np.sqrt(var)
    assert doc["mean_loss"] == pytest.approx(m)
    assert (doc["ci_low"], doc["ci_high"]) == pytest.approx((m - half, m + half), rel=1e-9)


def test_small_chunks_give_the_same_interval(tmp_path, data):
    probs, labels, _, w = data
    path = str(_write(tmp_path, probs, labels, w))
    base = ["--label-col", "label", "--weight-col", "w", "--class-weights", "balanced"]
    whole = _json([path, *base])
    chunked = _json([path, *base, "--chunk-size", "37"])
    assert (chunked["ci_low"], chunked["ci_high"]) == pytest.approx(
        (whole["ci_low"], whole["ci_high"]), rel=1e-10
    )
    assert whole["ci_low"] < whole["mean_loss"] < whole["ci_high"]


def test_a_few_heavy_rows_are_noted_in_every_format(tmp_path, data):
    probs, labels, _, _ = data
    probs = probs.copy()
    for row in range(3):  # three confident mistakes: about 18 nats each
        wrong = (labels[row] + 1) % probs.shape[1]
        probs[row] = 1e-8
        probs[row, wrong] = 1 - 3e-8
    path = str(_write(tmp_path, probs, labels))
    doc = _json([path, "--label-col", "label"])
    assert doc["ci_note"] == "heavy_tail"

    table = runner.invoke(app, ["score", path, "--label-col", "label"], env={"COLUMNS": "80"})
    lines = table.stdout.splitlines()
    at = next(i for i, line in enumerate(lines) if "mean loss (nats)" in line)
    assert f"95% CI {doc['ci_low']:.4f} to {doc['ci_high']:.4f}" in lines[at]
    assert "a few rows carry much of the loss" in lines[at + 1]

    markdown = runner.invoke(app, ["score", path, "--label-col", "label", "-f", "markdown"])
    row = next(line for line in markdown.stdout.splitlines() if "mean loss" in line)
    assert f"95% CI {doc['ci_low']:.4f} to {doc['ci_high']:.4f}; a few rows" in row

    text = runner.invoke(app, ["score", path, "--label-col", "label", "-f", "csv"]).stdout
    (record,) = csv.DictReader(io.StringIO(text))
    assert float(record["ci_low"]) == doc["ci_low"]
    assert float(record["ci_high"]) == doc["ci_high"]
    assert record["ci_note"] == "heavy_tail"


def test_one_row_has_no_interval_anywhere(tmp_path):
    path = str(_write(tmp_path, np.array([[0.7, 0.3]]), np.array([0])))
    doc = _json([path, "--label-col", "label"])
    assert (doc["ci_low"], doc["ci_high"], doc["ci_note"]) == (None, None, "too_few_rows")
    table = runner.invoke(app, ["score", path, "--label-col", "label"]).stdout
    assert "no 95% CI" in table
    assert "too few rows for an interval" in table
    text = runner.invoke(app, ["score", path, "--label-col", "label", "-f", "csv"]).stdout
    (record,) = csv.DictReader(io.StringIO(text))
    assert (record["ci_low"], record["ci_high"], record["ci_note"]) == ("", "", "too_few_rows")
