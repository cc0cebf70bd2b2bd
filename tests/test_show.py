"""``cecli score --show COLUMN[,COLUMN]``: the listed rows carry their cells, read right.

Every listed row of the JSON report (flagged, worst, label issues) gains
``"show"``: the cells of the asked columns, in the order asked, for that
row. The reference is the input read again by the csv module, pyarrow or
json (:func:`show_cases.read_back`), each cell written as the issue says
(:func:`show_cases.cell_text`): text as it is, a missing cell null, a whole
number without ``.0``, booleans ``true``/``false``. Whatever the format,
the chunk size, a second file of labels or standard input, the answer is
the same; a column that is not there is one error line naming the files and
their columns.
"""

from __future__ import annotations

import itertools
import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from show_cases import (
    CLASSES,
    EXTRA,
    PREDS,
    assert_shows,
    cecli,
    listed,
    model,
    read_back,
    report_of,
    write,
)
from test_cli_options import error_line


@pytest.fixture(scope="module")
def frame():
    return model()


@pytest.fixture(scope="module", params=["csv", "parquet", "arrow", "jsonl"])
def preds(request, frame, tmp_path_factory):
    return write(frame, tmp_path_factory.mktemp("show") / f"model.{request.param}")


def drop_show(report: dict, names: tuple[str, ...] = ()) -> dict:
    """The report without "show" (each row's, the columns'), nor ``names`` among those ignored."""
    out = json.loads(json.dumps(report))
    for _, row in listed(out):
        row.pop("show", None)
    out["columns"].pop("show", None)
    ignored = out["columns"]["ignored"]
    out["columns"]["ignored"] = [c for c in ignored if c["column"] not in names]
    return out


# -- the right cells for the right rows ------------------------------------------------


@pytest.mark.parametrize("top", ["0", "7"])
def test_every_listed_row_carries_its_cells_in_the_order_asked(preds, top):
    names = ["path", "ok", "caption", "ratio", "count"]  # not the file's order
    report = report_of(preds, *PREDS, "--show", ",".join(names), "--label-issues", "--top", top)
    assert report["flagged"]
    assert report["label_issues"]
    assert report["worst"]
    expected = read_back(preds, names)
    assert_shows(report, expected)
    if top == "0":  # every row is listed: every kind of cell was checked, missing ones too
        assert len(report["worst"]) == len(expected["path"])
        assert None in expected["caption"]
        assert None in expected["ratio"]
        assert {"true", "false"} == set(expected["ok"])
        assert any(c.startswith("-") for c in expected["count"])


def test_the_cells_are_those_written_in_the_file(frame, tmp_path):
    """The reference itself, on a few cells written out by hand."""
    preds = write(frame, tmp_path / "model.parquet")
    report = report_of(preds, *PREDS, "--show", ",".join(EXTRA), "--top", "0")
    by_row = {r["row"]: r["show"] for r in report["worst"]}
    assert by_row[0] == {
        "caption": "a photo of row 0, emu",
        "count": "-100",
        "ratio": "0",
        "ok": "true",
        "path": "img/0000.png",
    }
    assert by_row[1]["ratio"] == "0.125"
    assert by_row[3]["ratio"] is None  # NaN
    assert by_row[5]["caption"] is None  # a missing cell
    assert by_row[16]["ratio"] == "2"  # a whole float, no ".0"


def test_show_changes_nothing_else_of_the_report(preds):
    plain = report_of(preds, *PREDS, "--label-issues", "--top", "5")
    shown = report_of(preds, *PREDS, "--label-issues", "--top", "5", "--show", "caption,count")
    assert drop_show(shown) == drop_show(plain, ("caption", "count"))
    ignored = {c["column"] for c in plain["columns"]["ignored"]}
    assert {"caption", "count"} <= ignored  # read as nothing without --show: not with it
    assert not {"caption", "count"} & {c["column"] for c in shown["columns"]["ignored"]}


