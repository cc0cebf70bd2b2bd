"""``-f json`` writes its rows as it makes them, and the text is ``json.dumps``'s, byte for byte.

The reference document is built here from the report's rows with the JSON
layout written out in this file (the keys of a row, ``null`` for what is not
finite, the class names), then put in text by ``json.dumps(indent=2)``.
"""

from __future__ import annotations

import io
import json
import math
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import cecli
from cecli.render import _arrow
from cecli.render import json as json_renderer
from cecli.report import build_report


def reference_row(report, r) -> dict:
    def number(x):
        return x if math.isfinite(x) else None

    def name(i):
        return report.classes[i] if 0 <= i < len(report.classes) else str(i)

    predicted = name(r.predicted)
    if report.summary.kind == "multilabel":
        predicted = "present" if r.predicted else "absent"
    return {
        "row": r.row,
        "id": report.ids.get(r.row),
        "label": name(r.label),
        "label_index": r.label,
        "predicted": predicted,
        "predicted_index": r.predicted,
        "confidence": number(r.confidence),
        "p_true": number(r.p_true),
        "loss": number(r.loss),
    }


def reference_text(report) -> str:
    document = report.to_dict(rows=False)
    s, top = report.summary, report.top
    for key, rows in (("flagged", s.flagged), ("worst", s.worst)):
        listed = list(rows) if top == 0 else list(rows)[:top]
        document[key] = [reference_row(report, r) for r in listed]
    return json.dumps(document, indent=2, allow_nan=False) + "\n"


def rendered(report) -> str:
    out = io.StringIO()
    json_renderer.render(report, out)
    return out.getvalue()


def categorical_report(n: int, top: int, ids: bool, seed: int = 0):
    rng = np.random.default_rng(seed)
    k = 4
    probs = rng.dirichlet(np.full(k, 0.3), size=n)
    probs[::9] = np.eye(k)[0]  # exact zeros: clipped losses, ties
    labels = rng.integers(0, k, n)
    accumulator = cecli.Accumulator(keep=None if top == 0 else top, threshold=0.6)
    for start in range(0, n, 1000):
        accumulator.update(labels[start : start + 1000], probs[start : start + 1000])
    classes = ['caf\u00e9 "x"', "=SUM(A1)", "tab\there", "\u2603"]
    names = {i: f"id-{i}-\u00e9\x07" for i in range(0, n, 3)} if ids else {}
    return build_report(accumulator.result(), classes, {"predictions": "p.npy"}, top, names)


@pytest.mark.parametrize("n", [5, 2047, 2048, 5000, 70000])
@pytest.mark.parametrize("ids", [False, True])
def test_every_row_streamed_is_json_dumps_text(n, ids):
    report = categorical_report(n, 0, ids)
    text = rendered(report)
    assert text == reference_text(report)
    assert text == json.dumps(report.to_dict(), indent=2, allow_nan=False) + "\n"
    assert len(json.loads(text)["worst"]) == n


@pytest.mark.parametrize("top", [1, 10, 3000])
def test_the_first_top_rows_are_streamed_as_json_dumps_text(top):
    report = categorical_report(4000, top, ids=True)
    assert rendered(report) == reference_text(report)


@pytest.mark.parametrize("kind", ["binary", "multilabel"])
def test_binary_and_multilabel_rows_are_json_dumps_text(kind):
    rng = np.random.default_rng(1)
    n = 6000
    if kind == "binary":
        targets, preds, classes = rng.integers(0, 2, n), rng.random(n), ["no", "yes"]
    else:
        targets, preds = rng.integers(0, 2, (n, 3)), rng.random((n, 3))
        classes = ["a", "b"]  # fewer names than labels: the index stands for the rest
    accumulator = cecli.Accumulator(kind, keep=None)
    accumulator.update(targets, preds)
    report = build_report(accumulator.result(), classes, {}, 0, {})
    assert rendered(report) == reference_text(report)


def test_a_mark_in_the_data_does_not_break_the_text(monkeypatch):
    report = categorical_report(50, 0, ids=False)
    monkeypatch.setattr(json_renderer.uuid, "uuid4", lambda: type("U", (), {"hex": "same"})())
    report.inputs["predictions"] = "cecli-rows-flagged-same"  # as if a file were named so
    assert rendered(report) == reference_text(report)


finite_or_not = st.floats(allow_nan=True, allow_infinity=True, width=64)


@given(st.lists(finite_or_not, min_size=1, max_size=300))
def test_pyarrows_text_of_floats_is_json_dumps_text(values):
    texts = _arrow.float_texts(np.array(values, dtype=np.float64)).to_pylist()
    assert texts == [json.dumps(v) if math.isfinite(v) else "null" for v in values]


@pytest.mark.parametrize("scale", [1e-12, 1e-5, 1e-4, 1.0, 1e3, 1e15, 1e16, 1e300])
def test_pyarrows_text_of_floats_near_the_layout_edges(scale):
    values = np.random.default_rng(2).random(20000) * scale
    as_float32 = values.astype(np.float32) if scale < 1e30 else values
    values = np.concatenate([values, np.round(values), -values, as_float32])
    texts = _arrow.float_texts(values).to_pylist()
    assert texts == [json.dumps(v) for v in values.tolist()]


def test_a_closed_pipe_stops_the_run_quietly(tmp_path):
    n = 60000  # some 15 MB of JSON, far more than a pipe holds
    rng = np.random.default_rng(3)
    np.save(tmp_path / "p.npy", rng.dirichlet(np.ones(5), size=n))
    np.save(tmp_path / "y.npy", rng.integers(0, 5, n))
    command = [sys.executable, "-m", "cecli", "score", "p.npy", "y.npy", "-f", "json", "--top", "0"]
    process = subprocess.Popen(
        command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert process.stdout is not None
    assert process.stderr is not None
    first = process.stdout.readline()
    process.stdout.close()  # as `| head -1` does
    errors = process.stderr.read()
    process.stderr.close()
    assert process.wait() == 0
    assert first == b"{\n"
    assert errors == b""
