"""Cross-entropy computed from its definition in mpmath, for the tests to compare against.

Nothing here imports cecli. Every function takes the exact values the code
was given (``float()`` of a float16, float32 or float64 is exact), works at
50 significant digits and returns ``mpmath.mpf`` values in nats, so that the
only rounding left in a comparison is the code's own.

The definitions, with ``t`` the (smoothed) target distribution:

* categorical, per sample: ``-sum_j t_j (1 - p_j)^gamma log p_j``, where
  ``p`` is ``clip(probs, eps, 1 - eps)`` or ``softmax(logits)``;
* binary, per sample: ``-(t (1 - p)^gamma log p + (1 - t) p^gamma log(1 - p))``,
  with ``log p = -log(1 + exp(-z))`` for a logit ``z``;
* multilabel, per sample: the (label-weighted) mean of the binary loss of its cells;
* label smoothing: ``(1 - a) t + a / K`` (categorical), ``(1 - a) t + a / 2`` (binary);
* a weighted mean: ``sum_i w_i l_i / sum_i w_i``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import mpmath
import numpy as np

DPS = 50


def mpf(value: float) -> mpmath.mpf:
    """``value`` exactly, as an mpmath number (-inf stays -inf)."""
    return mpmath.mpf(float(value))


def clip(p: float, eps: float) -> float:
    """``min(max(p, eps), 1 - eps)``: exact, since ``eps`` and ``1 - eps`` are floats."""
    return min(max(float(p), eps), 1.0 - eps)


def one_hot(labels: Sequence[int], k: int) -> np.ndarray:
    targets = np.zeros((len(labels), k))
    targets[np.arange(len(labels)), np.asarray(labels)] = 1.0
    return targets


def log_softmax(row: Sequence[float]) -> list[mpmath.mpf]:
    """``z_j - logsumexp(z)`` in mpmath; a logit of -inf gives -inf.

    ``logsumexp(z) = z_max + log1p(sum_{j != argmax} exp(z_j - z_max))``, so
    that a tiny sum is not lost against the 1 contributed by the maximum.
    """
    with mpmath.workdps(DPS):
        z = [mpf(v) for v in row]
        top = max(range(len(z)), key=lambda j: z[j])
        rest = mpmath.fsum(mpmath.exp(v - z[top]) for j, v in enumerate(z) if j != top)
        lse = z[top] + mpmath.log1p(rest)
        return [v - lse if v != mpmath.ninf else mpmath.ninf for v in z]


def categorical_losses(
    targets: np.ndarray,
    preds: np.ndarray,
    *,
    from_logits: bool,
    eps: float,
    label_smoothing: float = 0.0,
    focal_gamma: float = 0.0,
) -> list[mpmath.mpf]:
    """Per-sample categorical cross-entropy; ``targets`` is dense (one-hot or soft), N x K."""
    with mpmath.workdps(DPS):
        k = preds.shape[1]
        alpha = mpf(label_smoothing)
        gamma = mpf(focal_gamma)
        losses = []
        for t_row, row in zip(targets, preds, strict=True):
            if from_logits:
                log_p = log_softmax(row)
                p = [mpmath.exp(v) for v in log_p]
            else:
                p = [mpf(clip(v, eps)) for v in row]
                log_p = [mpmath.log(v) for v in p]
            loss = mpmath.mpf(0)
            for t, pj, lpj in zip(t_row, p, log_p, strict=True):
                tj = (1 - alpha) * mpf(t) + alpha / k
                if tj == 0:
                    continue
                term = -tj * lpj
                if focal_gamma:
                    term *= (1 - pj) ** gamma
                loss += term
            losses.append(loss)
        return losses


def binary_cell_losses(
    targets: np.ndarray,
    preds: np.ndarray,
    *,
    from_logits: bool,
    eps: float,
    label_smoothing: float = 0.0,
    focal_gamma: float = 0.0,
) -> list[mpmath.mpf]:
    """Binary cross-entropy of each value of ``preds`` (any shape), flattened in C order."""
    with mpmath.workdps(DPS):
        alpha = mpf(label_smoothing)
        gamma = mpf(focal_gamma)
        losses = []
        for t, x in zip(np.ravel(targets), np.ravel(preds), strict=True):
            if from_logits:
                # log p = -softplus(-z), log(1 - p) = -softplus(z)
                log_p = -mpmath.log1p(mpmath.exp(-mpf(x)))
                log_q = -mpmath.log1p(mpmath.exp(mpf(x)))
                p, q = mpmath.exp(log_p), mpmath.exp(log_q)
            else:
                p = mpf(clip(x, eps))
                q = 1 - p
                log_p, log_q = mpmath.log(p), mpmath.log(q)
            tt = (1 - alpha) * mpf(t) + alpha / 2
            if focal_gamma:
                loss = -(tt * q**gamma * log_p + (1 - tt) * p**gamma * log_q)
            else:
                loss = -(tt * log_p + (1 - tt) * log_q)
            losses.append(loss)
        return losses


def multilabel_losses(
    targets: np.ndarray,
    preds: np.ndarray,
    *,
    from_logits: bool,
    eps: float,
    label_weights: Sequence[float] | None = None,
    label_smoothing: float = 0.0,
    focal_gamma: float = 0.0,
) -> list[mpmath.mpf]:
    """Per-sample multilabel loss: the (label-weighted) mean of the row's cell losses."""
    n, k = preds.shape
    cells = binary_cell_losses(
        targets,
        preds,
        from_logits=from_logits,
        eps=eps,
        label_smoothing=label_smoothing,
        focal_gamma=focal_gamma,
    )
    with mpmath.workdps(DPS):
        w = [mpmath.mpf(1)] * k if label_weights is None else [mpf(v) for v in label_weights]
        total = mpmath.fsum(w)
        return [mpmath.fsum(w[j] * cells[i * k + j] for j in range(k)) / total for i in range(n)]


def weighted(losses: Sequence[mpmath.mpf], weights: Sequence[float] | None) -> list[mpmath.mpf]:
    """``w_i * l_i`` (``l_i`` when unweighted)."""
    with mpmath.workdps(DPS):
        if weights is None:
            return list(losses)
        return [mpf(w) * v for w, v in zip(weights, losses, strict=True)]


def weighted_sum(losses: Sequence[mpmath.mpf], weights: Sequence[float] | None) -> mpmath.mpf:
    with mpmath.workdps(DPS):
        return mpmath.fsum(weighted(losses, weights))


def weighted_mean(losses: Sequence[mpmath.mpf], weights: Sequence[float] | None) -> mpmath.mpf:
    """``sum_i w_i l_i / sum_i w_i``."""
    with mpmath.workdps(DPS):
        total = len(losses) if weights is None else mpmath.fsum(mpf(w) for w in weights)
        return weighted_sum(losses, weights) / total


def in_base(value: mpmath.mpf, base: str | int) -> mpmath.mpf:
    """Nats converted to bits (base 2) or bans (base 10)."""
    with mpmath.workdps(DPS):
        return value if base == "e" else value / mpmath.log(base)


def floats(values: Sequence[mpmath.mpf]) -> np.ndarray:
    return np.array([float(v) for v in values])


def logsumexp_rows(z: np.ndarray) -> np.ndarray:
    """``log(sum_j exp(z_ij))`` per row, in long double, max subtracted (a NumPy reference)."""
    z = z.astype(np.longdouble)
    top = z.max(axis=1, keepdims=True)
    return (top + np.log(np.exp(z - top).sum(axis=1, keepdims=True)))[:, 0]


def natural_log(base: str | int) -> float:
    return 1.0 if base == "e" else math.log(base)
