"""A column only shown is read as the file holds it, and never taken as a prediction.

A ``--show`` column used for nothing else is never read as a data column: a
CSV cell is its text exactly as written, a JSON Lines, Parquet or Arrow cell
its value in its own type (integers exact, lists and objects as JSON text),
and no cell is checked. The references are the files read again by json,
csv or pyarrow (:func:`show_cases.read_back`), or values written here by
hand. A numeric ``--show`` column of the predictions file is not a class
unless ``--pred-cols`` names it.
"""

from __future__ import annotations

import datetime
import decimal
import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from show_cases import CLASSES, PREDS, assert_shows, cecli, model, read_back, report_of, write

from cecli.inputs import InputOptions, Inputs


def shown_by_row(report: dict, name: str, key: str = "worst") -> dict[int, str | None]:
    return {r["row"]: r["show"][name] for r in report[key]}


# -- a numeric --show column is not a prediction ---------------------------------------------


@pytest.fixture
def ten_classes(tmp_path):
    """Predictions of 10 classes (columns 0..9), the label, and a numeric ``source_id``."""
    rng = np.random.default_rng(5)
    n = 150
    frame = pd.DataFrame(rng.dirichlet(np.ones(10), n), columns=[str(k) for k in range(10)])
    frame["label"] = rng.integers(0, 10, n)
    frame["source_id"] = 7000 + 3 * np.arange(n)
    path = tmp_path / "ten.csv"
    frame.to_csv(path, index=False)
    return path


def test_a_numeric_show_column_is_not_taken_as_a_class(ten_classes):
    report = report_of(ten_classes, "--show", "source_id", "--top", "0")
    assert report["n_classes"] == 10
    assert report["classes"] == [str(k) for k in range(10)]
    assert report["columns"]["predictions"] == [str(k) for k in range(10)]
    assert_shows(report, read_back(ten_classes, ["source_id"]))
    assert shown_by_row(report, "source_id")[2] == "7006"
    # without --show it is taken as an 11th class (its numbers as logits, to be scored)
    assert report_of(ten_classes, "--logits", "--top", "0")["n_classes"] == 11


def test_named_in_pred_cols_it_is_a_prediction_and_shown(ten_classes):
    cols = ",".join([*map(str, range(10)), "source_id"])
    report = report_of(ten_classes, "--pred-cols", cols, "--logits", "--show", "source_id")
    assert report["n_classes"] == 11
    assert report["columns"]["predictions"][-1] == "source_id"
    assert_shows(report, read_back(ten_classes, ["source_id"]))


def test_a_file_whose_only_numbers_are_shown_says_to_name_them_in_pred_cols(tmp_path):
    path = tmp_path / "binary.csv"
    path.write_text("p,label,note\n0.2,0,a\n0.9,1,b\n", encoding="utf-8")
    result = cecli("score", path, "--show", "p")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert "has no columns of numbers to score" in result.stderr
    assert "a --show column ('p') is not taken as predictions" in result.stderr
    assert "--pred-cols" in result.stderr
    assert report_of(path, "--show", "p", "--pred-cols", "p")["kind"] == "binary"


@pytest.mark.parametrize("in_candidate", [True, False], ids=["both-files", "baseline-only"])
def test_compare_leaves_a_shown_column_out_of_the_classes(ten_classes, tmp_path, in_candidate):
    frame = pd.read_csv(ten_classes)
    rng = np.random.default_rng(6)
    frame[[str(k) for k in range(10)]] = rng.dirichlet(np.ones(10), len(frame))
    candidate = tmp_path / "candidate.csv"
    (frame if in_candidate else frame.drop(columns="source_id")).to_csv(candidate, index=False)
    args = ("--show", "source_id", "--bootstrap", "200", "--top", "0", "-f", "json")
    result = cecli("compare", ten_classes, candidate, *args)
    assert result.exit_code in (0, 1), result.stderr
    document = json.loads(result.stdout)
    assert document["classes"] == [str(k) for k in range(10)]
    expected = read_back(ten_classes, ["source_id"])["source_id"]
    rows = document["largest_increases"]
    assert rows
    assert all(r["show"] == {"source_id": expected[r["row"]]} for r in rows)


def test_a_shown_column_of_the_labels_file_is_not_taken_as_the_labels(tmp_path):
    frame = model(n=90)
    preds = write(frame[CLASSES], tmp_path / "preds.csv")
    truth = frame[["label", "caption"]].rename(columns={"label": "truth"})
    labels = write(truth, tmp_path / "labels.csv")
    report = report_of(preds, labels, "--show", "caption", "--top", "4")
    assert report["columns"]["labels"] == ["truth"]
    assert_shows(report, read_back(labels, ["caption"]))


def test_a_label_column_of_the_predictions_may_be_shown_beside_a_labels_file(tmp_path):
    frame = model(n=90)
    frame["label"] = frame["label"].map(CLASSES.index)  # numbers: they look like a class
    preds = write(frame[[*CLASSES, "label"]], tmp_path / "preds.csv")
    labels = write(frame[["label"]], tmp_path / "labels.csv")
    report = report_of(preds, labels, "--show", "label", "--top", "4")
    assert report["columns"]["predictions"] == CLASSES
    assert_shows(report, read_back(preds, ["label"]))


# -- cells as the file holds them --------------------------------------------------------------


