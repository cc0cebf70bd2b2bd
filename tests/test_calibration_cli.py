"""`cecli score --calibration` and `--plot` as their users meet them: JSON, table, CSV,
markdown, pictures, and the errors.

The numbers are checked against references written here, independently of cecli,
on the arrays the test itself wrote to the input files:

* equal-width bins from the definition: bin ``b`` holds ``b / n < c <= (b + 1) / n``
  and the first bin also holds 0; ``ECE = sum_b (W_b / W) |acc_b - conf_b|``,
  ``MCE = max_b |acc_b - conf_b|`` over bins with weight;
* scikit-learn's ``calibration_curve(strategy="uniform")`` for the non-empty bins'
  accuracy and confidence, and ``brier_score_loss`` for binary predictions;
* the multiclass Brier score ``sum_k (p_k - t_k)^2``, the mean entropy
  ``-sum_k p_k log p_k`` and, for soft targets, ``H(t) + KL(t || p)``, written here;
* a known temperature: labels drawn from ``softmax(z)`` and predictions ``3 z``.

Every data set is drawn with a fixed seed, and no confidence lies within 1e-6 of a
bin edge (checked), where the conventions of bin edges could differ. The library
itself is tested in test_calibration.py; this file tests what the command adds.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import re
import struct
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from calibration_definitions import reference_bins, reference_ece_mce
from scipy.special import expit
from sklearn.calibration import calibration_curve
from sklearn.metrics import brier_score_loss
from typer.testing import CliRunner

from cecli.cli import app

runner = CliRunner()

CLASSES = ("cat", "dog", "bird", "fish")
#: What ``calibration`` in the JSON report holds, whatever the kind.
CALIBRATION_KEYS = {
    "ece",
    "mce",
    "brier",
    "bins",
    "temperature",
    "loss_at_temperature",
    "ece_at_temperature",
}
BIN_KEYS = {"lower", "upper", "count", "confidence", "accuracy"}
#: The CSV report's calibration columns, in order, just before ``passed``.
CSV_CALIBRATION_COLUMNS = [
    "ece",
    "mce",
    "adaptive_ece",
    "brier",
    "temperature",
    "loss_at_temperature",
    "ece_at_temperature",
]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: A reliability table's row: interval, count, mean confidence, accuracy, gap.
RELIABILITY_ROW = re.compile(
    r"^\s*(\d\.\d{3}) - (\d\.\d{3})\s+([\d,]+)\s+(\d\.\d{3})\s+(\d\.\d{3})\s+([+-]\d\.\d{3})\s"
)


# --- references --------------------------------------------------------------------------


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def weighted_mean(values, weight=None) -> float:
    values = np.asarray(values, dtype=np.float64)
    if weight is None:
        return float(values.mean())
    return float(np.asarray(weight) @ values / np.sum(weight))


def categorical_entropy(p: np.ndarray) -> np.ndarray:
    return -(p * np.log(p)).sum(axis=1)


def bernoulli_entropy(p: np.ndarray) -> np.ndarray:
    return -(p * np.log(p) + (1 - p) * np.log1p(-p))


def assert_off_the_edges(confidence, n_bins: int) -> None:
    """The data sets keep away from the bin edges, where conventions may differ."""
    scaled = np.asarray(confidence, dtype=np.float64) * n_bins
    assert np.abs(scaled - np.round(scaled)).min() > 1e-6


def assert_bins_match(calibration: dict, confidence, credit, n_bins, weight=None) -> None:
    """The JSON bins, ECE and MCE are those of the definition."""
    assert_off_the_edges(confidence, n_bins)
    want = reference_bins(confidence, credit, n_bins, weight)
    assert calibration["n_bins"] == n_bins
    assert len(calibration["bins"]) == n_bins
    for got, expected in zip(calibration["bins"], want, strict=True):
        assert set(got) >= BIN_KEYS
        assert got["lower"] == pytest.approx(expected["lower"], abs=1e-15)
        assert got["upper"] == pytest.approx(expected["upper"], abs=1e-15)
        assert got["count"] == expected["count"]
        assert got["weight"] == pytest.approx(expected["weight"], rel=1e-12)
        if expected["count"]:
            assert got["confidence"] == pytest.approx(expected["confidence"], rel=1e-12)
            assert got["accuracy"] == pytest.approx(expected["accuracy"], rel=1e-12, abs=1e-15)
        else:
            assert got["confidence"] is None
            assert got["accuracy"] is None
    ece, mce = reference_ece_mce(want)
    assert calibration["ece"] == pytest.approx(ece, rel=1e-9, abs=1e-15)
    assert calibration["mce"] == pytest.approx(mce, rel=1e-9, abs=1e-15)


def assert_bins_are_calibration_curve(calibration: dict, y01, prob) -> None:
    """Non-empty bins: fraction of positives and mean probability as scikit-learn has them."""
    n_bins = calibration["n_bins"]
    assert_off_the_edges(prob, n_bins)
    prob_true, prob_pred = calibration_curve(y01, prob, n_bins=n_bins, strategy="uniform")
    used = [b for b in calibration["bins"] if b["count"]]
    assert len(used) == len(prob_true)
    np.testing.assert_allclose([b["accuracy"] for b in used], prob_true, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose([b["confidence"] for b in used], prob_pred, rtol=1e-12)


# --- files -------------------------------------------------------------------------------


def write_csv(path: Path, columns: dict[str, np.ndarray]) -> Path:
    """A CSV with a header; floats written with repr, so that they are read back exactly."""
    cells = []
    for values in columns.values():
        values = np.asarray(values)
        if values.dtype.kind == "f":
            cells.append([repr(float(v)) for v in values])
        else:
            cells.append([str(v) for v in values])
    lines = [",".join(columns), *(",".join(row) for row in zip(*cells, strict=True))]
    path.write_text("\n".join(lines) + "\n")
    return path


def matrix(names, values: np.ndarray) -> dict[str, np.ndarray]:
    return {name: values[:, j] for j, name in enumerate(names)}


@dataclass(frozen=True)
class Case:
    """The files, and what they hold: the probabilities and the labels as class indices."""

    preds: Path
    labels: Path
    probs: np.ndarray
    y: np.ndarray


def categorical(tmp_path: Path, *, n: int, seed: int, logits: bool = False) -> Case:
    """Over-confident predictions ``softmax(z)``: labels drawn from ``softmax(0.6 z)``."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0.0, 1.5, size=(n, len(CLASSES)))
    probs = softmax(z)
    drawn = softmax(0.6 * z)
    y = (drawn.cumsum(axis=1) > rng.random((n, 1))).argmax(axis=1)
    preds = write_csv(tmp_path / "preds.csv", matrix(CLASSES, z if logits else probs))
    labels = write_csv(tmp_path / "labels.csv", {"label": np.array(CLASSES)[y]})
    return Case(preds, labels, probs, y)


