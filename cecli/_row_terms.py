"""Per-row calibration terms of a block of softmax probabilities held in cache.

The loss kernels of :mod:`cecli._kernels` call these on each ``K x B``
(class-major) block they have just turned into probabilities, when asked
for the terms: each row's entropy and Brier score then cost no second pass
over the input. The sums are the ones :mod:`cecli.calibration` formed from
the same float32 probabilities before, so the values are the same: each
row's sum over classes runs in float64, in which every product of two
float32 values is exact.
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
    p: NDArray,
    d: NDArray,
    true_at: NDArray[np.intp],
    entropy: NDArray[np.float64],
    brier: NDArray[np.float64],
    scratch: _Scratch,
) -> None:
    """``sum_j p_j d_j`` into ``entropy`` and the Brier scores into ``brier``, per column.

    ``p`` is a ``K x B`` block of softmax probabilities and ``d`` its gaps
    ``z - max(z)``; ``true_at`` are the true classes' flat positions in the
    block. The caller makes the entropy ``H(p) = log S - sum_j p_j d_j``
    (``S = sum_j exp(d_j)``): no log of a tiny ``p``. ``d`` may be changed.
    """
    dot = np.einsum("ij,ij->j", p, d, dtype=np.float64, out=entropy)
    if not np.isfinite(dot).all():
        # a masked class: p = 0 and d = -inf make NaN; 0 * MASKED_GAP is 0
        np.maximum(d, MASKED_GAP, out=d)
        np.einsum("ij,ij->j", p, d, dtype=np.float64, out=dot)
    brier_rows(p, true_at, brier, scratch)


def probs_terms(
    p: NDArray,
    true_at: NDArray[np.intp],
    entropy: NDArray[np.float64],
    brier: NDArray[np.float64],
    scratch: _Scratch,
) -> None:
    """The entropies ``-sum_j p_j log p_j`` and Brier scores of a ``K x B`` block, per column.

    ``log(max(p, tiny))`` stands in for ``log p``, so that ``0 log 0`` is 0.
    """
    log_p = np.maximum(p, np.finfo(p.dtype).tiny, out=scratch.get("log", p.shape, p.dtype))
    np.log(log_p, out=log_p)
    np.einsum("ij,ij->j", p, log_p, dtype=np.float64, out=entropy)
    np.negative(entropy, out=entropy)
    brier_rows(p, true_at, brier, scratch)


def brier_rows(
    p: NDArray, true_at: NDArray[np.intp], out: NDArray[np.float64], scratch: _Scratch
) -> None:
    """Each column's Brier score ``sum_j (p_j - [j = y])^2`` of a ``K x B`` block, into ``out``.

    As ``(sum_j p_j^2 - p_y^2) + (1 - p_y)^2``, in float64: taking ``p_y^2``
    back out of the sum loses only the sum's rounding (about 1e-16, and the
    products of float32 values are exact), and ``(1 - p_y)^2`` is formed
    directly rather than as ``1 - 2 p_y + p_y^2``, which would cancel when
    ``p_y`` is near 1.
    """
    n = p.shape[1]
    square = np.einsum("ij,ij->j", p, p, dtype=np.float64, out=scratch.get("sq", (n,), np.float64))
    p_y = scratch.get("p_y", (n,), np.float64)
    p_y[...] = p.reshape(-1).take(true_at)
    brier = np.multiply(p_y, p_y, out=out)
    np.subtract(square, brier, out=brier)
    np.subtract(1.0, p_y, out=p_y)
    brier += np.square(p_y, out=p_y)
