"""Temperature scaling: the one ``T`` that minimises the cross-entropy of ``softmax(z / T)``."""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray

from cecli import _validate
from cecli.calibration._bins import (
    DEFAULT_BINS,
    _bin_edges,
    _bin_index,
    _BinSums,
    _check_bins,
    _ece_mce,
)
from cecli.calibration._facts import _check_kind
from cecli.calibration._objective import (
    _bernoulli_objective,
    _categorical_objective,
    _Evaluation,
    _Objective,
)
from cecli.calibration._results import TemperatureFit
from cecli.errors import OptionError, ShapeError
from cecli.losses import Kind, unit_of
from cecli.losses._common import _class_index_targets

#: The temperatures :func:`fit_temperature` searches, ``T_min <= T <= T_max``.
TEMPERATURE_BOUNDS = (0.05, 20.0)


#: The temperature search stops when its Newton step is below this, relative to ``1 / T``.
_TOLERANCE = 1e-7
#: A cap on the temperature search's evaluations; bisection alone needs fewer than 50.
_MAX_EVALUATIONS = 100


def _check_bounds(bounds: tuple[float, float]) -> tuple[float, float]:
    try:
        low, high = (float(b) for b in bounds)
    except (TypeError, ValueError):
        raise OptionError(
            f"must be two temperatures (low, high); got {bounds!r}.", option="bounds"
        ) from None
    # within 1e-6..1e6, beta times a masked class's stand-in gap still has exp 0
    if not (1e-6 <= low < high <= 1e6):
        raise OptionError(
            f"must be two temperatures with 1e-6 <= low < high <= 1e6; got {bounds!r}.",
            option="bounds",
        )
    return low, high


def fit_temperature(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    *,
    kind: Kind = "categorical",
    from_logits: bool = False,
    sample_weights: ArrayLike | None = None,
    n_bins: int = DEFAULT_BINS,
    bounds: tuple[float, float] = TEMPERATURE_BOUNDS,
    eps: float | str = "auto",
    base: str | float = "e",
) -> TemperatureFit:
    """The temperature ``T`` that minimises the mean cross-entropy, found in ``bounds``.

    Categorical: the loss of ``softmax(z / T)`` for logits ``z``; for
    probabilities ``z = log(clip(p, eps, 1))``, so that ``softmax(z / T)`` is
    ``p^(1/T)`` renormalised (at ``T = 1`` this is ``p`` itself, renormalised:
    for rows that sum to 1 only within the tolerance, ``loss_before`` differs
    slightly from the loss functions' value). Binary and multilabel: the
    logit ``z`` (for a probability, ``log(p / (1 - p))`` with ``p`` clipped to
    ``[eps, 1 - eps]``) is scaled to ``z / T``; multilabel fits one ``T`` for
    every cell. ``T > 1`` softens over-confident predictions, ``T < 1``
    sharpens under-confident ones; the top-1 class never changes.

    The search is bounded: ``T`` in ``bounds``, by default ``[0.05, 20]``.
    It runs over ``beta = 1 / T``, in which the mean cross-entropy is convex
    (a log-sum-exp of ``beta z`` minus a linear term), so the minimiser in
    the interval is unique and is where the derivative changes sign. A
    safeguarded Newton iteration finds it (see :func:`_minimise`): steps in
    ``log beta`` from ``T = 1``, bisection whenever a step leaves the
    bracket, float32 passes until the step is below 1e-5 relative, then
    float64 passes until it is below 1e-7 (usually one); 4 to 8 passes in
    all, each over every prediction, multithreaded.

    The rows must be in memory, and the fit keeps ``1.5`` times their
    float64 size besides: pass every row, or a :class:`ReservoirSample` of
    them when the input is streamed.

    Parameters
    ----------
    y_true, y_pred, kind, from_logits, sample_weights, eps, base
        As for :func:`calibration`.
    n_bins : int, default=15
        Equal-width bins for the ECE before and after.
    bounds : (float, float), default=(0.05, 20.0)
        The smallest and largest temperature searched, within [1e-6, 1e6].

    Returns
    -------
    TemperatureFit

    Examples
    --------
    >>> import numpy as np
    >>> from cecli.calibration import fit_temperature
    >>> rng = np.random.default_rng(0)
    >>> logits = rng.normal(0.0, 2.0, size=(20_000, 5))
    >>> p = np.exp(logits - logits.max(axis=1, keepdims=True))
    >>> p /= p.sum(axis=1, keepdims=True)
    >>> labels = (p.cumsum(axis=1) > rng.random((20_000, 1))).argmax(axis=1)
    >>> fit = fit_temperature(labels, 3 * logits, from_logits=True)
    >>> round(fit.temperature, 1), fit.ece < fit.ece_before, fit.loss < fit.loss_before
    (3.0, True, True)
    """
    return _fit(
        _check_kind(kind),
        y_true,
        y_pred,
        from_logits,
        sample_weights,
        n_bins,
        bounds,
        eps,
        base,
        checked=False,
    )