def test_columns_of_the_labels_file_and_of_both(frame, tmp_path):
    preds = write(frame[[*CLASSES, "caption"]], tmp_path / "preds.parquet")
    labels = write(frame[["label", "path", "count"]], tmp_path / "labels.csv")
    report = report_of(preds, labels, "--show", "count,caption,path", "--label-issues")
    expected = read_back(labels, ["count"]) | read_back(preds, ["caption"])
    assert_shows(report, expected | read_back(labels, ["path"]))
    assert list(report["worst"][0]["show"]) == ["count", "caption", "path"]


def test_predictions_in_npy_with_the_columns_in_the_labels_file(frame, tmp_path):
    np.save(tmp_path / "preds.npy", frame[CLASSES].to_numpy())
    labels = frame[["label", "caption"]].assign(label=frame["label"].map(CLASSES.index))
    labels_file = write(labels, tmp_path / "labels.csv")
    report = report_of(tmp_path / "preds.npy", labels_file, "--show", "caption", "--top", "3")
    assert_shows(report, read_back(labels_file, ["caption"]))


def test_a_column_of_both_files_is_the_predictions_files(frame, tmp_path):
    preds = write(frame[[*CLASSES, "caption"]], tmp_path / "preds.csv")
    other = frame[["label"]].assign(caption="from the labels file")
    labels = write(other, tmp_path / "labels.csv")
    report = report_of(preds, labels, "--show", "caption", "--top", "4")
    assert_shows(report, read_back(preds, ["caption"]))


def test_many_chunks_give_the_answer_of_one(frame, tmp_path):
    big = pd.concat([frame] * 20, ignore_index=True)  # 4,800 rows, 1,5 MB as CSV
    big["path"] = [f"img/{i:05d}.png" for i in range(len(big))]
    for fmt in ("csv", "parquet"):
        preds = write(big, tmp_path / f"big.{fmt}")
        args = (*PREDS, "--show", "path,caption,ratio", "--label-issues", "--top", "30")
        one = report_of(preds, *args)
        many = report_of(preds, *args, "--chunk-size", "4K")
        assert listed(many) == listed(one)
        assert_shows(many, read_back(preds, ["path", "caption", "ratio"]))


def test_standard_input_read_once_and_kept_for_label_issues(frame, tmp_path):
    preds = write(frame, tmp_path / "model.csv")
    text = preds.read_text(encoding="utf-8")
    args = (*PREDS, "--show", "caption,path", "--label-issues", "--top", "6")
    from_stdin = report_of("-", *args, "--chunk-size", "4K", stdin=text)
    assert_shows(from_stdin, read_back(preds, ["caption", "path"]))
    assert (
        drop_show(from_stdin)["label_issues"] == drop_show(report_of(preds, *args))["label_issues"]
    )


def test_all_rows_of_a_large_listing(tmp_path):
    """--top 0 over thousands of rows: the JSON writer's columnar path carries "show" too."""
    frame = model(n=5000, seed=3)
    frame["caption"] = [f'"q{i}"\\\n\t\x01é\u202e' if i % 2 else None for i in range(5000)]
    preds = write(frame, tmp_path / "many.parquet")
    report = report_of(preds, *PREDS, "--show", "caption,count", "--top", "0")
    assert len(report["worst"]) == 5000
    assert_shows(report, read_back(preds, ["caption", "count"]))


@pytest.mark.parametrize("top", ["0", "4"])
def test_ignored_rows_keep_their_own_row_numbers(frame, tmp_path, top):
    rows = np.arange(len(frame))
    ignored = (rows % 4 == 1) | (rows < 100)  # the first chunks of 2K wholly
    preds = write(frame.assign(label=frame["label"].where(~ignored, "-")), tmp_path / "i.csv")
    args = (*PREDS, "--show", "path", "--ignore-label", "-", "--label-issues", "--top", top)
    for chunk in ("64M", "2K"):
        report = report_of(preds, *args, "--chunk-size", chunk)
        if top == "0":
            assert len(report["worst"]) == (~ignored).sum()
        assert not any(ignored[r["row"]] for _, r in listed(report))
        assert_shows(report, read_back(preds, ["path"]))


