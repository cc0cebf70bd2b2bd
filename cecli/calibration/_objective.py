"""The objective of temperature scaling, the mean cross-entropy as a function of ``1 / T``.

:class:`_Objective` holds what every evaluation needs (each row's gaps to its
top logit, its target's gap, its credit and weight) and evaluates the loss
with its first two derivatives in one pass, multithreaded; the search of
:mod:`cecli.calibration._temperature` calls it a few times. The two builders check
and convert the rows once (not again for rows a checked view gave).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from cecli import _threads, _validate
from cecli._validate import ROW_SUM_TOLERANCE
from cecli.calibration._facts import _MASKED_GAP, _class_major, _take, _top1, _true_cells
from cecli.losses._common import _softplus


@dataclass
class _Evaluation:
    """The objective at ``beta``: value, first and second derivative (nats), and confidences.

    ``precise`` evaluations run in float64; the others in float32 (see
    :meth:`_Objective.__call__`).
    """

    beta: float
    f: float
    grad: float
    curvature: float
    #: None for the float32 evaluations of the search, which are never reported
    confidence: NDArray[np.float64] | None
    precise: bool


@dataclass
class _Objective:
    """The mean cross-entropy as a function of ``beta = 1 / T``, with what ECE needs.

    Categorical: ``gaps`` is ``z - max(z)`` class-major (``K x N``, see
    :func:`_class_major`) and ``target_gap`` is ``sum_k t_k gaps_k`` (the
    true class's gap, for class indices), so the loss of a row is
    ``log(sum_k exp(beta gaps_k)) - beta target_gap``. Binary: ``gaps`` is
    the logit of each prediction and ``target_gap`` its target. ``credit``
    and ``weight`` are per prediction.
    """

    kind: str
    gaps: NDArray[np.float64]
    target_gap: NDArray[np.float64]
    credit: NDArray[np.float64]
    weight: NDArray[np.float64] | None
    n_samples: int
    gaps32: NDArray[np.float32] | None = None
    weight_sum: float = field(init=False)

    def __post_init__(self) -> None:
        self.weight_sum = (
            float(len(self.credit)) if self.weight is None else float(np.sum(self.weight))
        )

    def _total(self, values: NDArray, lo: int = 0, hi: int | None = None) -> float:
        if self.weight is None:
            return float(np.sum(values, dtype=np.float64))
        return float(self.weight[lo:hi] @ values.astype(np.float64, copy=False))

    def __call__(self, beta: float, precise: bool = True) -> _Evaluation:
        """``f``, ``f'`` and ``f''`` at ``beta`` (in nats), and the confidences there.

        Categorical objectives run in float32 unless ``precise``: float64
        ``exp`` has no SIMD loop on many CPUs and costs four times as much.
        Float32 evaluations locate the minimiser to about 1e-7 relative; the
        numbers reported come from float64 evaluations.
        """
        if self.kind == "categorical":
            return self._categorical(beta, precise)
        return self._binary(beta)

    def _binary(self, beta: float) -> _Evaluation:
        z, t = self.gaps, self.target_gap
        x = beta * z
        # l = t softplus(-x) + (1 - t) softplus(x); dl/dbeta = z (p - t); d2l = z^2 p (1 - p)
        log_p, log_q = -_softplus(-x), -_softplus(x)
        p = np.exp(log_p)
        loss = -(t * log_p + (1.0 - t) * log_q)
        grad = z * (p - t)
        curvature = z * z * p * np.exp(log_q)
        f, g, c = (self._total(v) / self.weight_sum for v in (loss, grad, curvature))
        return _Evaluation(beta, f, g, c, p, True)

    def _categorical(self, beta: float, precise: bool) -> _Evaluation:
        gaps = self.gaps if precise or self.gaps32 is None else self.gaps32
        target_gap = self.target_gap
        k, n = gaps.shape
        # only precise evaluations are reported (their confidences give the ECE)
        confidence = np.empty(n) if precise else None

        # Blocks on one grid from row 0, whatever the threads: each block's three sums,
        # then the blocks' added in row order, so the temperature is the same bits on a
        # machine of any core count (threads that cut the rows into their own blocks
        # gave one more or fewer rounding to each core count)
        step = max(1, _threads.BLOCK_BYTES // (8 * k))
        n_blocks = -(-n // step)

        def work(first: int, last: int) -> list[tuple[float, float, float]]:
            start, stop = first * step, min(last * step, n)
            e = np.empty((k, min(step, stop - start)), gaps.dtype)
            totals = []
            for lo in range(start, stop, step):
                hi = min(lo + step, stop)
                d, e_block = gaps[:, lo:hi], e[:, : hi - lo]
                # beta d is d itself at beta = 1 (where every fit starts): one pass fewer
                np.exp(d if beta == 1.0 else np.multiply(d, beta, out=e_block), out=e_block)
                # s_m = sum_j d_j^m exp(beta d_j); the top class adds exp(0) = 1, so s_0 >= 1
                s0 = e_block.sum(axis=0).astype(np.float64, copy=False)
                e_block *= d
                s1 = e_block.sum(axis=0).astype(np.float64, copy=False)
                e_block *= d
                s2 = e_block.sum(axis=0).astype(np.float64, copy=False)
                mean_d = s1 / s0
                # l = log s_0 - beta g; dl/dbeta = E_p[d] - g; d2l/dbeta2 = Var_p[d] >= 0
                loss = np.log(s0)
                loss -= beta * target_gap[lo:hi]
                grad = mean_d - target_gap[lo:hi]
                curvature = s2 / s0 - mean_d * mean_d
                if confidence is not None:
                    np.divide(1.0, s0, out=confidence[lo:hi])
                totals.append(tuple(self._total(v, lo, hi) for v in (loss, grad, curvature)))
            return totals  # type: ignore[return-value]

        blocks = [t for part in _threads.map_row_ranges(n_blocks, 8 * k * 4 * step, work)
                  for t in part]  # fmt: skip
        sums = [0.0, 0.0, 0.0]
        for block in blocks:
            for i in range(3):
                sums[i] += block[i]
        f, grad, curvature = (total / self.weight_sum for total in sums)
        return _Evaluation(beta, f, grad, curvature, confidence, precise)


def _categorical_objective(
    preds: NDArray,
    labels: NDArray[np.intp],
    targets: NDArray[np.float64] | None,
    from_logits: bool,
    eps_value: float,
    weight: NDArray[np.float64] | None,
    checked: bool = False,
    predicted_all: NDArray[np.intp] | None = None,
) -> _Objective:
    """The objective of decoded targets; ``checked`` predictions are not checked again,
    and ``predicted_all`` are their top-1 classes, when known."""
    n, k = preds.shape
    gaps = np.empty((k, n))
    gaps32 = np.empty((k, n), np.float32)
    target_gap = np.empty(n)
    credit = np.empty(n)

    def work(lo: int, hi: int) -> bool:
        z = gaps[:, lo:hi]
        np.copyto(z, preds[lo:hi].T, casting="unsafe")
        if not from_logits:
            if not checked and not (
                z.min() >= 0.0 and (np.abs(z.sum(axis=0) - 1) <= ROW_SUM_TOLERANCE).all()
            ):
                return False
            # temperature acts on log p; a 0 is clipped to eps, as the loss clips it
            np.log(np.clip(z, eps_value, 1.0, out=z), out=z)
        top = z.max(axis=0)
        if not (checked or np.isfinite(top).all()):
            return False
        d = np.subtract(z, top, out=z)
        predicted = _top1(d, 0.0, preds, lo) if predicted_all is None else predicted_all[lo:hi]
        t = None if targets is None else _class_major(targets, lo, hi)
        if d.min() < _MASKED_GAP:
            masked = np.isneginf(d)
            if (
                not checked
                and ((masked & (t > 0)) if t is not None else _take(masked, labels[lo:hi])).any()
            ):
                return False
            # -inf, and finite gaps beyond float32's range, become the stand-in: exp is 0
            # either way
            np.maximum(d, _MASKED_GAP, out=d)
        if t is None:
            y = labels[lo:hi]
            # from the whole K x N array: the block is a view of some of its columns, whose
            # reshape(-1) would copy it
            target_gap[lo:hi] = gaps.reshape(-1).take(y * n + np.arange(lo, hi))
            credit[lo:hi] = predicted == y
        else:
            target_gap[lo:hi] = (t * d).sum(axis=0)
            credit[lo:hi] = _take(t, predicted)
        gaps32[:, lo:hi] = d
        return True

    # blocks of 1 MiB of float64 gaps: each makes some ten NumPy calls, so fewer is faster
    if not all(_threads.map_blocks(n, 8 * k, work)):
        if not from_logits:
            _validate.raise_bad_probabilities(preds, 0, categorical=True)
        _validate.raise_bad_logits(preds, 0, _true_cells(labels, targets, k))
    return _Objective("categorical", gaps, target_gap, credit, weight, n, gaps32)


def _bernoulli_objective(
    preds: NDArray,
    t: NDArray[np.float64],
    from_logits: bool,
    eps_value: float,
    weight: NDArray[np.float64] | None,
    multilabel: bool,
    checked: bool = False,
) -> _Objective:
    """The objective of checked targets ``t``; ``checked`` predictions are not checked again."""
    n = len(preds)
    x = preds.astype(np.float64)
    if from_logits:
        if not checked and not np.isfinite(x).all():
            _validate.raise_nonfinite_binary_logits(preds, 0)
        z = x
    else:
        if not checked and not (x.min() >= 0.0 and x.max() <= 1.0):
            _validate.raise_bad_probabilities(preds, 0, categorical=False)
        clipped = np.clip(x, eps_value, 1.0 - eps_value)
        z = np.log(clipped) - np.log1p(-clipped)  # the logit
    per_row = z.shape[1] if multilabel else 1
    if weight is not None and per_row > 1:
        weight = np.repeat(weight, per_row)
    kind = "multilabel" if multilabel else "binary"
    return _Objective(kind, z.reshape(-1), t.reshape(-1), t.reshape(-1), weight, n)
