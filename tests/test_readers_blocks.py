"""Reading columns from their buffers, and CSV blocks parsed side by side.

* The readers see pyarrow columns through their buffers (``cecli.readers._arrow``),
  so reading never imports pandas: the values, nulls and booleans they give must be
  what pyarrow's own Python conversion (``to_pylist``) gives, for sliced arrays
  (an offset into their buffers) and arrays of several chunks.
* CSV blocks are parsed on a pool of threads (``OrderedPool``): the results come
  back in order, at most ``workers + spare`` are out at a time, an error is raised in
  its turn, and every thread ends when reading ends. A file of many blocks reads
  as ``pyarrow.csv.read_csv`` reads it whole, and errors name the same rows.
"""

from __future__ import annotations

import decimal
import json
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from cecli.cli import app
from cecli.errors import InputError
from cecli.readers import open_source
from cecli.readers._arrow import bools, first_null, numbers, strings, valid
from cecli.readers._background import OrderedPool
from cecli.readers.csv import CsvSource

ROOT = Path(__file__).resolve().parent.parent
runner = CliRunner()


# -- no pandas on the reading path -------------------------------------------------------

_READ_ALL = textwrap.dedent(
    """
    import sys
    from cecli.inputs import InputOptions, Inputs

    rows = []
    pairs = [(sys.argv[1], sys.argv[2]), (sys.argv[3], None), (sys.argv[4], sys.argv[5])]
    for preds, labels in pairs:
        with Inputs(preds, labels, InputOptions()) as inputs:
            rows.append(sum(len(batch.targets) for batch in inputs.batches()))
    print(rows, "pandas" in sys.modules, "matplotlib" in sys.modules)
    """
)


