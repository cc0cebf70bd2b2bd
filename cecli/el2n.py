"""How hard each row is: its EL2N score, and the distribution of the scores over a run.

The gradient of cross-entropy with respect to the logits is ``p - t``; its
L2 norm per row is the EL2N score (Paul, Ganguli and Dziugaite, "Deep
Learning on a Data Diet: Finding Important Examples Early in Training",
NeurIPS 2021), used to find hard and mislabelled rows and to prune data:
near 0 for a row the model gets right with confidence, near its largest for
one it gets confidently wrong.

* **Categorical**: ``||p - t||_2`` over the classes, with ``p`` the
  probabilities (the softmax of logits) and ``t`` the one-hot or soft target
  row; in ``[0, sqrt(2)]``. For a one-hot target its square is the row's
  multi-class Brier score ``sum_{j != y} p_j^2 + (1 - p_y)^2``, computed so,
  without cancelling 1 against ``p_y`` (with ``--calibration`` the loss kernel
  already found it: :attr:`cecli.losses.RowTerms.brier`).
* **Binary**: ``|p - t|``, in ``[0, 1]``: the gradient with respect to the
  one logit a binary model has (``p = sigmoid(z)``), as cecli reads binary
  predictions (one probability or logit per row). Scored as two-class
  softmax (two columns, ``--kind categorical``) the same row has
  ``sqrt(2) |p - t|``, the norm over two logits whose gradients are
  ``+-(p - t)``. One logit keeps binary the same as a multilabel row of one label.
* **Multilabel**: the norm over the labels of the per-label sigmoid
  gradients, ``sqrt(sum_l (p_l - t_l)^2)``, in ``[0, sqrt(L)]``.

It is the gradient of plain cross-entropy against the targets as given:
label smoothing, focal weighting and class or sample weights do not change
it. ``p - t`` is formed as ``(1 - t) p - t (1 - p)`` for binary cells, so
that a small gap to a 0/1 target is not lost to rounding (``1 - p`` comes
from the logit directly).

:class:`El2nDistribution` is the fold: a fixed histogram of the scores on
``[0, upper]`` (``upper`` as above), their exact sum and maximum; it merges
as the loss accumulator does, and gives the mean and quantiles within one bin
(``upper / EL2N_BINS``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from cecli import _threads
from cecli.errors import OptionError

if TYPE_CHECKING:
    from cecli.view import ChunkView

#: Bins of the distribution's histogram: quantiles are exact to ``upper / EL2N_BINS``
#: (0.00035 for categorical), in 32 KiB of counts.
EL2N_BINS = 4096
#: The quantiles the report gives.
QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9, 0.99)


def row_el2n(
    kind: str,
    preds: NDArray,
    labels: NDArray[np.intp],
    targets: NDArray[np.float64] | None,
    *,
    from_logits: bool,
    brier: NDArray[np.float64] | None = None,
    observed: NDArray[np.bool_] | None = None,
) -> NDArray[np.float64]:
    """Each row's EL2N score, ``||p - t||_2`` (see the module's conventions).

    ``preds`` and ``targets`` are as a :class:`~cecli.view.ChunkView` holds
    them (checked): categorical ``N x K`` predictions with class indices
    ``labels`` (``targets`` None) or soft targets ``N x K``; binary ``N``
    predictions with targets ``N``; multilabel ``N x L`` of each. ``brier``,
    the rows' one-hot Brier scores if known, spares computing them.
    ``observed`` (multilabel) marks the cells not ignored: the others add nothing.

    Examples
    --------
    >>> import numpy as np
    >>> p = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1]])
    >>> row_el2n("categorical", p, np.array([0, 0]), None, from_logits=False).round(4)
    array([0.3742, 1.2083])
    >>> float(np.linalg.norm(p[1] - [1, 0, 0]).round(4))
    1.2083
    >>> row_el2n("binary", np.array([0.0]), None, np.array([1.0]), from_logits=True)
    array([0.5])
    """
    if kind == "categorical":
        if targets is None and brier is not None:
            return np.sqrt(brier)
        return _categorical(preds, labels, targets, from_logits)
    assert targets is not None
    x = preds.astype(np.float64)
    if from_logits:
        # p = sigmoid(z) and 1 - p = sigmoid(-z), each without cancellation
        p, q = _sigmoid(x), _sigmoid(-x)
    else:
        p, q = x, 1.0 - x
    gap = (1.0 - targets) * p - targets * q  # p - t
    if observed is not None:
        gap = np.where(observed, gap, 0.0)  # an ignored cell's prediction may be anything
    if kind == "binary":
        return np.abs(gap)
    return np.sqrt(np.einsum("ij,ij->i", gap, gap))


def _sigmoid(x: NDArray[np.float64]) -> NDArray[np.float64]:
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-x))


def _categorical(
    preds: NDArray,
    labels: NDArray[np.intp],
    targets: NDArray[np.float64] | None,
    from_logits: bool,
) -> NDArray[np.float64]:
    """Row-blocked ``||p - t||``: squares summed in float64, no ``N x K`` temporary."""
    n, k = preds.shape
    out = np.empty(n)

    def work(lo: int, hi: int) -> None:
        block = preds[lo:hi].astype(np.float64)
        rows = np.arange(hi - lo)
        total = None
        if from_logits:
            block -= block.max(axis=1, keepdims=True)
            np.maximum(block, -1e30, out=block)  # a masked class (-inf) has p = 0
            np.exp(block, out=block)  # e_j = exp(z_j - max z); p_j = e_j / S
            total = block.sum(axis=1)
            if targets is not None:
                block /= total[:, None]
        if targets is not None:
            block -= targets[lo:hi]
            out[lo:hi] = np.einsum("ij,ij->i", block, block)
            return
        # sum_{j != y} p_j^2 + (1 - p_y)^2, with 1 - p_y the sum of the other classes'
        # p_j: no cancellation of 1 against p_y (for logits, (S - e_y) / S, as the kernel has it)
        y = labels[lo:hi]
        p_y = block[rows, y]
        block[rows, y] = 0.0
        squares = np.einsum("ij,ij->i", block, block)
        if total is None:
            out[lo:hi] = squares + np.square(1.0 - p_y)  # as given: 1 - p_y exact near 1
        else:
            rest = block.sum(axis=1)  # S - e_y
            out[lo:hi] = (squares + rest * rest) / (total * total)

    _threads.map_blocks(n, 8 * k, work)
    return np.sqrt(out, out=out)


def el2n_upper(kind: str, n_columns: int) -> float:
    """The largest EL2N score of a kind: ``sqrt(2)``, 1, or ``sqrt(L)`` for ``L`` labels."""
    if kind == "categorical":
        return math.sqrt(2.0)
    if kind == "binary":
        return 1.0
    return math.sqrt(n_columns)


@dataclass(frozen=True)
class El2nSummary:
    """The distribution of the rows' EL2N scores.

    ``mean`` and ``max`` are exact; ``quantiles`` maps each of
    :data:`QUANTILES` to its value, read from :data:`EL2N_BINS` equal bins of
    ``[0, upper]`` and interpolated inside its bin, so within
    ``quantile_error`` (one bin) of the exact sample quantile. Every row
    counts once (sample weights do not apply: it describes the rows).
    """

    n_samples: int
    mean: float
    max: float
    upper: float
    quantiles: dict[float, float]
    quantile_error: float


class El2nDistribution:
    """A fold over checked chunks: the histogram, sum and maximum of the rows' EL2N scores.

    Examples
    --------
    >>> from cecli.view import view_of
    >>> fold = El2nDistribution()
    >>> fold.add(view_of("binary", [1, 0, 1, 0], [0.9, 0.2, 0.4, 0.7], el2n=True))
    >>> s = fold.result()
    >>> round(s.mean, 4), s.max, round(s.quantiles[0.5], 2)
    (0.4, 0.7, 0.2)
    """

    def __init__(self) -> None:
        self.kind: str | None = None
        self.upper = 0.0
        self.counts = np.zeros(EL2N_BINS, dtype=np.int64)
        self.total = 0.0
        self.largest = 0.0
        self.n_samples = 0

    def add(self, view: ChunkView) -> None:
        """Add one checked chunk, made with ``el2n=True``."""
        scores = view.scores.el2n
        if scores is None:
            raise OptionError("This view has no EL2N scores: make it with el2n=True.")
        columns = view.preds.shape[1] if view.preds.ndim == 2 else 1
        self._start(view.kind, el2n_upper(view.kind, columns))
        self.add_scores(scores)

    def _start(self, kind: str, upper: float) -> None:
        if self.kind is None:
            self.kind, self.upper = kind, upper
        elif (self.kind, self.upper) != (kind, upper):
            raise OptionError("Only EL2N distributions of the same kind and columns can be merged.")

    def add_scores(self, scores: NDArray[np.float64]) -> None:
        """Add one chunk's scores (all in ``[0, upper]``, to rounding)."""
        if not len(scores):
            return
        index = np.multiply(scores, EL2N_BINS / self.upper)
        np.clip(index, 0, EL2N_BINS - 1, out=index)
        self.counts += np.bincount(index.astype(np.intp), minlength=EL2N_BINS)
        self.total += float(np.sum(scores))
        self.largest = max(self.largest, float(np.max(scores)))
        self.n_samples += len(scores)

    def merge(self, other: El2nDistribution) -> El2nDistribution:
        """Add another fold's rows (in place); return self."""
        if other.kind is not None:
            self._start(other.kind, other.upper)
            self.counts += other.counts
            self.total += other.total
            self.largest = max(self.largest, other.largest)
            self.n_samples += other.n_samples
        return self

    def result(self) -> El2nSummary | None:
        """The distribution, or None before any row."""
        if not self.n_samples:
            return None
        width = self.upper / EL2N_BINS
        cumulative = np.cumsum(self.counts)
        quantiles = {}
        for q in QUANTILES:
            # the value below which a fraction q of the rows lie, linear inside its bin
            rank = q * self.n_samples
            b = int(np.searchsorted(cumulative, rank, side="left"))
            before = float(cumulative[b - 1]) if b else 0.0
            inside = (rank - before) / max(1, int(self.counts[b]))
            quantiles[q] = min(self.largest, (b + inside) * width)
        return El2nSummary(
            n_samples=self.n_samples,
            mean=self.total / self.n_samples,
            max=self.largest,
            upper=self.upper,
            quantiles=quantiles,
            quantile_error=width,
        )
