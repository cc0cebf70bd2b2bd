"""Inputs of many files: a glob or a folder scores as the one file its shards make.

The reference is the unsplit file: scikit-learn's ``log_loss`` of it, and its
own run, whose JSON must be the sharded run's apart from ``files`` and each
listed row's ``file`` and ``file_row``, which are checked against where the
test cut the rows.
"""

from __future__ import annotations

import gzip
import itertools
import json
import os

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from json_close import assert_close as _close
from sklearn.metrics import log_loss
from typer.testing import CliRunner

from cecli.cli import app
from cecli.errors import InputError
from cecli.inputs import InputOptions, Inputs
from cecli.report.score import ROW_KEYS
from cecli.spill import Replay

runner = CliRunner()
N, K = 240, 4
#: Uneven shards: one of a single row and an empty one among them.
CUTS = [0, 83, 84, 84, 150, 240]
CLASSES = ["ant", "bee", "cat", "dog"]


def invoke(*args):
    return runner.invoke(app, ["score", *map(str, args)])


@pytest.fixture(scope="module")
def table():
    rng = np.random.default_rng(15)
    probs = rng.dirichlet(np.full(K, 0.6), N)
    labels = rng.integers(0, K, N)
    flip = rng.random(N) < 0.2  # confident mistakes: flagged rows and label issues
    labels[flip] = probs[flip].argmin(axis=1)
    frame = pd.DataFrame(probs, columns=CLASSES)
    frame["label"] = labels
    frame["id"] = [f"s{i:03d}" for i in range(N)]
    frame["group"] = rng.choice(["north", "south", "east"], N)
    return frame


def _shards(folder, name, suffix):
    """Where the test put each shard, in sorted order (as cecli must read them)."""
    return [os.path.join(folder, f"{name}-{i:02d}{suffix}") for i in range(len(CUTS) - 1)]


def write_parquet(frame, folder, name="part"):
    os.makedirs(folder, exist_ok=True)
    paths = _shards(folder, name, ".parquet")
    for path, a, b in zip(paths, CUTS, CUTS[1:], strict=False):
        pq.write_table(pa.Table.from_pandas(frame.iloc[a:b], preserve_index=False), path)
    return paths


def run_json(*args):
    result = invoke(*args, "-f", "json")
    assert result.exit_code in (0, 1), result.stderr
    return json.loads(result.stdout)


def where(paths, row):
    """The shard and the row within it of a global row, from the cuts (the definition)."""
    for path, a, b in zip(paths, CUTS, CUTS[1:], strict=False):
        if a <= row < b:
            return path, row - a
    raise AssertionError(row)


def assert_same_document(sharded, whole, paths):
    """Equal apart from ``files`` and each row's file/file_row, which must be where it was cut."""
    sharded, whole = dict(sharded), dict(whole)
    files = sharded.pop("files")
    whole.pop("files")
    assert [s["file"] for s in files["prediction_shards"]] == paths
    assert [s["n_rows"] for s in files["prediction_shards"]] == np.diff(CUTS).tolist()
    assert [s["first_row"] for s in files["prediction_shards"]] == CUTS[:-1]
    listed = 0
    for key in ("flagged", "worst", "label_issues"):
        for row in sharded.get(key) or []:
            assert (row.pop("file"), row.pop("file_row")) == where(paths, row["row"])
            listed += 1
    assert listed
    _close(sharded, whole)


EVERY_FOLD = ("--top", "0", "--label-issues", "--by", "group", "--calibration", "--id-col", "id")


def test_a_parquet_glob_scores_as_the_unsplit_file(table, tmp_path):
    whole = tmp_path / "whole.parquet"
    table.to_parquet(whole, index=False)
    paths = write_parquet(table, str(tmp_path / "preds"))
    pattern = str(tmp_path / "preds" / "*.parquet")
    sharded = run_json(pattern, *EVERY_FOLD)
    reference = run_json(whole, *EVERY_FOLD)
    expected = log_loss(table["label"], table[CLASSES].to_numpy(), labels=range(K))
    assert sharded["mean_loss"] == pytest.approx(expected, rel=1e-12)
    assert sharded["n_samples"] == N
    assert sharded["label_issue_count"] > 0
    assert_same_document(sharded, reference, paths)


