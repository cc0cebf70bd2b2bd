"""``--html PATH``: the page's contents against the JSON document, escaping, writing, statuses.

Read with :mod:`html.parser` (tests/html_page.py); the page in a real
browser is tests/test_html_browser.py.
"""

from __future__ import annotations

import json
import math
import os
import re

import pytest
from html_cases import with_show, write_model
from html_page import Page
from test_hostile_output import CLASSES as HOSTILE_CLASSES
from test_hostile_output import HOSTILE, RAW, cecli, write_csv

from cecli.render.escape import html as html_escape
from cecli.render.escape import image_src
from cecli.render.html._page import POLICY, SCRIPT, STYLE

#: Every element the page may hold; nothing else (no iframe, object, form, link, base, ...).
TAGS = {
    "html", "head", "meta", "title", "style", "body", "header", "nav", "main", "footer",
    "section", "h1", "h2", "h3", "p", "span", "br", "a", "ul", "li", "dl", "dt", "dd",
    "div", "table", "caption", "thead", "tbody", "tr", "th", "td", "figure", "figcaption",
    "img", "script", "svg", "defs", "pattern", "rect", "line", "text",
}  # fmt: skip


def page_of(path) -> Page:
    return Page(path.read_text(encoding="utf-8"))


def assert_inert(page: Page) -> None:
    """Only the page's own elements, no handler attribute, one script: cecli's own."""
    assert {tag for tag, _ in page.tags} <= TAGS
    for tag, attrs in page.tags:
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)
        for name in ("href", "src", "action", "formaction", "xlink:href"):
            value = attrs.get(name) or ""
            assert not value.lower().lstrip().startswith("javascript"), (tag, attrs)
    assert page.scripts == [SCRIPT]
    assert page.styles == [STYLE]
    policy = [a["content"] for a in page.elements("meta") if a.get("http-equiv")]
    assert policy == [POLICY]


def assert_self_contained(page: Page) -> None:
    """Nothing to fetch: links only to the page's own sections, no picture without --show."""
    for tag, attrs in page.tags:
        if "href" in attrs:
            assert (attrs["href"] or "").startswith("#"), (tag, attrs)
        assert "src" not in attrs, (tag, attrs)
    for sheet in page.styles:
        assert "@import" not in sheet
        # the hatching of the reliability diagram, in the page itself
        assert all(u.startswith("#") for u in re.findall(r"url\(([^)]*)\)", sheet))


@pytest.fixture
def model(tmp_path):
    return write_model(tmp_path / "preds.csv")


SCORE = ["--id-col", "id", "--calibration", "--label-issues", "--by", "site"]
SCORE += ["--min-slice-rows", "20"]


def test_the_score_page_lists_what_the_json_document_does(model, tmp_path):
    target = tmp_path / "report.html"
    result = cecli("score", model, *SCORE, "--top", "7", "--html", target)
    assert result.exit_code == 0, result.stderr
    document = json.loads(cecli("score", model, *SCORE, "--top", "7", "-f", "json").stdout)
    page = page_of(target)
    assert_inert(page)
    assert_self_contained(page)
    for key in ("flagged", "worst"):
        assert [int(r) for r in page.column(key, "row")] == [r["row"] for r in document[key]]
        assert page.column(key, "id") == [r["id"] for r in document[key]]
        assert page.column(key, "loss") == [f"{r['loss']:.4f}" for r in document[key]]
    assert len(document["worst"]) == 7
    classes = sorted(document["per_class"], key=lambda c: -c["mean_loss"])
    assert page.column("per_class", "class") == [c["class"] for c in classes]
    issues = document["label_issues"][:7]
    assert [int(r) for r in page.column("label_issues", "row")] == [r["row"] for r in issues]
    bins = [b for b in document["calibration"]["bins"] if b["count"]]
    assert [int(c) for c in page.column("reliability", "count")] == [b["count"] for b in bins]
    ranked = [s for s in document["slices"] if s["ranked"]][:7]
    assert page.column("slices", "site") == [s["value"] for s in ranked]
    assert len(ranked) == document["slicing"]["n_ranked"] == 4


