"""``--show`` in the per-sample file, the table and markdown: every row, escaped, cut to fit.

The per-sample file gains a column per shown name, each row's cell as the
input holds it (read again with the csv module or pyarrow, as in
:mod:`test_show`); a name of one of cecli's own columns gains ``show_``. The
hostile values and their escaped forms are those of
:mod:`test_hostile_output`, written by hand: at a terminal control
characters are escapes, in markdown nothing renders but text, in a CSV cell
a formula is defused. The memory taken is bounded by the rows listed: the
folds hold the values of the rows they keep, nothing more.
"""

from __future__ import annotations

import csv
import re

import numpy as np
import pyarrow.parquet as pq
import pytest
from rich.cells import cell_len
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
from test_hostile_output import HOSTILE, RAW, assert_inert, assert_renders_as_text, write_csv

from cecli import shown as shown_module
from cecli.folds import ScoreState

#: Asked in this order: two of them are named as columns of the per-sample file.
SHOWN = ["path", "loss", "caption", "count", "ratio", "ok", "label"]


@pytest.fixture(scope="module")
def frame():
    return model().assign(loss=[f"{i} nats" for i in range(240)])


@pytest.fixture(scope="module")
def preds(frame, tmp_path_factory):
    return write(frame, tmp_path_factory.mktemp("outputs") / "model.parquet")


def per_sample_rows(path) -> tuple[list[str], list[dict]]:
    """The header and the rows of a per-sample file, every cell text (or None), in order."""
    if path.suffix == ".csv":
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            return list(reader.fieldnames), [{k: v or None for k, v in r.items()} for r in reader]
    table = pq.read_table(path)
    return table.column_names, table.to_pylist()


# -- the per-sample file -----------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
@pytest.mark.parametrize("more", [(), ("--label-issues", "--chunk-size", "4K")], ids=["", "li"])
def test_the_per_sample_file_holds_every_rows_cells(preds, tmp_path, suffix, more):
    out = tmp_path / f"per_sample{suffix}"
    result = cecli("score", preds, *PREDS, "--show", ",".join(SHOWN), "--per-sample", out, *more)
    assert result.exit_code == 0, result.stderr
    header, rows = per_sample_rows(out)
    names = ["path", "show_loss", "caption", "count", "ratio", "ok", "show_label"]
    assert header[-len(names) :] == names  # last, in the order asked
    assert "loss" in header[: -len(names)]  # cecli's own columns are as they were
    assert "label" in header[: -len(names)]
    expected = read_back(preds, SHOWN)
    assert [r["row"] for r in rows] == [str(i) if suffix == ".csv" else i for i in range(240)]
    for name, asked in zip(names, SHOWN, strict=True):
        assert [r[name] for r in rows] == expected[asked], name
    assert None in expected["caption"]  # missing cells were among them
    assert None in expected["ratio"]


def test_the_per_sample_file_of_a_labels_files_column(frame, tmp_path):
    preds = write(frame[CLASSES], tmp_path / "preds.csv")
    labels = write(frame[["label", "caption"]], tmp_path / "labels.csv")
    out = tmp_path / "per_sample.parquet"
    result = cecli("score", preds, labels, "--show", "caption", "--per-sample", out)
    assert result.exit_code == 0, result.stderr
    assert (
        pq.read_table(out).column("caption").to_pylist()
        == read_back(labels, ["caption"])["caption"]
    )


def test_npy_holds_no_show_columns_and_says_so_before_reading(preds, tmp_path):
    out = tmp_path / "per_sample.npy"
    result = cecli("score", preds, *PREDS, "--show", "caption", "--per-sample", out)
    assert result.exit_code == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("cecli: error: --per-sample: an .npy file holds numbers only")
    assert ".csv or .parquet" in lines[0]
    assert list(tmp_path.iterdir()) == []  # nothing written, not even a temporary file


# -- the table ---------------------------------------------------------------------------


def table_rows(text: str) -> dict[str, list[list[str]]]:
    """Each table's rows, by the table's title line, cells split where 2 spaces are."""
    tables: dict[str, list[list[str]]] = {}
    title = None
    for line in text.splitlines():
        if line and not line.startswith(" "):
            title = line
        elif title is not None and re.match(r"^ +row ", line):
            tables[title] = []  # its header: the rows follow
        elif title in tables and re.match(r"^ +\d+ ", line):
            tables[title].append(re.split(r" {2,}", line.strip()))
    return tables