def test_reading_csv_parquet_and_npy_imports_neither_pandas_nor_matplotlib(tmp_path):
    rng = np.random.default_rng(3)
    probs = rng.dirichlet(np.ones(3), size=50)
    labels = rng.integers(0, 3, 50)
    np.savetxt(tmp_path / "p.csv", probs, delimiter=",", header="a,b,c", comments="")
    (tmp_path / "y.csv").write_text("label\n" + "\n".join(map(str, labels)) + "\n")
    table = {"a": probs[:, 0], "b": probs[:, 1], "c": probs[:, 2], "label": labels}
    pq.write_table(pa.table(table), tmp_path / "p.parquet")
    np.save(tmp_path / "p.npy", probs)
    np.save(tmp_path / "y.npy", labels)
    args = ["p.csv", "y.csv", "p.parquet", "p.npy", "y.npy"]
    out = subprocess.run(
        [sys.executable, "-c", _READ_ALL, *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.split() == ["[50,", "50,", "50]", "False", "False"], out.stderr


_SCORE = textwrap.dedent(
    """
    import sys
    from cecli.cli import main

    sys.argv = ["cecli", *sys.argv[1:]]
    try:
        main()
    except SystemExit as end:
        print("pandas" in sys.modules, "matplotlib" in sys.modules, end.code, file=sys.stderr)
    """
)


def test_the_score_command_on_a_csv_imports_neither_pandas_nor_matplotlib():
    data = ROOT / "sample_data"
    command = ["score", str(data / "digits_probs.csv"), str(data / "digits_labels.csv")]
    out = subprocess.run(
        [sys.executable, "-c", _SCORE, *command, "-f", "json"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(out.stdout)["n_samples"] == 450
    assert out.stderr.split() == ["False", "False", "0"]


# -- columns from their buffers, against pyarrow's to_pylist -----------------------------

_NUMBER_TYPES = [pa.float64(), pa.float32(), pa.float16(), pa.int64(), pa.int8(), pa.uint16()]


def _typed(values: list[float], t: pa.DataType) -> pa.Array:
    if pa.types.is_floating(t):
        return pa.array(np.array(values, dtype=t.to_pandas_dtype()))
    return pa.array(np.round(values).astype(t.to_pandas_dtype()))


@given(
    values=st.lists(st.floats(-100, 100, width=16), min_size=1, max_size=40),
    start=st.integers(0, 39),
    length=st.integers(0, 40),
    t=st.sampled_from(_NUMBER_TYPES),
)
def test_numbers_are_the_values_pyarrow_gives_from_any_offset(values, start, length, t):
    array = _typed(values, t).slice(start, length)
    want = np.float32 if t in (pa.float32(), pa.float16()) else np.float64
    got = numbers(array)
    assert got.dtype == want
    np.testing.assert_array_equal(got, np.array(array.to_pylist(), dtype=want))


def test_numbers_of_several_chunks_decimals_and_booleans():
    chunked = pa.chunked_array([pa.array([0.5, 0.25]).slice(1), pa.array([1.5, 2.0, 3.0])])
    np.testing.assert_array_equal(numbers(chunked), [0.25, 1.5, 2.0, 3.0])
    money = pa.array([decimal.Decimal("1.25"), decimal.Decimal("-3.5")], pa.decimal128(5, 2))
    np.testing.assert_array_equal(numbers(money), [1.25, -3.5])
    np.testing.assert_array_equal(numbers(pa.array([True, False, True]).slice(1)), [0.0, 1.0])
    assert numbers(pa.chunked_array([], pa.float32())).size == 0


@given(
    cells=st.lists(st.one_of(st.none(), st.booleans()), min_size=1, max_size=70),
    start=st.integers(0, 69),
)
def test_nulls_and_booleans_are_pyarrows_from_any_offset(cells, start):
    array = pa.array(cells, pa.bool_()).slice(start)
    listed = array.to_pylist()
    nulls = [i for i, cell in enumerate(listed) if cell is None]
    assert first_null(array) == (nulls[0] if nulls else None)
    assert valid(array).tolist() == [cell is not None for cell in listed]
    assert bools(array).tolist() == [bool(cell) for cell in listed]


def test_first_null_counts_the_chunks_before_it():
    chunked = pa.chunked_array([pa.array([1.0, 2.0]), pa.array([3.0, None, None])])
    assert first_null(chunked) == 3
    assert first_null(pa.array([None, None], pa.null())) == 0


def test_strings_read_a_null_as_empty_and_other_types_as_text():
    text = pa.chunked_array([pa.array(["a", None]), pa.array(["ü", ""])])
    assert strings(text).tolist() == ["a", "", "ü", ""]
    assert strings(pa.array([1, 22]).slice(1)).tolist() == ["22"]


# -- the pool ------------------------------------------------------------------------------


def _cecli_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if "cecli-test" in t.name and t.is_alive()]


@pytest.mark.parametrize("spare", [1, 2])
def test_the_pool_hands_results_out_in_order_with_at_most_workers_plus_spare_out(spare):
    workers, n = 3, 40
    rng = np.random.default_rng(0)
    delays = rng.uniform(0, 0.004, n)
    out = {"drawn": 0, "done": 0, "most": 0}
    lock = threading.Lock()

    def tasks(stopped):
        for i in range(n):
            with lock:
                out["drawn"] += 1
                out["most"] = max(out["most"], out["drawn"] - out["done"])
            yield lambda i=i: time.sleep(delays[i]) or i

    pool = OrderedPool(tasks, workers=workers, name="cecli-test", spare=spare)
    got = []
    for result in pool:
        got.append(result)
        time.sleep(0.002)  # the caller scores meanwhile: the workers run ahead
        with lock:
            out["done"] += 1
    pool.close()
    assert got == list(range(n))
    assert out["most"] == workers + spare  # reached, never passed
    assert _cecli_threads() == []


def test_an_error_is_raised_in_its_turn_and_the_threads_end():
    def tasks(stopped):
        yield lambda: "first"
        yield lambda: time.sleep(0.05) or "second"
        yield lambda: 1 / 0
        yield lambda: "never handed out"

    pool = OrderedPool(tasks, workers=2, name="cecli-test")
    got = []
    with pytest.raises(ZeroDivisionError):
        got.extend(pool)
    pool.close()
    assert got == ["first", "second"]
    assert _cecli_threads() == []


def test_an_error_drawing_tasks_comes_after_the_tasks_before_it():
    def tasks(stopped):
        yield lambda: time.sleep(0.05) or 1
        raise OSError("the disk went away")

    pool = OrderedPool(tasks, workers=2, name="cecli-test")
    got = []
    with pytest.raises(OSError, match="went away"):
        got.extend(pool)
    pool.close()
    assert got == [1]


def test_closing_a_pool_left_half_read_stops_drawing_tasks():
    drawn = []

    def tasks(stopped):
        for i in range(10_000):
            drawn.append(i)
            yield lambda i=i: i

    pool = OrderedPool(tasks, workers=2, name="cecli-test")
    assert next(iter(pool)) == 0
    pool.close()
    assert len(drawn) <= 4
    assert _cecli_threads() == []


# -- CSV in many blocks ----------------------------------------------------------------------


def _many_blocks(path: Path, n: int = 30_000) -> np.ndarray:
    rng = np.random.default_rng(9)
    probs = rng.dirichlet(np.ones(3), size=n)
    with open(path, "w") as out:
        out.write("id,a,b,c,flag\n")
        for i, (a, b, c) in enumerate(probs.tolist()):
            name = f'"id {i},\nsecond line"' if i % 11 == 0 else f"r{i}"
            out.write(f"{name},{a!r},{b!r},{c!r},{'true' if i % 3 else 'false'}\n")
    return probs


def test_a_file_of_many_blocks_reads_as_read_csv_reads_it_whole(tmp_path):
    path = tmp_path / "p.csv"
    _many_blocks(path)
    want = pacsv.read_csv(path)
    source = open_source(str(path), chunk_bytes=64 << 10)
    frames = list(source.frames(1000, ["id", "a", "b", "c", "flag"]))
    source.close()
    assert len(frames) > source.workers + 1  # the pool was full at times
    assert [f.first_row for f in frames] == list(np.cumsum([0] + [f.n_rows for f in frames])[:-1])
    for name in ["a", "b", "c"]:
        got = np.concatenate([f.columns[name] for f in frames])
        assert got.dtype == np.float64
        np.testing.assert_array_equal(got, want.column(name).to_pylist())
        # each block's column is pyarrow's own buffer, not a copy of it
        assert not any(f.columns[name].flags.owndata for f in frames)
    ids = np.concatenate([f.columns["id"] for f in frames])
    assert ids.tolist() == want.column("id").to_pylist()
    flags = np.concatenate([f.columns["flag"] for f in frames])
    assert flags.tolist() == want.column("flag").to_pylist()


def test_stacked_columns_come_as_one_array_a_block_as_read_csv_reads_them(tmp_path):
    path = tmp_path / "p.csv"
    _many_blocks(path)
    want = pacsv.read_csv(path)
    source = open_source(str(path), chunk_bytes=64 << 10)
    frames = list(source.frames(1000, ["id", "a", "b", "c", "flag"], stacked=["c", "a"]))
    source.close()
    assert len(frames) > source.workers + 1
    for frame in frames:
        assert frame.stacked.shape == (2, frame.n_rows)
        assert frame.stacked.flags.c_contiguous
        assert not frame.stacked.flags.writeable
        # the stacked columns are in the frame's columns too, as rows of the one array
        assert np.shares_memory(frame.columns["c"], frame.stacked)
        np.testing.assert_array_equal(frame.columns["c"], frame.stacked[0])
        np.testing.assert_array_equal(frame.columns["a"], frame.stacked[1])
    stacked = np.concatenate([f.stacked for f in frames], axis=1)
    np.testing.assert_array_equal(stacked[0], want.column("c").to_pylist())
    np.testing.assert_array_equal(stacked[1], want.column("a").to_pylist())
    b = np.concatenate([f.columns["b"] for f in frames])
    np.testing.assert_array_equal(b, want.column("b").to_pylist())
    ids = np.concatenate([f.columns["id"] for f in frames])
    assert ids.tolist() == want.column("id").to_pylist()


def test_all_the_columns_stacked_in_another_order_come_in_the_order_asked_for(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("a,b,c\n0.1,0.2,0.7\n0.3,0.3,0.4\n")
    source = open_source(str(path))
    (frame,) = source.frames(1000, ["a", "b", "c"], stacked=["c", "a", "b"])
    source.close()
    assert frame.stacked.tolist() == [[0.7, 0.4], [0.1, 0.3], [0.2, 0.3]]
    assert frame.columns["a"].tolist() == [0.1, 0.3]


@pytest.mark.parametrize(
    "cells",
    [
        ["1", "2"],
        ["0.5", "nan"],
        ["inf", "-1e-3"],
        ["", ""],
        ["3", ""],
        ["1", "0"],
        ["true", "false"],
        ["a", "0.5"],
        ["2024-01-01", "2024-01-02"],
    ],
)
def test_a_column_has_the_kind_of_the_type_pyarrow_infers(cells, tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("x,y\n" + "".join(f"{cell},0.25\n" for cell in cells))
    inferred = pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(null_values=[""]))
    t = inferred.column("x").type
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_null(t):
        want = "number"
    else:
        want = "bool" if pa.types.is_boolean(t) else "string"
    source = open_source(str(path))
    source.close()
    assert [f.kind for f in source.fields] == [want, "number"]


def test_columns_of_text_are_never_stacked(tmp_path):
    path = tmp_path / "p.csv"
    _many_blocks(path)
    source = open_source(str(path), chunk_bytes=64 << 10)
    frames = list(source.frames(1000, ["id", "a", "flag"], stacked=["id", "a"]))
    source.close()
    assert all(frame.stacked is None for frame in frames)
    assert sum(len(frame.columns["a"]) for frame in frames) == 30_000


@pytest.mark.parametrize("stacked", [None, ["a", "b", "c"]])
@pytest.mark.parametrize(
    ("cell", "what"),
    [
        ("", "is empty; every cell of a column of numbers needs a value."),
        ("0.5x", "holds '0.5x', which is not a number."),
    ],
)
def test_a_bad_cell_in_a_late_block_names_its_row(cell, what, stacked, tmp_path):
    path = tmp_path / "p.csv"
    rng = np.random.default_rng(2)
    probs = rng.dirichlet(np.ones(3), size=40_000)
    lines = [",".join(repr(v) for v in row) for row in probs.tolist()]
    bad = 37_345  # past the first MiB, which types the columns
    lines[bad] = f"{probs[bad, 0]},{cell},{probs[bad, 2]}"
    path.write_text("a,b,c\n" + "\n".join(lines) + "\n")
    source = open_source(str(path), chunk_bytes=64 << 10)
    with pytest.raises(InputError) as raised:
        sum(frame.n_rows for frame in source.frames(1000, ["a", "b", "c"], stacked=stacked))
    source.close()
    assert f"row {bad} (line {bad + 2}), column 'b' {what}" in str(raised.value)


def test_the_command_reports_a_late_empty_cell_as_one_line(tmp_path):
    rng = np.random.default_rng(4)
    probs = rng.dirichlet(np.ones(3), size=20_000)
    labels = rng.integers(0, 3, 20_000)
    lines = [f"{a!r},{b!r},{c!r},{y}" for (a, b, c), y in zip(probs.tolist(), labels, strict=True)]
    row = 19_990
    lines[row] = "," + lines[row].split(",", 1)[1]
    (tmp_path / "p.csv").write_text("a,b,c,label\n" + "\n".join(lines) + "\n")
    result = runner.invoke(app, ["score", str(tmp_path / "p.csv"), "--chunk-size", "64K"])
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert f"row {row} (line {row + 2}), column 'a' is empty" in result.stderr


# -- the last block, parsed in parts -------------------------------------------------------


def _three_mib(path: Path, edit: dict[tuple[int, int], str] | None = None) -> int:
    """About 3 MiB of a,b,c rows: one block, and the file's last. The number of rows."""
    rng = np.random.default_rng(8)
    rows = rng.dirichlet(np.ones(3), size=50_000).tolist()
    cells = [[repr(v) for v in row] for row in rows]
    for (row, col), text in (edit or {}).items():
        cells[row][col] = text
    path.write_text("a,b,c\n" + "".join(",".join(row) + "\n" for row in cells))
    assert 2 << 20 < path.stat().st_size < 8 << 20
    return len(rows)


def _read(path: Path, workers: int = 3, stacked: list[str] | None = None) -> list:
    source = open_source(str(path))
    source.workers = workers  # three parts, whatever the machine
    try:
        return list(source.frames(1000, ["a", "b", "c"], stacked=stacked))
    finally:
        source.close()


def test_the_last_block_parsed_in_parts_is_one_frame_as_read_csv_reads_it(tmp_path, monkeypatch):
    path = tmp_path / "p.csv"
    n = _three_mib(path)
    want = pacsv.read_csv(path)
    parsed = []
    whole = CsvSource._parse_block
    monkeypatch.setattr(
        CsvSource,
        "_parse_block",
        lambda self, text, *rest: parsed.append(text.size) or whole(self, text, *rest),
    )
    (frame,) = [f for f in _read(path) if f.n_rows]
    assert len(parsed) == 3  # one part a thread
    assert sum(parsed) == path.stat().st_size - len("a,b,c\n")
    assert (frame.first_row, frame.n_rows) == (0, n)
    for name in ["a", "b", "c"]:
        np.testing.assert_array_equal(frame.columns[name], want.column(name).to_pylist())
    (frame,) = [f for f in _read(path, stacked=["b", "c"]) if f.n_rows]
    assert len(parsed) == 6
    assert frame.stacked.shape == (2, n)
    np.testing.assert_array_equal(frame.stacked[0], want.column("b").to_pylist())
    np.testing.assert_array_equal(frame.stacked[1], want.column("c").to_pylist())
    for name in ["a", "b", "c"]:
        np.testing.assert_array_equal(frame.columns[name], want.column(name).to_pylist())


@pytest.mark.parametrize("stacked", [None, ["a", "b", "c"]])
def test_parts_report_the_first_column_with_an_empty_cell_as_a_whole_block_does(stacked, tmp_path):
    path = tmp_path / "p.csv"
    _three_mib(path, {(2_000, 2): "", (45_000, 0): ""})  # c in the first part, a in the last
    with pytest.raises(InputError, match=r"row 45000 \(line 45002\), column 'a' is empty"):
        _read(path, stacked=stacked)


@pytest.mark.parametrize("stacked", [None, ["a", "b", "c"]])
def test_parts_report_a_row_that_cannot_be_parsed_before_an_empty_cell(stacked, tmp_path):
    path = tmp_path / "p.csv"
    _three_mib(path, {(30_000, 0): "", (46_000, 1): "oops"})
    with pytest.raises(InputError, match=r"row 46000 \(line 46002\), column 'b' holds 'oops'"):
        _read(path, stacked=stacked)


# -- Parquet keeps float32 -----------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_parquet_columns_keep_their_float_type_without_a_copy(dtype, tmp_path):
    rng = np.random.default_rng(6)
    probs = rng.dirichlet(np.ones(4), size=3_000).astype(dtype)
    matrix = pa.FixedSizeListArray.from_arrays(pa.array(probs.reshape(-1)), 4)
    offsets = pa.array(np.arange(0, probs.size + 1, 4, dtype=np.int32))
    listed = pa.ListArray.from_arrays(offsets, pa.array(probs.reshape(-1)))
    table = pa.table({"fixed": matrix, "listed": listed, "p0": probs[:, 0], "label": [1] * 3_000})
    pq.write_table(table, tmp_path / "p.parquet", row_group_size=1_000)
    source = open_source(str(tmp_path / "p.parquet"))
    frames = list(source.frames(700, ["fixed", "listed", "p0", "label"]))
    source.close()
    for name in ["fixed", "listed"]:
        got = np.concatenate([f.columns[name] for f in frames])
        assert got.dtype == dtype
        np.testing.assert_array_equal(got, probs)
        assert not any(f.columns[name].flags.owndata for f in frames)  # pyarrow's buffer
    p0 = np.concatenate([f.columns["p0"] for f in frames])
    assert p0.dtype == dtype
    np.testing.assert_array_equal(p0, probs[:, 0])
    assert np.concatenate([f.columns["label"] for f in frames]).dtype == np.float64