def test_the_score_page_draws_the_histogram_and_the_reliability_diagram(model, tmp_path):
    target = tmp_path / "report.html"
    assert cecli("score", model, "--calibration", "--html", target).exit_code == 0
    document = json.loads(cecli("score", model, "--calibration", "-f", "json").stdout)
    page = page_of(target)
    figures = page.elements("svg")
    labels = [f.get("aria-label") or "" for f in figures if f.get("role") == "img"]
    assert any(label.startswith("Histogram of per-sample loss") for label in labels)
    assert any(label.startswith("Reliability diagram") for label in labels)

    def bars(picture):
        return [a for a in page.elements("rect", picture) if a.get("class") == "bar"]

    assert len(bars("Histogram")) == len(document["histogram"])
    non_empty = sum(1 for b in document["calibration"]["bins"] if b["count"])
    assert len(bars("Reliability")) == non_empty
    # the flagged region starts where a wrong row with confidence 0.9 lies, -ln(0.1) nats:
    # in the sixth of eight equal-width bins (1 to 3 nats), log-interpolated, of a plot
    # from x = 50 to 468
    at = 5 + math.log(-math.log(0.1) / 1) / math.log(3 / 1)
    (shade,) = [a for a in page.elements("rect", "Histogram") if a.get("class") == "shade"]
    assert float(shade["x"]) == pytest.approx(50 + at / 8 * 418, abs=0.06)


def test_gates_and_their_outcome_and_the_exit_status(model, tmp_path):
    target = tmp_path / "report.html"
    result = cecli("score", model, "--fail-above", "0.01", "--max-flagged", "1000",
                   "--html", target)  # fmt: skip
    assert result.exit_code == 1
    page = page_of(target)
    assert page.column("gates", "gate") == ["fail_above", "max_flagged"]
    assert page.column("gates", "outcome") == ["FAILED", "passed"]
    assert "a gate failed: exit 1" in target.read_text(encoding="utf-8")
    result = cecli("score", model, "--max-flagged", "1000", "--html", target)
    assert result.exit_code == 0
    assert page_of(target).column("gates", "outcome") == ["passed"]


def test_format_still_goes_to_stdout(model, tmp_path):
    plain = cecli("score", model, "-f", "json")
    paged = cecli("score", model, "-f", "json", "--html", tmp_path / "r.html")
    assert paged.exit_code == plain.exit_code == 0
    assert json.loads(paged.stdout) == json.loads(plain.stdout)
    assert (tmp_path / "r.html").exists()


def test_each_hostile_id_shows_as_written_and_never_acts(tmp_path):
    rows = [[value, 0.9, 0.1, "b"] for value in RAW]
    preds = write_csv(tmp_path / "ids.csv", ["id", "a", "b", "label"], rows)
    target = tmp_path / "report.html"
    result = cecli("score", preds, "--id-col", "id", "--top", "0", "--html", target)
    assert result.exit_code == 0, result.stderr
    page = page_of(target)
    assert_inert(page)
    assert_self_contained(page)
    # the text a person sees is the terminal's: control characters as escapes
    assert sorted(page.column("worst", "id")) == sorted(h[1] for h in HOSTILE)
    assert page.elements("img") == []
    assert not re.search("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]",
                         target.read_text(encoding="utf-8"))  # fmt: skip


