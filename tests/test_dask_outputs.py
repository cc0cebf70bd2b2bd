"""What the workers give besides the report: per-sample parts, and a Dask DataFrame's score.

A real 2-process ``LocalCluster`` (started once for the module) scores
uneven shards (a 1-row one, an empty one) and uneven partitions (a 1-row
one, an empty one). The references are the serial run (its ``--per-sample``
file, and :func:`cecli.score_frame` of the same pandas frame) and
scikit-learn's ``log_loss``: counts, rows and per-sample files exactly,
aggregate floats to 1e-12 relative.
"""

from __future__ import annotations

import dataclasses
import glob
import itertools
import math
import os
import re

import numpy as np
import pandas as pd
import pytest
from json_close import assert_close as close
from sklearn.metrics import log_loss
from typer.testing import CliRunner

distributed = pytest.importorskip("distributed")
dd = pytest.importorskip("dask.dataframe")

import cecli  # noqa: E402
import cecli.dask  # noqa: E402
from cecli.cli import app  # noqa: E402
from cecli.errors import CecliError, OptionError  # noqa: E402

runner = CliRunner()
N, K = 300, 4
#: Uneven pieces: a 1-row one, an empty one, and the rows of 150..240 have no "dog".
CUTS = [0, 97, 98, 98, 150, 240, 300]
CLASSES = ["ant", "bee", "cat", "dog"]


def make_table(dtype=np.float64):
    rng = np.random.default_rng(15)
    probs = rng.dirichlet(np.full(K, 0.6), N)
    labels = rng.integers(0, K, N)
    flip = rng.random(N) < 0.2  # confident mistakes: flagged rows
    labels[flip] = probs[flip].argmin(axis=1)
    labels[150:240] = labels[150:240] % 3
    frame = pd.DataFrame(probs.astype(dtype), columns=CLASSES)
    frame["label"] = np.array(CLASSES)[labels]
    frame["id"] = [f"s{i:03d}" for i in range(N)]
    return frame


@pytest.fixture(scope="module")
def table():
    return make_table()


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


def score(*args):
    return runner.invoke(app, ["score", *args])


def leftovers(folder):
    """Hidden staging or old folders and temporary files left beside or in ``folder``."""
    return [n for n in os.listdir(folder) if n.startswith(".")]


# -- per-sample parts ---------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_the_parts_in_shard_order_are_the_serial_per_sample_file(cluster, shards, tmp_path, fmt):
    serial = tmp_path / f"serial.{fmt}"
    out = tmp_path / f"rows.{fmt}"
    common = [shards, "--id-col", "id", "--top", "5"]
    assert score(*common, "--per-sample", str(serial)).exit_code == 0
    done = score(*common, "--per-sample", f"{out}/", "--dask", cluster.scheduler.address)
    assert done.exit_code == 0, done.output
    names = sorted(os.listdir(out))
    # one part per shard with rows, named by the shard's index; the empty shard 2 has none
    assert names == [f"part-{i:05d}.{fmt}" for i in (0, 1, 3, 4, 5)]
    if fmt == "parquet":
        whole = pd.read_parquet(serial)
        parts = pd.concat([pd.read_parquet(out / n) for n in names], ignore_index=True)
        pd.testing.assert_frame_equal(parts, whole, check_exact=True)
        assert list(whole.columns[:3]) == ["row", "file", "file_row"]
    else:  # the text itself, line by line, each part with the header once
        lines = serial.read_text().splitlines()
        texts = [(out / n).read_text().splitlines() for n in names]
        assert all(t[0] == lines[0] for t in texts)
        assert [line for t in texts for line in t[1:]] == lines[1:]
    assert len(lines if fmt == "csv" else whole) - (fmt == "csv") == N
    assert leftovers(tmp_path) == []