def test_binary_and_multilabel_rows(tmp_path):
    rng = np.random.default_rng(4)
    n = 120
    note = [f"note {i}" for i in range(n)]
    binary = pd.DataFrame({"p": rng.random(n), "label": rng.integers(0, 2, n), "note": note})
    path = write(binary, tmp_path / "binary.csv")
    report = report_of(path, "--pred-cols", "p", "--show", "note", "--label-issues")
    assert_shows(report, read_back(path, ["note"]))
    table = pa.table(
        {
            "p": pa.array(list(rng.random((n, 3))), pa.list_(pa.float64(), 3)),
            "y": pa.array(list(rng.integers(0, 2, (n, 3))), pa.list_(pa.int64(), 3)),
            "note": note,
        }
    )
    pq.write_table(table, tmp_path / "multi.parquet")
    report = report_of(
        tmp_path / "multi.parquet",
        "--kind",
        "multilabel",
        "--pred-cols",
        "p",
        "--label-col",
        "y",
        "--show",
        "note",
        "--label-issues",
    )
    assert report["kind"] == "multilabel"
    assert_shows(report, read_back(tmp_path / "multi.parquet", ["note"]))


def test_shards_of_a_glob(frame, tmp_path):
    cuts = [0, 60, 61, 61, 240]
    for i, (lo, hi) in enumerate(itertools.pairwise(cuts)):
        write(frame.iloc[lo:hi], tmp_path / f"part-{i}.parquet")
    report = report_of(tmp_path / "part-*.parquet", *PREDS, "--show", "path", "--label-issues")
    assert_shows(report, read_back(write(frame, tmp_path / "whole.parquet"), ["path"]))
    assert {r["file"] for _, r in listed(report)} > {str(tmp_path / "part-0.parquet")}


# -- columns of every kind -------------------------------------------------------------


def test_a_column_of_lists_of_numbers(tmp_path):
    frame = model(n=60)
    table = pa.Table.from_pandas(frame[[*CLASSES, "label"]], preserve_index=False)
    boxes = [[float(i), 0.5, -2.0, np.nan if i % 4 else 1e300] for i in range(60)]
    pq.write_table(table.append_column("box", pa.array(boxes)), tmp_path / "boxes.parquet")
    report = report_of(tmp_path / "boxes.parquet", *PREDS, "--show", "box", "--top", "0")
    assert_shows(report, read_back(tmp_path / "boxes.parquet", ["box"]))
    by_row = {r["row"]: r["show"]["box"] for r in report["worst"]}
    assert (by_row[2], by_row[4]) == ("[2, 0.5, -2, nan]", "[4, 0.5, -2, 1e+300]")


@pytest.mark.parametrize(
    "cells",
    [
        [[1.0, 2.0] if i % 3 else None for i in range(40)],  # an empty cell
        [[1.0] * (1 + i % 3) for i in range(40)],  # rows of other lengths
        [["dog", f"t{i}"] for i in range(40)],  # a list of text
        [{"x": i, "y": "z"} for i in range(40)],  # a struct
    ],
    ids=["empty", "uneven", "text", "struct"],
)
def test_any_list_column_is_shown(tmp_path, cells):
    table = pa.Table.from_pandas(model(n=40)[[*CLASSES, "label"]], preserve_index=False)
    pq.write_table(table.append_column("tags", pa.array(cells)), tmp_path / "tags.parquet")
    args = ("--show", "tags", "--top", "0", "-f", "json")
    result = cecli("score", tmp_path / "tags.parquet", *PREDS, *args)
    assert result.exit_code == 0, result.stderr
    by_row = {r["row"]: r["show"]["tags"] for r in json.loads(result.stdout)["worst"]}
    # each cell as JSON text: read back by json, it is the value written; an empty cell null
    assert {i: None if v is None else json.loads(v) for i, v in by_row.items()} == dict(
        enumerate(cells)
    )