def test_json_lines_keys_of_any_kind_are_their_values(tmp_path):
    """Objects, lists of text, a key of numbers then text, big integers: json reads them back."""
    n = 45000  # past the first MiB from which the keys' types are found
    rng = np.random.default_rng(7)
    probs = rng.dirichlet(np.ones(3), n).round(6)
    values = {
        "obj": lambda i: {"box": [i, 0.5], "who": "x"} if i % 5 else None,
        "tags": lambda i: ["a", str(i)] if i % 4 else [],
        "late": lambda i: i if i < 40000 else (1.5 if i % 2 else f"t{i}"),
        "big": lambda i: 2**62 + i,
        "flag": lambda i: None if i % 6 == 2 else (i % 2 == 0 if i < 40000 else "yes"),
        "text": lambda i: f"s{i:05d}" if i < 40000 else i,
    }
    path = tmp_path / "rows.jsonl"
    with open(path, "w", encoding="utf-8") as f:
        for i in range(n):
            row = {"probs": probs[i].tolist(), "label": int(i % 3)}
            f.write(json.dumps(row | {k: make(i) for k, make in values.items()}) + "\n")
    names = ",".join(values)
    report = report_of(path, "--pred-cols", "probs", "--show", names, "--top", "0")
    assert len(report["worst"]) == n
    with open(path, encoding="utf-8") as f:
        records = [json.loads(line) for line in f]
    for r in report["worst"]:
        written = records[r["row"]]
        for name, cell in r["show"].items():
            value = written[name]
            if value is None or isinstance(value, str):
                assert cell == value, (r["row"], name)
            else:
                assert json.loads(cell) == value, (r["row"], name)


def test_csv_text_shards_may_hold_numbers_in_one_and_text_in_another(tmp_path):
    frame = model(n=80)
    first = frame.iloc[:40].assign(code=[str(i) for i in range(40)])
    second = frame.iloc[40:].assign(code=[f"A-{i:03d}" for i in range(40, 80)])
    write(first, tmp_path / "part-0.csv")
    write(second, tmp_path / "part-1.csv")
    report = report_of(tmp_path / "part-*.csv", *PREDS, "--show", "code", "--top", "0")
    shown = shown_by_row(report, "code")
    assert [shown[0], shown[39], shown[40], shown[79]] == ["0", "39", "A-040", "A-079"]


def test_shards_of_other_integer_types_join_exactly(tmp_path):
    """Labels in shards whose shown column is int32 in one and int64 in the other."""
    frame = model(n=100)
    np.save(tmp_path / "preds.npy", frame[CLASSES].to_numpy())
    labels = frame["label"].map(CLASSES.index).to_numpy()
    small = pa.array(np.arange(50, dtype=np.int32))
    large = pa.array([2**60 + i for i in range(50, 100)], pa.int64())
    pq.write_table(pa.table({"label": labels[:50], "n": small}), tmp_path / "l-0.parquet")
    pq.write_table(pa.table({"label": labels[50:], "n": large}), tmp_path / "l-1.parquet")
    args = ("--show", "n", "--top", "0", "--chunk-size", "1K")  # frames across both shards
    report = report_of(tmp_path / "preds.npy", tmp_path / "l-*.parquet", *args)
    want = {i: str(i) if i < 50 else str(2**60 + i) for i in range(100)}
    assert shown_by_row(report, "n") == want


def test_arrow_types_are_written_as_their_values(tmp_path):
    n = 30
    table = pa.Table.from_pandas(model(n=n)[[*CLASSES, "label"]], preserve_index=False)
    columns = {
        "kind": pa.array(["b" if i % 2 else "a" for i in range(n)]).dictionary_encode(),
        "day": pa.array([datetime.date(2024, 1, 1 + i) for i in range(n)]),
        "price": pa.array([decimal.Decimal(f"{i}.50") for i in range(n)], pa.decimal128(6, 2)),
        "box": pa.array([[0.1, 3.0] if i % 3 else None for i in range(n)], pa.list_(pa.float32())),
        "meta": pa.array([{"x": i, "y": None if i % 2 else "z"} for i in range(n)]),
        "big": pa.array([2**63 - 1 - i for i in range(n)], pa.int64()),
    }
    for name, values in columns.items():
        table = table.append_column(name, values)
    path = tmp_path / "types.parquet"
    pq.write_table(table, path)
    report = report_of(path, *PREDS, "--show", ",".join(columns), "--top", "0")
    shown = {r["row"]: r["show"] for r in report["worst"]}
    assert shown[1] == {
        "kind": "b",
        "day": "2024-01-02",
        "price": "1.50",
        "box": "[0.1, 3]",
        "meta": '{"x": 1, "y": null}',
        "big": "9223372036854775806",
    }
    assert shown[0]["box"] is None  # an empty list cell
    assert (shown[0]["meta"], shown[0]["kind"]) == ('{"x": 0, "y": "z"}', "a")


def test_a_column_only_shown_stays_in_arrow_until_its_rows_are_listed(tmp_path):
    """Memory: the cells of a column only shown are not made Python strings, row by row."""
    frame = model(n=60)
    path = write(frame, tmp_path / "model.csv")
    options = InputOptions(pred_cols=",".join(CLASSES), show_cols=("path", "label", "count"))
    with Inputs(str(path), None, options) as inputs:
        batch = next(inputs.batches())
    path_cells, label_cells, count_cells = batch.show
    assert isinstance(path_cells, pa.Array)  # text as written, in Arrow's memory
    assert isinstance(count_cells, pa.Array)
    assert count_cells.type == pa.string()  # numbers in the file, shown as their text
    assert isinstance(label_cells, np.ndarray)  # the labels: read as the labels are
