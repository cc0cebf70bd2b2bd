"""``--ignore-label`` and ``--top-k`` on Dask workers give the serial run's answer.

The shards (one of them every row ignored) are scored by the session's
2-process cluster (conftest.py) and serially; the per-sample parts keep the
ignored rows, marked, as the serial file does.
"""

from __future__ import annotations

import glob
import itertools
import json

import numpy as np
import pandas as pd
import pytest
from json_close import assert_close as close
from typer.testing import CliRunner

pytest.importorskip("distributed")

from cecli.cli import app

runner = CliRunner()
N, K = 120, 4
CUTS = [0, 30, 31, 70, 120]
CLASSES = ["ant", "bee", "cat", "dog"]


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    rng = np.random.default_rng(16)
    probs = rng.dirichlet(np.full(K, 0.6), N)
    labels = rng.integers(0, K, N)
    labels[rng.random(N) < 0.3] = -100
    labels[30] = -100  # the one-row shard: every row ignored
    frame = pd.DataFrame(probs, columns=CLASSES)
    frame["label"] = labels
    folder = tmp_path_factory.mktemp("ignore-shards")
    for i, (lo, hi) in enumerate(itertools.pairwise(CUTS)):
        frame.iloc[lo:hi].to_parquet(folder / f"part-{i:02d}.parquet", index=False)
    return str(folder / "*.parquet"), labels


ARGS = ["--label-col", "label", "--ignore-label", "-100", "--top-k", "2", "-f", "json"]


def test_workers_agree_with_the_serial_run(cluster, shards, tmp_path):
    pattern, labels = shards
    serial = runner.invoke(app, ["score", pattern, *ARGS, "--per-sample", str(tmp_path / "s.csv")])
    spread = runner.invoke(
        app,
        ["score", pattern, *ARGS, "--dask", cluster.scheduler.address,
         "--per-sample", str(tmp_path / "parts") + "/"],
    )  # fmt: skip
    assert serial.exit_code == 0, serial.output
    assert spread.exit_code == 0, spread.output
    a, b = json.loads(serial.stdout), json.loads(spread.stdout)
    assert a["n_ignored"] == b["n_ignored"] == int((labels == -100).sum())
    assert a["top_k_accuracy"] == b["top_k_accuracy"]
    close(a, b)
    rows = pd.read_csv(tmp_path / "s.csv")
    parts = pd.concat(
        [pd.read_parquet(p) for p in sorted(glob.glob(str(tmp_path / "parts" / "*")))]
    ).reset_index(drop=True)
    assert len(rows) == len(parts) == N
    assert parts["ignored"].tolist() == rows["ignored"].tolist() == (labels == -100).tolist()
    assert parts["rank"].tolist() == rows["rank"].tolist()


def test_python_api_on_workers_is_the_serial_result(cluster, shards):
    from cecli.dask import score
    from cecli.folds import ScoreOptions
    from cecli.inputs import InputOptions, Inputs
    from cecli.pipeline import score_inputs

    pattern, labels = shards
    spread = score(pattern, client=cluster, label_col="label", ignore_index=-100, top_k=2)
    with Inputs(pattern, None, InputOptions(label_col="label", ignore_label="-100")) as inputs:
        serial = score_inputs(inputs, ScoreOptions(ignore_index=inputs.ignore_index, top_k=2))
    assert spread.summary.n_ignored == serial.summary.n_ignored == int((labels == -100).sum())
    assert spread.summary.top_k_accuracy == serial.summary.top_k_accuracy
    assert spread.summary.mean_loss == pytest.approx(serial.summary.mean_loss, rel=1e-12)
