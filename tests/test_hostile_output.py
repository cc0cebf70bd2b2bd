"""Text from the data never acts where cecli shows it: terminal, markdown, CSV, JSON.

Each hostile value below is written with its expected escaped form for each
destination, by hand: what a person should see at a terminal (control
characters as escapes, markup as text), the GitHub-flavoured markdown source
(entities for ``<>&``, a backslash before other punctuation, a zero-width
space after ``@`` and ``#``), and the cell of a CSV file (a leading ``'``
where a spreadsheet would run a formula, numbers untouched).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import subprocess
import sys
import types

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from cecli.cli import app
from cecli.render.escape import markdown, spreadsheet, spreadsheet_array, visible

# (value in the file, at a terminal, in markdown, in a CSV cell)
HOSTILE = [
    ("\x1b[2J", r"\x1b[2J", r"\\x1b\[2J", "\x1b[2J"),
    ("\x1b]0;title\x07", r"\x1b]0;title\x07", r"\\x1b\]0\;title\\x07", "\x1b]0;title\x07"),
    (
        "\x1b]8;;http://evil\x1b\\click\x1b]8;;\x1b\\",
        "\\x1b]8;;http://evil\\x1b\\click\\x1b]8;;\\x1b\\",
        r"\\x1b\]8\;\;http\:\/\/evil\\x1b\\click\\x1b\]8\;\;\\x1b\\",
        "\x1b]8;;http://evil\x1b\\click\x1b]8;;\x1b\\",
    ),
    ("a\rb", r"a\rb", r"a\\rb", "a\rb"),
    ("\r=1", r"\r=1", r"\\r\=1", "'\r=1"),
    ("a\nb", r"a\nb", r"a\\nb", "a\nb"),
    ("\u202eabc", r"\u202eabc", r"\\u202eabc", "\u202eabc"),
    (
        "a\u2066b\u200fc\ufeffd",
        r"a\u2066b\u200fc\ufeffd",
        r"a\\u2066b\\u200fc\\ufeffd",
        "a\u2066b\u200fc\ufeffd",
    ),
    ("\x9b31m\x7f", r"\x9b31m\x7f", r"\\x9b31m\\x7f", "\x9b31m\x7f"),
    ("[red]x[/red]", "[red]x[/red]", r"\[red\]x\[\/red\]", "[red]x[/red]"),
    ("x[/]", "x[/]", r"x\[\/\]", "x[/]"),
    (
        "![p](http://t/p.png)",
        "![p](http://t/p.png)",
        r"\!\[p\]\(http\:\/\/t\/p\.png\)",
        "![p](http://t/p.png)",
    ),
    ("[a](http://e)", "[a](http://e)", r"\[a\]\(http\:\/\/e\)", "[a](http://e)"),
    (
        "</td></table><img src=x onerror=alert(1)>",
        "</td></table><img src=x onerror=alert(1)>",
        r"&lt;\/td&gt;&lt;\/table&gt;&lt;img src\=x onerror\=alert\(1\)&gt;",
        "</td></table><img src=x onerror=alert(1)>",
    ),
    (
        "<http://e.com> www.e.com",
        "<http://e.com> www.e.com",
        r"&lt;http\:\/\/e\.com&gt; www\.e\.com",
        "<http://e.com> www.e.com",
    ),
    ("@octocat", "@octocat", "@&#8203;octocat", "'@octocat"),
    ("#12 o/r#3", "#12 o/r#3", r"#&#8203;12 o\/r#&#8203;3", "#12 o/r#3"),
    (
        "*b* _i_ `c` a|b ~s~",
        "*b* _i_ `c` a|b ~s~",
        r"\*b\* \_i\_ \`c\` a\|b \~s\~",
        "*b* _i_ `c` a|b ~s~",
    ),
    ("&amp;", "&amp;", r"&amp;amp\;", "&amp;"),
    (
        '=HYPERLINK("http://e","x")',
        '=HYPERLINK("http://e","x")',
        r"\=HYPERLINK\(\"http\:\/\/e\"\,\"x\"\)",
        '\'=HYPERLINK("http://e","x")',
    ),
    ("+1+2", "+1+2", r"\+1\+2", "'+1+2"),
    ("-2+3", "-2+3", r"\-2\+3", "'-2+3"),
    ("@SUM(A1)", "@SUM(A1)", r"@&#8203;SUM\(A1\)", "'@SUM(A1)"),
    ("\t=1", r"\t=1", r"\\t\=1", "'\t=1"),
    (":smile:", ":smile:", r"\:smile\:", ":smile:"),
    ("x\\", "x\\", r"x\\", "x\\"),
    ("-3", "-3", r"\-3", "-3"),
    ("-0.5", "-0.5", r"\-0\.5", "-0.5"),
    ("+1e-3", "+1e-3", r"\+1e\-3", "+1e-3"),
]
RAW = [h[0] for h in HOSTILE]

#: What must never reach a terminal raw (the newline between lines aside).
CONTROLS = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")
#: rich's own colour codes, which a coloured report holds.
SGR = re.compile("\x1b\\[[0-9;]*m")

runner = CliRunner()


def cecli(*args: object, env: dict[str, str] | None = None):
    environ = {"COLUMNS": "100", "NO_COLOR": None, "FORCE_COLOR": None, "TTY_COMPATIBLE": None}
    return runner.invoke(app, [str(a) for a in args], env=environ | (env or {}))


def write_csv(path, header, rows):
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture
def hostile_ids(tmp_path):
    """One row per hostile id: classes a and b, label b, 0.9 on a (flagged, loss -ln 0.1)."""
    rows = [[value, 0.9, 0.1, "b"] for value in RAW]
    return write_csv(tmp_path / "ids.csv", ["id", "a", "b", "label"], rows)


#: Hostile class names (prediction headers and labels): (raw, terminal, markdown, CSV).
CLASSES = [h for h in HOSTILE if h[0] in ("\x1b]0;title\x07", "[red]x[/red]", "x[/]", "-2+3")]
CLASSES += [
    ('=HYPERLINK("http://e","x")', *HOSTILE[RAW.index('=HYPERLINK("http://e","x")')][1:]),
    ("@octocat", "@octocat", "@&#8203;octocat", "'@octocat"),
    ("\u202eabc", r"\u202eabc", r"\\u202eabc", "\u202eabc"),
    ("</td><img src=x>", "</td><img src=x>", r"&lt;\/td&gt;&lt;img src\=x&gt;", "</td><img src=x>"),
]


@pytest.fixture
def hostile_classes(tmp_path):
    """Row i is labelled class i and predicts class i + 1 with 0.93 (p_true 0.01)."""
    k = len(CLASSES)
    rows = []
    for i in range(k):
        p = [0.01] * k
        p[(i + 1) % k] = 0.93
        rows.append([f"r{i}", *p, CLASSES[i][0]])
    return write_csv(tmp_path / "classes.csv", ["id", *(c[0] for c in CLASSES), "label"], rows)


def assert_inert(text: str) -> str:
    """``text`` (colour codes removed) holds no control character but newlines."""
    plain = SGR.sub("", text)
    assert "\x1b" not in plain
    assert "\x07" not in plain
    assert not CONTROLS.search(plain), repr(CONTROLS.search(plain))
    return plain


TERMINALS = [{}, {"FORCE_COLOR": "1"}, {"TTY_COMPATIBLE": "1", "TERM": "xterm-256color"}]


@pytest.mark.parametrize("env", TERMINALS, ids=["piped", "FORCE_COLOR", "TTY_COMPATIBLE"])
def test_score_shows_each_id_as_written_with_controls_as_escapes(hostile_ids, env):
    result = cecli("score", hostile_ids, "--top", "0", env=env)
    assert result.exit_code == 0, result.stderr
    if env:
        assert SGR.search(result.stdout)  # the terminal was coloured
    out = assert_inert(result.stdout)
    assert_inert(result.stderr)
    for raw, shown, _, _ in HOSTILE:
        row = rf"  {re.escape(shown)} +b +a +0\.9000 +0\.1000 +2\.3026"
        # once among the confidently wrong rows, once among the highest losses
        assert len(re.findall(rf"^{row}$", out, re.MULTILINE)) == 2, (raw, shown)


@pytest.mark.parametrize("env", TERMINALS, ids=["piped", "FORCE_COLOR", "TTY_COMPATIBLE"])
def test_score_shows_each_class_name_and_label_as_written(hostile_classes, env):
    result = cecli("score", hostile_classes, "--top", "0", env=env)
    assert result.exit_code == 0, result.stderr
    out = assert_inert(result.stdout)
    for _, shown, _, _ in CLASSES:
        line = rf"^  {re.escape(shown)} +1 +4\.6052 +0\.0% +1$"
        assert re.search(line, out, re.MULTILINE), shown
    for i, (_, label, _, _) in enumerate(CLASSES):
        predicted = CLASSES[(i + 1) % len(CLASSES)][1]
        row = rf"^  r{i} +{re.escape(label)} +{re.escape(predicted)} +0\.9300 +0\.0100 +4\.6052$"
        assert len(re.findall(row, out, re.MULTILINE)) == 2, (label, predicted)


def test_markdown_escapes_each_id(hostile_ids):
    result = cecli("score", hostile_ids, "--top", "0", "-f", "markdown")
    assert result.exit_code == 0, result.stderr
    lines = assert_inert(result.stdout).splitlines()
    for i, (raw, _, shown, _) in enumerate(HOSTILE):
        assert lines.count(f"| {i} | {shown} | b | a | 0.9000 | 0.1000 | 2.3026 |") == 2, raw
    assert_renders_as_text(result.stdout)


def test_markdown_escapes_class_names_and_labels(hostile_classes):
    result = cecli("score", hostile_classes, "--top", "0", "-f", "markdown")
    assert result.exit_code == 0, result.stderr
    lines = assert_inert(result.stdout).splitlines()
    k = len(CLASSES)
    for i, (_, _, shown, _) in enumerate(CLASSES):
        assert f"| {shown} | 1 | 4.6052 | 0.0% | 1 |" in lines
        row = f"| {i} | r{i} | {shown} | {CLASSES[(i + 1) % k][2]} | 0.9300 | 0.0100 | 4.6052 |"
        assert lines.count(row) == 2
    assert_renders_as_text(result.stdout)


def assert_renders_as_text(source: str) -> None:
    """Rendered by a CommonMark parser with tables, the report holds tables and text only."""
    from markdown_it import MarkdownIt

    html = MarkdownIt("commonmark").enable("table").render(source)
    tags = set(re.findall(r"</?([a-z0-9]+)", html))
    assert tags <= {"h3", "h4", "p", "strong", "table", "thead", "tbody", "tr", "th", "td"}, tags
    for table in re.findall(r"<table>.*?</table>", html, re.DOTALL):
        widths = {row.count("<td") + row.count("<th") for row in table.split("<tr>")[1:]}
        assert len(widths) == 1, table  # no cell was split or joined


def test_per_sample_csv_defuses_text_and_keeps_numbers(hostile_ids, tmp_path):
    path = tmp_path / "per_sample.csv"
    result = cecli("score", hostile_ids, "--per-sample", path)
    assert result.exit_code == 0, result.stderr
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(HOSTILE)
    loss = -math.log(0.1)
    for i, (raw, _, _, cell) in enumerate(HOSTILE):
        row = rows[i]
        assert row["row"] == str(i)
        assert row["id"] == cell, raw
        assert (row["label"], row["predicted"], row["flagged"]) == ("b", "a", "true")
        assert float(row["confidence"]) == pytest.approx(0.9, rel=1e-15)
        assert float(row["p_true"]) == pytest.approx(0.1, rel=1e-15)
        assert float(row["loss"]) == pytest.approx(loss, rel=1e-12)


def test_per_sample_csv_defuses_class_names_but_not_numeric_ones(tmp_path):
    names = ["-1", "=cmd", "+2", "@x", "-0.5"]
    rows = []
    for i, label in enumerate(names):
        p = [0.1] * 5
        p[(i + 1) % 5] = 0.6
        rows.append([*p, label])
    preds = write_csv(tmp_path / "p.csv", [*names, "label"], rows)
    path = tmp_path / "per_sample.csv"
    result = cecli("score", preds, "--per-sample", path)
    assert result.exit_code == 0, result.stderr
    with open(path, newline="", encoding="utf-8") as f:
        got = [(r["label"], r["predicted"], float(r["loss"])) for r in csv.DictReader(f)]
    shown = ["-1", "'=cmd", "+2", "'@x", "-0.5"]
    assert got == [
        (shown[i], shown[(i + 1) % 5], pytest.approx(-math.log(0.1), rel=1e-12)) for i in range(5)
    ]


def test_parquet_per_sample_keeps_the_values_as_read(hostile_ids, tmp_path):
    path = tmp_path / "per_sample.parquet"
    result = cecli("score", hostile_ids, "--per-sample", path)
    assert result.exit_code == 0, result.stderr
    assert pq.read_table(path).column("id").to_pylist() == RAW


def test_json_escapes_controls_itself_and_keeps_the_values(hostile_ids, hostile_classes):
    result = cecli("score", hostile_ids, "--top", "0", "-f", "json")
    assert result.exit_code == 0, result.stderr
    assert_inert(result.stdout)
    assert not re.search("[^\x0a\x20-\x7e]", result.stdout)  # ASCII, \uXXXX escapes
    report = json.loads(result.stdout)
    assert sorted(r["id"] for r in report["worst"]) == sorted(RAW)
    result = cecli("score", hostile_classes, "-f", "json")
    assert json.loads(result.stdout)["classes"] == [c[0] for c in CLASSES]


# -- compare ---------------------------------------------------------------------------

#: (raw, terminal, markdown) of the compared classes and ids.
COMPARE_CLASSES = [
    ("\x1b[31m", r"\x1b[31m", r"\\x1b\[31m"),
    ("[b]x[/b]", "[b]x[/b]", r"\[b\]x\[\/b\]"),
    ("=1+1", "=1+1", r"\=1\+1"),
]
COMPARE_IDS = [
    ("\x1b]0;t\x07", r"\x1b]0;t\x07", r"\\x1b\]0\;t\\x07"),
    ("x[/]", "x[/]", r"x\[\/\]"),
    ("@octocat", "@octocat", "@&#8203;octocat"),
    ("-2+3", "-2+3", r"\-2\+3"),
    ("\u202eab", r"\u202eab", r"\\u202eab"),
    ("![p](http://t)", "![p](http://t)", r"\!\[p\]\(http\:\/\/t\)"),
]


@pytest.fixture
def compared(tmp_path):
    """Rows 0-2: the baseline is right (0.9), the candidate confidently wrong (0.95); 3-5 the
    other way round."""
    names = [c[0] for c in COMPARE_CLASSES]

    def side(baseline: bool):
        rows = []
        for i, (raw_id, _, _) in enumerate(COMPARE_IDS):
            true = i % 3
            p = [0.05] * 3
            p[true] = 0.9
            if (i < 3) != baseline:
                p = [0.025] * 3
                p[(true + 1) % 3] = 0.95
            rows.append([raw_id, *p, names[true]])
        return rows

    header = ["id", *names, "label"]
    return (
        write_csv(tmp_path / "base.csv", header, side(True)),
        write_csv(tmp_path / "cand.csv", header, side(False)),
    )


def _pair_rows(i: int, column: int):
    """(id, label, baseline predicted, candidate predicted) of row i, in one form."""
    true = i % 3
    wrong = (true + 1) % 3
    b, c = (true, wrong) if i < 3 else (wrong, true)
    forms = [COMPARE_CLASSES[j][column] for j in (true, b, c)]
    return COMPARE_IDS[i][column], *forms


@pytest.mark.parametrize("env", TERMINALS, ids=["piped", "FORCE_COLOR", "TTY_COMPATIBLE"])
def test_compare_shows_ids_and_classes_as_written(compared, env):
    result = cecli("compare", *compared, "--top", "0", env=env)
    assert result.exit_code == 0, result.stderr
    out = assert_inert(result.stdout)
    assert_inert(result.stderr)
    for _, shown, _ in COMPARE_CLASSES:
        assert re.search(rf"^  {re.escape(shown)} +2 +", out, re.MULTILINE), shown
    for i in range(6):
        row_id, label, b, c = map(re.escape, _pair_rows(i, 1))
        conf_b, conf_c = ("0\\.90", "0\\.95") if i < 3 else ("0\\.95", "0\\.90")
        losses = "0\\.105 -> 3\\.689" if i < 3 else "3\\.689 -> 0\\.105"
        row = rf"^  {row_id} +{label} +{b} \({conf_b}\) +{c} \({conf_c}\) +{losses}$"
        # regressions and largest increases, or fixed
        assert len(re.findall(row, out, re.MULTILINE)) == (2 if i < 3 else 1), row


def test_compare_markdown_escapes_ids_classes_and_file_names(compared):
    result = cecli("compare", *compared, "--top", "0", "-f", "markdown")
    assert result.exit_code == 0, result.stderr
    lines = assert_inert(result.stdout).splitlines()
    for _, _, shown in COMPARE_CLASSES:
        assert any(line.startswith(f"| {shown} | 2 | ") for line in lines), shown
    for i in range(6):
        row_id, label, b, c = _pair_rows(i, 2)
        if i < 3:
            row = f"| {i} | {row_id} | {label} | {b} (0.90) | {c} (0.95) | 0.1054 | 3.6889 |"
        else:
            row = f"| {i} | {row_id} | {label} | {b} (0.95) | {c} (0.90) | 3.6889 | 0.1054 |"
        assert lines.count(row) == (2 if i < 3 else 1), row
    files = next(line for line in lines if line.startswith("| file | "))
    assert re.fullmatch(r"\| file \| \S+\\/base\\\.csv \| \S+\\/cand\\\.csv \|  \|", files), files
    assert_renders_as_text(result.stdout)


def test_compare_csv_keeps_negative_numbers(compared):
    base, cand = compared
    result = cecli("compare", cand, base, "-f", "csv")  # the swap has a negative difference
    assert result.exit_code == 0, result.stderr
    row = next(csv.DictReader(io.StringIO(result.stdout)))
    assert float(row["delta_mean_loss"]) < 0
    # written as the number it is, not defused as a formula
    assert row["delta_mean_loss"] == repr(float(row["delta_mean_loss"]))
    assert row["verdict"] == "insufficient_data"  # six rows: too few for an interval


# -- error lines and the progress bar --------------------------------------------------


def test_error_lines_show_quoted_values_with_controls_as_escapes(tmp_path):
    preds = write_csv(tmp_path / "p.csv", ["a", "b", "label"], [[0.9, 0.1, "\x1b[2J"]])
    missing = tmp_path / "no\x1b]0;t\x07pe.csv"
    cases = [
        (["score", preds], r"\x1b[2J"),
        (["score", missing], r"no\x1b]0;t\x07pe.csv"),
        (["score", preds, "--label-col", "z\x1b[2Jz"], r"z\x1b[2Jz"),
        (["score", preds, "--class-weights", "a=\x1b[2J"], r"a=\x1b[2J"),
        (["score", preds, "--pred-cols", "q\x1b]0;t\x07*"], r"q\x1b]0;t\x07*"),
        (["score", preds, "--kind", "k\x1b[2J\u202e"], r"k\x1b[2J\u202e"),
        (["sc\x1b[2Jore", preds], r"sc\x1b[2Jore"),
    ]
    for args, shown in cases:
        # usage errors are printed by the console script's entry point: a real process
        command = [sys.executable, "-m", "cecli", *map(str, args)]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        assert result.returncode == 2, (args, result.stderr)
        lines = assert_inert(result.stderr).splitlines()
        assert len(lines) == 1, result.stderr
        assert lines[0].startswith("cecli: error: ")
        assert shown in lines[0]


class _FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def hostile_names(tmp_path, monkeypatch):
    """Files named with markup and escapes: ``x[/].csv`` (in a folder ``x[``) and others."""
    (tmp_path / "x[").mkdir()
    names = ["x[/].csv", "[red]y.csv", "t\x1b]0;t\x07.csv", "[bold]z\\"]  # the last one: CSV
    for name in names:
        write_csv(tmp_path / name, ["a", "b", "label"], [[0.9, 0.1, 0], [0.2, 0.8, 1]])
    monkeypatch.chdir(tmp_path)
    return names


def test_the_progress_bar_shows_any_file_name_as_written(hostile_names, monkeypatch):
    import cecli.render.progress as progress

    monkeypatch.setattr(progress, "MIN_ROWS", 0)
    monkeypatch.setattr(progress, "MIN_BYTES", 0)
    shown = [r"x[/].csv", "[red]y.csv", r"t\x1b]0;t\x07.csv", "[bold]z\\"]
    for name, expected in zip(hostile_names, shown, strict=True):
        for args in (["score", name], ["compare", name, name]):
            args += ["--input-format", "csv"]
            terminal = _FakeTerminal()
            monkeypatch.setattr(progress, "sys", types.SimpleNamespace(stderr=terminal))
            result = cecli(*args, "-f", "json", env={"COLUMNS": "120"})
            assert result.exit_code == 0, result.stderr
            drawn = terminal.getvalue()
            assert f"scoring {expected} " in SGR.sub("", drawn), repr(drawn)
            assert "\x07" not in drawn
            assert "\x1b]" not in drawn


@pytest.mark.skipif(sys.platform == "win32", reason="a pseudo-terminal")
def test_the_progress_bar_at_a_real_terminal_takes_markup_in_a_file_name(hostile_names):
    import pty

    main, secondary = pty.openpty()
    script = (
        "import sys, cecli.render.progress as p; p.MIN_ROWS = p.MIN_BYTES = 0; "
        "from cecli.cli import main; sys.argv = ['cecli', *sys.argv[1:]]; main()"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    env |= {"COLUMNS": "120", "TERM": "xterm", "PYTHONPATH": os.pathsep.join(sys.path)}
    for name, expected in (("x[/].csv", "x[/].csv"), ("t\x1b]0;t\x07.csv", r"t\x1b]0;t\x07.csv")):
        with subprocess.Popen(
            [sys.executable, "-c", script, "score", name, "-f", "json"],
            stdout=subprocess.PIPE,
            stderr=secondary,
            env=env,
        ) as process:
            stdout, _ = process.communicate(timeout=120)
        drawn = _read_all(main)
        assert process.returncode == 0, drawn
        assert json.loads(stdout)["n_samples"] == 2
        assert expected in SGR.sub("", drawn), repr(drawn)
        assert "\x07" not in drawn
        assert "\x1b]" not in drawn
    os.close(secondary)
    os.close(main)


def _read_all(fd: int) -> str:
    import select

    chunks = []
    while select.select([fd], [], [], 0.2)[0]:
        chunks.append(os.read(fd, 65536))
    return b"".join(chunks).decode("utf-8", "replace")


# -- tables without padding ------------------------------------------------------------


@pytest.mark.parametrize("env", TERMINALS, ids=["piped", "FORCE_COLOR", "TTY_COMPATIBLE"])
def test_no_table_line_ends_in_spaces_and_the_report_in_one_newline(compared, env):
    base, cand = compared
    for args in (
        ["score", base, "--calibration", "--max-flagged", "0"],
        ["score", base, "--top", "0"],
        ["compare", base, cand, "--fail-if-worse"],
    ):
        result = cecli(*args, env=env)
        assert result.exit_code in (0, 1), result.stderr
        out = result.stdout
        assert out.endswith("\n"), repr(out[-40:])
        assert not out.endswith("\n\n"), repr(out[-40:])
        for line in out.splitlines():
            assert not SGR.sub("", line).endswith(" "), repr(line)
            assert not line.endswith(" "), repr(line)


# -- the rules, on any text ----------------------------------------------------------

#: Text heavy in what the rules are about: controls, markup and punctuation.
texts = st.text(
    st.one_of(
        st.sampled_from("\x00\x07\x1b\n\r\t\x7f\x85\x9b\u200b\u200d\u202e\u2067\ufeff\\"),
        st.sampled_from("[]()<>&@#!*_`|~=+-:/.;'\"{}$%^ "),
        st.characters(codec="utf-8"),
    ),
    max_size=40,
)


@given(texts)
def test_visible_text_holds_no_control_character(text):
    shown = visible(text)
    assert not CONTROLS.search(shown)
    assert "\n" not in shown
    if not CONTROLS.search(text) and "\n" not in text:
        assert shown == text  # nothing else changes


@given(texts)
def test_markdown_cells_render_as_their_text(text):
    import html

    from markdown_it import MarkdownIt

    source = f"| h |\n|---|\n| {markdown(text)} |\n"
    rendered = MarkdownIt("commonmark").enable("table").render(source)
    cell = re.fullmatch(
        r"(?s)<table>\n<thead>\n<tr>\n<th>h</th>\n</tr>\n</thead>\n"
        r"<tbody>\n<tr>\n<td>(.*)</td>\n</tr>\n</tbody>\n</table>\n",
        rendered,
    )
    if not visible(text).strip():
        return  # a blank cell
    assert cell, rendered
    assert "<" not in cell.group(1)  # no tag of any kind
    expected = visible(text).replace("@", "@\u200b").replace("#", "#\u200b")
    # a table cell loses the white space around it
    assert html.unescape(cell.group(1)).strip() == expected.strip()


@given(st.lists(texts, max_size=8))
def test_spreadsheet_cells_are_defused_exactly_when_a_formula_could_start(cells):
    for text in cells:
        cell = spreadsheet(text)
        starts = text.startswith(("=", "+", "-", "@", "\t", "\r"))
        assert cell in (text, "'" + text)
        if cell == text and starts:
            float(text)  # left alone only as a plain number
        assert (cell != text) <= starts
    assert spreadsheet_array(pa.array(cells, pa.string())).to_pylist() == [
        spreadsheet(t) for t in cells
    ]


@pytest.mark.parametrize("number", ["-3", "-0.5", "+1", "-1e-05", "+.5", "-2.", "-1E+3"])
def test_numbers_are_no_formula(number):
    assert spreadsheet(number) == number
    assert spreadsheet_array(pa.array([number])).to_pylist() == [number]
