"""One validated view of each chunk: what every statistic reads.

A chunk of rows is checked and converted exactly once, by :func:`view_of`,
into a :class:`ChunkView`: the predictions as checked (in their own float
type), the targets as decoded, the sample weights, and the per-sample facts
of :func:`cecli.losses.score` (loss, true class, top-1 class and confidence,
the true class's probability, correct, flagged, per-class sums). Every fold
(:mod:`cecli.folds`) reads the view; none checks, parses or softmaxes the
chunk again.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from cecli import _validate
from cecli.losses import Kind, SampleScores
from cecli.losses._results import RowTerms
from cecli.losses._score import score_parts


@dataclass(frozen=True)
class ChunkView:
    """One chunk of rows, checked: the inputs as every statistic needs them.

    Attributes
    ----------
    kind : str
        ``"categorical"``, ``"binary"`` or ``"multilabel"``.
    from_logits : bool
        Whether ``preds`` are logits.
    first_row : int
        The chunk's first row in the whole input (0-based).
    preds : ndarray
        The predictions as checked, in their own float type (float16 widened
        to float32): ``N x K`` (categorical, multilabel) or ``N`` (binary).
    labels : ndarray of int
        Categorical and binary: each row's true class (the largest target
        for soft targets). Multilabel: each row's worst label.
    targets : ndarray of float64 or None
        Categorical: the soft targets (``N x K``), None for class indices.
        Binary: the targets ``t`` in [0, 1] (``N``). Multilabel: ``N x L``.
    weights : ndarray of float64 or None
        The sample weights as checked, None when none were given.
    eps : float
        The clipping bound applied to probabilities (resolved from "auto").
    scores : SampleScores
        The per-sample facts and the chunk's per-class sums.
    y_true : array-like
        The targets as given, for a fold that keeps rows to read again later.
    ids : ndarray or None
        The rows' ids, when the input has an id column.
    terms : RowTerms or None
        Each row's entropy, Brier score and cross-entropy, when the view was
        asked for them (``calibration=True``, or ``el2n=True``, whose scores are
        the square roots of the Brier scores) and the loss kernel found them
        (class-index targets, no label smoothing, at most 64 classes).
    slice_values : tuple of ndarray or None
        The rows' values of the ``--by`` columns, when the run slices them.

    Examples
    --------
    >>> from cecli.view import view_of
    >>> view = view_of("categorical", [0, 1], [[0.9, 0.1], [0.8, 0.2]], first_row=10)
    >>> view.n_rows, view.scores.rows.tolist(), view.scores.predicted.tolist()
    (2, [10, 11], [0, 0])
    """

    kind: str
    from_logits: bool
    first_row: int
    preds: NDArray
    labels: NDArray[np.intp]
    targets: NDArray[np.float64] | None
    weights: NDArray[np.float64] | None
    eps: float
    scores: SampleScores
    y_true: ArrayLike = None
    ids: NDArray | None = None
    terms: RowTerms | None = None
    slice_values: tuple[NDArray, ...] | None = None

    @property
    def n_rows(self) -> int:
        return len(self.labels)


def view_of(
    kind: Kind,
    y_true: ArrayLike,
    y_pred: ArrayLike,
    sample_weights: ArrayLike | None = None,
    *,
    from_logits: bool = False,
    label_weights: ArrayLike | None = None,
    eps: float | str = "auto",
    label_smoothing: float = 0.0,
    focal_gamma: float = 0.0,
    threshold: float = 0.9,
    base: str | float = "e",
    first_row: int = 0,
    ids: ArrayLike | None = None,
    calibration: bool = False,
    el2n: bool = False,
    pos_weight: ArrayLike | None = None,
    focal_alpha: ArrayLike | None = None,
    labels: ArrayLike | None = None,
    pos_label: object | None = None,
) -> ChunkView:
    """Check one chunk and compute its per-sample facts: the chunk's one validated view.

    Parameters are those of :func:`cecli.losses.score` (``first_row`` is its
    ``row_offset``); ``ids`` are carried along for the folds that name rows.
    With ``calibration``, the loss kernel also finds the per-row terms the
    calibration sums read (:attr:`ChunkView.terms`), where it can. With
    ``el2n``, the scores hold each row's EL2N (:attr:`cecli.SampleScores.el2n`).

    Raises
    ------
    cecli.errors.CecliError
        For anything the loss functions refuse, naming the row and column.

    Examples
    --------
    >>> from cecli.view import view_of
    >>> view = view_of("binary", [1, 0, 1], [0.9, 0.4, 0.2], sample_weights=[1, 2, 1])
    >>> view.targets.tolist(), view.weights.tolist(), view.scores.correct.tolist()
    ([1.0, 0.0, 1.0], [1.0, 2.0, 1.0], [True, True, False])
    """
    scores, scored, weights = score_parts(
        kind,
        y_true,
        y_pred,
        from_logits=from_logits,
        sample_weights=sample_weights,
        label_weights=label_weights,
        eps=eps,
        label_smoothing=label_smoothing,
        focal_gamma=focal_gamma,
        threshold=threshold,
        base=base,
        row_offset=first_row,
        terms=calibration,
        el2n=el2n,
        pos_weight=pos_weight,
        focal_alpha=focal_alpha,
        labels=labels,
        pos_label=pos_label,
    )
    preds = scored.preds
    assert preds is not None
    targets = scored.targets if kind == "categorical" else scored.truth
    return ChunkView(
        kind=kind,
        from_logits=bool(from_logits),
        first_row=int(first_row),
        preds=preds,
        labels=scores.label,
        targets=targets,
        weights=weights,
        eps=_validate.resolve_eps(eps, preds.dtype),
        scores=scores,
        y_true=y_true,
        ids=None if ids is None else np.asarray(ids),
        terms=scored.terms,
    )
