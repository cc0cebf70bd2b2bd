"""One validated view of each chunk: what every statistic reads.

A chunk of rows is checked and converted exactly once, by :func:`view_of`,
into a :class:`ChunkView`: the predictions as checked (in their own float
type), the targets as decoded, the sample weights, and the per-sample facts
of :func:`cecli.losses.score` (loss, true class, top-1 class and confidence,
the true class's probability, correct, flagged, per-class sums). Every fold
(:mod:`cecli.folds`) reads the view; none checks, parses or softmaxes the
chunk again.

With ``ignore_index``, the rows whose target it is are left out here, once:
the view holds the other rows (:attr:`ChunkView.rows` numbers them in the
whole input) and counts the rows left out, so that no fold sees them. With
``top_k``, each row's rank of its true class is found here, once.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import ArrayLike, NDArray

from cecli import _validate
from cecli._arrays import as_array
from cecli.losses import ClassSums, Kind, SampleScores, unit_of
from cecli.losses._ignore import ignored_cells, kept_part
from cecli.losses._rank import true_class_rank
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
        (class-index targets, no label smoothing, at most 64 classes). With
        ``calibration_bins`` and no sample weights, the kernel also bins every
        class's probability (``terms.class_bins``), and unless ``el2n`` only
        sums the entropies and Brier scores there (``terms.entropy`` and
        ``terms.brier`` are then None).
    slice_values : tuple of ndarray or None
        The rows' values of the ``--by`` columns, when the run slices them.
    show_values : tuple of ndarray or None
        The rows' values of the ``--show`` columns as read, when the run shows them.
    ignored : ndarray of bool or None
        With ``ignore_index``: which of the chunk's rows were left out (their
        target is ``ignore_index``), None when none was. Every other array of
        the view holds only the rows kept.
    cell_ignored : ndarray of bool or None
        Multilabel: which cells of the rows kept are ignored, None when no
        row keeps only some of its cells.

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
    show_values: tuple[NDArray, ...] | None = None
    ignored: NDArray[np.bool_] | None = None
    cell_ignored: NDArray[np.bool_] | None = None

    @property
    def n_rows(self) -> int:
        """The rows of the view: the chunk's rows not ignored."""
        return len(self.labels)

    @property
    def n_ignored(self) -> int:
        """The chunk's rows left out by ``ignore_index``."""
        return 0 if self.ignored is None else int(np.count_nonzero(self.ignored))

    @property
    def rows(self) -> NDArray[np.int64]:
        """Each row's number in the whole input."""
        return self.scores.rows

    def with_slice_values(self, values: tuple[NDArray, ...]) -> ChunkView:
        """The view with the chunk's ``--by`` values (given for every row of the chunk)."""
        if self.ignored is not None:
            keep = ~self.ignored
            values = tuple(np.asarray(v)[keep] for v in values)
        return replace(self, slice_values=values)

    def with_show_values(self, values: tuple[NDArray, ...]) -> ChunkView:
        """The view with the chunk's ``--show`` values (given for every row of the chunk).

        A column only shown is an Arrow array (:mod:`cecli._column`), kept as it is.
        """
        if self.ignored is not None:
            from cecli._column import keep

            values = tuple(keep(v, ~self.ignored) for v in values)
        return replace(self, show_values=values)

    def per_sample_scores(self) -> SampleScores:
        """The scores of every row of the chunk, for the per-sample file.

        The rows ignored are there again, in their place, marked in
        :attr:`SampleScores.ignored`: their loss, confidence, ``p_true``, EL2N
        and weight are NaN, their label and predicted class one past the last
        class (no name), their rank 0. Without rows ignored, the view's scores.
        """
        if self.ignored is None:
            return self.scores
        return with_ignored_rows(self.scores, self.ignored, self.first_row)

    def per_sample_column(self, values: NDArray, fill: object) -> NDArray:
        """A column of the view's rows over every row of the chunk, ``fill`` where ignored."""
        if self.ignored is None:
            return values
        out = np.full(len(self.ignored), fill, dtype=np.asarray(values).dtype)
        out[~self.ignored] = values
        return out


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
    ignore_index: int | str | None = None,
    rank: bool = False,
    calibration_bins: int | None = None,
) -> ChunkView:
    """Check one chunk and compute its per-sample facts: the chunk's one validated view.

    Parameters are those of :func:`cecli.losses.score` (``first_row`` is its
    ``row_offset``); ``ids`` are carried along for the folds that name rows.
    With ``calibration``, the loss kernel also finds the per-row terms the
    calibration sums read (:attr:`ChunkView.terms`), where it can; with
    ``calibration_bins`` as well (the calibration sums' number of bins), it
    bins every class's probability too, for their classwise sums. With
    ``el2n``, the scores hold each row's EL2N (:attr:`cecli.SampleScores.el2n`).
    With ``ignore_index``, the rows whose target it is are left out (for
    multilabel targets, the rows whose every cell it is; see
    :func:`cecli.multilabel_cross_entropy`); the targets are compared with it
    as given, before ``labels`` or ``pos_label`` map them. With ``rank`` (categorical
    only), the scores hold each row's rank of its true class
    (:attr:`cecli.SampleScores.rank`).

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
    >>> view = view_of("categorical", [1, -100, 0], [[0.2, 0.8], [0.5, 0.5], [0.6, 0.4]],
    ...                ignore_index=-100, rank=True)
    >>> view.rows.tolist(), view.n_ignored, view.scores.rank.tolist()
    ([0, 2], 1, [1, 1])
    """
    cells = ignored_cells(kind, y_true, ignore_index)
    ignored = None
    cell_mask = None
    if cells is not None:
        ignored = cells.all(axis=1) if cells.ndim == 2 else cells
        if kind == "multilabel" and not (cells == ignored[:, None]).all():
            cell_mask = cells  # some rows keep some of their cells
        if not ignored.any():
            ignored = None
    if ignored is not None and ignored.all():
        return _all_ignored(kind, y_pred, ignored, first_row, bool(from_logits), eps, base)
    row_numbers = None
    if ignored is not None:
        keep = ~ignored
        y_true, y_pred = kept_part(y_true, keep), kept_part(y_pred, keep)
        sample_weights, ids = kept_part(sample_weights, keep), kept_part(ids, keep)
        if cell_mask is not None:
            cell_mask = cell_mask[keep]
        row_numbers = first_row + np.flatnonzero(keep).astype(np.int64)
    # the checks name each row by its number in the whole input (row_numbers)
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
        ignored_cells=cell_mask,
        row_numbers=row_numbers,
        class_bins=calibration_bins if calibration else None,
    )
    preds = scored.preds
    assert preds is not None
    targets = scored.targets if kind == "categorical" else scored.truth
    if ignored is not None or rank:
        scores = replace(
            scores,
            n_ignored=0 if ignored is None else int(np.count_nonzero(ignored)),
            rank=true_class_rank(preds, scores.label) if rank and kind == "categorical" else None,
        )
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
        ignored=ignored,
        cell_ignored=cell_mask,
    )


