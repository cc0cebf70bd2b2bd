"""Per-sample facts of one chunk, for reports and the accumulator: :func:`score`."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from numpy.typing import ArrayLike, NDArray

from cecli import _validate
from cecli._arrays import as_array
from cecli.errors import OptionError
from cecli.losses._bernoulli import _binary, _multilabel, observed_share
from cecli.losses._categorical import _categorical
from cecli.losses._common import _hard_sums
from cecli.losses._names import binary_positives, class_positions
from cecli.losses._results import SampleScores, _Scored
from cecli.losses._units import KINDS, Kind, unit_of
from cecli.losses._weights import _multilabel_weights, _sample_weights


def score(
    kind: Kind,
    y_true: ArrayLike,
    y_pred: ArrayLike,
    *,
    from_logits: bool = False,
    sample_weights: ArrayLike | None = None,
    label_weights: ArrayLike | None = None,
    eps: float | str = "auto",
    label_smoothing: float = 0.0,
    focal_gamma: float = 0.0,
    threshold: float = 0.9,
    base: str | float = "e",
    row_offset: int = 0,
    el2n: bool = True,
    pos_weight: ArrayLike | None = None,
    focal_alpha: ArrayLike | None = None,
    labels: ArrayLike | None = None,
    pos_label: object | None = None,
) -> SampleScores:
    """Per-sample losses and facts for one batch of rows, with the batch's per-class sums.

    Parameters are those of the loss functions; ``kind`` picks which.
    ``threshold`` is the confidence at or above which a wrong prediction is
    flagged; ``row_offset`` is the batch's first row in the whole input (it
    numbers the rows in :attr:`SampleScores.rows` and in error messages).
    ``label_weights`` are multilabel class weights (per-label, applied inside
    a sample's mean); class weights for the other kinds are applied by
    :class:`cecli.Accumulator`, which knows all the rows. ``el2n`` also
    gives each row's EL2N score (:attr:`SampleScores.el2n`; see
    :mod:`cecli.el2n`); False spares its cost. ``pos_weight`` (binary and
    multilabel), ``focal_alpha``, ``labels`` (categorical and binary) and
    ``pos_label`` (binary and multilabel) are those of the loss functions.

    Examples
    --------
    >>> from cecli.losses import score
    >>> s = score("categorical", [0, 1], [[0.95, 0.05], [0.97, 0.03]])
    >>> s.predicted.tolist(), s.flagged.tolist(), s.p_true.round(2).tolist()
    ([0, 0], [False, True], [0.95, 0.03])
    >>> s.el2n.round(4).tolist()  # ||p - onehot||: sqrt(2) * 0.05 and sqrt(2) * 0.97
    [0.0707, 1.3718]
    """
    return score_parts(
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
        row_offset=row_offset,
        el2n=el2n,
        pos_weight=pos_weight,
        focal_alpha=focal_alpha,
        labels=labels,
        pos_label=pos_label,
    )[0]


def score_parts(
    kind: Kind,
    y_true: ArrayLike,
    y_pred: ArrayLike,
    *,
    from_logits: bool = False,
    sample_weights: ArrayLike | None = None,
    label_weights: ArrayLike | None = None,
    eps: float | str = "auto",
    label_smoothing: float = 0.0,
    focal_gamma: float = 0.0,
    threshold: float = 0.9,
    base: str | float = "e",
    row_offset: int = 0,
    terms: bool = False,
    el2n: bool = False,
    pos_weight: ArrayLike | None = None,
    focal_alpha: ArrayLike | None = None,
    labels: ArrayLike | None = None,
    pos_label: object | None = None,
    ignored_cells: NDArray[np.bool_] | None = None,
    row_numbers: NDArray[np.int64] | None = None,
    class_bins: int | None = None,
) -> tuple[SampleScores, _Scored, NDArray[np.float64] | None]:
    """:func:`score`, with what it checked: the scorer's parts and the sample weights.

    For :func:`cecli.view.view_of`, which keeps the checked inputs so that no
    statistic checks or converts them again. With ``terms``, the scorer's
    parts also hold the calibration terms (``_Scored.terms``) where the loss
    kernel found them (with ``class_bins`` and no sample weights, every
    class's probability binned in that many bins too, and the entropies and
    Brier scores only summed unless ``el2n``); with ``el2n``, the scores hold
    each row's EL2N.
    ``ignored_cells`` (multilabel) marks the cells whose target is
    ``ignore_index``, left out of the rows' losses, facts and sums; the rows
    whose every cell is were left out before (by :func:`cecli.view.view_of`).
    Each row's :attr:`SampleScores.weight` is then its sample weight times its
    share of the label weight kept (:func:`observed_share`), so that a mean
    over rows is the mean over the cells kept. ``row_numbers``, when rows
    were left out before, are the rows' numbers in the whole input: the
    errors name them, and :attr:`SampleScores.rows` holds them.
    """
    if kind not in KINDS:
        raise OptionError(f"must be one of {', '.join(KINDS)}; got {kind!r}.", option="kind")
    threshold = _validate.check_unit_interval(
        "threshold", threshold, open_low=True, open_high=False
    )
    unit, ln_base = unit_of(base)
    rows: _validate.RowNumbers = row_offset if row_numbers is None else row_numbers
    check_pos_weight_kind(kind, pos_weight)
    y_true, y_pred = as_array(y_true), as_array(y_pred)
    y_true = _named(kind, y_true, y_pred, labels, pos_label, rows, ignored_cells)
    options = dict(
        from_logits=from_logits,
        eps=eps,
        label_smoothing=label_smoothing,
        focal_gamma=focal_gamma,
        facts=True,
        row_offset=rows,
        focal_alpha=focal_alpha,
    )
    if kind == "categorical":
        # the kernel finds the one-hot Brier score (EL2N squared) while it holds the softmax
        # the classwise sums of the kernel are unweighted: with sample weights, not asked for;
        # and the calibration sums need only the sums of the rows' entropies and Brier scores,
        # EL2N each row's Brier score
        bins = class_bins if terms and sample_weights is None else None
        scored = _categorical(
            y_true, y_pred, **options, terms=terms or el2n, class_bins=bins, row_terms=el2n
        )
        k = np.shape(y_pred)[1]
    elif kind == "binary":
        scored = _binary(y_true, y_pred, **options, pos_weight=pos_weight)
        k = 2
    n = len(scored.loss) if kind != "multilabel" else len(np.asarray(y_pred))
    weight = _sample_weights(sample_weights, n, rows)
    if kind == "multilabel":
        k = np.shape(y_pred)[1] if np.ndim(y_pred) == 2 else 1
        label_weight_array = (
            None if label_weights is None else _multilabel_weights(label_weights, k)
        )
        scored = _multilabel(
            y_true,
            y_pred,
            label_weights=label_weight_array,
            threshold=threshold,
            sample_weight=weight,
            pos_weight=pos_weight,
            ignored=ignored_cells,
            **options,
        )
    sample_weight = weight
    if kind == "multilabel" and ignored_cells is not None:
        share = observed_share(ignored_cells, label_weight_array)
        weight = share if weight is None else weight * share
    weighted = weight is not None
    if weight is None:
        # every row weighs 1: one read-only value seen n times, not n new ones (a fresh
        # array of a chunk's rows is slow to fill the first time its pages are touched)
        weight = np.broadcast_to(np.float64(1.0), (n,))
    loss = scored.loss / ln_base if ln_base != 1.0 else scored.loss
    if scored.flagged is None:
        scored.flagged = ~scored.correct & (scored.confidence >= threshold)
    if scored.class_sums is not None:
        sums = scored.class_sums
        classes = replace(sums, loss=sums.loss / ln_base)
    else:
        classes = _hard_sums(
            scored.labels,
            k,
            loss,
            weight if weighted else None,
            scored.correct,
            scored.flagged,
            scored.targets,
        )
    scores = SampleScores(
        kind=kind,
        unit=unit,
        row_offset=row_offset,
        loss=loss,
        label=scored.labels,
        predicted=scored.predicted,
        confidence=scored.confidence,
        p_true=scored.p_true,
        correct=scored.correct,
        flagged=scored.flagged,
        weight=weight,
        clipped=scored.clipped,
        classes=classes,
        targets=scored.targets if kind != "multilabel" else None,
        el2n=_el2n(kind, scored, from_logits, ignored_cells) if el2n else None,
        row_numbers=row_numbers,
    )
    return scores, scored, sample_weight


def _named(
    kind: str,
    y_true: NDArray,
    y_pred: NDArray,
    labels: ArrayLike | None,
    pos_label: object | None,
    row_offset: _validate.RowNumbers,
    ignored_cells: NDArray[np.bool_] | None = None,
) -> NDArray:
    """``y_true`` with the classes that ``labels`` and ``pos_label`` name as indices or 0/1
    (multilabel cells that ``ignored_cells`` marks are neither class)."""
    check_naming_kind(kind, labels, pos_label)
    if kind == "categorical":
        if labels is None or y_pred.ndim != 2:
            return y_true
        return class_positions(y_true, labels, y_pred.shape[1], row_offset)
    return binary_positives(y_true, pos_label, labels, row_offset, ignored_cells)


def check_naming_kind(kind: str, labels: object, pos_label: object) -> None:
    """``labels`` names categorical and binary classes; ``pos_label`` binary and multilabel ones."""
    if kind == "categorical" and pos_label is not None:
        raise OptionError(
            "is for binary and multilabel targets; categorical classes are named by labels.",
            option="pos_label",
        )
    if kind == "multilabel" and labels is not None:
        raise OptionError(
            "is for categorical and binary targets; multilabel targets are one 0/1 column per "
            "label (name the positive value with pos_label).",
            option="labels",
        )


def check_pos_weight_kind(kind: str, pos_weight: object) -> None:
    """``pos_weight`` is PyTorch's for binary and multilabel targets; refused for categorical."""
    if pos_weight is not None and kind == "categorical":
        raise OptionError(
            "applies to binary and multilabel targets, as PyTorch's BCEWithLogitsLoss; "
            "for categorical targets, weigh the classes with class weights "
            "(class_weights=, --class-weights).",
            option="pos_weight",
        )


def _el2n(
    kind: str, scored: _Scored, from_logits: bool, ignored: NDArray[np.bool_] | None = None
) -> NDArray[np.float64]:
    from cecli.el2n import row_el2n

    assert scored.preds is not None
    preds = scored.preds
    if kind == "binary" and preds.ndim == 2:
        preds = preds[:, 0]
    return row_el2n(
        kind,
        preds,
        scored.labels,
        scored.targets if kind == "categorical" else scored.truth,
        from_logits=from_logits,
        brier=None if scored.terms is None else scored.terms.brier,
        observed=None if ignored is None else ~ignored,
    )
