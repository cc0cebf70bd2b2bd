"""The ``--html`` page in a real browser: headless Chromium, driven by Selenium.

It loads the page from its file and checks what only a browser can tell:
no console error (a style or script the page's policy blocks is one), no
request but the page itself and the thumbnails put beside it, the tables'
rows in the DOM as many as the JSON document lists, a click on a header
sorts, the colour scheme follows ``prefers-color-scheme``, and a screenshot
is not blank.

Needs Debian's ``chromium`` and ``chromium-driver`` (``.ci/run`` installs them)
and selenium (the test extra). Without them these tests are skipped, except
where the environment variable ``CI`` is set: there they fail, so CI cannot
skip them silently. Selenium Manager never downloads a driver: the one on
the PATH is given.
"""

from __future__ import annotations

import base64
import io
import json
import os
import shutil

import pytest
from html_cases import png, with_show, write_model
from test_hostile_output import cecli


def _missing() -> str | None:
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install '.[test]')"
    if shutil.which("chromium") is None and shutil.which("chromium-browser") is None:
        return "chromium is not installed (Debian: apt-get install chromium chromium-driver)"
    if shutil.which("chromedriver") is None:
        return "chromedriver is not installed (Debian: apt-get install chromium-driver)"
    return None


@pytest.fixture(scope="module")
def browser():
    reason = _missing()
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(f"CI is set, and the browser tests cannot run: {reason}")
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                     "--disable-dev-shm-usage", "--no-first-run"):  # fmt: skip
        options.add_argument(argument)
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    options.binary_location = binary
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(
        service=Service(executable_path=shutil.which("chromedriver")), options=options
    )
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def load(driver, path, width=1280, scheme="light"):
    """Open ``path`` at ``width`` pixels in ``scheme``; the console's entries and the requests."""
    driver.get_log("browser")  # what an earlier page left
    driver.get_log("performance")
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": width < 600},
    )
    driver.execute_cdp_cmd(
        "Emulation.setEmulatedMedia",
        {"features": [{"name": "prefers-color-scheme", "value": scheme}]},
    )
    driver.get(path.resolve().as_uri())
    driver.execute_script("return document.readyState")
    # the lazy thumbnails below the fold: scroll through so that they load too
    driver.execute_script("window.scrollTo(0, document.body.scrollHeight)")
    driver.execute_async_script(
        "const done = arguments[0];"
        "Promise.all([...document.images].map(i => i.decode().catch(() => null)))"
        ".then(() => done(null));"
    )
    console = driver.get_log("browser")
    requests = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            requests.append(message["params"]["request"]["url"])
    return console, requests


def rows(driver, table):
    return driver.execute_script(
        f"return document.querySelectorAll('table[data-table={table}] tbody tr').length"
    )


def column(driver, table, index):
    script = (
        f"return [...document.querySelectorAll('table[data-table={table}] tbody tr')]"
        f".map(r => r.cells[{index}].dataset.v ?? r.cells[{index}].textContent)"
    )
    return driver.execute_script(script)


def header(driver, table, name):
    from selenium.webdriver.common.by import By

    cells = driver.find_elements(By.CSS_SELECTOR, f"table[data-table={table}] thead th")
    return next(c for c in cells if c.text.strip() == name), cells.index(
        next(c for c in cells if c.text.strip() == name)
    )


SCORE = ["--id-col", "id", "--calibration", "--label-issues", "--by", "site"]
SCORE += ["--min-slice-rows", "20", "--fail-above", "0.2", "--max-flagged", "100"]


@pytest.fixture
def score_page(tmp_path):
    preds = write_model(tmp_path / "preds.csv")
    target = tmp_path / "report.html"
    result = cecli("score", preds, *SCORE, "--html", target)
    assert result.exit_code == 1  # the loss gate fails; the page is written all the same
    document = json.loads(cecli("score", preds, *SCORE, "-f", "json").stdout)
    return target, document


def test_the_page_loads_nothing_and_logs_no_error(browser, score_page):
    target, document = score_page
    console, requests = load(browser, target)
    assert console == []
    assert requests == [target.resolve().as_uri()]
    for key in ("flagged", "worst"):
        assert rows(browser, key) == len(document[key]) > 0
    assert rows(browser, "per_class") == len(document["per_class"])
    assert rows(browser, "label_issues") == min(10, document["label_issue_count"])
    assert rows(browser, "slices") == document["slicing"]["n_ranked"]
    bins = [b for b in document["calibration"]["bins"] if b["count"]]
    assert rows(browser, "reliability") == len(bins)
    assert rows(browser, "gates") == len(document["gates"]) == 2