def test_hostile_class_names_and_file_names_are_escaped(tmp_path):
    k = len(HOSTILE_CLASSES)
    rows = []
    for i in range(k):
        p = [0.01] * k
        p[(i + 1) % k] = 0.93
        rows.append([*p, HOSTILE_CLASSES[i][0]])
    name = "x<img src=q onerror=alert(1)>\u202e.csv"
    preds = write_csv(tmp_path / name, [c[0] for c in HOSTILE_CLASSES] + ["label"], rows)
    target = tmp_path / "report.html"
    result = cecli("score", preds, "--html", target)
    assert result.exit_code == 0, result.stderr
    page = page_of(target)
    assert_inert(page)
    assert sorted(page.column("per_class", "class")) == sorted(c[1] for c in HOSTILE_CLASSES)
    title = target.read_text(encoding="utf-8").split("<title>")[1].split("</title>")[0]
    assert title.endswith("x&lt;img src=q onerror=alert(1)&gt;\\u202e.csv")


def test_show_columns_of_pictures_are_thumbnails_and_the_rest_text(model, tmp_path, monkeypatch):
    pictures = {0: "img/r000.png", 23: "https://e.org/a.jpg?w=1&h=2", 46: "javascript:x//.png"}
    captions = {0: "<b>bold</b>", 23: '" onerror="alert(1)'}

    def values(row):
        return (pictures.get(row, f"img/cat {row}.png"), captions.get(row))

    with_show(monkeypatch, ("image", "caption"), values)
    target = tmp_path / "report.html"
    result = cecli("score", model, "--id-col", "id", "--label-issues", "--html", target)
    assert result.exit_code == 0, result.stderr
    page = page_of(target)
    assert_inert(page)
    shown = page.column("worst", "row")
    images = page.column("worst", "image")
    assert images == [values(int(r))[0] for r in shown]
    captions_shown = page.column("worst", "caption")
    assert captions_shown == [captions.get(int(r), "(missing)") for r in shown]
    sources = [a["src"] for a in page.elements("img")]
    expected = []
    for table in ("flagged", "worst", "label_issues"):
        for r in page.column(table, "row"):
            value = values(int(r))[0]
            if not value.startswith("javascript"):
                expected.append(value.replace(" ", "%20"))
    assert sources == expected  # javascript: is shown as text, never loaded
    assert all(a.get("loading") == "lazy" for a in page.elements("img"))
    source = target.read_text(encoding="utf-8")
    assert 'src="https://e.org/a.jpg?w=1&amp;h=2"' in source
    assert "&lt;b&gt;bold&lt;/b&gt;" in source
    assert "<b>" not in source
    assert "&quot; onerror=&quot;alert(1)" in source


def test_the_compare_page_lists_what_the_json_document_does(tmp_path):
    base = write_model(tmp_path / "base.csv", seed=1, sharp=3.0)
    cand = write_model(tmp_path / "cand.csv", seed=1, sharp=2.2)
    target = tmp_path / "compare.html"
    args = [base, cand, "--id-col", "id", "--by", "site", "--min-slice-rows", "20",
            "--calibration", "--fail-if-worse", "--top", "5"]  # fmt: skip
    result = cecli("compare", *args, "--html", target)
    document = json.loads(cecli("compare", *args, "-f", "json").stdout)
    assert result.exit_code == (0 if document["passed"] else 1)
    assert document["verdict"] == "worse"
    page = page_of(target)
    assert_inert(page)
    assert_self_contained(page)
    for key in ("regressions", "fixed", "largest_increases"):
        listed = document[key]
        if listed:
            assert [int(r) for r in page.column(key, "row")] == [r["row"] for r in listed]
        else:
            assert key not in page.tables
    assert len(document["largest_increases"]) == 5
    assert page.column("per_class", "class") == [c["class"] for c in document["per_class"]]
    assert page.column("gates", "outcome") == ["FAILED"]
    svg = [a for a in page.elements("svg") if a.get("role") == "img"]
    assert [a["aria-label"] for a in svg] == ["Distribution of the bootstrap differences"]
    assert len(page.column("slices", "site")) == 4


