"""Confident learning as a fold of three passes over the same chunks, each pass mergeable.

1. **Thresholds**: per class, the number of rows labelled with it and the
   sum of the probability the model gives it over those rows (2K numbers).
2. **Confident joint**: with the thresholds fixed, each row is counted at
   (given class, the class it confidently belongs to), cleanlab's rule: the
   classes whose probability is at least their threshold less 1e-6, and of
   several the most probable. Held as its nonzero pairs (at most rows + K).
3. **Rows**: with the prune counts fixed (the joint calibrated and made
   into whole rows, see :mod:`._joint`), for each (given k, true j) pair
   the ``n`` rows labelled k with the largest ``p_j - p_k``; of those, the
   rows whose given label is not the most probable (with 1e-6 of slack,
   cleanlab's ``_reduce_issues``) are the label issues. It keeps at most
   ``n`` rows per pair: the sum of the prune counts, known when the pass
   starts (about the number of issues), plus one chunk's candidates.

The chosen rows are those of cleanlab's ``filter.find_label_issues`` with
its defaults (``prune_by_noise_rate``), except where two rows tie on
``p_j - p_k`` at a pair's cut: cleanlab's unstable ``argsort`` picks one,
this fold the earlier row. Thresholds are float64 sums, so two folds over
halves merged may differ from one fold in the last bit of a threshold.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from cecli.errors import LabelError, OptionError, ShapeError
from cecli.label_issues import _joint
from cecli.label_issues._joint import TOLERANCE, Joint

#: Label-quality scores a result can be ranked by (lower: more likely a wrong label).
RANK_BY = ("normalized_margin", "self_confidence")
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


@dataclass(frozen=True)
class LabelIssueResult:
    """What confident learning found: the likely label errors, worst first, and its estimates.

    ``rows`` are 0-based rows of the whole input; ``labels`` their given
    classes, ``suggested`` the most probable class and ``p_suggested`` its
    probability, ``p_given`` the given class's, ``scores`` the label-quality
    score they are ranked by (lower: worse). ``ids`` are the rows' ids when
    the chunks had ids. ``estimated_issues`` is cleanlab's
    ``count.num_label_issues`` (rows off the diagonal of the uncalibrated
    joint whose label is not the most probable); ``n_issues`` the rows found.
    """

    n_samples: int
    rank_by: str
    thresholds: NDArray[np.float64]
    label_counts: NDArray[np.int64]
    confident_joint: Joint
    calibrated_joint: Joint
    prune_counts: Joint
    estimated_issues: int
    rows: NDArray[np.int64]
    labels: NDArray[np.int64]
    suggested: NDArray[np.int64]
    p_given: NDArray[np.float64]
    p_suggested: NDArray[np.float64]
    scores: NDArray[np.float64]
    ids: NDArray | None = None

    @property
    def n_issues(self) -> int:
        return len(self.rows)

    def noise_matrix(self) -> NDArray[np.float64]:
        """P(given = i | true = j) as a dense K x K array (see :func:`._joint.noise_matrix`)."""
        if self.calibrated_joint.n_classes > _joint.DENSE_CLASSES:
            raise OptionError(
                f"The noise matrix of {self.calibrated_joint.n_classes:,} classes is not kept "
                f"dense (at most {_joint.DENSE_CLASSES:,}); read calibrated_joint's entries."
            )
        return _joint.noise_matrix(self.calibrated_joint)

    def confused_pairs(self) -> list[tuple[int, int, int]]:
        """(given, suggested, rows) of the issues found, the most frequent pair first."""
        keys, counts = _joint.sum_by_key(
            self.labels * len(self.thresholds) + self.suggested, np.ones(len(self.rows), np.int64)
        )
        order = np.lexsort((keys, -counts))
        k = len(self.thresholds)
        return [(int(key // k), int(key % k), int(c)) for key, c in zip(keys[order], counts[order])]


class LabelIssues:
    """Confident learning over chunks of rows: a fold of three passes, each mergeable.

    Feed every chunk with :meth:`add` (or :meth:`add_view`), merge the folds
    of other rows with :meth:`merge`, then :meth:`next_pass` gives the fold
    of the next pass, to be fed the same rows again; after the third,
    :meth:`result`. A merge changes only ``self``.

    Parameters
    ----------
    n_classes : int
        The number of classes K; labels are 0 .. K-1.
    from_logits : bool, default=False
        Whether :meth:`add` is given logits (a softmax is taken) or probabilities.
    rank_by : {"normalized_margin", "self_confidence"}
        The label-quality score the issues are ranked by: ``(p_given -
        max other p + 1) / 2``, or ``p_given``.

    Examples
    --------
    >>> import numpy as np
    >>> from cecli.label_issues import LabelIssues
    >>> labels = np.array([0, 0, 0, 1, 1, 1])
    >>> probs = np.array([[.9, .1], [.8, .2], [.1, .9], [.2, .8], [.3, .7], [.9, .1]])
    >>> fold = LabelIssues(2)
    >>> for pass_number in (1, 2, 3):
    ...     if pass_number > 1:
    ...         fold = fold.next_pass()
    ...     fold.add(labels[:3], probs[:3], first_row=0)
    ...     fold.add(labels[3:], probs[3:], first_row=3)
    >>> result = fold.result()
    >>> result.rows.tolist(), result.suggested.tolist(), result.thresholds.round(2).tolist()
    ([2, 5], [1, 0], [0.6, 0.53])
    """

    passes = 3

    def __init__(
        self, n_classes: int, *, from_logits: bool = False, rank_by: str = "normalized_margin"
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
        self._joint: Joint | None = None  # fixed in pass 3
        self._calibrated: Joint | None = None
        self._pairs: Joint | None = None
        self._pair_start = np.zeros(k + 1, dtype=np.int64)
        self._cut = np.zeros(0)
        self._kept: dict[str, NDArray] | None = None
        self._pending: list[dict[str, NDArray]] = []
        self._pending_size = 0

    # -- feeding -----------------------------------------------------------------------

    def add(
        self,
        labels: ArrayLike,
        preds: ArrayLike,
        *,
        first_row: int = 0,
        ids: ArrayLike | None = None,
    ) -> None:
        """Add one chunk: its labels (N), its predictions (N x K), its first row, its ids."""
        labels, preds = self._checked(labels, preds)
        if self.pass_number == 1:
            for _, y, p in _blocks(labels, preds, self.from_logits):
                p_given = p[np.arange(len(y)), y]
                self.sums += np.bincount(y, weights=p_given, minlength=self.n_classes)
                self.label_counts += np.bincount(y, minlength=self.n_classes)
        elif self.pass_number == 2:
            self._add_joint(labels, preds)
        else:
            self._add_rows(labels, preds, int(first_row), None if ids is None else np.asarray(ids))

    def add_view(self, view) -> None:  # type: ignore[no-untyped-def]
        """Add one checked :class:`~cecli.view.ChunkView` (categorical)."""
        if view.kind != "categorical" or view.from_logits != self.from_logits:
            raise OptionError(
                f"A label-issue fold of {'logits' if self.from_logits else 'probabilities'} "
                f"takes categorical views of the same, not a {view.kind} view."
            )
        self.add(view.labels, view.preds, first_row=view.first_row, ids=view.ids)

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
        keys, counts = _joint.sum_by_key(np.concatenate(self._keys), np.concatenate(self._counts))
        self._keys, self._counts = [keys], [counts]

    def _add_rows(
        self, labels: NDArray[np.intp], preds: NDArray, first_row: int, ids: NDArray | None
    ) -> None:
        pairs = self._pairs
        assert pairs is not None
        per_class = np.diff(self._pair_start)
        for lo, y, p in _blocks(labels, preds, self.from_logits):
            b = np.arange(len(y))
            many = per_class[y]
            at = np.repeat(b, many)  # one entry per (row, pair of the row's label)
            if len(at) == 0:
                continue
            offsets = np.repeat(np.cumsum(many) - many, many)
            pair = np.repeat(self._pair_start[y], many) + np.arange(len(at)) - offsets
            margin = (p[at, pairs.true[pair]] - p[at, y[at]]).astype(np.float64)
            keep = margin >= self._cut[pair]
            at, pair, margin = at[keep], pair[keep], margin[keep]
            suggested = p.argmax(axis=1)
            entries = {
                "pair": pair,
                "margin": margin,
                "row": first_row + lo + at.astype(np.int64),
                "wrong": _wrong(p, y)[at],
                "p_given": p[b, y].astype(np.float64)[at],
                "suggested": suggested[at].astype(np.int64),
                "p_suggested": p[b, suggested].astype(np.float64)[at],
            }
            if ids is not None:
                entries["id"] = ids[lo : lo + len(y)][at]
            self._hold(entries)

    def _hold(self, entries: dict[str, NDArray]) -> None:
        self._pending.append(entries)
        self._pending_size += len(entries["pair"])
        kept = 0 if self._kept is None else len(self._kept["pair"])
        if self._pending_size > max(kept, _PENDING):
            self._compact_rows()

    def _compact_rows(self) -> None:
        """Keep of every pair the ``n`` entries with the largest margins (ties: earlier row)."""
        assert self._pairs is not None
        parts = ([] if self._kept is None else [self._kept]) + self._pending
        self._pending, self._pending_size = [], 0
        if not parts:
            return
        with_ids = any("id" in part for part in parts)
        fields = _ENTRY_FIELDS + (("id",) if with_ids else ())
        columns = {
            name: np.concatenate([_field(part, name) for part in parts]) for name in fields
        }
        order = np.lexsort((columns["row"], -columns["margin"], columns["pair"]))
        pair = columns["pair"][order]
        rank = np.arange(len(pair)) - np.searchsorted(pair, pair)
        order = order[rank < self._pairs.count[pair]]
        self._kept = {name: column[order] for name, column in columns.items()}
        pair, margin = self._kept["pair"], self._kept["margin"]
        full = np.bincount(pair, minlength=len(self._cut)) == self._pairs.count
        # a pair that holds its n rows takes no new row below its n-th margin
        last = np.searchsorted(pair, np.arange(len(self._cut)), side="right") - 1
        self._cut = np.where(full, margin[np.maximum(last, 0)] if len(pair) else 0.0, -np.inf)

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
        if self.pass_number == 1:
            self.sums += other.sums
            self.label_counts += other.label_counts
        elif self.pass_number == 2:
            self._keys += other._keys
            self._counts += other._counts
            self.estimated_issues += other.estimated_issues
        else:
            assert self._pairs is not None and other._pairs is not None
            if not np.array_equal(self._pairs.count, other._pairs.count):
                raise OptionError("Only label-issue folds with the same prune counts can be merged.")
            theirs = ([] if other._kept is None else [other._kept]) + other._pending
            for part in theirs:
                self._pending.append(part)  # arrays are never written to, only replaced
                self._pending_size += len(part["pair"])
            self._compact_rows()
        return self

    def thresholds(self) -> NDArray[np.float64]:
        """The per-class thresholds: from the sums so far in pass 1, fixed after."""
        if self._thresholds is not None:
            return self._thresholds.copy()
        return _joint.thresholds(self.sums, self.label_counts)

    def next_pass(self) -> LabelIssues:
        """A new, empty fold of the next pass, with what this pass found fixed."""
        if self.pass_number >= self.passes:
            raise OptionError("A label-issue fold has three passes; the third is the last.")
        nxt = LabelIssues(self.n_classes, from_logits=self.from_logits, rank_by=self.rank_by)
        nxt.pass_number = self.pass_number + 1
        nxt.label_counts = self.label_counts.copy()
        nxt.sums = self.sums.copy()
        nxt._thresholds = self.thresholds()
        if self.pass_number == 2:
            empty = [np.zeros(0, np.int64)]
            keys, counts = np.concatenate(self._keys + empty), np.concatenate(self._counts + empty)
            nxt._joint = Joint.from_keys(self.n_classes, keys, counts)
            nxt._calibrated = _joint.calibrate(nxt._joint, self.label_counts)
            nxt.estimated_issues = self.estimated_issues
            pairs = _joint.prune_counts(nxt._calibrated)
            # cleanlab prunes nothing of a class of one row (min_examples_per_class=1)
            pairs = _select(pairs, self.label_counts[pairs.given] > 1)
            nxt._pairs = pairs
            nxt._pair_start = np.searchsorted(pairs.given, np.arange(self.n_classes + 1))
            nxt._cut = np.full(len(pairs.given), -np.inf)
        return nxt

    def result(self) -> LabelIssueResult:
        """The label issues found, worst first (after the third pass)."""
        if self.pass_number != self.passes:
            raise OptionError(f"The label issues are known after pass 3, not {self.pass_number}.")
        self._compact_rows()
        assert self._joint is not None and self._calibrated is not None
        assert self._pairs is not None
        kept = self._kept or {name: np.zeros(0) for name in _ENTRY_FIELDS}
        wrong = kept["wrong"].astype(bool)
        _, first = np.unique(kept["row"][wrong], return_index=True)
        facts = {name: column[wrong][first] for name, column in kept.items()}
        p_given, p_suggested = facts["p_given"], facts["p_suggested"]
        scores = p_given if self.rank_by == "self_confidence" else (p_given - p_suggested + 1) / 2
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
            labels=self.pair_given(facts["pair"][order]),
            suggested=facts["suggested"][order].astype(np.int64),
            p_given=p_given[order],
            p_suggested=p_suggested[order],
            scores=scores[order],
            ids=facts["id"][order] if "id" in facts else None,
        )

    def pair_given(self, pair: NDArray) -> NDArray[np.int64]:
        assert self._pairs is not None
        return self._pairs.given[pair.astype(np.intp)]


def _field(part: dict[str, NDArray], name: str) -> NDArray:
    if name in part:
        return part[name]
    return np.full(len(part["pair"]), None, dtype=object)  # a chunk given without ids


def _select(joint: Joint, keep: NDArray[np.bool_]) -> Joint:
    return Joint(joint.n_classes, joint.given[keep], joint.true[keep], joint.count[keep])


def find_label_issues(
    labels: ArrayLike,
    preds: ArrayLike,
    *,
    from_logits: bool = False,
    rank_by: str = "normalized_margin",
    chunk_rows: int = 65_536,
) -> LabelIssueResult:
    """Confident learning over arrays in memory: the three passes of :class:`LabelIssues`.

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
    for pass_number in range(1, LabelIssues.passes + 1):
        if pass_number > 1:
            fold = fold.next_pass()
        for lo in range(0, max(len(labels), 1), chunk_rows):
            fold.add(labels[lo : lo + chunk_rows], preds[lo : lo + chunk_rows], first_row=lo)
    return fold.result()
