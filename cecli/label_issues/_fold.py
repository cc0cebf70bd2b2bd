"""Confident learning as a fold of passes over the same chunks, each pass mergeable.

1. **Thresholds**: per class, the number of rows labelled with it and the
   sum of the probability the model gives it over those rows (2K numbers).
2. **Confident joint**: with the thresholds fixed, each row is counted at
   (given class, the class it confidently belongs to), cleanlab's rule: the
   classes whose probability is at least their threshold less 1e-6, and of
   several the most probable. Held as its nonzero pairs (at most rows + K).
3. **Rows**: with the prune counts fixed (the joint calibrated and made
   into whole rows, see :mod:`._joint`), for each (given k, true j) pair
   the ``n`` rows labelled k with the largest margin ``p_j - p_k``; of
   those, the rows whose given label is not the most probable (with 1e-6
   of slack, cleanlab's ``_reduce_issues``) are the label issues. Only a
   margin above 1e-6 can make a row an issue of its own pair, so this pass
   looks at those alone: the classes more probable than the row's label.
4. **Rows, again**, only when a pair has fewer such rows than its ``n``:
   cleanlab then takes rows of smaller margins too (a row more probable in
   a third class may be among them), and this pass takes them, for those
   pairs only. It was needed on 10 of the 36 evaluation sets of
   ``benchmarks/bench_label_issues.py``.

Passes 3 and 4 keep at most ``n`` rows per pair: the sum of the prune
counts, known when the pass starts (about the number of issues), plus one
chunk's candidates, 49 bytes each.

The chosen rows are those of cleanlab's ``filter.find_label_issues`` with
its defaults (``prune_by_noise_rate``), except where two rows tie on
``p_j - p_k`` at a pair's cut: cleanlab's unstable ``argsort`` picks one,
this fold the earlier row. Thresholds are float64 sums, so two folds over
halves merged may differ from one fold in the last bit of a threshold.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from numpy.typing import ArrayLike, NDArray

from cecli.errors import LabelError, OptionError, ShapeError
from cecli.label_issues import _joint
from cecli.label_issues._joint import TOLERANCE, Joint
from cecli.label_issues._result import LabelIssueResult

#: Label-quality scores a result can be ranked by (lower: more likely a wrong label).
RANK_BY = ("self_confidence", "normalized_margin")
#: Values (rows x classes) of probabilities worked on at a time: bounds each pass's temporaries.
BLOCK_VALUES = 1 << 20
#: Entries the row pass holds before it drops those that can no longer be chosen.
_PENDING = 1 << 16
_ENTRY_FIELDS = ("pair", "margin", "row", "wrong", "p_given", "suggested", "p_suggested")


def _softmax(logits: NDArray) -> NDArray:
    z = logits - logits.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True, dtype=np.float64).astype(z.dtype, copy=False)
    return z


def _blocks(
    labels: NDArray[np.intp], preds: NDArray, from_logits: bool
) -> Iterator[tuple[int, NDArray[np.intp], NDArray]]:
    """(offset, labels, probabilities) in blocks of about :data:`BLOCK_VALUES` values."""
    n, k = preds.shape
    step = max(1, BLOCK_VALUES // max(k, 1))
    for lo in range(0, n, step):
        block = preds[lo : lo + step]
        yield lo, labels[lo : lo + step], _softmax(block) if from_logits else block


def _at_least(cut: NDArray[np.float64], dtype: np.dtype) -> NDArray:
    """The least values of ``dtype`` at or above ``cut``: ``p >= them`` is ``p >= cut``, exactly."""
    if dtype == np.float64:
        return cut
    narrow = cut.astype(dtype)
    return np.where(narrow < cut, np.nextafter(narrow, np.inf, dtype=dtype), narrow)


def _wrong(probs: NDArray, labels: NDArray[np.intp]) -> NDArray[np.bool_]:
    """Rows whose label is not the most probable class even with 1e-6 added (``_reduce_issues``)."""
    bumped = probs.copy()
    bumped[np.arange(len(labels)), labels] += TOLERANCE  # in the probabilities' type, as cleanlab
    return bumped.argmax(axis=1) != labels


class LabelIssues:
    """Confident learning over chunks of rows: a fold of three or four passes, each mergeable.

    Feed every chunk with :meth:`add` (or :meth:`add_view`) and merge the
    folds of other rows with :meth:`merge`; then, while
    :attr:`needs_another_pass`, :meth:`next_pass` gives the (empty) fold of
    the next pass, to be fed the same rows again, in any chunks; at the end,
    :meth:`result`. A merge changes only ``self``.

    Parameters
    ----------
    n_classes : int
        The number of classes K; labels are 0 .. K-1.
    from_logits : bool, default=False
        Whether :meth:`add` is given logits (a softmax is taken) or probabilities.
    rank_by : {"self_confidence", "normalized_margin"}
        The label-quality score the issues are ranked by: ``p_given``, or
        ``(p_given - max other p + 1) / 2``. Self-confidence put the planted
        errors first more often (mean average precision 0.895 against 0.872,
        the better on 29 of 36 sets of ``benchmarks/bench_label_issues.py``).

    Examples
    --------
    >>> import numpy as np
    >>> from cecli.label_issues import LabelIssues
    >>> labels = np.array([0, 0, 0, 1, 1, 1])
    >>> probs = np.array([[.9, .1], [.8, .2], [.1, .9], [.2, .8], [.3, .7], [.9, .1]])
    >>> fold = LabelIssues(2)
    >>> while True:
    ...     fold.add(labels[:3], probs[:3], first_row=0)
    ...     fold.add(labels[3:], probs[3:], first_row=3)
    ...     if not fold.needs_another_pass:
    ...         break
    ...     fold = fold.next_pass()
    >>> result = fold.result()
    >>> fold.pass_number, result.rows.tolist(), result.suggested.tolist()
    (3, [2, 5], [1, 0])
    >>> result.thresholds.round(2).tolist(), result.estimated_issues
    ([0.6, 0.53], 2)
    """

    def __init__(
        self, n_classes: int, *, from_logits: bool = False, rank_by: str = "self_confidence"
    ) -> None:
        if rank_by not in RANK_BY:
            raise OptionError(f"rank_by must be one of {', '.join(RANK_BY)}, not {rank_by!r}.")
        if int(n_classes) < 1:
            raise OptionError(f"n_classes must be at least 1, not {n_classes}.")
        self.n_classes, self.from_logits, self.rank_by = int(n_classes), bool(from_logits), rank_by
        self.pass_number = 1
        k = self.n_classes
        self.label_counts = np.zeros(k, dtype=np.int64)
        self.sums = np.zeros(k)  # pass 1: the probability of each row's label, per class
        self._thresholds: NDArray[np.float64] | None = None  # fixed from pass 2 on
        self._keys: list[NDArray[np.int64]] = []  # pass 2: given * K + confident class
        self._counts: list[NDArray[np.int64]] = []
        self.estimated_issues = 0
        self._joint: Joint | None = None  # fixed from pass 3 on
        self._calibrated: Joint | None = None
        self._pairs = Joint(k, *(np.zeros(0, np.int64),) * 3)  # the prune counts
        self._pair_keys = np.zeros(0, dtype=np.int64)  # given * K + true of each pair
        self._above = np.zeros(0, dtype=np.int64)  # pass 3: rows of each pair above 1e-6
        self._quota = np.zeros(0, dtype=np.int64)  # rows each pair takes in this pass
        self._open = np.zeros(0, dtype=np.int64)  # pass 4: the pairs it takes rows for
        self._open_start = np.zeros(k + 1, dtype=np.int64)
        self._cut = np.zeros(0)
        self._kept: dict[str, NDArray] | None = None
        self._pending: list[dict[str, NDArray]] = []
        self._pending_size = 0
        self._settled: dict[str, NDArray] | None = None  # pass 4: what pass 3 kept

    # -- feeding -----------------------------------------------------------------------

    def add(
        self,
        labels: ArrayLike,
        preds: ArrayLike,
        *,
        first_row: int = 0,
        ids: ArrayLike | None = None,
        row_numbers: NDArray[np.int64] | None = None,
        shown: tuple[NDArray, ...] | None = None,
    ) -> None:
        """Add one chunk: its labels (N), its predictions (N x K), its first row, its ids.

        ``row_numbers`` number the rows when they are not ``first_row`` and on
        (rows left out by ``ignore_index`` between them). ``shown`` holds the
        rows' values of the ``--show`` columns (N each): the rows that may be
        issues keep theirs as text (:func:`cecli.shown.value_matrix`).
        """
        labels, preds = self._checked(labels, preds)
        if self.pass_number == 1:
            for _, y, p in _blocks(labels, preds, self.from_logits):
                p_given = p[np.arange(len(y)), y]
                self.sums += np.bincount(y, weights=p_given, minlength=self.n_classes)
                self.label_counts += np.bincount(y, minlength=self.n_classes)
        elif self.pass_number == 2:
            self._add_joint(labels, preds)
        else:
            ids = None if ids is None else np.asarray(ids)
            self._add_rows(labels, preds, int(first_row), ids, row_numbers, shown)

    def add_view(self, view) -> None:  # type: ignore[no-untyped-def]
        """Add one checked :class:`~cecli.view.ChunkView` (categorical)."""
        if view.kind != "categorical" or view.from_logits != self.from_logits:
            raise OptionError(
                f"A label-issue fold of {'logits' if self.from_logits else 'probabilities'} "
                f"takes categorical views of the same, not a {view.kind} view."
            )
        self.add(
            view.labels,
            view.preds,
            first_row=view.first_row,
            ids=view.ids,
            row_numbers=view.scores.row_numbers,
            shown=view.show_values,
        )

    def _checked(self, labels: ArrayLike, preds: ArrayLike) -> tuple[NDArray[np.intp], NDArray]:
        preds = np.asarray(preds)
        if preds.dtype.kind != "f" or preds.dtype.itemsize < 4:
            preds = preds.astype(np.float64)
        labels = np.asarray(labels)
        if preds.ndim != 2 or preds.shape[1] != self.n_classes or labels.shape != preds.shape[:1]:
            raise ShapeError(
                f"Expected {len(labels)} labels and {len(labels)} x {self.n_classes} "
                f"predictions, got labels of shape {labels.shape} and predictions of "
                f"shape {preds.shape}."
            )
        if len(labels) and (labels.min() < 0 or labels.max() >= self.n_classes):
            raise LabelError(f"Labels must be classes 0 to {self.n_classes - 1}.")
        return labels.astype(np.intp, copy=False), preds

    def _add_joint(self, labels: NDArray[np.intp], preds: NDArray) -> None:
        assert self._thresholds is not None
        cut = _at_least(self._thresholds - TOLERANCE, preds.dtype)
        for _, y, p in _blocks(labels, preds, self.from_logits):
            confident = p >= cut
            n_confident = confident.sum(axis=1)
            # cleanlab's rule: the confident class, or the most probable of several
            guess = np.where(n_confident > 1, p.argmax(axis=1), confident.argmax(axis=1))
            counted = n_confident > 0
            keys, counts = _joint.sum_by_key(
                (y * self.n_classes + guess)[counted].astype(np.int64),
                np.ones(int(counted.sum()), np.int64),
            )
            self._keys.append(keys)
            self._counts.append(counts)
            self.estimated_issues += int((counted & (guess != y) & _wrong(p, y)).sum())
        if len(self._keys) > 64:
            self._compact_joint()

    def _compact_joint(self) -> None:
        empty = [np.zeros(0, np.int64)]
        keys, counts = np.concatenate(self._keys + empty), np.concatenate(self._counts + empty)
        self._keys, self._counts = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
        self._keys[0], self._counts[0] = _joint.sum_by_key(keys, counts)

    def _add_rows(
        self,
        labels: NDArray[np.intp],
        preds: NDArray,
        first_row: int,
        ids: NDArray | None,
        row_numbers: NDArray[np.int64] | None = None,
        shown: tuple[NDArray, ...] | None = None,
    ) -> None:
        k = self.n_classes
        if not self._quota.any():
            return  # no pair takes rows in this pass
        for lo, y, p in _blocks(labels, preds, self.from_logits):
            b = np.arange(len(y))
            p_given = p[b, y]
            if self.pass_number == 3:
                # the classes more probable than the label by more than 1e-6, as cleanlab's margin
                margins = p - p_given[:, None]
                at, true = np.nonzero(margins > TOLERANCE)
                margin = margins[at, true].astype(np.float64)
                del margins
                key = y[at].astype(np.int64) * k + true
                pair = np.minimum(np.searchsorted(self._pair_keys, key), len(self._pair_keys) - 1)
                found = self._pair_keys[pair] == key
                at, pair, margin = at[found], pair[found], margin[found]
                self._above += np.bincount(pair, minlength=len(self._above))
            else:
                # every row of a class with an open pair, at or below 1e-6 (pass 3 took the rest)
                many = np.diff(self._open_start)[y]
                at = np.repeat(b, many)
                offsets = np.repeat(np.cumsum(many) - many, many)
                local = np.repeat(self._open_start[y], many) + np.arange(len(at)) - offsets
                pair = self._open[local]
                margin = (p[at, self._pairs.true[pair]] - p_given[at]).astype(np.float64)
                at, pair, margin = (x[margin <= TOLERANCE] for x in (at, pair, margin))
            keep = margin >= self._cut[pair]
            if not keep.any():
                continue
            at, pair, margin = at[keep], pair[keep], margin[keep]
            suggested = p.argmax(axis=1)
            entries = {
                "pair": pair,
                "margin": margin,
                "row": first_row + lo + at.astype(np.int64)
                if row_numbers is None
                else row_numbers[lo + at],
                "wrong": _wrong(p, y)[at],
                "p_given": p_given.astype(np.float64)[at],
                "suggested": suggested[at].astype(np.int64),
                "p_suggested": p[b, suggested].astype(np.float64)[at],
            }
            if ids is not None:
                entries["id"] = ids[lo : lo + len(y)][at]
            if shown is not None:
                from cecli.shown import value_matrix

                entries["shown"] = value_matrix(shown, lo + at)
            self._hold(entries)

    def _hold(self, entries: dict[str, NDArray]) -> None:
        self._pending.append(entries)
        self._pending_size += len(entries["pair"])
        kept = 0 if self._kept is None else len(self._kept["pair"])
        if self._pending_size > max(kept, _PENDING):
            self._compact_rows()

    def _compact_rows(self) -> None:
        """Keep of every pair its quota of entries, the largest margins (ties: earlier row)."""
        parts = ([] if self._kept is None else [self._kept]) + self._pending
        self._pending, self._pending_size = [], 0
        if not parts:
            return
        columns = _concatenate(parts)
        order = np.lexsort((columns["row"], -columns["margin"], columns["pair"]))
        pair = columns["pair"][order]
        rank = np.arange(len(pair)) - np.searchsorted(pair, pair)
        order = order[rank < self._quota[pair]]
        self._kept = {name: column[order] for name, column in columns.items()}
        pair, margin = self._kept["pair"], self._kept["margin"]
        full = np.bincount(pair, minlength=len(self._cut)) >= self._quota
        # a pair that holds its quota takes no new row below its last margin
        last = np.maximum(np.searchsorted(pair, np.arange(len(self._cut)), side="right") - 1, 0)
        held = margin[last] if len(pair) else np.full(len(last), np.inf)
        self._cut = np.where(self._quota == 0, np.inf, np.where(full, held, -np.inf))

    # -- merging and moving on -------------------------------------------------------

    def merge(self, other: LabelIssues) -> LabelIssues:
        """Add the state of a fold over other rows (in place); return self."""
        if (other.n_classes, other.pass_number, other.from_logits) != (
            self.n_classes,
            self.pass_number,
            self.from_logits,
        ):
            raise OptionError("Only label-issue folds of the same classes and pass can be merged.")
        if self.pass_number > 1 and not np.array_equal(self._thresholds, other._thresholds):
            raise OptionError("Only label-issue folds with the same thresholds can be merged.")
        if self.pass_number > 2 and not np.array_equal(self._quota, other._quota):
            raise OptionError("Only label-issue folds with the same prune counts can be merged.")
        if self.pass_number == 1:
            self.sums += other.sums
            self.label_counts += other.label_counts
        elif self.pass_number == 2:
            self._keys += other._keys
            self._counts += other._counts
            self.estimated_issues += other.estimated_issues
        else:
            if self.pass_number == 3:
                self._above += other._above
            # their arrays are never written to, only replaced: sharing them is safe
            for part in ([] if other._kept is None else [other._kept]) + other._pending:
                self._pending.append(part)
                self._pending_size += len(part["pair"])
            self._compact_rows()
        return self

    @property
    def needs_another_pass(self) -> bool:
        """Whether :meth:`next_pass` is to be fed the rows again before :meth:`result`."""
        if self.pass_number < 3:
            return True
        return self.pass_number == 3 and bool((self._above < self._pairs.count).any())

    def thresholds(self) -> NDArray[np.float64]:
        """The per-class thresholds: from the sums so far in pass 1, fixed after."""
        if self._thresholds is not None:
            return self._thresholds.copy()
        return _joint.thresholds(self.sums, self.label_counts)

    def next_pass(self) -> LabelIssues:
        """A new, empty fold of the next pass, with what this pass found fixed."""
        if not self.needs_another_pass:
            raise OptionError(f"Pass {self.pass_number} of this label-issue fold is its last.")
        nxt = LabelIssues(self.n_classes, from_logits=self.from_logits, rank_by=self.rank_by)
        nxt.pass_number = self.pass_number + 1
        nxt.label_counts, nxt.sums = self.label_counts.copy(), self.sums.copy()
        nxt._thresholds = self.thresholds()
        nxt.estimated_issues = self.estimated_issues
        nxt._joint, nxt._calibrated, nxt._pairs = self._joint, self._calibrated, self._pairs
        nxt._pair_keys = self._pair_keys
        if self.pass_number == 2:
            self._compact_joint()
            nxt._joint = Joint.from_keys(self.n_classes, self._keys[0], self._counts[0])
            nxt._calibrated = _joint.calibrate(nxt._joint, self.label_counts)
            pairs = _joint.prune_counts(nxt._calibrated)
            # cleanlab prunes nothing of a class of one row (min_examples_per_class=1)
            keep = self.label_counts[pairs.given] > 1
            nxt._pairs = Joint(
                self.n_classes, pairs.given[keep], pairs.true[keep], pairs.count[keep]
            )
            nxt._pair_keys = nxt._pairs.given * self.n_classes + nxt._pairs.true
            nxt._quota = nxt._pairs.count
            nxt._above = np.zeros(len(nxt._quota), dtype=np.int64)
        elif self.pass_number == 3:
            self._compact_rows()
            nxt._settled, nxt._above = self._kept, self._above.copy()
            nxt._quota = np.maximum(self._pairs.count - self._above, 0)
            nxt._open = np.flatnonzero(nxt._quota)
            given = self._pairs.given[nxt._open]
            nxt._open_start = np.searchsorted(given, np.arange(self.n_classes + 1))
        nxt._cut = np.full(len(nxt._quota), -np.inf)
        return nxt

    def result(self) -> LabelIssueResult:
        """The label issues found, worst first (after the last pass)."""
        if self.needs_another_pass:
            raise OptionError(
                f"The label issues are not known after pass {self.pass_number}: "
                "feed the rows to next_pass() again."
            )
        self._compact_rows()
        assert self._joint is not None
        assert self._calibrated is not None
        parts = [part for part in (self._settled, self._kept) if part is not None]
        kept = _concatenate(parts) if parts else {f: np.zeros(0) for f in _ENTRY_FIELDS}
        wrong = kept["wrong"].astype(bool)
        _, first = np.unique(kept["row"][wrong], return_index=True)
        facts = {name: column[wrong][first] for name, column in kept.items()}
        p_given, p_suggested = facts["p_given"], facts["p_suggested"]
        # for a wrong row the most probable other class is the most probable class
        margin = (p_given - p_suggested + 1) / 2
        scores = p_given if self.rank_by == "self_confidence" else margin
        order = np.lexsort((facts["row"], scores))
        return LabelIssueResult(
            n_samples=int(self.label_counts.sum()),
            rank_by=self.rank_by,
            thresholds=self.thresholds(),
            label_counts=self.label_counts.copy(),
            confident_joint=self._joint,
            calibrated_joint=self._calibrated,
            prune_counts=self._pairs,
            estimated_issues=self.estimated_issues,
            rows=facts["row"][order].astype(np.int64),
            labels=self._pairs.given[facts["pair"][order].astype(np.intp)],
            suggested=facts["suggested"][order].astype(np.int64),
            p_given=p_given[order],
            p_suggested=p_suggested[order],
            scores=scores[order],
            ids=facts["id"][order] if "id" in facts else None,
            shown=facts["shown"][order] if "shown" in facts else None,
        )


def _concatenate(parts: list[dict[str, NDArray]]) -> dict[str, NDArray]:
    """The entries of several parts as one; a part given without ids gets None for them."""
    optional = tuple(name for name in ("id", "shown") if any(name in part for part in parts))
    width = next((part["shown"].shape[1] for part in parts if "shown" in part), 0)
    none = {
        "id": lambda n: np.full(n, None, dtype=object),
        "shown": lambda n: np.full((n, width), None, dtype=object),
    }
    fields = _ENTRY_FIELDS + optional
    return {
        name: np.concatenate(
            [part[name] if name in part else none[name](len(part["pair"])) for part in parts]
        )
        for name in fields
    }


def find_label_issues(
    labels: ArrayLike,
    preds: ArrayLike,
    *,
    from_logits: bool = False,
    rank_by: str = "self_confidence",
    chunk_rows: int = 65_536,
) -> LabelIssueResult:
    """Confident learning over arrays in memory: every pass of :class:`LabelIssues`.

    Examples
    --------
    >>> from cecli.label_issues import find_label_issues
    >>> result = find_label_issues([0, 0, 1, 1], [[.9, .1], [.2, .8], [.1, .9], [.3, .7]])
    >>> result.rows.tolist(), result.labels.tolist(), result.suggested.tolist()
    ([1], [0], [1])
    """
    labels, preds = np.asarray(labels), np.asarray(preds)
    if preds.ndim != 2:
        raise ShapeError(f"Expected N x K predictions, got shape {preds.shape}.")
    fold = LabelIssues(preds.shape[1], from_logits=from_logits, rank_by=rank_by)
    while True:
        for lo in range(0, max(len(labels), 1), chunk_rows):
            fold.add(labels[lo : lo + chunk_rows], preds[lo : lo + chunk_rows], first_row=lo)
        if not fold.needs_another_pass:
            return fold.result()
        fold = fold.next_pass()