@pytest.fixture
def probs_case(tmp_path) -> Case:
    return categorical(tmp_path, n=600, seed=11)


@pytest.fixture(scope="module")
def larger_case(tmp_path_factory) -> Case:
    """3,000 rows, for bins that hold hundreds of rows each."""
    return categorical(tmp_path_factory.mktemp("larger"), n=3000, seed=20)


def invoke(*args, **kwargs):
    return runner.invoke(app, ["score", *map(str, args)], **kwargs)


def score_json(*args, **kwargs) -> dict:
    result = invoke(*args, "-f", "json", **kwargs)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def run_cecli(*args):
    """The installed command in a real process."""
    command = [sys.executable, "-m", "cecli", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, check=False)


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk, which must come first."""
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    length, chunk = struct.unpack(">I4s", data[8:16])
    assert (length, chunk) == (13, b"IHDR")
    return struct.unpack(">II", data[16:24])


def reliability_rows(text: str) -> list[tuple[float, float, int, float, float]]:
    """The rows of the table printed under the "Reliability" title."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Reliability"))
    rows = []
    for line in lines[start + 1 :]:
        match = RELIABILITY_ROW.match(line)
        if match:
            lower, upper, count, conf, acc, _ = match.groups()
            count = int(count.replace(",", ""))
            rows.append((float(lower), float(upper), count, float(conf), float(acc)))
    return rows


# --- 1. the numbers, against the references ---------------------------------------------