def test_a_folder_of_csv_shards_plain_and_compressed(table, tmp_path):
    folder = tmp_path / "csv"
    folder.mkdir()
    paths = []
    for i, (a, b) in enumerate(itertools.pairwise(CUTS)):
        text = table.iloc[a:b].to_csv(index=False)
        if i % 2:
            path = folder / f"part-{i:02d}.csv.gz"
            path.write_bytes(gzip.compress(text.encode()))
        else:
            path = folder / f"part-{i:02d}.csv"
            path.write_text(text)
        paths.append(str(path))
    (folder / "_SUCCESS").write_text("")  # what writers leave beside shards
    whole = tmp_path / "whole.csv"
    table.to_csv(whole, index=False)
    sharded = run_json(folder, *EVERY_FOLD)
    assert_same_document(sharded, run_json(whole, *EVERY_FOLD), paths)


def test_npy_labels_glob_lines_up_shard_by_shard(table, tmp_path):
    probs, labels = table[CLASSES].to_numpy(), table["label"].to_numpy()
    (tmp_path / "p").mkdir()
    (tmp_path / "y").mkdir()
    paths = _shards(str(tmp_path / "p"), "p", ".npy")
    for i, (a, b) in enumerate(itertools.pairwise(CUTS)):
        np.save(paths[i], probs[a:b])
        np.save(tmp_path / "y" / f"y-{i:02d}.npy", labels[a:b])
    np.save(tmp_path / "probs.npy", probs)
    np.save(tmp_path / "labels.npy", labels)
    options = ("--top", "0", "--label-issues")
    sharded = run_json(tmp_path / "p" / "*.npy", tmp_path / "y" / "*.npy", *options)
    assert [s["n_rows"] for s in sharded["files"]["label_shards"]] == np.diff(CUTS).tolist()
    del sharded["files"]["label_shards"]
    reference = run_json(tmp_path / "probs.npy", tmp_path / "labels.npy", *options)
    assert sharded["mean_loss"] == pytest.approx(log_loss(labels, probs), rel=1e-12)
    assert_same_document(sharded, reference, paths)


def test_rows_in_the_streamed_json_carry_their_file(tmp_path):
    """Thousands of listed rows (pyarrow puts them in text) and a few (Python) alike."""
    rng = np.random.default_rng(3)
    n = 5000
    cuts = [0, 1, 2600, 5000]
    probs = rng.dirichlet(np.ones(3), n)
    frame = pd.DataFrame(probs, columns=["a", "b", "c"]).assign(label=rng.integers(0, 3, n))
    (tmp_path / "p").mkdir()
    paths = [str(tmp_path / "p" / f"{i}.parquet") for i in range(3)]
    for path, a, b in zip(paths, cuts, cuts[1:], strict=False):
        frame.iloc[a:b].to_parquet(path, index=False)
    for top in ("0", "5"):
        document = run_json(tmp_path / "p", "--top", top)
        assert len(document["worst"]) == (n if top == "0" else 5)
        for row in document["worst"]:
            shard = int(np.searchsorted(cuts, row["row"], side="right")) - 1
            assert row["file"] == paths[shard]
            assert row["file_row"] == row["row"] - cuts[shard]
            assert list(row) == ["row", "file", "file_row", *ROW_KEYS[1:]]


def test_per_sample_file_carries_file_and_file_row(table, tmp_path):
    paths = write_parquet(table, str(tmp_path / "preds"))
    whole = tmp_path / "whole.parquet"
    table.to_parquet(whole, index=False)
    for suffix in (".parquet", ".csv", ".npy"):
        out_sharded, out_whole = tmp_path / f"s{suffix}", tmp_path / f"w{suffix}"
        # with --label-issues the rows come in a last pass, read again from the shards
        issues = ("--label-issues",) if suffix == ".parquet" else ()
        assert invoke(tmp_path / "preds", "--per-sample", out_sharded, *issues).exit_code == 0
        assert invoke(whole, "--per-sample", out_whole, *issues).exit_code == 0
        if suffix == ".npy":
            sharded, reference = np.load(out_sharded), np.load(out_whole)
            names = reference.dtype.names
            assert sharded.dtype.names[:3] == ("row", "file", "file_row")
            sharded = pd.DataFrame({n: sharded[n] for n in sharded.dtype.names})
            reference = pd.DataFrame({n: reference[n] for n in names})
        elif suffix == ".csv":
            sharded, reference = pd.read_csv(out_sharded), pd.read_csv(out_whole)
        else:
            sharded, reference = pd.read_parquet(out_sharded), pd.read_parquet(out_whole)
        assert "file" not in reference.columns
        expected = [where(paths, r) for r in range(N)]
        assert list(zip(sharded["file"], sharded["file_row"], strict=True)) == expected
        rest = sharded.drop(columns=["file", "file_row"])
        pd.testing.assert_frame_equal(rest, reference, rtol=1e-12)