def test_a_column_also_the_label_a_prediction_or_the_id_shows_it_as_read(frame, tmp_path):
    with_ids = frame.assign(id=[f"s{i}" for i in range(len(frame))])
    preds = write(with_ids, tmp_path / "model.csv")
    report = report_of(preds, *PREDS, "--show", "label,cat,id", "--top", "5")
    cat = read_back(preds, ["cat"])["cat"]  # as written: repr of the float
    for _, row in listed(report):
        assert row["show"] == {"label": row["label"], "cat": cat[row["row"]], "id": row["id"]}


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
@pytest.mark.parametrize(
    ("option", "column"),
    [(("--by", "site"), "site"), (("--by", "size:4"), "size"), (("--weight-col", "w"), "w")],
    ids=["by", "by-bins", "weight"],
)
def test_a_column_also_sliced_or_weighed_shows_its_cells(tmp_path, fmt, option, column):
    rows = np.arange(240)
    frame = model().assign(
        site=np.where(rows % 5 == 0, None, np.array(["north", "south", "east"])[rows % 3]),
        size=np.where(rows % 7 == 0, np.nan, rows * 1.5),
        w=np.where(rows % 4 == 0, 2.0, 0.5),
    )
    preds = write(frame, tmp_path / f"model.{fmt}")
    report = report_of(preds, *PREDS, *option, "--show", column, "--label-issues", "--top", "0")
    assert_shows(report, read_back(preds, [column]))


def test_names_are_matched_as_other_columns_are_and_asked_once(frame, tmp_path):
    preds = write(frame, tmp_path / "model.csv")
    report = report_of(preds, *PREDS, "--show", " PATH , caption,path,Caption", "--top", "3")
    assert [list(r["show"]) for _, r in listed(report)] == [["path", "caption"]] * 6
    assert_shows(report, read_back(preds, ["path", "caption"]))


def test_a_float32_column_shows_its_own_shortest_form(tmp_path):
    frame = model(n=40)
    table = pa.Table.from_pandas(frame[[*CLASSES, "label"]], preserve_index=False)
    scale = np.float32(np.arange(40) / 10 + 0.1)
    scale[7] = np.nan
    path = tmp_path / "f32.parquet"
    pq.write_table(table.append_column("scale", pa.array(scale)), path)
    report = report_of(path, *PREDS, "--show", "scale", "--top", "0")
    assert_shows(report, read_back(path, ["scale"]))
    written = {r["row"]: r["show"]["scale"] for r in report["worst"]}
    assert (written[0], written[1], written[7], written[9]) == ("0.1", "0.2", None, "1")


# -- cells as the file writes them ---------------------------------------------------------
#
# A column that is only shown is read as the file holds it, never as a data column: a CSV
# cell's text as written (leading zeros, integers past 2^53, late text), the other formats'
# cells in their own type (exact integers, empty booleans missing), never checked.


def with_column(name: str, cells: list, n: int = 60) -> pd.DataFrame:
    return model(n=n)[[*CLASSES, "label"]].assign(**{name: cells})


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_text_of_digits_keeps_its_leading_zeros(tmp_path, fmt):
    preds = write(with_column("zip", [f"{i:05d}" for i in range(60)]), tmp_path / f"z.{fmt}")
    report = report_of(preds, *PREDS, "--show", "zip", "--top", "0")
    assert {r["row"]: r["show"]["zip"] for r in report["worst"]}[7] == "00007"


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_an_integer_beyond_2_to_the_53_is_shown_exactly(tmp_path, fmt):
    big = [2**60 + i for i in range(60)]  # snowflake ids, hashes
    preds = write(with_column("tweet", pd.array(big, dtype="int64")), tmp_path / f"b.{fmt}")
    result = cecli("score", preds, *PREDS, "--show", "tweet", "--top", "0", "-f", "json")
    assert result.exit_code == 0, result.stderr  # Parquet: "the Parquet file is damaged"
    worst = json.loads(result.stdout)["worst"]
    assert {r["row"]: r["show"]["tweet"] for r in worst}[3] == "1152921504606846979"