@pytest.mark.parametrize("fmt", [(), ("-f", "table")], ids=["piped", "table"])
def test_the_table_shows_each_listed_rows_cells(preds, fmt):
    args = (preds, *PREDS, "--show", "path,count", "--label-issues", "--top", "6")
    result = cecli("score", *args, *fmt)
    assert result.exit_code == 0, result.stderr
    tables = table_rows(result.stdout)
    expected = read_back(preds, ["path", "count"])
    report = report_of(*args)
    for key, title in [
        ("flagged", "Confidently wrong"),
        ("worst", "Highest loss"),
        ("label_issues", "Likely label errors"),
    ]:
        (rows,) = [r for t, r in tables.items() if t.startswith(title)]
        want = [
            [str(r["row"]), expected["path"][r["row"]], expected["count"][r["row"]]]
            for r in report[key][:6]
        ]
        assert [[r[0], *r[-2:]] for r in rows] == want, key


def test_a_narrow_terminal_cuts_the_shown_cells_not_the_numbers(tmp_path):
    """Drawn 80 to 100 cells wide, as every table: the shown cells give up the width."""
    frame = model(n=60).assign(caption=[f"{'a long caption ' * 6}of row {i}" for i in range(60)])
    frame["path"] = [f"s3://bucket/a/deep/folder/of/pictures/{i:04d}.png" for i in range(60)]
    preds = write(frame, tmp_path / "long.csv")
    args = (preds, *PREDS, "--show", "caption,path", "--label-issues", "--top", "5")
    expected = read_back(preds, ["caption", "path"])
    drawn = {}
    for width in (80, 100):
        result = cecli("score", *args, env={"COLUMNS": str(width)})
        assert result.exit_code == 0, result.stderr
        assert max(cell_len(line) for line in result.stdout.splitlines()) <= width
        drawn[width] = table_rows(result.stdout)
        assert len(drawn[width]) == 3  # worst, flagged and label issues
    assert drawn[80].keys() == drawn[100].keys()
    for title, rows in drawn[80].items():
        for short, wider in zip(rows, drawn[100][title], strict=True):
            assert short[:-2] == wider[:-2]  # row, label, ..., loss: whole at both widths
            row = int(short[0])
            for name, cut, less_cut in zip(expected, short[-2:], wider[-2:], strict=True):
                whole = expected[name][row]
                assert cut.endswith("…"), (name, cut)  # these never fit
                assert whole.startswith(cut[:-1]), (name, cut)
                assert less_cut.endswith("…")
                assert whole.startswith(less_cut[:-1])
                assert len(less_cut) > len(cut)


@pytest.mark.parametrize(("n_shown", "width"), [(3, 80), (5, 100)])
def test_more_shown_columns_than_fit_leave_the_numbers_whole(tmp_path, n_shown, width):
    frame = model(n=60)
    frame.loc[0, CLASSES] = [0.00098, 0.99804, 0.00098]  # p_true 9.8e-04, loss 6.9282
    names = [f"col{k}" for k in range(n_shown)]
    for name in names:
        frame[name] = [f"a value of {name} for row {i}" for i in range(60)]
    preds = write(frame, tmp_path / "wide.csv")
    env = {"COLUMNS": str(width)}
    plain = cecli("score", preds, *PREDS, "--top", "5", env=env).stdout
    shown = cecli("score", preds, *PREDS, "--top", "5", "--show", ",".join(names), env=env)
    assert shown.exit_code == 0, shown.stderr
    assert "9.8e-04" in plain
    rows, plain_rows = table_rows(shown.stdout), table_rows(plain)
    assert rows.keys() == plain_rows.keys()
    for title, cells in plain_rows.items():
        assert [r[:6] for r in rows[title]] == cells, title  # row, label, ..., loss as without
    head = re.compile(r"^ +(row +label +predicted +confidence +p_true +loss) ", re.MULTILINE)
    assert len(head.findall(shown.stdout)) == len(rows)  # the headers whole too
    # a column that does not fit at all is left out, and the line under the table says so
    notes = re.findall(r"^Left out for the width: (.+) \(see -f json\)\.$", shown.stdout, re.M)
    assert notes, shown.stdout
    for note in notes:
        gone = note.split(", ")
        assert gone == names[len(names) - len(gone) :]  # the last ones asked
    assert max(cell_len(line) for line in shown.stdout.splitlines()) <= width


