"""A large Parquet shard is several tasks on Dask workers, a run of row groups each.

The reference is the serial run of the same files (counts and rows exactly,
floats to 1e-12 relative) and scikit-learn's ``log_loss`` over every row.
"""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from json_close import assert_close as close
from sklearn.metrics import log_loss
from typer.testing import CliRunner

distributed = pytest.importorskip("distributed")

from cecli.cli import app  # noqa: E402
from cecli.dask import _tasks  # noqa: E402
from cecli.folds import ScoreOptions  # noqa: E402
from cecli.inputs import InputOptions, Inputs  # noqa: E402

runner = CliRunner()
N, K, GROUP = 3000, 4, 250
CLASSES = ["ant", "bee", "cat", "dog"]
OPTIONS = ["--id-col", "id", "--calibration", "--top", "9", "-f", "json"]


@pytest.fixture
def small_tasks(monkeypatch):
    """Tasks of 500 rows (two row groups) instead of 2**23 values."""
    monkeypatch.setattr(_tasks, "TASK_VALUES", 2 * GROUP * K)


def frame(seed: int, n: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.full(K, 0.5), n)
    labels = rng.integers(0, K, n)
    flip = rng.random(n) < 0.15
    labels[flip] = probs[flip].argmin(axis=1)  # confidently wrong rows, and label errors
    table = pd.DataFrame(probs, columns=CLASSES)
    table["label"] = np.array(CLASSES)[labels]
    table["id"] = [f"r{seed}-{i}" for i in range(n)]
    return table


def write(table: pd.DataFrame, path) -> str:
    pq.write_table(pa.Table.from_pandas(table, preserve_index=False), path, row_group_size=GROUP)
    return str(path)


def run_json(*args: str) -> dict:
    result = runner.invoke(app, ["score", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_windows_cover_every_row_group_once_in_order():
    sizes = tuple(np.random.default_rng(3).integers(1, 400_000, 60))
    windows = _tasks.row_group_windows(sizes, 10)
    assert windows[0][0] == 0
    assert windows[-1][1] == len(sizes)
    assert all(a[1] == b[0] for a, b in itertools.pairwise(windows))  # no gap, no overlap
    for first, stop in windows[:-1]:
        assert sum(sizes[first:stop]) * 10 >= _tasks.TASK_VALUES
        assert sum(sizes[first : stop - 1]) * 10 < _tasks.TASK_VALUES  # no more than needed


def test_one_large_file_is_several_tasks(cluster, small_tasks, tmp_path):
    path = write(frame(1, N), tmp_path / "preds.parquet")
    with Inputs(path, None, InputOptions(id_col="id")) as inputs:
        tasks = _tasks.shard_tasks(inputs, ScoreOptions(), cluster)
    assert [t.row_groups for t in tasks] == [(i, i + 2) for i in range(0, N // GROUP, 2)]
    assert {t.first_row for t in tasks} == {0}  # rows are the file's, whichever groups


def test_a_file_cut_into_row_groups_scores_as_the_serial_run(cluster, small_tasks, tmp_path):
    table = frame(2, N)
    path = write(table, tmp_path / "preds.parquet")
    serial = run_json(path, *OPTIONS)
    spread = run_json(path, *OPTIONS, "--dask", cluster.scheduler.address)
    close(serial, spread)
    expected = log_loss(table["label"], table[CLASSES].to_numpy(), labels=CLASSES)
    assert math.isclose(spread["mean_loss"], expected, rel_tol=1e-12)
    for row in spread["worst"] + spread["flagged"]:  # the rows are the file's rows
        assert row["id"] == table["id"][row["row"]]


def test_label_issues_read_the_same_row_groups_again(cluster, small_tasks, tmp_path):
    path = write(frame(3, N), tmp_path / "preds.parquet")
    args = [path, "--label-issues", "--id-col", "id", "--top", "40", "-f", "json"]
    serial = run_json(*args)
    spread = run_json(*args, "--dask", cluster.scheduler.address)
    assert serial["label_issues"], "the data has label errors to find"
    close(serial, spread)


def test_a_large_shard_among_small_ones_keeps_global_rows(cluster, small_tasks, tmp_path):
    parts = [frame(4, 120), frame(5, N), frame(6, 7)]
    for i, part in enumerate(parts):
        write(part, tmp_path / f"part-{i}.parquet")
    pattern = str(tmp_path / "part-*.parquet")
    serial = run_json(pattern, *OPTIONS)
    spread = run_json(pattern, *OPTIONS, "--dask", cluster.scheduler.address)
    close(serial, spread)
    whole = pd.concat(parts, ignore_index=True)
    for row in spread["worst"] + spread["flagged"]:
        assert row["id"] == whole["id"][row["row"]]
        shard = 0 if row["row"] < 120 else 1 if row["row"] < 120 + N else 2
        assert row["file"].endswith(f"part-{shard}.parquet")
        assert row["file_row"] == row["row"] - [0, 120, 120 + N][shard]


def test_a_bad_row_in_a_late_row_group_names_its_row_in_the_file(cluster, small_tasks, tmp_path):
    table = frame(7, N)
    table.loc[1803, "bee"] = 1.7
    path = write(table, tmp_path / "preds.parquet")
    result = runner.invoke(app, ["score", path, "--dask", cluster.scheduler.address])
    assert result.exit_code == 2, result.output
    assert "preds.parquet" in result.stderr
    assert "row 1803" in result.stderr
    assert "Traceback" not in result.stderr


def test_labels_in_another_file_leave_the_file_whole(cluster, small_tasks, tmp_path):
    table = frame(8, N)
    path = write(table[CLASSES], tmp_path / "preds.parquet")
    labels = tmp_path / "labels.csv"
    table[["label"]].to_csv(labels, index=False)
    with Inputs(path, str(labels), InputOptions()) as inputs:
        tasks = _tasks.shard_tasks(inputs, ScoreOptions(), cluster)
    assert [t.row_groups for t in tasks] == [None]


def test_per_sample_parts_of_the_runs_are_the_serial_file(cluster, small_tasks, tmp_path):
    path = write(frame(9, N), tmp_path / "preds.parquet")
    serial = tmp_path / "serial.parquet"
    out = tmp_path / "rows"
    assert runner.invoke(app, ["score", path, "--per-sample", str(serial)]).exit_code == 0
    address = cluster.scheduler.address
    result = runner.invoke(app, ["score", path, "--per-sample", f"{out}/", "--dask", address])
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in out.iterdir())
    assert names == [f"part-00000-{run:05d}.parquet" for run in range(N // GROUP // 2)]
    parts = pd.concat([pd.read_parquet(out / n) for n in names], ignore_index=True)
    pd.testing.assert_frame_equal(parts, pd.read_parquet(serial), check_exact=True)
