"""`cecli score --calibration` gives the same bits on one thread and on two.

The calibration sums (the top-label bins, every class's probability binned, the
temperature) are added over one grid of row blocks from row 0, in row order,
whatever the number of threads. The reference is the serial run itself: the
point is that distributing the rows changes nothing. Each input is large
enough that its passes do run on two threads (several blocks of rows, more than
:data:`cecli._threads.PARALLEL_MIN_BYTES`).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from cecli import _threads
from cecli.cli import app

runner = CliRunner()


def softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def categorical(rng, n, k, dtype, from_logits):
    """Over-confident predictions of ``k`` classes and labels drawn from the calibrated ones."""
    z = rng.normal(0.0, 1.5, size=(n, k))
    labels = (softmax(z).cumsum(axis=1) > rng.random((n, 1))).argmax(axis=1)
    preds = 3.0 * z if from_logits else softmax(3.0 * z)
    return preds.astype(dtype), labels


CASES = {
    # the loss kernel bins every class: float32 logits, float64 probabilities
    "logits float32": dict(n=200_000, k=10, dtype=np.float32, from_logits=True),
    "probabilities float64": dict(n=200_000, k=10, dtype=np.float64, from_logits=False),
    # past the kernel's narrow layout: the classwise blocks of their own
    "80 classes float32 logits": dict(n=40_000, k=80, dtype=np.float32, from_logits=True),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_calibration_json_is_the_same_bits_on_one_and_two_threads(case, tmp_path, monkeypatch):
    rng = np.random.default_rng(16)
    preds, labels = categorical(rng, **case)
    assert preds.nbytes >= 2 * _threads.PARALLEL_MIN_BYTES  # the passes do split the rows
    np.save(tmp_path / "preds.npy", preds)
    np.save(tmp_path / "labels.npy", labels)
    args = ["score", str(tmp_path / "preds.npy"), str(tmp_path / "labels.npy")]
    args += ["--calibration", "-f", "json"] + (["--logits"] if case["from_logits"] else [])
    reports = []
    for threads in ("1", "2"):
        monkeypatch.setenv("CECLI_NUM_THREADS", threads)
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        reports.append(json.loads(result.stdout)["calibration"])
    one, two = reports
    assert one["classwise_ece"] > 0  # something was measured
    assert one["temperature"] > 1
    assert json.dumps(one, sort_keys=True) == json.dumps(two, sort_keys=True)


def test_multilabel_calibration_json_is_the_same_bits_on_one_and_two_threads(tmp_path, monkeypatch):
    rng = np.random.default_rng(17)
    z = rng.normal(0.0, 2.0, size=(150_000, 6))
    targets = (rng.random(z.shape) < 1.0 / (1.0 + np.exp(-z))).astype(np.int64)
    np.save(tmp_path / "preds.npy", (2.0 * z).astype(np.float32))
    np.save(tmp_path / "labels.npy", targets)
    args = ["score", str(tmp_path / "preds.npy"), str(tmp_path / "labels.npy"), "--logits"]
    args += ["--kind", "multilabel", "--calibration", "-f", "json"]
    reports = []
    for threads in ("1", "2"):
        monkeypatch.setenv("CECLI_NUM_THREADS", threads)
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        reports.append(json.dumps(json.loads(result.stdout)["calibration"], sort_keys=True))
    assert reports[0] == reports[1]


def test_weighted_and_soft_target_sums_are_the_same_bits_on_one_and_two_threads(monkeypatch):
    """What the loss kernel does not bin (sample weights, soft targets) runs on blocks of its own,
    on one grid from row 0: the same bits too."""
    from cecli.calibration import calibration

    rng = np.random.default_rng(18)
    logits, labels = categorical(rng, 120_000, 10, np.float32, True)
    weights = rng.uniform(0.5, 2.0, len(labels))
    soft = softmax(rng.normal(0.0, 1.0, size=logits.shape) + 4.0 * np.eye(10)[labels])
    runs = []
    for threads in ("1", "2"):
        monkeypatch.setenv("CECLI_NUM_THREADS", threads)
        weighted = calibration(labels, logits, from_logits=True, sample_weights=weights)
        softened = calibration(soft, logits, from_logits=True)
        runs.append((weighted, softened))
    assert runs[0] == runs[1]
    assert runs[0][0].sample_weighted
    assert runs[0][1].soft_targets