@pytest.mark.parametrize("fmt", ["csv", "parquet", "jsonl", "arrow"])
def test_an_empty_boolean_cell_is_missing(tmp_path, fmt):
    cells = pd.array([None if i % 6 == 2 else i % 2 == 0 for i in range(60)], dtype="boolean")
    preds = write(with_column("ok", cells), tmp_path / f"ok.{fmt}")
    # CSV: the empty cell shows "false"; the others: "row 2 ... is empty (null)", exit 2
    result = cecli("score", preds, *PREDS, "--show", "ok", "--top", "0", "-f", "json")
    assert result.exit_code == 0, result.stderr
    shown = {r["row"]: r["show"]["ok"] for r in json.loads(result.stdout)["worst"]}
    assert (shown[0], shown[1], shown[2]) == ("true", "false", None)


def test_text_after_the_first_mebibyte_of_numbers(tmp_path):
    n = 60000  # more than the MiB from which a CSV column's type is found
    frame = with_column("note", [str(i) if i < 50000 else f"text {i}" for i in range(n)], n)
    preds = write(frame, tmp_path / "late.csv")
    # "column 'note' holds 'text 50000', which is not a number ... --pred-cols", exit 2
    result = cecli("score", preds, *PREDS, "--show", "note", "--top", "3", "-f", "json")
    assert result.exit_code == 0, result.stderr
    assert_shows(json.loads(result.stdout), read_back(preds, ["note"]))


# -- what cannot be shown -----------------------------------------------------------------


def test_an_unknown_column_names_the_files_and_their_columns(frame, tmp_path):
    preds = write(frame[[*CLASSES, "caption"]], tmp_path / "preds.csv")
    labels = write(frame[["label", "path"]], tmp_path / "labels.parquet")
    line = error_line(cecli("score", preds, labels, "--show", "path,captoin"))
    assert "--show 'captoin'" in line
    assert f"{preds} has 'cat', 'dog', 'emu', 'caption'" in line
    assert f"{labels} has 'label', 'path'" in line


@pytest.mark.parametrize("show", [",", " , ", ""])
def test_show_without_a_name_is_refused(frame, tmp_path, show):
    preds = write(frame, tmp_path / "model.csv")
    line = error_line(cecli("score", preds, *PREDS, "--show", show))
    assert "--show names columns" in line


def test_arrays_have_no_columns_to_show(frame, tmp_path):
    np.save(tmp_path / "preds.npy", frame[CLASSES].to_numpy())
    np.save(tmp_path / "labels.npy", frame["label"].map(CLASSES.index).to_numpy())
    line = error_line(
        cecli("score", tmp_path / "preds.npy", tmp_path / "labels.npy", "--show", "caption")
    )
    assert "--show 'caption'" in line
    assert "no named columns" in line
    np.savez(tmp_path / "both.npz", preds=frame[CLASSES].to_numpy(), labels=np.zeros(240, int))
    line = error_line(cecli("score", tmp_path / "both.npz", "--show", "caption"))
    assert "both.npz" in line
    assert "no named columns" in line


def test_a_csv_without_a_header_has_no_columns_to_show(frame, tmp_path):
    preds = tmp_path / "bare.csv"
    frame[CLASSES].to_csv(preds, index=False, header=False)
    np.save(tmp_path / "labels.npy", frame["label"].map(CLASSES.index).to_numpy())
    line = error_line(cecli("score", preds, tmp_path / "labels.npy", "--no-header", "--show", "0"))
    assert "no named columns" in line


def test_a_hostile_column_name_is_escaped_in_the_error(frame, tmp_path):
    preds = write(frame[[*CLASSES, "label"]].assign(**{"\x1b]0;t\x07": "x"}), tmp_path / "h.csv")
    line = error_line(cecli("score", preds, *PREDS, "--show", "\x1b[2J"))
    assert "\x1b" not in line
    assert "\x07" not in line
    assert r"'\x1b]0;t\x07'" in line
    assert r"'\x1b[2J'" in line
