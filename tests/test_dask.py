"""``cecli score`` on Dask workers gives the serial run's answer, the same bits every time.

A real 2-process ``LocalCluster`` (started once for the session, in conftest.py) scores
uneven shards, among them a 1-row shard, an empty one and one missing a
class. The reference is the serial run of the same input, and for the mean
loss scikit-learn's ``log_loss`` of the rows put together: counts and rows
must agree exactly, floats to 1e-12 relative.
"""

from __future__ import annotations

import glob
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

from cecli.cli import app  # noqa: E402
from cecli.dask import (  # noqa: E402
    Part,
    ShardTask,
    merge_parts,
    score,
    score_shard,
)
from cecli.folds import ScoreOptions  # noqa: E402
from cecli.inputs import InputOptions, Inputs  # noqa: E402
from cecli.pipeline import score_inputs  # noqa: E402

runner = CliRunner()
N, K = 300, 4
#: Uneven shards: a 1-row shard, an empty one, and the rows of 150..240 have no "dog".
CUTS = [0, 97, 98, 98, 150, 240, 300]
CLASSES = ["ant", "bee", "cat", "dog"]


@pytest.fixture(scope="module")
def table():
    rng = np.random.default_rng(15)
    probs = rng.dirichlet(np.full(K, 0.6), N)
    labels = rng.integers(0, K, N)
    flip = rng.random(N) < 0.2  # confident mistakes: flagged rows
    labels[flip] = probs[flip].argmin(axis=1)
    labels[150:240] = labels[150:240] % 3  # a shard that lacks a class
    frame = pd.DataFrame(probs, columns=CLASSES)
    frame["label"] = np.array(CLASSES)[labels]
    frame["id"] = [f"s{i:03d}" for i in range(N)]
    return frame


@pytest.fixture(scope="module", params=["parquet", "csv"])
def shards(request, table, tmp_path_factory):
    folder = tmp_path_factory.mktemp(f"shards-{request.param}")
    for i, (lo, hi) in enumerate(itertools.pairwise(CUTS)):
        part = table.iloc[lo:hi]
        path = folder / f"part-{i:02d}.{request.param}"
        if request.param == "parquet":
            part.to_parquet(path, index=False)
        else:
            part.to_csv(path, index=False)
    return str(folder / f"*.{request.param}")


OPTIONS = ["--id-col", "id", "--calibration", "--top", "7", "-f", "json"]


def run_json(*args):
    result = runner.invoke(app, ["score", *args])
    assert result.exit_code == 0, result.output
    return result.stdout


def test_workers_agree_with_the_serial_run(cluster, shards, table):
    serial = json.loads(run_json(shards, *OPTIONS))
    spread = json.loads(run_json(shards, *OPTIONS, "--dask", cluster.scheduler.address))
    close(serial, spread)
    # and the mean is the definition's, over every row
    expected = log_loss(table["label"], table[CLASSES].to_numpy(), labels=CLASSES)
    assert math.isclose(spread["mean_loss"], expected, rel_tol=1e-12)
    assert spread["n_samples"] == N
    rows = spread["worst"] + spread["flagged"]
    assert rows, "the test data has wrong rows to list"
    for row in rows:  # each listed row names its shard and its row there
        shard = sum(c <= row["row"] for c in CUTS[1:])
        assert row["file_row"] == row["row"] - CUTS[shard]


def test_label_issues_on_workers_are_the_serial_runs(cluster, shards):
    args = [shards, "--label-issues", "--id-col", "id", "--top", "50", "-f", "json"]
    serial = json.loads(run_json(*args))
    spread = json.loads(run_json(*args, "--dask", cluster.scheduler.address))
    assert serial["label_issues"], "the test data has label errors to find"
    close(serial, spread)


def test_label_issues_by_slice_on_workers_are_the_serial_runs(cluster, shards):
    args = [shards, "--label-issues", "--by", "label", "--min-slice-rows", "1", "-f", "json"]
    serial = json.loads(run_json(*args))
    spread = json.loads(run_json(*args, "--dask", cluster.scheduler.address))
    issues = [s["label_issues"] for s in serial["slices"]]
    assert sum(issues) == serial["label_issue_count"] > 0  # each issue in its slice
    close(serial, spread)


def test_two_runs_are_bit_identical(cluster, shards):
    address = cluster.scheduler.address
    first = run_json(shards, *OPTIONS, "--dask", address)
    assert run_json(shards, *OPTIONS, "--dask", address) == first


