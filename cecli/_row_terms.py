"""Per-row calibration terms of a block of softmax probabilities held in cache.

The loss kernels of :mod:`cecli._kernels` call these on each ``K x B``
(class-major) block they have just turned into probabilities, when asked
for the terms: each row's entropy and Brier score then cost no second pass
over the input, and no copy of the block in float64.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    from cecli._kernels import _Scratch

#: A masked logit (-inf) is stood in for by this many below the row's maximum:
#: ``exp(beta * d)`` is still exactly 0 for every ``beta >= 1e-27``, ``d * 0`` is 0
#: where ``-inf * 0`` would be NaN, and the value is finite in float32 too.
MASKED_GAP = -1e30


def logits_terms(
    e: NDArray,
    d: NDArray,
    total: NDArray[np.float64],
    true_at: NDArray[np.intp],
    entropy: NDArray[np.float64],
    brier: NDArray[np.float64],
) -> None:
    """``sum_j p_j d_j`` into ``entropy`` and the Brier scores into ``brier``, per column.

    ``e`` is a ``K x B`` block of ``exp(d)``, ``d`` its gaps ``z - max(z)``,
    ``total`` the columns' sums ``S`` and ``true_at`` the true classes' flat
    positions in the block. With ``p = e / S``:

    * ``sum_j p_j d_j = (sum_j e_j d_j) / S``; the caller makes the entropy
      ``H(p) = log S - sum_j p_j d_j``, with no log of a tiny ``p``;
    * the Brier score ``sum_{j != y} p_j^2 + (1 - p_y)^2`` is
      ``(sum_{j != y} e_j^2 + (S - e_y)^2) / S^2``: no cancellation, and
      ``S - e_y`` is exact where ``p_y > 1/2`` (``1 - p_y`` in float32 would
      lose a small gap to 1 entirely).

    ``sum_j e_j d_j`` and ``sum_{j != y} e_j^2`` are summed in the block's
    float type: for float32 a relative error of at most about ``K * 6e-8``
    (the float32 ``exp`` itself is good to about ``6e-8``, so each ``e_j^2``
    to ``1.2e-7``), with no cancellation to magnify it; summing the squares
    in float64 cost three times as much for no better result. Each row's
    remaining arithmetic runs in float64. ``e`` and ``d`` may be changed.
    """
    dot = np.einsum("ij,ij->j", e, d)
    if not np.isfinite(dot).all():
        # a masked class: e = 0 and d = -inf make NaN; 0 * MASKED_GAP is 0
        np.maximum(d, MASKED_GAP, out=d)
        dot = np.einsum("ij,ij->j", e, d)
    np.divide(dot, total, out=entropy)
    flat = e.reshape(-1)
    e_y = flat.take(true_at)
    flat[true_at] = 0.0  # what is left is sum_{j != y} e_j^2
    rest = np.einsum("ij,ij->j", e, e)
    gap = np.subtract(total, e_y, out=brier)
    np.square(gap, out=gap)
    gap += rest
    gap /= np.square(total)


def probs_terms(
    p: NDArray,
    p_y: NDArray,
    true_at: NDArray[np.intp],
    entropy: NDArray[np.float64],
    brier: NDArray[np.float64],
    scratch: _Scratch,
) -> None:
    """The entropies ``-sum_j p_j log p_j`` and Brier scores of a ``K x B`` block, per column.

    ``p_y`` are the true classes' probabilities, at ``true_at`` in the block.
    ``log(max(p, tiny))`` stands in for ``log p``, so that ``0 log 0`` is 0.
    The Brier score is ``sum_{j != y} p_j^2 + (1 - p_y)^2``, without
    cancellation, its squares exact and summed in float64 (as the Brier
    score of probabilities always was); the entropy's sum runs in the
    block's float type, as in :func:`logits_terms`. ``p`` is changed.
    """
    log_p = np.maximum(p, np.finfo(p.dtype).tiny, out=scratch.get("log", p.shape, p.dtype))
    np.log(log_p, out=log_p)
    np.negative(np.einsum("ij,ij->j", p, log_p), out=entropy)
    p.reshape(-1)[true_at] = 0.0
    rest = np.einsum("ij,ij->j", p, p, dtype=np.float64)  # exact squares, summed in float64
    gap = np.subtract(1.0, p_y, out=brier, dtype=np.float64)
    np.square(gap, out=gap)
    gap += rest