@pytest.mark.parametrize("n_bins", [None, 10])
def test_categorical_probabilities_follow_the_definitions(probs_case, n_bins):
    bins_args = () if n_bins is None else ("--bins", n_bins)
    data = score_json(probs_case.preds, probs_case.labels, "--calibration", *bins_args)
    c = data["calibration"]
    assert set(c) >= CALIBRATION_KEYS
    p, y = probs_case.probs, probs_case.y
    confidence = p.max(axis=1)
    correct = (p.argmax(axis=1) == y).astype(float)
    assert_bins_match(c, confidence, correct, n_bins or 15)
    assert_bins_are_calibration_curve(c, correct, confidence)
    onehot = np.eye(len(CLASSES))[y]
    assert c["brier"] == pytest.approx(((p - onehot) ** 2).sum(axis=1).mean(), rel=1e-12)
    assert c["entropy"] == pytest.approx(categorical_entropy(p).mean(), rel=1e-9)
    assert c["mean_confidence"] == pytest.approx(confidence.mean(), rel=1e-12)
    assert c["accuracy"] == pytest.approx(correct.mean(), rel=1e-12)
    for key in ("temperature", "loss_at_temperature", "ece_at_temperature"):
        assert isinstance(c[key], float)
    # hard labels: no split of the cross-entropy
    assert c["target_entropy"] is None
    assert c["kl_divergence"] is None


def test_bins_option_changes_the_number_of_bins(probs_case):
    counts = {}
    for n_bins in (5, 10, 15):
        data = score_json(probs_case.preds, probs_case.labels, "--calibration", "--bins", n_bins)
        counts[n_bins] = len(data["calibration"]["bins"])
    assert counts == {5: 5, 10: 10, 15: 15}


def test_categorical_logits_follow_the_definitions(tmp_path):
    case = categorical(tmp_path, n=500, seed=12, logits=True)
    data = score_json(case.preds, case.labels, "--logits", "--calibration")
    assert data["input"] == "logits"
    c = data["calibration"]
    p, y = case.probs, case.y
    confidence = p.max(axis=1)
    correct = (p.argmax(axis=1) == y).astype(float)
    assert_bins_match(c, confidence, correct, 15)
    assert_bins_are_calibration_curve(c, correct, confidence)
    onehot = np.eye(len(CLASSES))[y]
    assert c["brier"] == pytest.approx(((p - onehot) ** 2).sum(axis=1).mean(), rel=1e-12)
    assert c["entropy"] == pytest.approx(categorical_entropy(p).mean(), rel=1e-9)
    # fitted on every row, the "before" of the fit is the report itself
    assert c["temperature_rows"] == 500
    assert c["ece_before_temperature"] == pytest.approx(c["ece"], rel=1e-9)
    assert c["loss_before_temperature"] == pytest.approx(data["mean_loss"], rel=1e-9)


@pytest.mark.parametrize("from_logits", [False, True], ids=["probabilities", "logits"])
def test_binary_bins_the_positive_class_probability_as_scikit_learn(tmp_path, from_logits):
    rng = np.random.default_rng(13)
    n = 500
    z = rng.normal(0.0, 2.0, n)
    p = expit(z)
    y = (rng.random(n) < expit(0.5 * z)).astype(int)  # over-confident
    written = z if from_logits else p
    preds = write_csv(tmp_path / "binary.csv", {"score": written, "label": y})
    data = score_json(preds, "--calibration", *(["--logits"] if from_logits else []))
    assert data["kind"] == "binary"
    c = data["calibration"]
    assert c["binned"] == "positive-class probability"
    assert_bins_match(c, p, y, 15)
    assert_bins_are_calibration_curve(c, y, p)
    assert c["brier"] == pytest.approx(brier_score_loss(y, p), rel=1e-12)
    assert c["entropy"] == pytest.approx(bernoulli_entropy(p).mean(), rel=1e-9)
    assert c["mean_confidence"] == pytest.approx(p.mean(), rel=1e-12)
    assert c["accuracy"] == pytest.approx(y.mean(), rel=1e-12)


