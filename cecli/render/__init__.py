"""Renderers: each takes a :class:`~cecli.report.Report` and writes one output format.

Each is imported when it is used (``cecli.render.json``, say), so JSON output
does not load rich; ``RENDERERS`` imports them all.
"""

from __future__ import annotations

import importlib
from typing import Any

FORMATS: tuple[str, ...] = ("table", "json", "csv", "markdown")


def __getattr__(name: str) -> Any:
    if name == "RENDERERS":
        return {f: importlib.import_module(f"cecli.render.{f}") for f in FORMATS}
    raise AttributeError(f"module 'cecli.render' has no attribute {name!r}")