def test_label_issue_columns_in_the_parts_are_the_serial_ones(cluster, shards, tmp_path):
    serial, out = tmp_path / "serial.parquet", tmp_path / "rows"
    common = [shards, "--label-issues", "--top", "50"]
    assert score(*common, "--per-sample", str(serial)).exit_code == 0
    done = score(*common, "--per-sample", f"{out}/", "--dask", cluster.scheduler.address)
    assert done.exit_code == 0, done.output
    whole = pd.read_parquet(serial)
    parts = pd.concat([pd.read_parquet(p) for p in sorted(out.iterdir())], ignore_index=True)
    assert whole["label_issue"].any(), "the test data has label errors to find"
    pd.testing.assert_frame_equal(parts, whole, check_exact=True)


def test_parts_default_to_parquet_and_hold_the_definitions_losses(cluster, shards, table, tmp_path):
    out = tmp_path / "rows"
    done = score(shards, "--per-sample", f"{out}{os.sep}", "--dask", cluster.scheduler.address)
    assert done.exit_code == 0, done.output
    rows = pd.concat([pd.read_parquet(p) for p in sorted(glob.glob(str(out / "*")))])
    probs = table[CLASSES].to_numpy()
    y = table["label"].map(CLASSES.index).to_numpy()
    assert rows["row"].tolist() == list(range(N))
    np.testing.assert_allclose(rows["loss"], -np.log(probs[np.arange(N), y]), rtol=1e-12)


def test_an_earlier_runs_parts_are_replaced_whole(cluster, shards, tmp_path):
    out = tmp_path / "rows"
    out.mkdir()
    (out / "part-00000.parquet").write_bytes(b"old")
    (out / "part-00099.parquet").write_bytes(b"old")  # more shards then than now
    done = score(shards, "--per-sample", str(out), "--dask", cluster.scheduler.address)
    assert done.exit_code == 0, done.output
    assert "part-00099.parquet" not in os.listdir(out)
    assert len(pd.read_parquet(out / "part-00000.parquet")) == 97
    assert leftovers(tmp_path) == []


def test_a_failed_run_leaves_the_folder_as_it_was(cluster, table, tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    for i, (lo, hi) in enumerate([(0, 50), (50, 100)]):
        part = table.iloc[lo:hi].copy()
        if i == 1:
            part.loc[part.index[3], "ant"] = 1.5
        part.to_parquet(inputs / f"p{i}.parquet", index=False)
    out = tmp_path / "rows"
    out.mkdir()
    (out / "part-00000.parquet").write_bytes(b"old")
    done = score(
        str(inputs / "*.parquet"), "--per-sample", str(out), "--dask", cluster.scheduler.address
    )
    assert done.exit_code == 2
    assert "p1.parquet" in done.stderr
    assert os.listdir(out) == ["part-00000.parquet"]
    assert (out / "part-00000.parquet").read_bytes() == b"old"
    assert leftovers(tmp_path) == []


def test_a_folder_holding_other_files_is_refused(cluster, shards, tmp_path):
    out = tmp_path / "rows"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    done = score(shards, "--per-sample", str(out), "--dask", cluster.scheduler.address)
    assert done.exit_code == 2
    assert len(done.stderr.strip().splitlines()) == 1
    assert "'notes.txt'" in done.stderr
    assert os.listdir(out) == ["notes.txt"]
    assert leftovers(tmp_path) == []


def test_the_folder_of_the_inputs_is_refused(cluster, table, tmp_path):
    folder = tmp_path / "preds"
    folder.mkdir()
    for i, (lo, hi) in enumerate([(0, 50), (50, 100)]):  # named as parts are: still refused
        table.iloc[lo:hi].to_parquet(folder / f"part-{i:05d}.parquet", index=False)
    before = sorted(os.listdir(folder))
    done = score(str(folder), "--per-sample", str(folder), "--dask", cluster.scheduler.address)
    assert done.exit_code == 2
    assert "will not replace it" in done.stderr
    assert sorted(os.listdir(folder)) == before
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        (["--per-sample", "rows.parquet"], "give a folder, such as rows/"),
        (["--top", "0"], "--per-sample DIR/"),
    ],
)
def test_refusals_point_at_a_folder_of_parts(shards, extra, says):
    done = score(shards, *extra, "--workers", "2")
    assert done.exit_code == 2
    assert says in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_the_python_api_writes_parts_too(cluster, shards, tmp_path):
    out = tmp_path / "rows.csv"
    cecli.dask.score(shards, client=cluster, per_sample=f"{out}/", keep=3)
    names = sorted(os.listdir(out))
    assert all(re.fullmatch(r"part-\d{5}\.csv", n) for n in names)
    assert sum(len(pd.read_csv(out / n)) for n in names) == N