def test_multilabel_bins_every_cell_as_a_binary_prediction(tmp_path):
    rng = np.random.default_rng(14)
    n, names = 300, ("even", "large", "prime")
    p = rng.uniform(0.01, 0.99, size=(n, len(names)))
    y = (rng.random((n, len(names))) < p**1.5).astype(int)
    preds = write_csv(tmp_path / "ml_preds.csv", matrix(names, p))
    labels = write_csv(tmp_path / "ml_labels.csv", matrix(names, y))
    data = score_json(preds, labels, "--kind", "multilabel", "--calibration")
    assert data["kind"] == "multilabel"
    c = data["calibration"]
    cells_p, cells_y = p.ravel(), y.ravel()
    assert sum(b["count"] for b in c["bins"]) == n * len(names)
    assert_bins_match(c, cells_p, cells_y, 15)
    assert_bins_are_calibration_curve(c, cells_y, cells_p)
    assert c["brier"] == pytest.approx(brier_score_loss(cells_y, cells_p), rel=1e-12)
    assert c["entropy"] == pytest.approx(bernoulli_entropy(cells_p).mean(), rel=1e-9)


def test_soft_targets_split_the_cross_entropy_into_entropy_and_kl(tmp_path):
    rng = np.random.default_rng(15)
    n, names = 400, CLASSES[:3]
    p = softmax(rng.normal(0.0, 1.5, size=(n, 3)))
    t = rng.dirichlet([1.0, 1.0, 1.0], size=n)
    preds = write_csv(tmp_path / "soft_preds.csv", matrix(names, p))
    labels = write_csv(tmp_path / "soft_labels.csv", matrix(names, t))
    data = score_json(preds, labels, "--calibration")
    c = data["calibration"]
    target_entropy = -(t * np.log(t)).sum(axis=1).mean()
    kl = (t * np.log(t / p)).sum(axis=1).mean()
    cross_entropy = -(t * np.log(p)).sum(axis=1).mean()
    assert c["target_entropy"] == pytest.approx(target_entropy, rel=1e-9)
    assert c["kl_divergence"] == pytest.approx(kl, rel=1e-9)
    assert c["cross_entropy"] == pytest.approx(cross_entropy, rel=1e-9)
    assert c["target_entropy"] + c["kl_divergence"] == pytest.approx(c["cross_entropy"], rel=1e-9)
    assert c["cross_entropy"] == pytest.approx(data["mean_loss"], rel=1e-9)
    assert c["brier"] == pytest.approx(((p - t) ** 2).sum(axis=1).mean(), rel=1e-12)
    # a row's credit is the target probability of the predicted class
    credit = t[np.arange(n), p.argmax(axis=1)]
    assert_bins_match(c, p.max(axis=1), credit, 15)


def test_without_calibration_the_json_calibration_is_null(probs_case):
    data = score_json(probs_case.preds, probs_case.labels)
    assert "calibration" in data
    assert data["calibration"] is None


def test_bits_change_the_entropy_and_losses_not_the_calibration_errors(tmp_path):
    case = categorical(tmp_path, n=400, seed=16, logits=True)
    nats = score_json(case.preds, case.labels, "--logits", "--calibration")["calibration"]
    bits = score_json(case.preds, case.labels, "--logits", "--calibration", "--base", "2")
    b = bits["calibration"]
    assert bits["unit"] == "bits"
    for key in ("entropy", "loss_at_temperature", "loss_before_temperature"):
        assert b[key] == pytest.approx(nats[key] / np.log(2), rel=1e-9)
    for key in ("ece", "mce", "brier", "temperature", "ece_at_temperature"):
        assert b[key] == pytest.approx(nats[key], rel=1e-9)


# --- 2. temperature ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sharpened(tmp_path_factory) -> Case:
    """20,000 rows x 5 classes: labels drawn from softmax(z), the logits written are 3 z."""
    folder = tmp_path_factory.mktemp("sharpened")
    rng = np.random.default_rng(0)
    n, names = 20_000, ("a", "b", "c", "d", "e")
    z = rng.normal(0.0, 2.0, size=(n, len(names)))
    p = softmax(z)
    y = (p.cumsum(axis=1) > rng.random((n, 1))).argmax(axis=1)
    preds = write_csv(folder / "logits.csv", matrix(names, 3.0 * z))
    labels = write_csv(folder / "labels.csv", {"label": np.array(names)[y]})
    return Case(preds, labels, softmax(3.0 * z), y)


