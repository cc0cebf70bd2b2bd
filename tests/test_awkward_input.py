"""Inputs that look bad but must work, and runs that must warn: the other side of the catalogue.

``test_bad_input.py`` holds what must be refused. Here: UTF-16 files (with or
without a byte-order mark, TSV, Windows line ends, on stdin, as the labels),
which are read and give exactly the loss of the same file in UTF-8; hard
one-hot predictions under a header of class indices; a caption column just
under the "mostly numbers" share, which is left out and named. Each scores
as the definition (-log max(p_true, eps)) says. And ``--logits`` on rows that
already are probabilities (softmax or sigmoid twice) succeeds with exactly
one ``cecli: warning:`` line, while real logits give no word at all.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from bad_input_cases import CLASSES, K, N, labels, probs
from typer.testing import CliRunner

from cecli.cli import app
from cecli.errors import ExitStatus

runner = CliRunner()

# -- inputs that must work --------------------------------------------------------------

#: UTF-8 text with names that are not ASCII, so a wrong decoding shows.
NAMES = ["chat", "café", "émeu"]


def text_file(sep: str = ",", labels_in_file: bool = True, newline: str = "\n") -> str:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=sep, lineterminator=newline)
    writer.writerow([*NAMES, "label"] if labels_in_file else NAMES)
    y = np.array(NAMES)[labels()]
    for row, name in zip(probs(), y, strict=True):
        cells_ = [repr(float(v)) for v in row]
        writer.writerow([*cells_, name] if labels_in_file else cells_)
    return out.getvalue()


def defined_loss(p: np.ndarray, y: np.ndarray, eps: float = np.finfo(np.float64).eps) -> float:
    """Mean cross-entropy by its definition: -log max(p_true, eps)."""
    return float(np.mean(-np.log(np.maximum(p[np.arange(len(y)), y], eps))))


@dataclass
class Works:
    files: dict[str, bytes]
    args: list[str]
    loss: float
    classes: list[str] = field(default_factory=lambda: list(NAMES))
    stdin: bytes = b""
    ignored: list[str] = field(default_factory=list)


def one_hot(start: int) -> Works:
    """Hard predictions under a header of class indices; two rows wrong (clipped)."""
    y = labels()
    predicted = y.copy()
    predicted[[3, 11]] = (y[[3, 11]] + 1) % K
    hard = np.eye(K)[predicted]
    lines = [",".join(str(start + c) for c in range(K))]
    lines += [",".join(str(int(v)) for v in row) for row in hard]
    label_lines = ["label", *(str(start + v) for v in y)]
    return Works(
        {
            "preds.csv": "\n".join([*lines, ""]).encode(),
            "labels.csv": "\n".join(label_lines).encode(),
        },
        ["preds.csv", "labels.csv"],
        defined_loss(hard, y),
        [str(start + c) for c in range(K)],
    )


def mostly_text_column() -> Works:
    """Just under half of the captions look like numbers: text, left out and named."""
    captions = ["3 cats", "12", "a dog", "0.5", "emu.png", "7", "two birds"] * 3
    rows = [
        [*(repr(float(v)) for v in row), name, c]
        for row, name, c in zip(probs(), np.array(NAMES)[labels()], captions, strict=False)
    ]
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([[*NAMES, "label", "caption"], *rows])
    return Works({"preds.csv": out.getvalue().encode()}, ["preds.csv"], LOSS, ignored=["caption"])


LOSS = defined_loss(probs(), labels())
UTF8 = text_file().encode()

WORKS: dict[str, Works] = {
    "utf8": Works({"preds.csv": UTF8}, ["preds.csv"], LOSS),
    "utf8_with_bom": Works({"preds.csv": b"\xef\xbb\xbf" + UTF8}, ["preds.csv"], LOSS),
    "utf16_little_endian_with_bom": Works(
        {"preds.csv": b"\xff\xfe" + text_file().encode("utf-16-le")}, ["preds.csv"], LOSS
    ),
    "utf16_big_endian_with_bom": Works(
        {"preds.csv": b"\xfe\xff" + text_file().encode("utf-16-be")}, ["preds.csv"], LOSS
    ),
    "utf16_without_bom": Works({"preds.csv": text_file().encode("utf-16-le")}, ["preds.csv"], LOSS),
    "utf16_tsv": Works({"preds.tsv": text_file("\t").encode("utf-16")}, ["preds.tsv"], LOSS),
    "utf16_windows_line_ends": Works(
        {"preds.csv": text_file(newline="\r\n").encode("utf-16")}, ["preds.csv"], LOSS
    ),
    "utf16_on_stdin": Works({}, ["-"], LOSS, stdin=text_file().encode("utf-16")),
    "utf16_labels_file": Works(
        {
            "preds.csv": text_file(labels_in_file=False).encode(),
            "labels.csv": "\n".join(["label", *np.array(NAMES)[labels()], ""]).encode("utf-16"),
        },
        ["preds.csv", "labels.csv"],
        LOSS,
    ),
    "one_hot_header_from_0": one_hot(0),
    "one_hot_header_from_1": one_hot(1),
    "caption_column_left_out": mostly_text_column(),
}


@pytest.fixture(scope="module")
def worked(tmp_path_factory) -> dict[str, tuple[int, str, dict]]:
    """Each input scored in-process: the exit status, stderr and the JSON report."""
    results = {}
    for name, works in WORKS.items():
        folder = tmp_path_factory.mktemp(name)
        for file, data in works.files.items():
            (folder / file).write_bytes(data)
        args = [a if a == "-" else str(folder / a) for a in works.args]
        result = runner.invoke(app, ["score", *args, "-f", "json"], input=works.stdin)
        report = json.loads(result.stdout) if result.exit_code == 0 else {}
        results[name] = (result.exit_code, result.stderr, report)
    return results


@pytest.mark.parametrize("name", WORKS)
def test_these_inputs_are_read_and_scored_as_defined(name, worked):
    status, stderr, report = worked[name]
    works = WORKS[name]
    assert status == ExitStatus.SUCCESS, stderr
    assert stderr == ""
    assert report["n_samples"] == N
    assert report["classes"] == works.classes
    assert report["mean_loss"] == pytest.approx(works.loss, rel=1e-12, abs=1e-15)
    ignored = [c["column"] for c in report["columns"]["ignored"]]
    assert ignored == works.ignored


@pytest.mark.parametrize("name", [n for n in WORKS if n.startswith("utf")])
def test_utf16_gives_the_loss_of_the_utf8_file_exactly(name, worked):
    assert worked[name][2]["mean_loss"] == worked["utf8"][2]["mean_loss"]
    assert worked[name][2]["per_class"] == worked["utf8"][2]["per_class"]


# -- runs that must warn, once -----------------------------------------------------------------


@dataclass
class Warns:
    files: dict[str, str]
    args: list[str]
    #: What the one warning line must hold; empty: stderr must be empty.
    fragments: list[str]
    command: str = "score"


def table(p: np.ndarray, y: np.ndarray, columns: list[str]) -> str:
    rows = [
        ",".join([*map(repr, map(float, row)), str(int(a))]) for row, a in zip(p, y, strict=True)
    ]
    return "\n".join([",".join([*columns, "label"]), *rows, ""])


LOGITS = np.random.default_rng(8).normal(scale=3, size=(N, K))
BINARY_P = probs(k=2)[:, 1:]
BINARY_Y = labels(k=2)
MULTILABEL = np.random.default_rng(9).uniform(size=(N, K))
MULTILABEL_Y = np.random.default_rng(10).integers(0, 2, size=(N, K))

WARNS: dict[str, Warns] = {
    "logits_on_categorical_probabilities": Warns(
        {"preds.csv": table(probs(), labels(), CLASSES)},
        ["preds.csv", "--logits"],
        ["preds.csv", "logits", "softmax", "probabilities"],
    ),
    "logits_on_binary_probabilities": Warns(
        {"preds.csv": table(BINARY_P, BINARY_Y, ["p_spam"])},
        ["preds.csv", "--logits"],
        ["preds.csv", "logits", "sigmoid", "probabilities"],
    ),
    "logits_on_multilabel_probabilities": Warns(
        {
            "preds.csv": "\n".join(
                [",".join(CLASSES), *(",".join(map(repr, map(float, r))) for r in MULTILABEL), ""]
            ),
            "labels.csv": "\n".join(
                [",".join(CLASSES), *(",".join(map(str, r)) for r in MULTILABEL_Y), ""]
            ),
        },
        ["preds.csv", "labels.csv", "--kind", "multilabel", "--logits"],
        ["preds.csv", "sigmoid"],
    ),
    "baseline_logits_on_probabilities": Warns(
        {
            "base.csv": table(probs(), labels(), CLASSES),
            "cand.csv": table(probs(5), labels(), CLASSES),
        },
        ["base.csv", "cand.csv", "--baseline-logits", "--bootstrap", "10"],
        ["base.csv", "softmax"],
        command="compare",
    ),
    "categorical_logits": Warns(
        {"preds.csv": table(LOGITS, labels(), CLASSES)}, ["preds.csv", "--logits"], []
    ),
    "binary_logits": Warns(
        {"preds.csv": table(LOGITS[:, :1], BINARY_Y, ["logit"])}, ["preds.csv", "--logits"], []
    ),
    "quantised_logits": Warns(
        {"preds.csv": table(np.round(LOGITS), labels(), CLASSES)}, ["preds.csv", "--logits"], []
    ),
    "probabilities": Warns({"preds.csv": table(probs(), labels(), CLASSES)}, ["preds.csv"], []),
}


def run_warns(folder: Path, warns: Warns) -> subprocess.CompletedProcess:
    for name, text in warns.files.items():
        (folder / name).write_text(text)
    return subprocess.run(
        [sys.executable, "-m", "cecli", warns.command, *warns.args],
        capture_output=True,
        cwd=folder,
        timeout=120,
    )


@pytest.fixture(scope="module")
def warned(tmp_path_factory) -> dict[str, subprocess.CompletedProcess]:
    with ThreadPoolExecutor(max_workers=2 * (os.cpu_count() or 1)) as pool:
        futures = {
            name: pool.submit(run_warns, tmp_path_factory.mktemp(name), warns)
            for name, warns in WARNS.items()
        }
        return {name: future.result() for name, future in futures.items()}


@pytest.mark.parametrize("name", WARNS)
def test_logits_that_look_like_probabilities_warn_once(name, warned):
    result, warns = warned[name], WARNS[name]
    stderr = result.stderr.decode("utf-8")
    assert result.returncode == ExitStatus.SUCCESS, stderr
    assert result.stdout.strip()
    if not warns.fragments:
        assert stderr == ""
        return
    assert stderr.startswith("cecli: warning: "), stderr
    assert stderr.count("\n") == 1, stderr
    assert "cecli: error" not in stderr
    for fragment in warns.fragments:
        assert fragment in stderr, f"{fragment!r} not in {stderr!r}"