def fit_checked_sample(
    y_true: ArrayLike,
    preds: NDArray,
    *,
    kind: Kind,
    from_logits: bool,
    sample_weights: NDArray[np.float64] | None,
    n_bins: int,
    eps: float | str,
    base: str | float,
    predicted: NDArray[np.intp] | None = None,
) -> TemperatureFit:
    """:func:`fit_temperature` of rows whose predictions and weights were checked already.

    For the rows of a :class:`ReservoirSample` of checked views
    (:mod:`cecli.folds`): the targets are decoded again (a cheap pass), the
    predictions are not checked again. ``predicted``, the categorical rows'
    top-1 classes as the views found them, spares finding them again.

    Examples
    --------
    >>> import numpy as np
    >>> from cecli.calibration._temperature import fit_checked_sample
    >>> logits = np.array([[4.0, 0.0], [0.0, 4.0], [4.0, 0.0], [0.0, 4.0]])
    >>> fit = fit_checked_sample([0, 1, 1, 0], logits, kind="categorical", from_logits=True,
    ...                          sample_weights=None, n_bins=2, eps="auto", base="e")
    >>> fit.temperature > 1
    True
    """
    return _fit(
        kind,
        y_true,
        preds,
        from_logits,
        sample_weights,
        n_bins,
        TEMPERATURE_BOUNDS,
        eps,
        base,
        checked=True,
        predicted=predicted,
    )


def _fit(
    kind: str,
    y_true: ArrayLike,
    y_pred: ArrayLike,
    from_logits: bool,
    sample_weights: ArrayLike | None,
    n_bins: int,
    bounds: tuple[float, float],
    eps: float | str,
    base: str | float,
    *,
    checked: bool,
    predicted: NDArray[np.intp] | None = None,
) -> TemperatureFit:
    n_bins = _check_bins(n_bins)
    t_min, t_max = _check_bounds(bounds)
    unit, ln_base = unit_of(base)
    preds = _validate.as_float_array(y_pred, "Predictions")
    weight = None
    if sample_weights is not None:
        weight = _validate.sample_weight_array(sample_weights, len(preds) if preds.ndim else 0, 0)
    if kind == "categorical":
        if preds.ndim != 2:
            raise ShapeError(
                f"Categorical predictions must be 2-D (samples x classes); got shape {preds.shape}."
            )
        n, k = preds.shape
        _validate.check_not_empty(n, k)
        labels, targets = _class_index_targets(y_true, n, k, 0)
        eps_value = _validate.resolve_eps(eps, preds.dtype)
        objective = _categorical_objective(
            preds, labels, targets, from_logits, eps_value, weight, checked, predicted
        )
    else:
        multilabel = kind == "multilabel"
        y = np.asarray(y_true)
        if not multilabel:
            preds = preds[:, 0] if preds.ndim == 2 and preds.shape[1] == 1 else preds
            y = y[:, 0] if y.ndim == 2 and y.shape[1] == 1 else y
        if preds.shape != y.shape or preds.ndim != (2 if multilabel else 1):
            raise ShapeError(
                f"{'Multilabel' if multilabel else 'Binary'} predictions and targets must have "
                f"the same {'2-D' if multilabel else '1-D'} shape; got {preds.shape} and "
                f"{y.shape}."
            )
        _validate.check_not_empty(len(preds), preds.shape[1] if multilabel else None)
        t = _validate.binary_targets(y, 0)
        eps_value = _validate.resolve_eps(eps, preds.dtype)
        objective = _bernoulli_objective(
            preds, t, from_logits, eps_value, weight, multilabel, checked
        )
    weight_sum = objective.weight_sum
    if not weight_sum > 0:
        _validate.raise_zero_total_weight("sample weights")
    edges = _bin_edges(n_bins)

    def ece_of(at: _Evaluation) -> float:
        confidence = at.confidence
        assert confidence is not None  # a precise evaluation
        sums = _BinSums.of(
            _bin_index(confidence, edges), confidence, objective.credit, objective.weight, n_bins
        )
        return _ece_mce(sums, weight_sum)[0]

    low, high = 1.0 / t_max, 1.0 / t_min
    start = objective(min(max(1.0, low), high))
    before = start if start.beta == 1.0 else objective(1.0)
    best, evaluations, at_bound = _minimise(objective, start, low, high)
    return TemperatureFit(
        temperature=1.0 / best.beta,
        loss=best.f / ln_base,
        loss_before=before.f / ln_base,
        ece=ece_of(best),
        ece_before=ece_of(before),
        unit=unit,
        n_samples=objective.n_samples,
        n_bins=n_bins,
        bounds=(t_min, t_max),
        at_bound=at_bound,
        evaluations=evaluations,
    )