def test_one_file_gains_no_keys(table, tmp_path):
    path = tmp_path / "whole.parquet"
    table.to_parquet(path, index=False)
    document = run_json(path, "--label-issues", "--id-col", "id")
    assert list(document["files"]) == ["predictions", "labels"]
    assert document["worst"]
    assert all(list(row) == list(ROW_KEYS) for row in document["worst"])
    assert all("file" not in row for row in document["label_issues"])


def test_label_issues_passes_check_every_shard(table, tmp_path):
    paths = write_parquet(table, str(tmp_path / "preds"))
    options = InputOptions()
    with Inputs(str(tmp_path / "preds"), None, options) as inputs, Replay(inputs) as replay:
        assert inputs.read_again
        assert inputs.files() == paths
        assert sum(b.n_rows for b in replay.batches()) == N
        os.utime(paths[3], ns=(1, 1))  # a shard other than the first changes
        with pytest.raises(InputError, match="changed while cecli was reading"):
            list(replay.batches())
    with Inputs(str(tmp_path / "preds"), None, options) as inputs, Replay(inputs) as replay:
        table.iloc[:5].to_parquet(tmp_path / "preds" / "part-99.parquet", index=False)
        with pytest.raises(InputError, match="files changed"):
            list(replay.batches())


def _one_error(result, *needles):
    assert result.exit_code == 2, result.stdout
    assert result.stdout == ""
    assert result.stderr.startswith("cecli: error:")
    assert result.stderr.count("\n") == 1, result.stderr
    for needle in needles:
        assert needle in result.stderr, result.stderr


def test_a_glob_that_matches_nothing(tmp_path):
    _one_error(invoke(tmp_path / "nothing-*.parquet"), "matches none", "quote")


def test_a_folder_with_no_shards(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / ".hidden.csv").write_text("a,b\n")
    _one_error(invoke(tmp_path / "empty"), "no files to read as shards")


def test_a_folder_whose_shards_are_all_empty(tmp_path):
    (tmp_path / "p").mkdir()
    for i in range(2):
        np.save(tmp_path / "p" / f"{i}.npy", np.zeros((0, 3)))
    _one_error(invoke(tmp_path / "p", tmp_path / "p"), "every one of its 2 shards is empty")