def test_logits_three_times_too_large_fit_a_temperature_of_three(sharpened):
    data = score_json(sharpened.preds, sharpened.labels, "--logits", "--calibration")
    c = data["calibration"]
    assert c["temperature"] == pytest.approx(3.0, abs=0.1)
    assert c["temperature_at_bound"] is False
    assert c["temperature_rows"] == 20_000
    assert c["loss_at_temperature"] < c["loss_before_temperature"]
    assert c["loss_before_temperature"] == pytest.approx(data["mean_loss"], rel=1e-9)
    assert c["ece_at_temperature"] < c["ece"]
    # the fitted model is near calibrated: its ECE is a small part of the original one
    assert c["ece_at_temperature"] < 0.25 * c["ece"]


def test_binary_logits_three_times_too_large_fit_a_temperature_of_three(tmp_path):
    rng = np.random.default_rng(1)
    n = 20_000
    z = rng.normal(0.0, 2.0, n)
    y = (rng.random(n) < expit(z)).astype(int)
    preds = write_csv(tmp_path / "binary_logits.csv", {"logit": 3.0 * z, "label": y})
    c = score_json(preds, "--logits", "--calibration")["calibration"]
    assert c["temperature"] == pytest.approx(3.0, abs=0.1)
    assert c["loss_at_temperature"] < c["loss_before_temperature"]
    assert c["ece_at_temperature"] < c["ece"]


