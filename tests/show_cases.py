"""Inputs and a reference for the ``--show`` tests: a small model with extra columns.

:func:`model` makes ``n`` rows of three classes whose every 11th label is
wrong while the model is sure of the true class (flagged rows, likely label
errors), with extra columns of every kind a ``--show`` column may be: text
with empty cells, integers (negative ones too), floats (whole, fractions,
missing), booleans and a file path. :func:`write` puts it in a file of a
format; :func:`read_back` reads that file again with pandas or pyarrow, not
cecli, and gives each column's cells as ``--show`` must write them, by
:func:`cell_text`: the definition of the issue, written here again.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.parquet as pq
from typer.testing import CliRunner

from cecli.cli import app

CLASSES = ["cat", "dog", "emu"]
#: The extra columns of :func:`model`, in file order.
EXTRA = ["caption", "count", "ratio", "ok", "path"]
#: The prediction columns named, so that no numeric --show column is read as a class.
PREDS = ("--pred-cols", ",".join(CLASSES))
#: Every how many rows the label is wrong (and the model sure of the true class).
WRONG_EVERY = 11

runner = CliRunner()


def cecli(*args: object, stdin: str | None = None, env: dict[str, str] | None = None):
    """A run of the CLI, its stdout and stderr apart; COLUMNS wide enough unless ``env`` says."""
    environ = {"COLUMNS": "200", "NO_COLOR": None, "FORCE_COLOR": None, "TTY_COMPATIBLE": None}
    return runner.invoke(app, [str(a) for a in args], input=stdin, env=environ | (env or {}))


def report_of(*args: object, stdin: str | None = None) -> dict:
    """The JSON report of ``cecli score ARGS -f json``, which must succeed."""
    result = cecli("score", *args, "-f", "json", stdin=stdin)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def model(n: int = 240, seed: int = 0) -> pd.DataFrame:
    """``n`` rows: the classes' probabilities, label, and the :data:`EXTRA` columns."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 3, n)
    logits = rng.normal(0, 1, (n, 3))
    logits[np.arange(n), truth] += 4.0
    probs = np.exp(logits)
    probs /= probs.sum(axis=1, keepdims=True)
    given = truth.copy()
    given[::WRONG_EVERY] = (truth[::WRONG_EVERY] + 1) % 3
    rows = np.arange(n)
    frame = pd.DataFrame(probs, columns=CLASSES)
    frame["label"] = np.array(CLASSES)[given]
    frame["caption"] = [
        None if i % 13 == 5 else f"a photo of row {i}, {CLASSES[t]}"
        for i, t in zip(rows, truth, strict=True)
    ]
    frame["count"] = rows * 7 - 100
    frame["ratio"] = np.where(rows % 17 == 3, np.nan, rows / 8)
    frame["ok"] = rows % 3 == 0
    frame["path"] = [f"img/{i:04d}.png" for i in rows]
    return frame


def cell_text(value: object) -> str | None:
    """A cell as ``--show`` writes it: the definition of the issue.

    Text as it is, an empty or missing cell None; a whole number without
    ``.0``, any other as ``repr`` writes it (a float32 as NumPy writes it),
    NaN None; booleans ``true`` and ``false``; a list as ``[a, b]`` of its
    items, NaN in it ``nan``.
    """
    if (
        value is None
        or value is pd.NA
        or (isinstance(value, (float, np.floating)) and math.isnan(value))
    ):
        return None
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        whole = float(value).is_integer() and abs(value) < 2**53
        if whole:
            return str(int(value))
        # a float32's shortest form is its own, a float64's is repr's
        return str(value) if isinstance(value, np.floating) else repr(value)
    if isinstance(value, (list, tuple, np.ndarray)):
        return "[" + ", ".join(cell_text(v) or "nan" for v in value) + "]"
    return None if value == "" else str(value)


def _csv_cell(value: object) -> str:
    """How :func:`write` writes a cell in CSV: already in the form ``--show`` gives it."""
    text = cell_text(value)
    return "" if text is None else text


def write(frame: pd.DataFrame, path: Path) -> Path:
    """``frame`` as a file of the format its suffix names (CSV, Parquet, JSON Lines, Arrow)."""
    suffix = path.suffix
    if suffix == ".csv":
        with open(path, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(frame.columns)
            for row in frame.itertuples(index=False):
                writer.writerow(
                    [
                        repr(v) if isinstance(v, float) and k < 3 else _csv_cell(v)
                        for k, v in enumerate(row)
                    ]
                )
    elif suffix == ".parquet":
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path)
    elif suffix == ".arrow":
        feather.write_feather(pa.Table.from_pandas(frame, preserve_index=False), str(path))
    elif suffix == ".jsonl":
        with open(path, "w", encoding="utf-8") as f:
            for record in frame.to_dict(orient="records"):
                clean = {
                    k: None if isinstance(v, float) and math.isnan(v) else v
                    for k, v in record.items()
                }
                f.write(json.dumps(clean, default=_plain) + "\n")
    else:
        raise ValueError(suffix)
    return path


def _plain(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(type(value))


def read_back(path: Path, names: list[str]) -> dict[str, list[str | None]]:
    """Each column of ``names`` in the file at ``path``, row by row, as ``--show`` writes it.

    Read with the csv module, pyarrow or json, not cecli: a CSV cell as
    written (the empty cell None), any other as :func:`cell_text` writes
    the value the file holds.
    """
    suffix = path.suffix
    if suffix == ".csv":
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        return {name: [r[name] or None for r in rows] for name in names}
    if suffix in (".parquet", ".arrow"):
        table = pq.read_table(path) if suffix == ".parquet" else feather.read_table(str(path))
        return {name: _arrow_cells(table.column(name)) for name in names}
    with open(path, encoding="utf-8") as f:
        records = [json.loads(line) for line in f]
    return {name: [cell_text(r.get(name)) for r in records] for name in names}


def _arrow_cells(column: pa.ChunkedArray) -> list[str | None]:
    """The cells of an Arrow column by :func:`cell_text`; a float32 as a NumPy float32."""
    if pa.types.is_floating(column.type) and column.type.bit_width < 64:
        return [cell_text(v) for v in column.to_numpy()]
    return [cell_text(v) for v in column.to_pylist()]


def listed(report: dict) -> list[tuple[str, dict]]:
    """Every row the JSON report lists, with the section that lists it."""
    return [
        (key, row) for key in ("flagged", "worst", "label_issues") for row in report.get(key) or []
    ]


def assert_shows(report: dict, expected: dict[str, list[str | None]]) -> None:
    """Every listed row carries ``"show"``: its cells of ``expected``'s columns, in that order."""
    rows = listed(report)
    assert rows, "no row is listed"
    for key, row in rows:
        want = {name: cells[row["row"]] for name, cells in expected.items()}
        assert list(row["show"]) == list(expected), (key, row["row"])
        assert row["show"] == want, (key, row["row"])