def test_the_json_columns_name_the_shown_ones_in_the_order_asked(preds):
    report = report_of(preds, *PREDS, "--show", "caption,path", "--top", "1")
    assert report["columns"]["show"] == ["caption", "path"]
    assert "show" not in report_of(preds, *PREDS, "--top", "1")["columns"]


@pytest.fixture
def hostile(tmp_path):
    """Row i's note is the i-th hostile value: labelled b, 0.9 on a (flagged, loss -ln 0.1)."""
    return write_csv(
        tmp_path / "hostile.csv",
        ["a", "b", "label", "note"],
        [[0.9, 0.1, "b", value] for value in RAW],
    )


TERMINALS = [{}, {"FORCE_COLOR": "1"}, {"TTY_COMPATIBLE": "1", "TERM": "xterm-256color"}]


@pytest.mark.parametrize("env", TERMINALS, ids=["piped", "FORCE_COLOR", "TTY_COMPATIBLE"])
def test_the_table_shows_hostile_cells_as_escapes(hostile, env):
    result = cecli("score", hostile, "--show", "note", "--top", "0", env=env)
    assert result.exit_code == 0, result.stderr
    out = assert_inert(result.stdout)
    for i, (raw, shown, _, _) in enumerate(HOSTILE):
        cells = [
            m.group(1)
            for m in re.finditer(
                rf"^  {i} +b +a +0\.9000 +0\.1000 +2\.3026   (.*?) *$", out, re.MULTILINE
            )
        ]
        assert len(cells) == 2, (raw, cells)  # flagged, and worst
        for cell in cells:  # whole, or cut at the widest a shown column is drawn
            assert cell == shown or (cell.endswith("…") and shown.startswith(cell[:-1])), raw


def test_markdown_escapes_hostile_cells_and_names(tmp_path):
    evil_name = "x|<b>`y`\x1b[2J"
    named = write_csv(
        tmp_path / "named.csv",
        ["a", "b", "label", evil_name],
        [[0.9, 0.1, "b", value] for value in RAW],
    )
    result = cecli("score", named, "--show", evil_name, "--top", "0", "-f", "markdown")
    assert result.exit_code == 0, result.stderr
    lines = assert_inert(result.stdout).splitlines()
    assert (
        lines.count(
            r"| row | label | predicted | confidence | p_true | loss | "
            r"x\|&lt;b&gt;\`y\`\\x1b\[2J |"
        )
        == 2
    )
    for i, (raw, _, shown, _) in enumerate(HOSTILE):
        assert lines.count(f"| {i} | b | a | 0.9000 | 0.1000 | 2.3026 | {shown} |") == 2, raw
    assert_renders_as_text(result.stdout)


def test_label_issue_tables_escape_hostile_cells(tmp_path):
    rng = np.random.default_rng(5)
    n = len(RAW) * 4
    truth = rng.integers(0, 2, n)
    p = np.where(truth == 0, 0.95, 0.05)
    given = np.where(np.arange(n) < len(RAW), 1 - truth, truth)  # the first rows mislabelled
    rows = [[p[i], 1 - p[i], "ab"[given[i]], RAW[i % len(RAW)]] for i in range(n)]
    path = write_csv(tmp_path / "issues.csv", ["a", "b", "label", "note"], rows)
    args = ("score", path, "--show", "note", "--label-issues", "--top", "0")
    report = report_of(*args[1:])
    issues = {r["row"] for r in report["label_issues"]}
    assert issues == set(range(len(RAW)))
    md = cecli(*args, "-f", "markdown")
    lines = assert_inert(md.stdout).splitlines()
    for i in issues:
        assert any(
            line.startswith(f"| {i} |") and line.endswith(f"| {HOSTILE[i][2]} |") for line in lines
        ), RAW[i]
    assert_renders_as_text("\n".join(line for line in lines if line.startswith("|")))
    table = assert_inert(cecli(*args).stdout)
    assert "Likely label errors" in table