def _minimise(
    objective: _Objective, start: _Evaluation, low: float, high: float
) -> tuple[_Evaluation, int, bool]:
    """Minimise a convex ``f`` over ``beta`` in ``[low, high]``: ``(at, evaluations, at_bound)``.

    A safeguarded Newton iteration for ``f'(beta) = 0``, its steps taken in
    ``u = log beta`` (``u -= g' / g''`` with ``g(u) = f(e^u)``), which
    overshoots far less than steps in ``beta`` when the curvature grows
    towards small ``beta``. It keeps a bracket ``[a, b]`` known to hold the
    minimiser (``f' < 0`` left of it, ``f' > 0`` right of it). A step that
    leaves the bracket becomes a try of the interval's end (once) if it left
    on that side, else the geometric midpoint of the bracket, as does any
    step where ``g'' <= 0``.

    Categorical objectives first run on float32 passes, until a step is
    below 1e-5 relative; that step is taken, and float64 passes continue
    until one is below :data:`_TOLERANCE` (usually the first: float32 puts
    the root within about 1e-7). The bracket is reset at the switch, since
    float32 signs that close to the root may be wrong.
    """
    a, b = low, high
    at, beta = start, start.beta
    precise = start.precise and objective.kind != "categorical"
    tolerance = _TOLERANCE if precise else 1e-5
    tried_low = tried_high = False
    evaluations = 1
    at_bound = False
    while evaluations < _MAX_EVALUATIONS:
        if at.beta != beta or (precise and not at.precise):
            at = objective(beta, precise)
            evaluations += 1
        grad = at.grad
        if (beta == high and grad <= 0) or (beta == low and grad >= 0):
            at_bound = grad != 0
            break
        tried_high |= beta == high
        tried_low |= beta == low
        if grad > 0:
            b = beta
        elif grad < 0:
            a = beta
        else:
            break
        # in u = log beta: g' = beta f', g'' = beta f' + beta^2 f''
        g1 = beta * grad
        g2 = g1 + beta * beta * at.curvature
        step = g1 / g2 if g2 > 0 else math.nan
        converged = abs(step) <= tolerance or b - a <= 1e-13 * b
        if converged and precise:
            break
        if converged or (not precise and evaluations >= _MAX_EVALUATIONS // 2):
            precise, tolerance, a, b = True, _TOLERANCE, low, high
            if not converged:
                continue
        if math.isnan(step):
            beta = math.sqrt(a * b)
            continue
        proposal = beta * math.exp(-min(max(step, -700.0), 700.0))
        if not a < proposal < b and not converged:
            if proposal >= b and b == high and not tried_high:
                proposal = high
            elif proposal <= a and a == low and not tried_low:
                proposal = low
            else:
                proposal = math.sqrt(a * b)
        beta = min(max(proposal, low), high)
    if not at.precise:
        at = objective(at.beta, True)
        evaluations += 1
    return at, evaluations, at_bound
