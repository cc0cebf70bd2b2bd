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


# -- compare on workers ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def model_shards(tmp_path_factory):
    """Two models cut into the same shards as ``shards``: one shard all padding, runs of it.

    Labels as numbers (-100 padding), or as class names ("PAD" padding) with the
    candidate's columns in another order.
    """
    rng = np.random.default_rng(17)
    labels = rng.integers(0, K, N)
    labels[rng.random(N) < 0.3] = -100
    labels[30] = -100  # the one-row shard: every row ignored
    labels[75:95] = -100  # a run, as at a sequence's end
    baseline = rng.dirichlet(np.full(K, 0.8), N)
    # better on most rows, worse on some
    hint = np.eye(K)[np.where(labels < 0, 0, labels)]
    other = rng.dirichlet(np.full(K, 0.8), N)
    candidate = 0.6 * baseline + 0.4 * np.where(rng.random((N, 1)) < 0.7, hint, other)
    names = np.array(["PAD", *CLASSES], dtype=object)[np.where(labels < 0, 0, labels + 1)]
    patterns = {}
    models = (("base", baseline, CLASSES, labels), ("cand", candidate, CLASSES, labels),
              ("base-names", baseline, CLASSES, names),
              ("cand-names", candidate, CLASSES[::-1], names))  # fmt: skip
    for name, probs, columns, label in models:
        frame = pd.DataFrame(probs, columns=CLASSES)[columns]
        frame["label"] = label
        folder = tmp_path_factory.mktemp(f"ignore-{name}")
        for i, (lo, hi) in enumerate(itertools.pairwise(CUTS)):
            frame.iloc[lo:hi].to_parquet(folder / f"part-{i:02d}.parquet", index=False)
        patterns[name] = str(folder / "*.parquet")
    return patterns, labels


COMPARE = ["--label-col", "label", "--top-k", "2", "--bootstrap", "300", "--top", "5"]


@pytest.mark.parametrize(("suffix", "label"), [("", "-100"), ("-names", "PAD")])
def test_compare_on_workers_is_the_serial_poisson_run(cluster, model_shards, suffix, label):
    patterns, labels = model_shards
    base, cand = patterns["base" + suffix], patterns["cand" + suffix]
    args = ["compare", base, cand, *COMPARE, "--ignore-label", label, "-f", "json"]
    serial = runner.invoke(app, [*args, "--ci-method", "poisson"])
    spread = runner.invoke(app, [*args, "--dask", cluster.scheduler.address])
    assert serial.exit_code == 0, serial.output
    assert spread.exit_code == 0, spread.output
    a, b = json.loads(serial.stdout), json.loads(spread.stdout)
    close(a, b)
    # the Poisson sums are exact: the interval is the serial one to the bit
    for key in ("delta_mean_loss", "ci_low", "ci_high", "p_better", "delta_accuracy_ci_low"):
        assert a[key] == b[key], key
    assert b["n_ignored"] == int((labels == -100).sum())
    assert b["n_samples"] == int((labels != -100).sum())
    assert b["delta_top_k_accuracy"] == a["delta_top_k_accuracy"]
    assert all(labels[r["row"]] != -100 for r in b["largest_increases"])
    assert b["largest_increases"], "the candidate is worse on some rows"


def test_compare_python_api_on_workers_is_the_serial_result(cluster, model_shards):
    import cecli.dask
    from cecli.folds import ScoreOptions
    from cecli.inputs import InputOptions, Inputs
    from cecli.pairing import CompareOptions, compare_inputs

    patterns, labels = model_shards
    base, cand = patterns["base"], patterns["cand"]
    spread = cecli.dask.compare(
        base, cand, client=cluster, label_col="label", ignore_index=-100, top_k=2,
        n_resamples=200, keep=5,
    )  # fmt: skip
    options = InputOptions(label_col="label", ignore_label="-100")
    with Inputs(base, None, options) as b, Inputs(cand, None, options) as c:
        serial = compare_inputs(
            b, c, ScoreOptions(keep=5, top_k=2), CompareOptions(n_resamples=200, method="poisson")
        )
    s, w = serial.comparison, spread.comparison
    assert w.n_ignored == s.n_ignored == int((labels == -100).sum())
    assert (w.ci_low, w.ci_high, w.delta_mean_loss) == (s.ci_low, s.ci_high, s.delta_mean_loss)
    assert w.baseline_top_k_accuracy == s.baseline_top_k_accuracy
    assert w.candidate_top_k_accuracy == s.candidate_top_k_accuracy
    assert w.largest_increases == s.largest_increases
    assert w.regressions == s.regressions
