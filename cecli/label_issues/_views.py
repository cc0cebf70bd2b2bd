"""Confident learning over a scoring run's checked views, for every kind of prediction.

:class:`LabelIssueFold` turns each :class:`~cecli.view.ChunkView` into the
problems confident learning solves, and runs one
:class:`~cecli.label_issues.LabelIssues` per problem, pass by pass:

- **categorical**: one problem of K classes, the given label being the
  target's class (the largest target, for soft targets);
- **binary**: one problem of two classes, ``[1 - p, p]``, the given label 0
  or 1 (a soft target counts as 1 from 0.5 up);
- **multilabel**: one two-class problem per label, as cleanlab's
  ``multilabel_classification.filter.find_label_issues`` does (one-vs-rest):
  a row is a label issue when any of its labels is.

The rows found are those of cleanlab's ``find_label_issues`` with its
defaults, for every kind. Sample and class weights do not change them
(cleanlab has no weights). :meth:`LabelIssueFold.result` reads a
:class:`LabelIssueFindings`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from cecli.errors import OptionError
from cecli.label_issues._fold import LabelIssues
from cecli.label_issues._result import LabelIssueResult


def _sigmoid(z: NDArray) -> NDArray:
    """``1 / (1 + exp(-z))`` in float64, without overflow."""
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))


def _two_class(p: NDArray) -> NDArray:
    """``[1 - p, p]`` in ``p``'s float type, as cleanlab's ``stack_complement``."""
    return np.stack([1 - p, p], axis=1)


class LabelIssueFold:
    """Likely label errors of a scoring run: one confident-learning fold per problem.

    Parameters
    ----------
    kind : {"categorical", "binary", "multilabel"}
    n_classes : int
        Classes (categorical), 1 (binary) or labels (multilabel).
    from_logits : bool
        Whether the views hold logits.
    rank_by : {"self_confidence", "normalized_margin"}
        The label-quality score (see :class:`~cecli.label_issues.LabelIssues`).

    Examples
    --------
    >>> from cecli.label_issues import LabelIssueFold
    >>> from cecli.view import view_of
    >>> labels, probs = [1, 1, 1, 0, 0, 0], [0.9, 0.8, 0.1, 0.2, 0.3, 0.9]
    >>> fold = LabelIssueFold("binary", 1, from_logits=False)
    >>> while True:
    ...     fold.add(view_of("binary", labels, probs))
    ...     if not fold.needs_another_pass:
    ...         break
    ...     fold = fold.next_pass()
    >>> findings = fold.result()
    >>> findings.rows.tolist(), findings.labels.tolist(), findings.suggested.tolist()
    ([5, 2], [0, 1], [1, 0])
    """

    def __init__(
        self, kind: str, n_classes: int, *, from_logits: bool, rank_by: str = "self_confidence"
    ) -> None:
        self.kind, self.n_classes, self.from_logits = kind, int(n_classes), bool(from_logits)
        self.rank_by = rank_by
        self.pass_number = 1
        if kind == "categorical":
            self.folds = [LabelIssues(self.n_classes, from_logits=from_logits, rank_by=rank_by)]
        elif kind == "binary":
            self.folds = [LabelIssues(2, rank_by=rank_by)]
        elif kind == "multilabel":
            self.folds = [LabelIssues(2, rank_by=rank_by) for _ in range(self.n_classes)]
        else:
            raise OptionError(f"Label issues are found for categorical, binary or multilabel "
                              f"predictions, not {kind!r}.")  # fmt: skip

    # -- the problems of one view --------------------------------------------------------

    def _probabilities(self, view) -> NDArray:  # type: ignore[no-untyped-def]
        preds = view.preds
        if self.kind == "categorical":
            return preds  # the fold takes the softmax of logits itself
        return _sigmoid(preds) if self.from_logits else preds

    def _problems(self, view):  # type: ignore[no-untyped-def]
        """(labels, predictions) of each problem of ``view``."""
        if view.kind != self.kind or view.from_logits != self.from_logits:
            raise OptionError("A label-issue fold takes views of the kind it was made for.")
        p = self._probabilities(view)
        if self.kind == "categorical":
            yield view.labels, p
        elif self.kind == "binary":
            yield view.labels, _two_class(p)
        else:
            given = view.targets >= 0.5
            for label in range(self.n_classes):
                yield given[:, label].astype(np.intp), _two_class(p[:, label])

    def add(self, view) -> None:  # type: ignore[no-untyped-def]
        """Add one checked view to every problem still in this pass."""
        if view.n_rows == 0:  # every row of the chunk ignored
            return
        for fold, (labels, preds) in zip(self.folds, self._problems(view), strict=True):
            if fold.pass_number == self.pass_number:
                fold.add(
                    labels,
                    preds,
                    first_row=view.first_row,
                    ids=view.ids,
                    row_numbers=view.scores.row_numbers,
                    shown=view.show_values,
                )

    def merge(self, other: LabelIssueFold) -> LabelIssueFold:
        """Add the state of a fold over other rows, in the same pass (in place); return self."""
        if (other.kind, other.n_classes, other.pass_number) != (
            self.kind,
            self.n_classes,
            self.pass_number,
        ):
            raise OptionError("Only label-issue folds of the same kind and pass can be merged.")
        for mine, theirs in zip(self.folds, other.folds, strict=True):
            if mine.pass_number == self.pass_number:  # the others finished in an earlier pass
                mine.merge(theirs)
        return self

    @property
    def needs_another_pass(self) -> bool:
        """Whether :meth:`next_pass` is to be fed the same rows again."""
        return any(fold.needs_another_pass for fold in self.folds)

    def next_pass(self) -> LabelIssueFold:
        """The fold of the next pass over the same rows (the problems done are carried over)."""
        if not self.needs_another_pass:
            raise OptionError(f"Pass {self.pass_number} of the label-issue fold is its last.")
        nxt = LabelIssueFold.__new__(LabelIssueFold)
        nxt.__dict__.update(self.__dict__)
        nxt.pass_number = self.pass_number + 1
        nxt.folds = [f.next_pass() if f.needs_another_pass else f for f in self.folds]
        return nxt

    # -- reading -------------------------------------------------------------------------

    def result(self) -> LabelIssueFindings:
        """The likely label errors of every problem, after the last pass."""
        return LabelIssueFindings(self.kind, [fold.result() for fold in self.folds])

    def quality(self, view) -> NDArray[np.float64]:  # type: ignore[no-untyped-def]
        """Each row's label-quality score (lower: more likely wrong); multilabel: its worst label's.

        Self-confidence is the probability of the given label; the normalised
        margin ``(p_given - max other p + 1) / 2``.
        """
        worst = None
        for labels, preds in self._problems(view):
            if self.kind == "categorical" and self.from_logits:
                z = preds - preds.max(axis=1, keepdims=True)
                preds = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True, dtype=np.float64)
            b = np.arange(len(labels))
            p_given = preds[b, labels].astype(np.float64)
            if self.rank_by == "self_confidence":
                score = p_given
            else:
                others = preds.astype(np.float64, copy=True)
                others[b, labels] = -np.inf
                score = (p_given - others.max(axis=1) + 1) / 2
            worst = score if worst is None else np.minimum(worst, score)
        assert worst is not None
        return worst


@dataclass(frozen=True)
class LabelIssueFindings:
    """The label issues of every problem of a run, and their rows together, worst first.

    ``problems`` holds one :class:`~cecli.label_issues.LabelIssueResult` per
    problem (one, or one per label for multilabel). The arrays list every
    issue found, ranked by ``scores`` (then row): ``rows``, ``labels`` (the
    given class; multilabel: 0 absent, 1 present), ``suggested``,
    ``p_given``, ``p_suggested``, ``ids``, ``shown``, and for multilabel ``classes``
    (which label). A multilabel row may be listed once per label.
    """

    kind: str
    problems: list[LabelIssueResult]

    def __post_init__(self) -> None:
        parts = self.problems
        label_of = [np.full(r.n_issues, i, dtype=np.int64) for i, r in enumerate(parts)]
        columns = {
            "rows": np.concatenate([r.rows for r in parts]),
            "labels": np.concatenate([r.labels for r in parts]),
            "suggested": np.concatenate([r.suggested for r in parts]),
            "p_given": np.concatenate([r.p_given for r in parts]),
            "p_suggested": np.concatenate([r.p_suggested for r in parts]),
            "scores": np.concatenate([r.scores for r in parts]),
            "classes": np.concatenate(label_of),
        }
        with_ids = [r.ids for r in parts if r.ids is not None]
        ids = np.concatenate(with_ids) if len(with_ids) == len(parts) and with_ids else None
        order = np.lexsort((columns["classes"], columns["rows"], columns["scores"]))
        for name, column in columns.items():
            object.__setattr__(self, name, column[order])
        object.__setattr__(self, "ids", None if ids is None else ids[order])
        shown = _filled([r.shown for r in parts], [r.n_issues for r in parts])
        object.__setattr__(self, "shown", None if shown is None else shown[order])
        # asked of every chunk of a last pass: found once
        object.__setattr__(self, "_issue_rows", np.unique(columns["rows"]))

    rows: NDArray[np.int64] = None  # type: ignore[assignment]
    labels: NDArray[np.int64] = None  # type: ignore[assignment]
    suggested: NDArray[np.int64] = None  # type: ignore[assignment]
    p_given: NDArray[np.float64] = None  # type: ignore[assignment]
    p_suggested: NDArray[np.float64] = None  # type: ignore[assignment]
    scores: NDArray[np.float64] = None  # type: ignore[assignment]
    classes: NDArray[np.int64] = None  # type: ignore[assignment]
    ids: NDArray | None = None
    #: The issues' ``--show`` values, a row of text (or None) each, when the run shows columns.
    shown: NDArray | None = None
    _issue_rows: NDArray[np.int64] = field(default=None, repr=False, compare=False)  # type: ignore[assignment]

    @property
    def n_issues(self) -> int:
        """Rows with a likely label error (a multilabel row counts once)."""
        return len(self.issue_rows())

    @property
    def estimated_issues(self) -> int:
        return sum(r.estimated_issues for r in self.problems)

    def issue_rows(self) -> NDArray[np.int64]:
        """The rows with a label issue, in increasing order."""
        return self._issue_rows

    def is_issue(self, rows: NDArray[np.int64]) -> NDArray[np.bool_]:
        """Whether each of ``rows`` is a label issue.

        Examples
        --------
        >>> from cecli.label_issues import find_label_issues, LabelIssueFindings
        >>> result = find_label_issues([0, 0, 1, 1], [[.9, .1], [.2, .8], [.1, .9], [.3, .7]])
        >>> LabelIssueFindings("categorical", [result]).is_issue(np.arange(4)).tolist()
        [False, True, False, False]
        """
        found = self.issue_rows()
        at = np.minimum(np.searchsorted(found, rows), max(len(found) - 1, 0))
        return found[at] == rows if len(found) else np.zeros(len(rows), dtype=bool)


def _filled(columns: list[NDArray | None], lengths: list[int]) -> NDArray | None:
    """The problems' columns as one, None for a problem that found no issue (so has none)."""
    present = [c for c in columns if c is not None]
    if not present:
        return None
    parts = [
        np.full((n, *present[0].shape[1:]), None, dtype=object) if c is None else c
        for c, n in zip(columns, lengths, strict=True)
    ]
    return np.concatenate(parts)
