"""The per-sample CSV text is made on several threads, and is the text pyarrow writes alone.

References: :class:`pyarrow.csv.CSVWriter` writing the same tables on one
thread; the class names by their definition (each row's label, looked up in
the list the test wrote, a formula-like one with a leading ``'``).
"""

from __future__ import annotations

import threading

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cecli.losses import score
from cecli.render import _csv_file
from cecli.render._csv_file import CSVFile
from cecli.render.per_sample import PerSampleWriter


def _table(n: int, seed: int) -> pa.Table:
    rng = np.random.default_rng(seed)
    names = pa.array(["cat", 'say "hi", then', "", "ü"])
    return pa.table(
        {
            "row": pa.array(np.arange(n, dtype=np.int64)),
            "id": pa.array([None if i % 7 == 0 else f"id{i}" for i in range(n)], pa.string()),
            "label": pa.DictionaryArray.from_arrays(
                pa.array(rng.integers(0, 4, n), pa.int32()), names
            ),
            "loss": pa.array(rng.exponential(size=n) * 10.0 ** rng.integers(-9, 9, n)),
            "flagged": pa.array(rng.random(n) < 0.3),
        }
    )


def _pyarrow_alone(path, tables) -> bytes:
    with pacsv.CSVWriter(path, tables[0].schema) as writer:
        for table in tables:
            writer.write_table(table)
    return path.read_bytes()


@settings(max_examples=30, deadline=None)
@given(
    sizes=st.lists(st.integers(0, 40), min_size=1, max_size=6),
    slice_rows=st.integers(1, 16),
    threads=st.integers(1, 4),
)
def test_the_text_is_the_one_pyarrow_writes_alone(tmp_path_factory, sizes, slice_rows, threads):
    folder = tmp_path_factory.mktemp("csv")
    tables = [_table(n, seed) for seed, n in enumerate(sizes)]
    original = _csv_file.SLICE_ROWS
    _csv_file.SLICE_ROWS = slice_rows  # many slices, and tables that end mid-slice
    try:
        out = CSVFile(str(folder / "threads.csv"), threads=threads)
        for table in tables:
            out.write_table(table)
        out.close()
    finally:
        _csv_file.SLICE_ROWS = original
    expected = _pyarrow_alone(folder / "alone.csv", tables)
    assert (folder / "threads.csv").read_bytes() == expected


def test_a_file_with_bytes_in_it_is_emptied_first(tmp_path):
    path = tmp_path / "out.csv"
    path.write_bytes(b"x" * 10_000)
    out = CSVFile(str(path), threads=2)
    out.write_table(_table(5, 0))
    out.close()
    assert path.read_bytes() == _pyarrow_alone(tmp_path / "alone.csv", [_table(5, 0)])


def test_a_failure_on_a_thread_is_raised_and_discard_stops_them(tmp_path, monkeypatch):
    def broken(table, header):
        raise pa.ArrowInvalid("cannot write this")

    monkeypatch.setattr(_csv_file, "_text", broken)
    monkeypatch.setattr(_csv_file, "SLICE_ROWS", 2)
    before = threading.active_count()
    out = CSVFile(str(tmp_path / "out.csv"), threads=2)
    with pytest.raises(pa.ArrowInvalid, match="cannot write this"):
        out.write_table(_table(20, 0))  # ten slices: it waits for the first
    out.discard()
    assert threading.active_count() == before


def _written(tmp_path, name, classes, label, predicted):
    n = len(label)
    probs = np.full((n, len(classes)), 1 / len(classes))
    chunk = score("categorical", np.clip(label, 0, len(classes) - 1), probs)
    chunk.label[:] = label  # indices past the names, as the writer must clip them
    chunk.predicted[:] = predicted
    writer = PerSampleWriter(
        str(tmp_path / name), inputs=[], classes=classes, kind="categorical", weighted=False
    )
    writer.write(chunk, None)
    writer.commit()
    return tmp_path / name


def test_names_written_twice_or_empty_are_each_rows_own(tmp_path):
    # "=x" is written '=x in a CSV file, as the class named '=x is; "" is also the
    # name the writer gives an index past the names
    classes = ["a", "", "=x", "'=x"]
    label = np.array([0, 1, 2, 3, 4, -1, 3, 2])
    predicted = np.array([3, 2, 1, 0, 9, 0, 2, 3])
    names = [*classes, ""]

    def by_definition(index, spreadsheet):
        text = [names[min(max(i, 0), len(classes))] for i in index.tolist()]
        return ["'" + t if spreadsheet and t.startswith("=") else t for t in text]

    table = pacsv.read_csv(
        _written(tmp_path, "out.csv", classes, label, predicted),
        convert_options=pacsv.ConvertOptions(strings_can_be_null=False),
    )
    assert table.column("label").to_pylist() == by_definition(label, True)
    assert table.column("predicted").to_pylist() == by_definition(predicted, True)
    table = pq.read_table(_written(tmp_path, "out.parquet", classes, label, predicted))
    assert table.column("label").to_pylist() == by_definition(label, False)
    assert table.column("predicted").to_pylist() == by_definition(predicted, False)


def test_a_parquet_file_reads_back_as_plain_columns(tmp_path):
    probs = np.random.default_rng(3).dirichlet(np.ones(3), size=50)
    chunk = score("categorical", np.arange(50) % 3, probs)
    writer = PerSampleWriter(
        str(tmp_path / "out.parquet"),
        inputs=[],
        classes=["a", "b", "c"],
        kind="categorical",
        weighted=True,
    )
    writer.write(chunk, None)
    writer.commit()
    schema = pq.read_schema(tmp_path / "out.parquet")
    assert schema == pa.schema(
        [
            ("row", pa.int64()),
            ("id", pa.string()),
            ("label", pa.string()),
            ("predicted", pa.string()),
            ("confidence", pa.float64()),
            ("p_true", pa.float64()),
            ("loss", pa.float64()),
            ("flagged", pa.bool_()),
            ("weight", pa.float64()),
            ("el2n", pa.float64()),
        ]
    )
