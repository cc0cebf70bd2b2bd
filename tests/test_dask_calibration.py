"""The classwise calibration sums on Dask workers: the serial run's measures, and the definition's.

Uneven partitions (one of a row, one empty) of weighted categorical logits and of binary
probabilities are scored on the session's 2-process cluster (conftest.py). The
reference is the serial run of the same frame, floats to 1e-12 relative, and the
definitions of ``test_calibration_measures.py`` over all the rows.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from scipy import special
from test_calibration_measures import reference_measures, torchmetrics_ce

distributed = pytest.importorskip("distributed")
dd = pytest.importorskip("dask.dataframe")

import cecli  # noqa: E402
import cecli.dask  # noqa: E402

N, K = 300, 12
CUTS = [0, 97, 98, 98, 150, 240, 300]
CLASSES = [f"c{i:02d}" for i in range(K)]


def pieces(frame):
    bounds = list(itertools.pairwise(CUTS))
    return dd.from_map(lambda b: frame.iloc[b[0] : b[1]], bounds, meta=frame.iloc[:0])


def calibration_values(summary):
    d = summary.brier_decomposition
    return [summary.rms_calibration_error, summary.classwise_ece, summary.ece, summary.brier,
            d.reliability, d.resolution, d.uncertainty, d.binned_brier, d.within_bins]  # fmt: skip


def test_weighted_logits_on_workers_are_the_serial_run_and_the_definition(cluster):
    rng = np.random.default_rng(16)
    logits = rng.normal(0, 2, (N, K))
    labels = rng.integers(0, K, N)
    weights = rng.uniform(0, 2, N)
    frame = pd.DataFrame(logits, columns=CLASSES)
    frame["label"] = np.array(CLASSES)[labels]
    frame["w"] = weights
    options = {"label_col": "label", "weight_col": "w", "from_logits": True, "keep": 3,
               "calibration_bins": 10}  # fmt: skip
    serial = cecli.score_frame(frame, **options).calibration
    spread = cecli.dask.score_frame(pieces(frame), client=cluster, **options).calibration
    assert calibration_values(spread) == pytest.approx(calibration_values(serial), rel=1e-12)
    want = reference_measures(special.softmax(logits, axis=1), np.eye(K)[labels], 10, weights)
    assert spread.classwise_ece == pytest.approx(want["ece"], rel=1e-9)
    assert spread.brier_decomposition.reliability == pytest.approx(want["rel"], rel=1e-9)
    assert spread.brier_decomposition.within_bins == pytest.approx(want["within"], rel=1e-7)


def test_binary_probabilities_on_workers_are_the_serial_run(cluster):
    rng = np.random.default_rng(61)
    p = rng.uniform(0.01, 0.99, N)
    t = (rng.random(N) < p).astype(int)
    frame = pd.DataFrame({"p": p, "y": t})
    options = {"label_col": "y", "keep": 3, "calibration_bins": 15}
    serial = cecli.score_frame(frame, **options).calibration
    spread = cecli.dask.score_frame(pieces(frame), client=cluster, **options).calibration
    assert calibration_values(spread) == pytest.approx(calibration_values(serial), rel=1e-12)
    assert spread.kind == "binary"
    l2 = torchmetrics_ce(p, t.astype(float), 15, "l2")
    assert spread.rms_calibration_error == pytest.approx(l2, rel=1e-9)
