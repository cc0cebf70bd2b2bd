"""Renderers: each takes a :class:`~cecli.report.Report` and writes one output format."""

from __future__ import annotations

from cecli.render import csv, json, markdown, table

RENDERERS = {"table": table, "json": json, "csv": csv, "markdown": markdown}
FORMATS: tuple[str, ...] = tuple(RENDERERS)
