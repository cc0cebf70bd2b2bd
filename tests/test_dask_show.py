"""``--show`` on Dask workers: the serial run's listed rows and per-sample cells, and the input's.

A real 2-process cluster (the suite's ``cluster`` fixture) scores uneven
shards: a 1-row one and an empty one among them. The listed rows (flagged,
worst, label issues) carry the cells the serial run gives them, which are
the input's read again by pyarrow or the csv module; the per-sample parts,
in shard order, hold every row's cells. ``--workers 2`` (a cluster of its
own) gives the same.
"""

from __future__ import annotations

import glob
import itertools
import json
import os

import pyarrow.parquet as pq
import pytest
from show_cases import (
    CLASSES,
    PREDS,
    assert_shows,
    cecli,
    listed,
    model,
    read_back,
    report_of,
    write,
)

pytest.importorskip("distributed")

CUTS = [0, 97, 98, 98, 150, 300]
SHOWN = ["path", "caption", "ratio", "ok"]


@pytest.fixture(scope="module")
def frame():
    return model(n=300, seed=21).assign(loss=[f"{i} nats" for i in range(300)])


@pytest.fixture(scope="module", params=["parquet", "csv"])
def shards(request, frame, tmp_path_factory):
    folder = tmp_path_factory.mktemp(f"show-shards-{request.param}")
    for i, (lo, hi) in enumerate(itertools.pairwise(CUTS)):
        write(frame.iloc[lo:hi], folder / f"part-{i:02d}.{request.param}")
    whole = write(frame, folder / f"whole.{request.param}")
    return str(folder / f"part-*.{request.param}"), whole


def test_listed_rows_on_workers_are_the_serial_runs(cluster, shards):
    pattern, whole = shards
    args = (pattern, *PREDS, "--show", ",".join(SHOWN), "--label-issues", "--top", "8")
    serial = report_of(*args)
    workers = report_of(*args, "--dask", cluster.scheduler.address)
    assert listed(workers) == listed(serial)
    assert_shows(workers, read_back(whole, SHOWN))
    assert {row["file"] for _, row in listed(workers)} >= {
        os.path.join(os.path.dirname(pattern), "part-00" + whole.suffix)
    }


def test_per_sample_parts_hold_every_rows_cells(cluster, shards, tmp_path):
    pattern, whole = shards
    serial, parts = tmp_path / "serial.parquet", tmp_path / "parts"
    args = (pattern, *PREDS, "--show", "path,loss,caption", "--label-issues")
    assert cecli("score", *args, "--per-sample", serial).exit_code == 0
    done = cecli("score", *args, "--per-sample", f"{parts}/", "--dask", cluster.scheduler.address)
    assert done.exit_code == 0, done.stderr
    files = sorted(glob.glob(str(parts / "*.parquet")))
    rows = [r for f in files for r in pq.read_table(f).to_pylist()]
    assert rows == pq.read_table(serial).to_pylist()
    expected = read_back(whole, ["path", "loss", "caption"])
    for name, column in [("path", "path"), ("loss", "show_loss"), ("caption", "caption")]:
        assert [r[column] for r in rows] == expected[name], name


def test_a_local_cluster_of_two_gives_the_serial_answer(shards):
    pattern, whole = shards
    args = (pattern, *PREDS, "--show", "caption,count", "--top", "5")
    serial = report_of(*args)
    workers = report_of(*args, "--workers", "2")
    assert listed(workers) == listed(serial)
    assert_shows(workers, read_back(whole, ["caption", "count"]))


def test_compare_on_workers_leaves_shown_numbers_out_of_the_classes(cluster, frame, tmp_path):
    """Without --pred-cols, --show count,ratio (numbers, in both files) are not classes."""
    candidate = frame.assign(**model(n=300, seed=22)[CLASSES])
    for name, rows in (("base", frame), ("cand", candidate)):
        (tmp_path / name).mkdir()
        for i, (lo, hi) in enumerate(itertools.pairwise(CUTS)):
            write(rows.iloc[lo:hi], tmp_path / name / f"part-{i:02d}.parquet")
    args = ("--show", "count,ratio", "--bootstrap", "200", "--top", "40", "-f", "json")
    files = (tmp_path / "base" / "*.parquet", tmp_path / "cand" / "*.parquet")
    serial = cecli("compare", *files, *args, "--ci-method", "poisson")
    workers = cecli("compare", *files, *args, "--dask", cluster.scheduler.address)
    assert serial.exit_code in (0, 1), serial.stderr
    assert workers.exit_code in (0, 1), workers.stderr
    serial_doc, workers_doc = json.loads(serial.stdout), json.loads(workers.stdout)
    assert workers_doc["classes"] == serial_doc["classes"] == CLASSES
    expected = read_back(write(frame, tmp_path / "whole.parquet"), ["count", "ratio"])
    rows = workers_doc["largest_increases"]
    assert rows
    assert [r["show"] for r in rows] == [r["show"] for r in serial_doc["largest_increases"]]
    assert all(
        r["show"] == {"count": expected["count"][r["row"]], "ratio": expected["ratio"][r["row"]]}
        for r in rows
    )