def test_a_click_on_a_header_sorts_its_table(browser, score_page):
    target, document = score_page
    load(browser, target)
    loss, i = header(browser, "worst", "loss")
    assert loss.get_attribute("aria-sort") == "descending"
    expected = sorted(r["loss"] for r in document["worst"])
    loss.find_element("tag name", "button").click()
    assert loss.get_attribute("aria-sort") == "ascending"
    assert [float(v) for v in column(browser, "worst", i)] == pytest.approx(expected)
    loss.find_element("tag name", "button").click()
    assert loss.get_attribute("aria-sort") == "descending"
    assert [float(v) for v in column(browser, "worst", i)] == pytest.approx(expected[::-1])
    # numbers sort as numbers, not as text (97 before 402), ids as text
    row, j = header(browser, "worst", "row")
    row.find_element("tag name", "button").click()
    assert loss.get_attribute("aria-sort") is None
    numbers = [float(v) for v in column(browser, "worst", j)]
    assert numbers == sorted(r["row"] for r in document["worst"])
    ident, k = header(browser, "worst", "id")
    ident.find_element("tag name", "button").click()
    assert column(browser, "worst", k) == sorted(r["id"] for r in document["worst"])


def test_the_colour_scheme_follows_the_system_and_the_page_is_not_blank(browser, score_page):
    from PIL import Image

    target, _ = score_page
    script = "return getComputedStyle(document.body).backgroundColor"
    for width in (1280, 390):
        for scheme, dark in (("light", False), ("dark", True)):
            console, _ = load(browser, target, width, scheme)
            assert console == []
            red, green, blue = map(int, browser.execute_script(script)[4:-1].split(",")[:3])
            assert (red + green + blue < 150) == dark, (scheme, red, green, blue)
            # the page is no wider than the screen: wide tables scroll in their own box
            scroll = browser.execute_script("return document.documentElement.scrollWidth")
            assert scroll <= width
            shot = Image.open(io.BytesIO(base64.b64decode(browser.get_screenshot_as_base64())))
            colours = shot.convert("RGB").getcolors(maxcolors=1 << 16)
            assert colours is None or len(colours) > 20  # text, tables, pictures


def test_the_page_prints(browser, score_page):
    target, _ = score_page
    load(browser, target)
    browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
    shown = browser.execute_script("return getComputedStyle(document.querySelector('nav')).display")
    assert shown == "none"
    pdf = browser.execute_cdp_cmd("Page.printToPDF", {"printBackground": False})
    assert base64.b64decode(pdf["data"]).startswith(b"%PDF")
    browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})


def test_thumbnails_beside_the_page_load_and_nothing_else(browser, tmp_path, monkeypatch):
    preds = write_model(tmp_path / "preds.csv")
    (tmp_path / "img").mkdir()
    for i in range(240):
        png(tmp_path / "img" / f"r{i:03d}.png", (i, 255 - i, 90))
    with_show(monkeypatch, ("image", "note"), lambda r: (f"img/r{r:03d}.png", f"<i>{r}</i>"))
    target = tmp_path / "report.html"
    assert cecli("score", preds, "--id-col", "id", "--html", target).exit_code == 0
    console, requests = load(browser, target)
    assert console == []
    loaded = browser.execute_script(
        "return [...document.images].map(i => [i.getAttribute('src'), i.naturalWidth])"
    )
    assert len(loaded) == rows(browser, "flagged") + rows(browser, "worst") > 10
    assert all(width == 8 for _, width in loaded)
    expected = {target.resolve().as_uri()}
    expected |= {(tmp_path / src).resolve().as_uri() for src, _ in loaded}
    assert set(requests) == expected
    notes = browser.execute_script(
        "return document.querySelectorAll('table[data-table=worst] i').length"
    )
    assert notes == 0  # the data's <i> is text


def test_the_compare_page(browser, tmp_path):
    base = write_model(tmp_path / "base.csv", seed=1, sharp=3.0)
    cand = write_model(tmp_path / "cand.csv", seed=1, sharp=2.2)
    target = tmp_path / "compare.html"
    args = [base, cand, "--id-col", "id", "--by", "site", "--min-slice-rows", "20",
            "--calibration", "--top", "5"]  # fmt: skip
    assert cecli("compare", *args, "--html", target).exit_code == 0
    document = json.loads(cecli("compare", *args, "-f", "json").stdout)
    console, requests = load(browser, target, 390, "dark")
    assert console == []
    assert requests == [target.resolve().as_uri()]
    assert rows(browser, "largest_increases") == len(document["largest_increases"]) == 5
    assert rows(browser, "per_class") == len(document["per_class"])
    bars = browser.execute_script(
        "return document.querySelectorAll('svg[role=img] rect.bar').length"
    )
    assert bars > 10
    difference, i = header(browser, "largest_increases", "difference")
    difference.find_element("tag name", "button").click()
    values = [float(v) for v in column(browser, "largest_increases", i)]
    assert values == sorted(r["delta_loss"] for r in document["largest_increases"])
