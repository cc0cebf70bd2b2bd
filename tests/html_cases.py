"""Inputs for the ``--html`` tests: a small categorical model with ids, sites and bad labels.

:func:`write_model` writes ``n`` rows of three classes with an ``id`` and a
``site`` column (for ``--by site``); a few rows have a wrong label the model
is confident about (flagged, and likely label errors). :func:`with_show`
makes the page of a CLI run carry ``--show`` columns (the flag is built
elsewhere): it wraps :func:`cecli.render.html.write_html` so that the report
it is given gains a :class:`~cecli.shown.Shown` of the listed rows.
"""

from __future__ import annotations

import csv
import dataclasses
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

CLASSES = ["cat", "dog", "emu"]
SITES = ["north", "south", "east", "west"]


def write_model(path: Path, n: int = 240, seed: int = 0, sharp: float = 3.0) -> Path:
    """``n`` rows: id, the classes' probabilities, site and label; every 23rd label wrong."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, n)
    logits = rng.normal(0, 1, (n, 3))
    logits[np.arange(n), labels] += sharp
    probs = np.exp(logits)
    probs /= probs.sum(axis=1, keepdims=True)
    given = labels.copy()
    given[::23] = (labels[::23] + 1) % 3  # mislabelled: the model is sure of the true class
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["id", *CLASSES, "site", "label"])
        for i in range(n):
            writer.writerow(
                [f"r{i:03d}", *(f"{p:.6f}" for p in probs[i]), SITES[i % 4], CLASSES[given[i]]]
            )
    return path


def png(path: Path, rgb: tuple[int, int, int] = (200, 60, 40), size: int = 8) -> Path:
    """A small one-colour PNG, written by hand (no imaging library)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    raw = b"".join(b"\x00" + bytes(rgb) * size for _ in range(size))
    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )
    return path


def with_show(
    monkeypatch, names: tuple[str, ...], values: Callable[[int], tuple[str | None, ...]]
) -> None:
    """Make ``--html`` pages carry ``--show`` columns ``names``: row ``r``'s are ``values(r)``."""
    import cecli.render.html as page
    from cecli.shown import Shown

    original = page.write_html

    def write_html(path, report):
        rows = _listed_rows(report)
        shown = Shown(names, {r: values(r) for r in rows})
        original(path, dataclasses.replace(report, show=shown))

    monkeypatch.setattr(page, "write_html", write_html)


def _listed_rows(report) -> set[int]:
    if hasattr(report, "comparison"):
        c = report.comparison
        return {p.row for p in (*c.regressions, *c.fixed, *c.largest_increases)}
    s = report.summary
    rows = {r.row for r in (*report.shown(s.flagged), *report.shown(s.worst))}
    if report.label_issues is not None:
        rows |= {r["row"] for r in report.label_issues.rows()}
    return rows