def test_the_table_says_the_temperature_was_fitted_on_all_rows(probs_case):
    result = invoke(probs_case.preds, probs_case.labels, "--calibration", env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.stderr
    assert "fitted on all 600 rows" in result.stdout


def test_many_values_fit_the_temperature_on_a_sample(probs_case, monkeypatch):
    monkeypatch.setattr("cecli.folds.TEMPERATURE_SAMPLE_VALUES", 1000)
    n, k = probs_case.probs.shape
    args = (probs_case.preds, probs_case.labels, "--calibration")
    c = score_json(*args)["calibration"]
    rows = c["temperature_rows"]
    assert rows < n
    assert rows * k <= 1000  # at most that many values are held
    assert rows == 1000 // k  # and as many rows as fit
    table = invoke(*args, env={"COLUMNS": "80"})
    assert table.exit_code == 0, table.stderr
    assert f"a sample of {rows} of {n} rows" in table.stdout
    assert "fitted on all" not in table.stdout


def test_many_rows_fit_the_temperature_on_a_sample_of_rows(probs_case, monkeypatch):
    monkeypatch.setattr("cecli.folds.TEMPERATURE_SAMPLE_ROWS", 250)
    n = len(probs_case.probs)
    c = score_json(probs_case.preds, probs_case.labels, "--calibration")["calibration"]
    assert c["temperature_rows"] == 250 < n


def test_standard_input_gives_the_temperature_that_the_file_gives(sharpened, monkeypatch):
    # with a sample, so that the answer depends on which rows were kept; the file
    # (1.9 MB) is read in many chunks of 64 KB, standard input in larger ones
    monkeypatch.setattr("cecli.folds.TEMPERATURE_SAMPLE_VALUES", 1000)
    case, args = sharpened, ("--logits", "--calibration")
    from_file = score_json(case.preds, case.labels, *args, "--chunk-size", "64K")
    from_file = from_file["calibration"]
    from_stdin = score_json("-", case.labels, *args, input=case.preds.read_text())
    from_stdin = from_stdin["calibration"]
    assert from_stdin["temperature_rows"] == from_file["temperature_rows"] == 200
    assert from_stdin["temperature"] == pytest.approx(from_file["temperature"], rel=1e-12)
    assert from_stdin["loss_at_temperature"] == pytest.approx(
        from_file["loss_at_temperature"], rel=1e-12
    )
    assert from_stdin["ece"] == pytest.approx(from_file["ece"], rel=1e-12)


# --- 3. weighted rows ----------------------------------------------------------------------


def test_sample_weights_make_ece_and_brier_weighted_categorical(tmp_path):
    case = categorical(tmp_path, n=500, seed=17)
    p, y = case.probs, case.y
    confidence = p.max(axis=1)
    correct = (p.argmax(axis=1) == y).astype(float)
    rng = np.random.default_rng(18)
    # heavier where the model is confident: the weighted ECE is far from the plain one
    w = rng.uniform(0.2, 1.0, len(y)) * np.where(confidence > 0.7, 8.0, 1.0)
    preds = write_csv(tmp_path / "weighted.csv", {**matrix(CLASSES, p), "w": w})
    data = score_json(preds, case.labels, "--weight-col", "w", "--calibration")
    c = data["calibration"]
    assert_bins_match(c, confidence, correct, 15, w)
    brier = ((p - np.eye(len(CLASSES))[y]) ** 2).sum(axis=1)
    assert c["brier"] == pytest.approx(weighted_mean(brier, w), rel=1e-12)
    assert c["entropy"] == pytest.approx(weighted_mean(categorical_entropy(p), w), rel=1e-9)
    assert c["accuracy"] == pytest.approx(weighted_mean(correct, w), rel=1e-12)
    # the weights matter: the unweighted values differ
    plain, _ = reference_ece_mce(reference_bins(confidence, correct, 15))
    assert abs(c["ece"] - plain) > 1e-3
    assert abs(c["brier"] - brier.mean()) > 1e-3


def test_sample_weights_make_ece_and_brier_weighted_binary(tmp_path):
    rng = np.random.default_rng(19)
    n = 500
    p = rng.uniform(0.02, 0.98, n)
    y = (rng.random(n) < p**2).astype(int)
    w = rng.uniform(0.2, 1.0, n) * np.where(p > 0.5, 6.0, 1.0)
    preds = write_csv(tmp_path / "weighted_binary.csv", {"p": p, "weight": w, "label": y})
    c = score_json(preds, "--weight-col", "weight", "--calibration")["calibration"]
    assert_bins_match(c, p, y, 15, w)
    assert c["brier"] == pytest.approx(brier_score_loss(y, p, sample_weight=w), rel=1e-12)
    assert abs(c["brier"] - brier_score_loss(y, p)) > 1e-3


# --- 4. the table --------------------------------------------------------------------------


def test_the_table_shows_calibration_and_one_reliability_row_per_non_empty_bin(probs_case):
    result = invoke(probs_case.preds, probs_case.labels, "--calibration", env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    for text in ("Calibration", "ECE", "MCE", "Brier", "Reliability, equal-width bins"):
        assert text in out
    assert max(len(line) for line in out.splitlines()) <= 80
    p, y = probs_case.probs, probs_case.y
    want = [b for b in reference_bins(p.max(axis=1), p.argmax(axis=1) == y, 15) if b["count"]]
    rows = reliability_rows(out)
    assert len(rows) == len(want)
    for (lower, upper, count, conf, acc), b in zip(rows, want, strict=True):
        assert (lower, upper) == (round(b["lower"], 3), round(b["upper"], 3))
        assert count == b["count"]
        assert conf == pytest.approx(b["confidence"], abs=5.1e-4)
        assert acc == pytest.approx(b["accuracy"], abs=5.1e-4)


def test_adaptive_shows_equal_mass_bins(larger_case):
    case = larger_case
    n, n_bins = 3000, 10
    args = (case.preds, case.labels, "--calibration", "--adaptive", "--bins", n_bins)
    result = invoke(*args, env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.stderr
    assert "Reliability, equal-mass bins" in result.stdout
    rows = reliability_rows(result.stdout)
    assert 0.8 * n_bins <= len(rows) <= n_bins
    counts = [row[2] for row in rows]
    assert sum(counts) == n
    for count in counts:
        assert n / n_bins / 1.5 <= count <= 1.5 * n / n_bins
    # the groups follow one another upwards
    for before, after in itertools.pairwise(rows):
        assert before[1] == after[0]
    # each group holds exactly the confidences between its edges
    confidence = case.probs.max(axis=1)
    correct = case.probs.argmax(axis=1) == case.y
    adaptive = score_json(*args)["calibration"]["adaptive_bins"]
    assert [b["count"] for b in adaptive] == counts
    for b in adaptive:
        inside = (confidence > b["lower"]) & (confidence <= b["upper"])
        assert b["count"] == inside.sum()
        assert b["confidence"] == pytest.approx(confidence[inside].mean(), rel=1e-12)
        assert b["accuracy"] == pytest.approx(correct[inside].mean(), rel=1e-12)


# --- 5. CSV and markdown -------------------------------------------------------------------


def test_csv_has_the_calibration_columns_before_passed_with_the_json_values(probs_case):
    args = (probs_case.preds, probs_case.labels, "--calibration")
    result = invoke(*args, "-f", "csv")
    assert result.exit_code == 0, result.stderr
    header, row, *rest = list(csv.reader(io.StringIO(result.stdout)))
    assert rest == []
    assert header[-8:] == [*CSV_CALIBRATION_COLUMNS, "passed"]
    c = score_json(*args)["calibration"]
    values = dict(zip(header, row, strict=True))
    for column in CSV_CALIBRATION_COLUMNS:
        assert float(values[column]) == c[column], column
    plain = invoke(probs_case.preds, probs_case.labels, "-f", "csv")
    assert "ece" not in next(csv.reader(io.StringIO(plain.stdout)))


def test_markdown_has_calibration_and_reliability_sections(probs_case):
    result = invoke(probs_case.preds, probs_case.labels, "--calibration", "-f", "markdown")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "#### Calibration" in lines
    start = next(i for i, line in enumerate(lines) if line.startswith("#### Reliability"))
    # the table's rows: after its header and rule, up to the first line that is not a row
    table = []
    for line in lines[start + 4 :]:
        if not line.startswith("|"):
            break
        table.append(line)
    p, y = probs_case.probs, probs_case.y
    want = [b for b in reference_bins(p.max(axis=1), p.argmax(axis=1) == y, 15) if b["count"]]
    assert [int(line.split("|")[2].strip().replace(",", "")) for line in table] == [
        b["count"] for b in want
    ]
    plain = invoke(probs_case.preds, probs_case.labels, "-f", "markdown")
    assert "#### Calibration" not in plain.stdout
    assert "#### Reliability" not in plain.stdout


# --- 6. pictures ---------------------------------------------------------------------------


@pytest.mark.parametrize("with_calibration", [True, False], ids=["calibration", "plot-only"])
def test_plot_writes_a_png_of_800_by_1000_pixels(probs_case, tmp_path, with_calibration):
    out = tmp_path / "score.png"
    extra = ["--calibration"] if with_calibration else []
    data = score_json(probs_case.preds, probs_case.labels, "--plot", out, *extra)
    assert png_size(out) == (800, 1000)
    assert (data["calibration"] is None) is not with_calibration


@pytest.mark.parametrize(
    ("suffix", "looks_right"),
    [
        (".svg", lambda data: data.startswith(b"<?xml") or b"<svg" in data),
        (".pdf", lambda data: data.startswith(b"%PDF")),
    ],
)
def test_plot_writes_svg_and_pdf(probs_case, tmp_path, suffix, looks_right):
    out = tmp_path / f"score{suffix}"
    result = invoke(probs_case.preds, probs_case.labels, "--calibration", "--plot", out)
    assert result.exit_code == 0, result.stderr
    assert looks_right(out.read_bytes())


def test_compare_plot_is_800_by_500_pixels(probs_case, tmp_path):
    rng = np.random.default_rng(21)
    z = np.log(probs_case.probs) + rng.normal(0.0, 0.5, probs_case.probs.shape)
    candidate = write_csv(tmp_path / "candidate.csv", matrix(CLASSES, softmax(z)))
    out = tmp_path / "compare.png"
    result = runner.invoke(
        app,
        [
            "compare",
            str(probs_case.preds),
            str(candidate),
            str(probs_case.labels),
            "--bootstrap",
            "200",
            "--plot",
            str(out),
        ],
    )
    assert result.exit_code in (0, 1), result.stderr
    assert png_size(out) == (800, 500)


def assert_one_line_error(result, *fragments: str) -> None:
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith("cecli: error: ")
    assert result.stderr.count("\n") == 1, result.stderr
    for fragment in fragments:
        assert fragment in result.stderr


def test_plot_with_an_unknown_extension_is_refused_before_any_work(probs_case, tmp_path):
    out = tmp_path / "score.gif"
    result = invoke(probs_case.preds, probs_case.labels, "--calibration", "--plot", out)
    assert_one_line_error(result, ".png", ".svg", ".pdf")
    assert not out.exists()


def test_plot_into_a_missing_folder_names_the_folder(probs_case, tmp_path):
    folder = tmp_path / "no" / "such"
    result = invoke(probs_case.preds, probs_case.labels, "--plot", folder / "x.png")
    assert_one_line_error(result, str(folder), "does not exist")


def test_plot_without_matplotlib_says_how_to_install_it(probs_case, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib fails
    out = tmp_path / "score.png"
    result = invoke(probs_case.preds, probs_case.labels, "--plot", out)
    assert_one_line_error(result, "pip install 'cecli[plot]'")
    assert not out.exists()


def test_an_existing_picture_is_replaced_only_after_success(probs_case, tmp_path):
    out = tmp_path / "score.png"
    out.write_bytes(b"the old picture")
    bad_labels = tmp_path / "bad_labels.csv"
    text = probs_case.labels.read_text().splitlines()
    text[5] = "zebra"  # not a class
    bad_labels.write_text("\n".join(text) + "\n")
    result = invoke(probs_case.preds, bad_labels, "--calibration", "--plot", out)
    assert_one_line_error(result, "zebra")
    assert out.read_bytes() == b"the old picture"
    before = set(tmp_path.iterdir())
    result = invoke(probs_case.preds, probs_case.labels, "--calibration", "--plot", out)
    assert result.exit_code == 0, result.stderr
    assert png_size(out) == (800, 1000)
    assert set(tmp_path.iterdir()) == before  # replaced in place, no temporary left


def test_a_picture_that_fails_to_save_leaves_the_old_one_and_no_temporary(
    probs_case, tmp_path, monkeypatch
):
    import matplotlib.figure

    def full_disk(self, fname, *args, **kwargs):
        Path(fname).write_bytes(b"half a pict")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", full_disk)
    out = tmp_path / "score.png"
    out.write_bytes(b"the old picture")
    before = set(tmp_path.iterdir())
    result = invoke(probs_case.preds, probs_case.labels, "--calibration", "--plot", out)
    assert_one_line_error(result, str(out))
    assert "No space left on device" in result.stderr
    assert out.read_bytes() == b"the old picture"
    assert set(tmp_path.iterdir()) == before


def test_plot_onto_a_folder_is_refused_before_any_work(probs_case, tmp_path):
    folder = tmp_path / "pictures.png"
    folder.mkdir()
    result = invoke(probs_case.preds, probs_case.labels, "--calibration", "--plot", folder)
    assert_one_line_error(result, str(folder))
    assert folder.is_dir()
    assert list(folder.iterdir()) == []


def test_json_with_a_plot_is_alone_on_stdout_in_a_real_process(probs_case, tmp_path):
    out = tmp_path / "score.png"
    args = (probs_case.preds, probs_case.labels, "--calibration", "--plot", out, "-f", "json")
    done = run_cecli("score", *args)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)  # nothing else is on stdout
    assert set(data["calibration"]) >= CALIBRATION_KEYS
    assert "cecli:" not in done.stderr
    assert "Traceback" not in done.stderr
    assert png_size(out) == (800, 1000)


# --- 7. bad --bins ---------------------------------------------------------------------------


@pytest.mark.parametrize("bins", ["0", "-1", "1001", "ten"])
def test_bad_bins_is_one_line_and_exit_status_2(probs_case, bins):
    done = run_cecli("score", probs_case.preds, probs_case.labels, "--calibration", "--bins", bins)
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("cecli: error: ")
    assert "--bins" in lines[0]


@pytest.mark.parametrize("option", [["--bins", "10"], ["--adaptive"]], ids=["bins", "adaptive"])
def test_calibration_options_without_calibration_are_refused(probs_case, option):
    result = invoke(probs_case.preds, probs_case.labels, *option)
    assert_one_line_error(result, option[0], "--calibration")