def test_per_sample_csv_defuses_hostile_cells_and_names_parquet_keeps_them(tmp_path):
    header = ["a", "b", "label", '=HYPERLINK("http://e")', "@SUM(A1)", "loss"]
    path = write_csv(tmp_path / "named.csv", header, [[0.9, 0.1, "b", v, v, v] for v in RAW])
    names = header[3:]
    for suffix in (".csv", ".parquet"):
        out = tmp_path / f"per_sample{suffix}"
        result = cecli("score", path, "--show", ",".join(names), "--per-sample", out)
        assert result.exit_code == 0, result.stderr
        got_header, got = per_sample_rows(out)
        if suffix == ".csv":
            shown = ['\'=HYPERLINK("http://e")', "'@SUM(A1)", "show_loss"]
            cells = [h[3] for h in HOSTILE]
        else:
            shown, cells = ['=HYPERLINK("http://e")', "@SUM(A1)", "show_loss"], RAW
        assert got_header[-3:] == shown
        for name in shown:
            assert [r[name] for r in got] == cells, name


def test_json_keeps_hostile_cells_as_they_are(hostile):
    report = report_of(hostile, "--show", "note", "--top", "0")
    assert {r["row"]: r["show"]["note"] for r in report["worst"]} == dict(enumerate(RAW))


# -- memory ------------------------------------------------------------------------------


def test_only_the_kept_rows_values_are_held(tmp_path, monkeypatch):
    n, top = 20000, 5
    frame = model(n=n, seed=9)
    preds = write(frame, tmp_path / "many.parquet")
    held, converted = [], []
    add, row_values = ScoreState.add, shown_module.row_values

    def spy_add(self, view):
        add(self, view)
        held.append((len(self.shown), len(self.loss.kept_row_array())))

    def spy_row_values(columns, positions=None):
        values = row_values(columns, positions)
        converted.append(len(values))
        return values

    monkeypatch.setattr(ScoreState, "add", spy_add)
    monkeypatch.setattr(shown_module, "row_values", spy_row_values)
    args = (*PREDS, "--show", ",".join(EXTRA), "--top", str(top), "--chunk-size", "16K")
    report = report_of(preds, *args)
    assert len(held) > 20  # many chunks
    assert all(values <= kept <= 2 * top for values, kept in held)
    assert sum(converted) <= 2 * top * len(held) < n / 10  # not a value per row read
    assert_shows(report, read_back(preds, EXTRA))


def test_label_issues_hold_the_values_of_their_candidates_only(tmp_path, monkeypatch):
    from cecli.label_issues import _fold

    n = 20000
    preds = write(model(n=n, seed=9), tmp_path / "many.parquet")
    kept, matrix = [], shown_module.value_matrix
    compact = _fold.LabelIssues._compact_rows

    def spy_matrix(columns, positions):
        kept.append(len(positions))
        return matrix(columns, positions)

    def spy_compact(self):
        compact(self)
        if self._kept is not None:
            assert len(self._kept["shown"]) == len(self._kept["pair"])

    monkeypatch.setattr(shown_module, "value_matrix", spy_matrix)
    monkeypatch.setattr(_fold.LabelIssues, "_compact_rows", spy_compact)
    args = (*PREDS, "--show", "path", "--label-issues", "--top", "3", "--chunk-size", "16K")
    report = report_of(preds, *args)
    assert report["label_issue_count"] > 100
    assert sum(kept) <= 2 * report["label_issue_count"] < n / 4  # candidates, not every row
    assert len(report["label_issues"]) == report["label_issue_count"]
    assert_shows(report, read_back(preds, ["path"]))


def test_the_json_rows_and_the_table_list_the_same_rows(preds):
    """What the table shows is what the JSON report lists (the cells of the same rows)."""
    report = report_of(preds, *PREDS, "--show", "path", "--top", "4")
    table = cecli("score", preds, *PREDS, "--show", "path", "--top", "4").stdout
    for _, row in listed(report):
        assert re.search(rf"^ +{row['row']} .*  {re.escape(row['show']['path'])}$", table, re.M)