def _all_ignored(
    kind: str,
    y_pred: ArrayLike,
    ignored: NDArray[np.bool_],
    first_row: int,
    from_logits: bool,
    eps: float | str,
    base: str | float,
) -> ChunkView:
    """The view of a chunk whose every row is ignored: no rows, and how many were left out."""
    preds = as_array(y_pred)
    if preds.dtype.kind != "f":
        preds = preds.astype(np.float64)
    k = 2 if kind == "binary" else (preds.shape[1] if preds.ndim == 2 else 1)
    unit, _ = unit_of(base)
    none_f, none_i, none_b = np.empty(0), np.empty(0, np.intp), np.empty(0, np.bool_)
    zeros, counts = np.zeros(k), np.zeros(k, np.int64)
    scores = SampleScores(
        kind=kind,
        unit=unit,
        row_offset=first_row,
        loss=none_f,
        label=none_i,
        predicted=none_i,
        confidence=none_f,
        p_true=none_f,
        correct=none_b,
        flagged=none_b,
        weight=none_f,
        clipped=0,
        classes=ClassSums(
            zeros, zeros, zeros, counts, counts, counts, counts if kind == "multilabel" else None
        ),
        el2n=none_f,
        rank=np.empty(0, np.int64),
        row_numbers=np.empty(0, np.int64),
        n_ignored=len(ignored),
    )
    return ChunkView(
        kind=kind,
        from_logits=from_logits,
        first_row=int(first_row),
        preds=preds[:0],
        labels=none_i,
        targets=None,
        weights=None,
        eps=_validate.resolve_eps(eps, preds.dtype),
        scores=scores,
        y_true=none_i,
        ignored=ignored,
    )


def with_ignored_rows(
    scores: SampleScores, ignored: NDArray[np.bool_], first_row: int
) -> SampleScores:
    """``scores`` of the rows kept, spread over every row of the chunk, the ignored marked.

    See :meth:`ChunkView.per_sample_scores`.

    Examples
    --------
    >>> view = view_of("binary", [1, -100, 0], [0.9, 0.5, 0.2], ignore_index=-100)
    >>> full = view.per_sample_scores()
    >>> full.rows.tolist(), full.ignored.tolist(), full.loss.round(3).tolist()
    ([0, 1, 2], [False, True, False], [0.105, nan, 0.223])
    """
    n, keep = len(ignored), ~ignored
    past = len(scores.classes.loss)  # one past the last class: a row with no class

    def spread(values: NDArray | None, fill: object) -> NDArray | None:
        if values is None:
            return None
        out = np.full(n, fill, dtype=values.dtype)
        out[keep] = values
        return out

    return replace(
        scores,
        row_offset=first_row,
        row_numbers=None,
        n_ignored=0,
        ignored=ignored,
        loss=spread(scores.loss, np.nan),
        label=spread(scores.label, past),
        predicted=spread(scores.predicted, past),
        confidence=spread(scores.confidence, np.nan),
        p_true=spread(scores.p_true, np.nan),
        correct=spread(scores.correct, False),
        flagged=spread(scores.flagged, False),
        weight=spread(np.asarray(scores.weight, dtype=np.float64), np.nan),
        targets=None,
        el2n=spread(scores.el2n, np.nan),
        rank=spread(scores.rank, 0),
    )