# -- a Dask DataFrame ---------------------------------------------------------------------


def pieces(frame):
    """The frame as a Dask DataFrame of uneven partitions: 97 rows, 1, none, 52, 90, 60."""
    bounds = list(itertools.pairwise(CUTS))
    ddf = dd.from_map(lambda b: frame.iloc[b[0] : b[1]], bounds, meta=frame.iloc[:0])
    assert ddf.npartitions == len(bounds)
    return ddf


def plain(value):
    """A result as plain values: dataclasses and sequences opened up, arrays as lists."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return plain(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)) or type(value).__name__ == "KeptRows":
        return [plain(v) for v in value]
    return value


OPTIONS = {"label_col": "label", "id_col": "id", "keep": 7, "calibration_bins": 15}


def test_a_dask_frame_gets_the_serial_result(cluster, table):
    serial = cecli.score_frame(table, **OPTIONS)
    spread = cecli.dask.score_frame(pieces(table), client=cluster, **OPTIONS)
    assert type(spread) is type(serial)
    assert spread.summary.n_samples == N
    assert spread.summary.flagged_count > 0, "the test data has wrong rows to list"
    close(plain(serial), plain(spread))
    expected = log_loss(table["label"], table[CLASSES].to_numpy(), labels=CLASSES)
    assert math.isclose(spread.summary.mean_loss, expected, rel_tol=1e-12)
    # ids of the kept rows are the frame's, by global row number
    assert all(spread.ids[row] == f"s{row:03d}" for row in spread.ids)


def test_a_float32_frame_stays_float32(cluster):
    frame = make_table(np.float32)
    tiny = frame["label"] == "ant"
    # a true class's probability below float32's epsilon (not float64's): clipped only in float32
    frame.loc[tiny, "ant"] = np.float32(1e-9)
    frame.loc[tiny, "bee"] = 1 - frame.loc[tiny, ["ant", "cat", "dog"]].sum(axis=1)
    options = {"label_col": "label", "keep": 3}
    serial = cecli.score_frame(frame, **options)
    spread = cecli.dask.score_frame(pieces(frame), client=cluster, **options)
    as64 = cecli.score_frame(frame.astype(dict.fromkeys(CLASSES, np.float64)), **options)
    assert serial.summary.clipped == int(tiny.sum()) > 0
    assert as64.summary.clipped == 0
    close(plain(serial), plain(spread))


def test_label_issues_of_a_dask_frame_are_the_serial_ones(cluster, table):
    options = {"label_col": "label", "keep": 50, "label_issues": True}
    serial = cecli.score_frame(table, **options)
    spread = cecli.dask.score_frame(pieces(table), client=cluster, **options)
    assert serial.label_issues.problems[0].n_issues > 0, "the test data has label errors to find"
    close(plain(serial.label_issues), plain(spread.label_issues))


def test_a_bad_value_names_its_partition(cluster, table):
    bad = table.copy()
    bad.loc[160, "ant"] = 1.5  # partition 4 holds rows 150..239
    with pytest.raises(CecliError, match=r"partition 4 \(its first row is row 150 of all\)"):
        cecli.dask.score_frame(pieces(bad), client=cluster, label_col="label")


def test_every_rows_state_is_refused(table):
    with pytest.raises(OptionError, match="keep=N"):
        cecli.dask.score_frame(pieces(table), keep=None)
