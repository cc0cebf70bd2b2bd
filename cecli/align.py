"""Two row streams in lock step: frames of predictions and labels covering the same rows.

A predictions file and a labels file are read in frames of their own sizes;
:func:`_lockstep` cuts the labels' frames to the predictions' and pairs them,
and names both files, with their row counts, as soon as one runs out first.
:func:`shard_pairs` does it shard by shard for two inputs of many files, so a
pair of shards that disagree is named, even when the totals agree.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np

from cecli._column import join
from cecli.errors import InputError
from cecli.readers import Frame, Source
from cecli.readers.shards import ShardedSource


class _Rows:
    """Frames of a source, handed out a given number of rows at a time."""

    def __init__(self, frames: Iterator[Frame]) -> None:
        self._frames = frames
        self._pending: list[Frame] = []
        self._buffered = 0
        self.consumed = 0

    def take(self, n: int) -> Frame | None:
        """The next ``n`` rows (fewer if the source ends first; None if it has ended)."""
        while self._buffered < n:
            frame = next(self._frames, None)
            if frame is None:
                break
            if frame.n_rows:
                self._pending.append(frame)
                self._buffered += frame.n_rows
        if not self._buffered:
            return None
        n = min(n, self._buffered)
        parts: list[dict[str, np.ndarray]] = []
        need = n
        while need:
            head = self._pending[0]
            if head.n_rows <= need:
                parts.append(head.columns)
                need -= head.n_rows
                self._pending.pop(0)
            else:
                parts.append({k: v[:need] for k, v in head.columns.items()})
                self._pending[0] = Frame(
                    head.first_row + need,
                    head.n_rows - need,
                    {k: v[need:] for k, v in head.columns.items()},
                )
                need = 0
        self._buffered -= n
        columns = (
            parts[0] if len(parts) == 1 else {k: join([p[k] for p in parts]) for k in parts[0]}
        )
        frame = Frame(self.consumed, n, columns)
        self.consumed += n
        return frame

    def count_rest(self) -> int:
        rest = self._buffered
        for frame in self._frames:
            rest += frame.n_rows
        return self.consumed + rest


def _lockstep(
    preds: Source, pred_frames: Iterator[Frame], labels: Source, label_frames: Iterator[Frame]
) -> Iterator[tuple[Frame, Frame]]:
    """Pairs of frames covering the same rows; an error as soon as one file runs out."""
    label_rows = _Rows(label_frames)
    n_preds = 0
    for frame in pred_frames:
        if not frame.n_rows:
            continue
        partner = label_rows.take(frame.n_rows)
        n_preds += frame.n_rows
        if partner is None or partner.n_rows < frame.n_rows:
            n_preds += sum(rest.n_rows for rest in pred_frames)
            _mismatch(preds, n_preds, labels, label_rows.consumed)
        yield frame, partner
    if label_rows.take(1) is not None:
        _mismatch(preds, n_preds, labels, label_rows.count_rest())


def _mismatch(preds: Source, n_preds: int, labels: Source, n_labels: int) -> None:
    hint = ""
    if abs(n_preds - n_labels) == 1:
        longer, shorter = (preds, labels) if n_preds > n_labels else (labels, preds)
        hints = []
        if longer.header_option and not longer.named:
            hints.append(f"if the first line of {longer.display} is a header, pass --header")
        if shorter.header_option and shorter.named:
            hints.append(
                f"if the first line of {shorter.display} is data, not a header, pass --no-header"
            )
        if hints:
            hint = " They differ by one row: " + "; ".join(hints) + "."
    raise InputError(
        labels.display,
        f"has {n_labels} rows but {preds.display} has {n_preds}; the predictions and the "
        "labels must describe the same samples, one row each, in the same order." + hint,
    )


def shard_pairs(
    preds: Source,
    labels: Source,
    rows: int,
    want_preds: list[str],
    want_labels: list[str],
    stacked: list[str] | None,
) -> Iterator[tuple[Frame, Frame]]:
    """Frames of two sharded inputs in lockstep shard by shard: a mismatch names both shards."""
    assert isinstance(preds, ShardedSource)
    assert isinstance(labels, ShardedSource)
    pred_shards = preds.shard_frames(rows, want_preds, stacked=stacked)
    label_shards = labels.shard_frames(rows, want_labels)
    with contextlib.closing(pred_shards), contextlib.closing(label_shards):
        yield from _pairs_of_shards(preds, labels, pred_shards, label_shards)


def _pairs_of_shards(
    preds: ShardedSource,
    labels: ShardedSource,
    pred_shards: Iterator[tuple[Source | None, Iterator[Frame]]],
    label_shards: Iterator[tuple[Source | None, Iterator[Frame]]],
) -> Iterator[tuple[Frame, Frame]]:
    for (pred_shard, pred_frames), (label_shard, label_frames) in zip(
        pred_shards, label_shards, strict=True
    ):
        if pred_shard is None or label_shard is None:  # an empty shard: its partner must be too
            rest = sum(f.n_rows for f in (label_frames if pred_shard is None else pred_frames))
            if rest:
                i = len(preds.shards.starts) - 1
                _mismatch(
                    pred_shard or _Named(preds.paths[i]),
                    0 if pred_shard is None else rest,
                    label_shard or _Named(labels.paths[i]),
                    0 if label_shard is None else rest,
                )
            continue
        yield from _lockstep(pred_shard, pred_frames, label_shard, label_frames)


class _Named(Source):
    """An empty shard, as a mismatch names it."""

    def __init__(self, path: str) -> None:
        self.display = path
        self.fields = []