def test_an_interrupted_or_failed_write_leaves_the_old_page_and_no_temporary(
    model, tmp_path, monkeypatch
):
    import cecli.render.html._score as score_page

    target = tmp_path / "report.html"
    target.write_text("old", encoding="utf-8")

    def full_disk(report, out):
        out.write("<!DOCTYPE html>")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(score_page, "render_score", full_disk)
    result = cecli("score", model, "--html", target)
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        f"cecli: error: --html {target}: cannot be written: No space left on device."
    ]

    def interrupted(report, out):
        out.write("<!DOCTYPE html>")
        raise KeyboardInterrupt

    monkeypatch.setattr(score_page, "render_score", interrupted)
    assert cecli("score", model, "--html", target).exit_code == 130
    assert target.read_text(encoding="utf-8") == "old"
    assert sorted(os.listdir(tmp_path)) == ["preds.csv", "report.html"]


def test_a_bad_input_leaves_the_old_page(tmp_path):
    preds = write_csv(tmp_path / "p.csv", ["a", "b", "label"], [[0.9, 0.1, 0], [0.9, 0.9, 1]])
    target = tmp_path / "report.html"
    target.write_text("old", encoding="utf-8")
    assert cecli("score", preds, "--html", target).exit_code == 2
    assert target.read_text(encoding="utf-8") == "old"


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("report.txt", "--html report.txt: name the file .html (or .htm)."),
        ("-", "--html writes a file, not standard output"),
        ("folder.html", "is a folder; name a file in it"),
        ("missing/report.html", "does not exist."),
        ("preds.html", "is one of the input files; --html will not overwrite it."),
    ],
)
def test_a_path_that_cannot_be_the_page_is_refused_before_reading(
    tmp_path, monkeypatch, given, message
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "folder.html").mkdir()
    write_model(tmp_path / "preds.html", n=30)
    result = cecli("score", "preds.html", "--input-format", "csv", "--html", given)
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("cecli: error: ")
    assert message in lines[0]
    result = cecli("compare", "preds.html", "preds.html", "--input-format", "csv",
                   "--html", given)  # fmt: skip
    assert result.exit_code == 2
    assert message in result.stderr


# -- the escaping rule -------------------------------------------------------------------

#: (value, as HTML text or attribute, by hand)
ESCAPED = [
    ("</td><img src=x onerror=alert(1)>", "&lt;/td&gt;&lt;img src=x onerror=alert(1)&gt;"),
    ('" onmouseover="x', "&quot; onmouseover=&quot;x"),
    ("it's", "it&#x27;s"),
    ("&amp;", "&amp;amp;"),
    ("\x1b[2J", "\\x1b[2J"),
    ("\u202eabc", "\\u202eabc"),
    ("a\nb", "a\\nb"),
    ("[red]x[/red]", "[red]x[/red]"),
]


@pytest.mark.parametrize(("value", "shown"), ESCAPED)
def test_html_escapes_text_and_attributes(value, shown):
    assert html_escape(value) == shown


#: (value, the <img src> or None where it stays text), by hand
SOURCES = [
    ("img/3.png", "img/3.png"),
    ("../pics/a b.jpg", "../pics/a%20b.jpg"),
    ("http://e.org/x.gif", "http://e.org/x.gif"),
    ("HTTPS://e.org/x.webp?a=1&b=2", "HTTPS://e.org/x.webp?a=1&amp;b=2"),
    ("data:image/png;base64,iVBORw0KGgo=", "data:image/png;base64,iVBORw0KGgo="),
    ('x.png" onerror="alert(1)', "x.png%22%20onerror=%22alert(1)"),
    ("javascript:alert(1)//x.png", None),
    ("JaVaScRiPt:alert(1)", None),
    (" javascript:alert(1)", None),
    ("java\tscript:alert(1).png", None),
    ("java\nscript:alert(1).png", None),
    ("vbscript:x.png", None),
    ("data:text/html,<script>alert(1)</script>.png", None),
    ("file:///etc/passwd.png", None),
    ("C:\\pics\\x.png", None),
    ("", None),
]


@pytest.mark.parametrize(("value", "src"), SOURCES)
def test_only_relative_paths_and_web_or_data_pictures_are_loaded(value, src):
    assert image_src(value) == src
