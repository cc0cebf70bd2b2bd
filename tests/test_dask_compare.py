"""``cecli compare`` on Dask workers: the serial Poisson run's answer, the same bits every time.

Two models' predictions are cut into the same uneven shards (a 1-row pair,
an empty pair, and a pair whose rows lack a class) and compared on the
session's 2-process ``LocalCluster`` (tests/conftest.py). The reference is
the serial ``cecli compare --ci-method poisson`` of the same files: counts
and rows exactly, floats to 1e-12 relative, and the interval, whose sums are
exact integers, to the bit. The mean loss difference is also checked against
scikit-learn's ``log_loss`` of the rows put together.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from json_close import assert_close as close
from sklearn.metrics import log_loss
from typer.testing import CliRunner

distributed = pytest.importorskip("distributed")

import cecli.dask  # noqa: E402
from cecli.cli import app  # noqa: E402
from cecli.folds import ScoreOptions  # noqa: E402
from cecli.inputs import InputOptions, Inputs  # noqa: E402
from cecli.pairing import CompareOptions, compare_inputs  # noqa: E402

runner = CliRunner()
N, K = 300, 4
#: Uneven shards: a 1-row pair, an empty pair, and the rows of 150..240 have no "dog".
CUTS = [0, 97, 98, 98, 150, 240, 300]
CLASSES = ["ant", "bee", "cat", "dog"]
QUICK = ["--bootstrap", "300", "--top", "7", "-f", "json"]


@pytest.fixture(scope="module")
def table():
    rng = np.random.default_rng(16)
    labels = rng.integers(0, K, N)
    labels[150:240] = labels[150:240] % 3  # a shard pair that lacks a class
    baseline = rng.dirichlet(np.full(K, 0.7), N)
    # the candidate leans towards the label, but gets some rows confidently wrong
    candidate = 0.5 * baseline + 0.5 * np.eye(K)[labels] * rng.uniform(0.2, 1.0, (N, 1))
    candidate += rng.uniform(0.01, 0.1, (N, K))
    wrong = rng.random(N) < 0.08
    candidate[wrong] = np.eye(K)[(labels[wrong] + 1) % K] * 0.95 + 0.0125
    candidate /= candidate.sum(axis=1, keepdims=True)
    weights = rng.uniform(0.5, 2.0, N).round(3)
    return labels, baseline, candidate, weights


def write_model(folder, probs, labels, weights, fmt, columns=CLASSES, cuts=CUTS):
    folder.mkdir()
    frame = pd.DataFrame(probs, columns=CLASSES)[list(columns)]
    frame["label"] = np.array(CLASSES)[labels]
    frame["id"] = [f"s{i:03d}" for i in range(len(frame))]
    if weights is not None:  # read with --weight-col w only
        frame["w"] = weights
    for i, (lo, hi) in enumerate(itertools.pairwise(cuts)):
        part = frame.iloc[lo:hi]
        path = folder / f"part-{i:02d}.{fmt}"
        if fmt == "parquet":
            part.to_parquet(path, index=False)
        else:
            part.to_csv(path, index=False)
    return str(folder / f"*.{fmt}")


@pytest.fixture(scope="module", params=["parquet", "csv"])
def models(request, table, tmp_path_factory):
    labels, baseline, candidate, _weights = table
    folder = tmp_path_factory.mktemp(f"models-{request.param}")
    return (
        write_model(folder / "base", baseline, labels, None, request.param),
        write_model(folder / "cand", candidate, labels, None, request.param),
    )


def run(*args):
    return runner.invoke(app, ["compare", *args])


def run_json(*args):
    result = run(*args)
    assert result.exit_code in (0, 1), result.output
    return result.stdout


def test_workers_agree_with_the_serial_poisson_run(cluster, models, table):
    serial = json.loads(run_json(*models, *QUICK, "--ci-method", "poisson"))
    spread = json.loads(run_json(*models, *QUICK, "--dask", cluster.scheduler.address))
    close(serial, spread)
    # the Poisson sums are exact: the interval is the serial one to the bit
    for key in ("delta_mean_loss", "ci_low", "ci_high", "p_better", "delta_accuracy_ci_low"):
        assert spread[key] == serial[key], key
    assert spread["bootstrap"]["method"] == "poisson"
    assert spread["n_samples"] == N
    assert spread["regressions"], "the data has regressions to list"
    assert spread["largest_increases"]
    # and the mean difference is the definition's, over every row
    labels, baseline, candidate, _ = table
    expected = log_loss(labels, candidate, labels=range(K)) - log_loss(
        labels, baseline, labels=range(K)
    )
    assert math.isclose(spread["delta_mean_loss"], expected, rel_tol=1e-12)


def test_weights_and_class_weights_on_workers_are_the_serial_runs(cluster, table, tmp_path):
    labels, baseline, candidate, weights = table
    base = write_model(tmp_path / "base", baseline, labels, weights, "csv")
    cand = write_model(tmp_path / "cand", candidate, labels, weights, "csv")
    args = [base, cand, *QUICK, "--weight-col", "w", "--class-weights", "1,2,0.5,1"]
    serial = json.loads(run_json(*args, "--ci-method", "poisson"))
    spread = json.loads(run_json(*args, "--dask", cluster.scheduler.address))
    close(serial, spread)
    assert (spread["ci_low"], spread["ci_high"]) == (serial["ci_low"], serial["ci_high"])


def test_the_candidates_classes_in_another_order(cluster, table, tmp_path):
    labels, baseline, candidate, _ = table
    base = write_model(tmp_path / "base", baseline, labels, None, "parquet")
    cand = write_model(tmp_path / "cand", candidate, labels, None, "parquet", CLASSES[::-1])
    serial = json.loads(run_json(base, cand, *QUICK, "--ci-method", "poisson"))
    spread = json.loads(run_json(base, cand, *QUICK, "--dask", cluster.scheduler.address))
    close(serial, spread)


def test_two_runs_are_bit_identical(cluster, models):
    address = cluster.scheduler.address
    first = run_json(*models, *QUICK, "--dask", address)
    assert run_json(*models, *QUICK, "--dask", address) == first


def test_python_api_returns_the_serial_result(cluster, models):
    options = InputOptions()
    with Inputs(models[0], None, options) as b, Inputs(models[1], None, options) as c:
        serial = compare_inputs(
            b, c, ScoreOptions(keep=5), CompareOptions(n_resamples=200, method="poisson")
        )
    spread = cecli.dask.compare(*models, client=cluster, keep=5, n_resamples=200)
    assert type(spread) is type(serial)
    a, s = spread.comparison, serial.comparison
    assert (a.ci_low, a.ci_high, a.delta_mean_loss) == (s.ci_low, s.ci_high, s.delta_mean_loss)
    assert a.regressions == s.regressions
    assert a.fixed == s.fixed
    assert a.largest_increases == s.largest_increases
    assert (a.regression_count, a.fixed_count, a.verdict) == (
        s.regression_count,
        s.fixed_count,
        s.verdict,
    )
    assert spread.ids == serial.ids
    assert spread.baseline.per_class == serial.baseline.per_class
    assert np.array_equal(a.bootstrap.resamples, s.bootstrap.resamples)


def test_a_few_rows_are_insufficient_data_as_serially(cluster, table, tmp_path):
    labels, baseline, candidate, _weights = table
    cuts = [0, 1, 1, 5]  # a 1-row pair and an empty pair among 5 rows
    base = write_model(tmp_path / "b", baseline[:5], labels[:5], None, "parquet", cuts=cuts)
    cand = write_model(tmp_path / "c", candidate[:5], labels[:5], None, "parquet", cuts=cuts)
    serial = json.loads(run_json(base, cand, *QUICK, "--ci-method", "poisson"))
    spread = json.loads(run_json(base, cand, *QUICK, "--dask", cluster.scheduler.address))
    assert spread["verdict"] == "insufficient_data"
    close(serial, spread)


def test_mismatched_shard_counts_name_both_inputs(cluster, table, tmp_path):
    labels, baseline, candidate, _weights = table
    base = write_model(tmp_path / "b", baseline, labels, None, "parquet")
    cand = write_model(tmp_path / "c", candidate, labels, None, "parquet", cuts=[0, 150, 300])
    result = run(base, cand, "--dask", cluster.scheduler.address)
    assert result.exit_code == 2
    assert f"{base} has 6 shard(s) and {cand} has 2" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_mismatched_rows_in_a_shard_pair_name_both_files(cluster, table, tmp_path):
    labels, baseline, candidate, _weights = table
    base = write_model(tmp_path / "b", baseline, labels, None, "parquet", cuts=[0, 100, 300])
    cand = write_model(tmp_path / "c", candidate, labels, None, "parquet", cuts=[0, 90, 300])
    result = run(base, cand, "--dask", cluster.scheduler.address)
    assert result.exit_code == 2
    first_b, first_c = tmp_path / "b" / "part-00.parquet", tmp_path / "c" / "part-00.parquet"
    assert f"{first_c}: has 90 rows but {first_b} has 100" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_label_that_differs_is_named(cluster, table, tmp_path):
    labels, baseline, candidate, _weights = table
    other = labels.copy()
    other[120] = (other[120] + 1) % K
    base = write_model(tmp_path / "b", baseline, labels, None, "csv")
    cand = write_model(tmp_path / "c", candidate, other, None, "csv")
    result = run(base, cand, "--dask", cluster.scheduler.address)
    assert result.exit_code == 2
    shard = tmp_path / "c" / "part-03.csv"  # rows 98..149
    assert f"{shard}: row {120 - 98} (id 's120'): the label is not" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_subprocess_run_starts_its_own_cluster(models, table):
    env = dict(os.environ)
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = here + os.pathsep + env.get("PYTHONPATH", "")
    done = subprocess.run(
        [sys.executable, "-m", "cecli", "compare", *models, "--workers", "2", *QUICK],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    labels, baseline, candidate, _ = table
    expected = log_loss(labels, candidate, labels=range(K)) - log_loss(
        labels, baseline, labels=range(K)
    )
    assert out["n_samples"] == N
    assert out["bootstrap"]["method"] == "poisson"
    assert math.isclose(out["delta_mean_loss"], expected, rel_tol=1e-12)


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        (["--ci-method", "bca"], "--ci-method bca resamples rows"),
        (["--ci-method", "percentile"], "use --ci-method poisson"),
        (["--calibration"], "--calibration's intervals resample rows"),
        (["--by", "label"], "--by slices are compared serially"),
        (["--id-col", "id"], "must line up row by row"),
        (["--class-weights", "balanced"], "--class-weights balanced"),
        (["--top", "0"], "--top 0"),
        (["--workers", "0"], "at least 1"),
        (["--dask", "tcp://127.0.0.1:1"], "not both"),
    ],
)
def test_what_does_not_run_on_workers_is_refused(models, extra, says):
    args = [*models, *extra]
    if "--workers" not in extra:
        args += ["--workers", "2"]
    result = run(*args)
    assert result.exit_code == 2
    assert says in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_standard_input_is_refused(models):
    result = runner.invoke(app, ["compare", "-", models[1], "--workers", "2"], input="a,b\n")
    assert result.exit_code == 2
    assert "standard input" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("flag", [["--workers", "2"], ["--dask", "tcp://127.0.0.1:1"]])
def test_without_dask_the_options_say_how_to_install_it(models, monkeypatch, flag):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed fails
    result = run(*models, *flag)
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert 'pip install "cecli[dask]"' in result.stderr