def test_mixed_formats(table, tmp_path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    table.iloc[:10].to_parquet(folder / "a.parquet", index=False)
    table.iloc[10:].to_csv(folder / "b.csv", index=False)
    _one_error(invoke(folder), "mixes formats", "a.parquet", "b.csv")


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_a_shard_with_other_columns_is_named(table, tmp_path, fmt):
    folder = tmp_path / "p"
    folder.mkdir()
    parts = [table.iloc[:100], table.iloc[100:150], table.iloc[150:].drop(columns=["dog"])]
    for i, part in enumerate(parts):
        path = folder / f"{i}.{fmt}"
        part.to_parquet(path, index=False) if fmt == "parquet" else part.to_csv(path, index=False)
    _one_error(invoke(folder), f"2.{fmt}", "lacks 'dog'", f"0.{fmt}")


def test_a_shard_whose_column_changes_kind(table, tmp_path):
    folder = tmp_path / "p"
    folder.mkdir()
    table.iloc[:100].to_parquet(folder / "0.parquet", index=False)
    table.iloc[100:].assign(dog=lambda f: f["dog"].astype(str) + "x").to_parquet(
        folder / "1.parquet", index=False
    )
    _one_error(invoke(folder), "column 'dog' holds numbers", "but text in the shard", "1.parquet")


def test_label_shards_must_be_as_many(table, tmp_path):
    write_parquet(table[CLASSES], str(tmp_path / "p"))
    (tmp_path / "y").mkdir()
    for i in range(2):
        np.save(tmp_path / "y" / f"{i}.npy", table["label"].to_numpy()[i * 120 : (i + 1) * 120])
    _one_error(invoke(tmp_path / "p", tmp_path / "y"), "has 2 shards", "has 5")


@pytest.mark.parametrize("fmt", ["npy", "csv"])
def test_a_label_shard_of_other_length_names_both_files(table, tmp_path, fmt):
    """Known up front for NPY; found while reading for CSV. The totals agree: only pairs differ."""
    (tmp_path / "p").mkdir()
    (tmp_path / "y").mkdir()
    probs, labels = table[CLASSES].to_numpy(), table["label"].to_numpy()
    cuts_y = [0, 83, 85, 150, 240]  # the second shard of labels takes a row of the third
    cuts_p = [0, 83, 84, 150, 240]
    for i in range(4):
        p, y = probs[cuts_p[i] : cuts_p[i + 1]], labels[cuts_y[i] : cuts_y[i + 1]]
        if fmt == "npy":
            np.save(tmp_path / "p" / f"{i}.npy", p)
            np.save(tmp_path / "y" / f"{i}.npy", y)
        else:
            pd.DataFrame(p, columns=CLASSES).to_csv(tmp_path / "p" / f"{i}.csv", index=False)
            pd.DataFrame({"label": y}).to_csv(tmp_path / "y" / f"{i}.csv", index=False)
    result = invoke(tmp_path / "p", tmp_path / "y")
    _one_error(result, os.path.join("p", f"1.{fmt}"), os.path.join("y", f"1.{fmt}"), "has 2 rows")


def test_csv_shards_and_one_labels_file(table, tmp_path):
    """Text shards' lengths are known only as they are read; the labels are one file."""
    folder = tmp_path / "p"
    folder.mkdir()
    paths = []
    for i, (a, b) in enumerate(itertools.pairwise(CUTS)):
        paths.append(str(folder / f"{i}.csv"))
        table[CLASSES].iloc[a:b].to_csv(paths[-1], index=False)
    table[["label"]].to_csv(tmp_path / "labels.csv", index=False)
    out = tmp_path / "rows.parquet"
    # --label-issues: text is kept in a temporary file for the passes after the first
    options = ("--per-sample", out, "-f", "json", "--label-issues")
    result = invoke(folder, tmp_path / "labels.csv", *options)
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    expected = log_loss(table["label"], table[CLASSES].to_numpy(), labels=range(K))
    assert document["mean_loss"] == pytest.approx(expected, rel=1e-12)
    assert list(document["files"]) == ["predictions", "labels", "prediction_shards"]
    rows = pq.read_table(out).to_pandas()
    assert rows["row"].tolist() == list(range(N))
    assert list(zip(rows["file"], rows["file_row"], strict=True)) == [
        where(paths, r) for r in range(N)
    ]
    per_row = -np.log(table[CLASSES].to_numpy()[np.arange(N), table["label"]])
    np.testing.assert_allclose(rows["loss"], per_row, rtol=1e-12)
    assert rows["label_issue"].sum() == document["label_issue_count"]


def test_a_folder_as_labels_beside_one_predictions_file(table, tmp_path):
    table[CLASSES].to_parquet(tmp_path / "preds.parquet", index=False)
    (tmp_path / "y").mkdir()
    for i, (a, b) in enumerate(itertools.pairwise(CUTS)):
        np.save(tmp_path / "y" / f"{i}.npy", table["label"].to_numpy()[a:b])
    document = run_json(tmp_path / "preds.parquet", tmp_path / "y")
    expected = log_loss(table["label"], table[CLASSES].to_numpy(), labels=range(K))
    assert document["mean_loss"] == pytest.approx(expected, rel=1e-12)
    assert "file" not in document["worst"][0]  # rows are numbered by the predictions
    assert len(document["files"]["label_shards"]) == len(CUTS) - 1


@pytest.mark.parametrize("problem", ["label", "probability"])
def test_a_bad_value_names_its_shard(table, tmp_path, problem):
    bad = table.copy()
    if problem == "label":
        bad.loc[100, "label"] = 9
    else:
        bad.loc[100, "dog"] = 1.5
    paths = write_parquet(bad, str(tmp_path / "p"))
    result = invoke(tmp_path / "p")
    # row 100 is in the fourth shard, whose rows begin at row 84
    _one_error(result, f"shard {paths[3]} (its first row is row 84 of all)", "row 100")


def test_string_labels_in_label_shards_name_their_shard(table, tmp_path):
    write_parquet(table[CLASSES], str(tmp_path / "p"))
    (tmp_path / "y").mkdir()
    names = np.array(CLASSES, dtype=object)[table["label"].to_numpy()]
    names[200] = "emu"
    for i, (a, b) in enumerate(itertools.pairwise(CUTS)):
        pd.DataFrame({"label": names[a:b]}).to_csv(tmp_path / "y" / f"{i}.csv", index=False)
    result = invoke(tmp_path / "p", tmp_path / "y")
    _one_error(result, os.path.join("y", "4.csv"), "'emu'")
