"""Renderers: each takes a :class:`~cecli.report.Report` and writes one output format."""

from __future__ import annotations

FORMATS: tuple[str, ...] = ("table", "json")