def test_python_api_returns_the_serial_result(cluster, shards):
    with Inputs(shards, None, InputOptions(id_col="id")) as inputs:
        serial = score_inputs(inputs, ScoreOptions(keep=5))
    spread = score(shards, client=cluster, id_col="id", keep=5)
    assert type(spread) is type(serial)
    assert spread.summary.n_samples == serial.summary.n_samples
    assert spread.ids == serial.ids
    assert spread.histogram == serial.histogram
    assert math.isclose(spread.summary.mean_loss, serial.summary.mean_loss, rel_tol=1e-12)


def test_merging_a_persisted_state_twice_does_not_grow_it(cluster, shards):
    common = {
        "input_options": InputOptions(),
        "score_options": ScoreOptions(),
        "kind": "categorical",
        "classes": tuple(CLASSES),
    }
    paths = sorted(glob.glob(shards))[:2]
    first = cluster.submit(score_shard, ShardTask(paths[0], None, 0, **common), pure=False)
    second = cluster.submit(score_shard, ShardTask(paths[1], None, 97, **common), pure=False)
    once = cluster.submit(merge_parts, first, second, pure=False).result()
    twice = cluster.submit(merge_parts, first, second, pure=False).result()
    assert once.state.result().summary.n_samples == 98
    assert twice.state.result().summary.n_samples == 98
    assert first.result().state.result().summary.n_samples == 97


def test_a_bad_shard_is_named(cluster, table, tmp_path):
    for i, (lo, hi) in enumerate([(0, 50), (50, 100)]):
        part = table.iloc[lo:hi].copy()
        if i == 1:
            part.loc[part.index[3], "ant"] = 1.5
        part.to_parquet(tmp_path / f"p{i}.parquet", index=False)
    result = runner.invoke(
        app, ["score", str(tmp_path / "*.parquet"), "--dask", cluster.scheduler.address]
    )
    assert result.exit_code == 2
    assert "p1.parquet" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_subprocess_run_starts_its_own_cluster(shards, table):
    env = dict(os.environ)
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = here + os.pathsep + env.get("PYTHONPATH", "")
    done = subprocess.run(
        [sys.executable, "-m", "cecli", "score", shards, "--workers", "2", "-f", "json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    expected = log_loss(table["label"], table[CLASSES].to_numpy(), labels=CLASSES)
    assert out["n_samples"] == N
    assert math.isclose(out["mean_loss"], expected, rel_tol=1e-12)


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        (["--top", "0"], "--top 0"),
        (["--per-sample", "rows.csv"], "--per-sample"),
        (["--workers", "0"], "at least 1"),
    ],
)
def test_what_does_not_run_on_workers_is_refused(shards, extra, says):
    args = ["score", shards, *extra]
    if "--workers" not in extra:
        args += ["--workers", "2"]
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert says in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("flag", [["--workers", "2"], ["--dask", "tcp://127.0.0.1:1"]])
def test_without_dask_the_options_say_how_to_install_it(shards, monkeypatch, flag):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed fails
    result = runner.invoke(app, ["score", shards, *flag])
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert 'pip install "cecli[dask]"' in result.stderr


def test_a_part_that_failed_wins_in_shard_order():
    left, right = Part(None, error=("a.parquet: bad", 2)), Part(None, error=("b.parquet: bad", 2))
    assert merge_parts(left, right).error == ("a.parquet: bad", 2)


@pytest.mark.parametrize("values", [150 * K, 10**9])
def test_runs_of_shards_give_the_serial_answer(cluster, shards, monkeypatch, values):
    """Small shards are scored in runs (here of about 150 rows, or all in one task)."""
    from cecli.dask import _tasks

    monkeypatch.setattr(_tasks, "TASK_VALUES", values)
    serial = json.loads(run_json(shards, *OPTIONS))
    first = run_json(shards, *OPTIONS, "--dask", cluster.scheduler.address)
    close(json.loads(first), serial)
    assert run_json(shards, *OPTIONS, "--dask", cluster.scheduler.address) == first


def test_task_groups_cut_by_rows_alone(monkeypatch):
    from cecli.dask import _tasks
    from cecli.dask._tasks import task_groups

    def task(n):
        return ShardTask("s.parquet", None, 0, None, None, "categorical", ("a", "b"), n_rows=n)

    monkeypatch.setattr(_tasks, "TASK_VALUES", 10)
    rows = [3, 1, 4, 1, 5, 9, 2, 6]
    tasks = [task(n) for n in rows]
    groups = task_groups(tasks, 2)
    assert [t for g in groups for t in g] == tasks  # every task once, in order
    assert [[t.n_rows for t in g] for g in groups] == [[3, 1, 4], [1, 5], [9], [2, 6]]
    unknown = task(-1)
    assert task_groups([tasks[0], unknown, tasks[1]], 2) == [(tasks[0],), (unknown,), (tasks[1],)]
