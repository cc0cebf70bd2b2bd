"""What calibration returns: the reliability table, the summary, the Brier decomposition and the
temperature fit."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ReliabilityBin:
    """One row of a reliability table.

    ``lower < confidence <= upper`` (the first bin includes 0). ``count`` is
    how many predictions fell in the bin and ``weight`` their total sample
    weight (the count, unweighted). ``confidence`` is the bin's weighted mean
    confidence and ``accuracy`` its weighted mean credit: for categorical
    predictions the fraction whose top-1 class is right, for binary the
    fraction of positives. ``gap = confidence - accuracy``: positive where the
    model is over-confident (binary: where it over-predicts the positive
    class). The three are None for a bin with no weight.

    ``accuracy_ci_low`` and ``accuracy_ci_high`` bound the accuracy: Wilson's
    score interval at 95% (:func:`cecli.calibration.wilson_interval`) over
    ``effective_count`` predictions, Kish's effective number
    ``weight**2 / sum(w**2)``, which is ``count`` when unweighted. A thin
    bin's interval is wide: its gap may be noise. With soft targets the
    credit is a fraction rather than 0 or 1, and the interval is the one of
    0/1 credits with the same mean (at least as wide as it needs to be).
    """

    lower: float
    upper: float
    count: int
    weight: float
    confidence: float | None
    accuracy: float | None
    gap: float | None
    accuracy_ci_low: float | None = None
    accuracy_ci_high: float | None = None
    effective_count: float | None = None


@dataclass(frozen=True)
class BrierDecomposition:
    """The Brier score split into reliability, resolution and uncertainty (Murphy 1973).

    Every column's probability is binned on its own, in the ``n_bins``
    equal-width bins of the reliability table: each class ``c`` of a
    categorical row (its probability ``p_c`` against the outcome
    ``o_c = [y = c]``, or the soft target ``t_c``), each label of a
    multilabel row, the positive-class probability of a binary row. With
    ``W_cb`` a bin's weight (its count, unweighted), ``p_cb`` and ``o_cb`` its
    weighted mean probability and outcome, ``o_c`` the column's mean outcome
    and ``W`` the total weight, per column:

    * ``REL_c = sum_b (W_cb / W) (p_cb - o_cb)^2``: how far each bin's mean
      probability is from what happened in it (0 is calibrated; lower is better);
    * ``RES_c = sum_b (W_cb / W) (o_cb - o_c)^2``: how far the bins' outcomes
      are from the base rate (higher is better: the forecasts separate rows);
    * ``UNC_c``: the variance of the outcome, ``o_c (1 - o_c)`` for 0/1
      targets (``o_c (1 - o_c) - mean(t_c (1 - t_c))`` for soft targets),
      which no forecast changes.

    Categorical terms are summed over the classes, as the categorical Brier
    score ``sum_c (p_c - o_c)^2`` is: the sum of the classes' one-vs-rest
    decompositions. Murphy's vector partition groups rows by their whole
    vector of probabilities instead, which ``K`` continuous probabilities
    leave no practical way to bin; its uncertainty ``sum_c o_c (1 - o_c)`` is
    the same, its reliability and resolution are not. Multilabel terms are
    averaged over the labels, as the multilabel Brier score is. Binary: the
    one column, as scikit-learn's ``brier_score_loss``.

    Attributes
    ----------
    reliability, resolution, uncertainty : float
        ``REL``, ``RES`` and ``UNC``, summed (categorical) or averaged
        (multilabel) over the columns.
    binned_brier : float
        ``REL - RES + UNC``: exactly the Brier score of the binned forecasts,
        every probability replaced by its bin's mean.
    within_bins : float
        ``brier - binned_brier``: what binning leaves out, Stephenson, Coelho
        and Jolliffe's (2008) ``WBV - WBC``, the probabilities' variance inside
        their bins less twice their within-bin covariance with the outcome. It
        shrinks as the bins narrow; it may be negative.

    Examples
    --------
    >>> from cecli.calibration import calibration
    >>> s = calibration([0, 1, 1, 0], [0.2, 0.9, 0.6, 0.45], kind="binary", n_bins=2)
    >>> d = s.brier_decomposition
    >>> round(d.reliability, 5), d.resolution, d.uncertainty, round(d.within_bins, 5)
    (0.08406, 0.25, 0.25, 0.01906)
    >>> round(d.binned_brier + d.within_bins, 6) == round(s.brier, 6)
    True
    """

    reliability: float
    resolution: float
    uncertainty: float
    binned_brier: float
    within_bins: float


@dataclass(frozen=True)
class CalibrationSummary:
    """What a :class:`CalibrationAccumulator` read from every row it was given.

    Attributes
    ----------
    kind : str
        ``"categorical"``, ``"binary"`` or ``"multilabel"``.
    unit : str
        The unit of ``entropy``, ``target_entropy``, ``kl_divergence`` and
        ``cross_entropy``: ``"nats"``, ``"bits"`` or ``"bans"``.
    n_samples : int
        Rows seen.
    n_predictions : int
        Predictions binned: one per row, or one per cell for multilabel.
    weight_sum : float
        The total sample weight of the rows (``n_samples`` when unweighted).
    sample_weighted : bool
        Whether any chunk came with sample weights.
    n_bins : int
        Equal-width bins in ``bins``, and groups in ``adaptive_bins``.
    ece, mce : float
        Expected and maximum calibration error over ``bins``: torchmetrics'
        ``CalibrationError(norm="l1")`` and ``norm="max"``.
    bins : tuple of ReliabilityBin
        All ``n_bins`` equal-width bins, empty ones included.
    mean_confidence, accuracy : float
        Weighted means over every prediction; ``mean_confidence - accuracy``
        is the overall over-confidence.
    adaptive_ece : float
        ECE over ``n_bins`` groups of about equal weight (equal-mass binning),
        approximated from fine bins; see :meth:`CalibrationAccumulator.result`.
    adaptive_ece_bound : float
        A bound on ``|adaptive_ece - exact equal-mass ECE|``.
    adaptive_bins : tuple of ReliabilityBin
        The non-empty equal-mass groups (at most ``n_bins``).
    brier : float
        Mean Brier score: categorical ``sum_k (p_k - t_k)^2`` per row (one-hot
        or soft ``t``, in [0, 2]); binary ``(p - t)^2`` (in [0, 1], as
        scikit-learn's ``brier_score_loss``); multilabel the mean over a
        row's labels of the binary score.
    entropy : float
        Mean entropy of the predicted distribution, ``-sum_k p_k log p_k``
        (binary and multilabel: of each cell's Bernoulli, averaged over labels).
    soft_targets : bool
        Whether any row had a soft (not 0/1, not one-hot) target.
    target_entropy, kl_divergence, cross_entropy : float or None
        With soft targets, the mean entropy of the targets ``H(t)``, the mean
        ``KL(t || p)`` and their sum, the mean cross-entropy
        ``H(t) + KL(t || p) = -sum_k t_k log p_k`` (probabilities clipped to
        ``[eps, 1 - eps]`` as in the loss functions). None without soft targets.
    rms_calibration_error : float
        The root-mean-square (L2) calibration error over ``bins``,
        ``sqrt(sum_b (W_b / W) (acc_b - conf_b)^2)``: torchmetrics'
        ``CalibrationError(norm="l2")``.
    classwise_ece : float
        Every column's probability binned (see :class:`BrierDecomposition`),
        ``(1 / C) sum_c sum_b (W_cb / W) |o_cb - p_cb|``: the classwise-ECE of
        Kull et al. (2019), the static calibration error (SCE) of Nixon et al.
        (2019), over equal-width bins and averaged over every class (each
        class's share of rows counted, none left out). Multilabel: over the
        labels, each binned on its own (``ece`` pools the cells). Binary: the
        positive class alone, which is ``ece`` (the negative class's bins
        mirror it).
    brier_decomposition : BrierDecomposition
        ``brier`` split into reliability, resolution and uncertainty over the
        same per-column bins, and what binning leaves out.
    """

    kind: str
    unit: str
    n_samples: int
    n_predictions: int
    weight_sum: float
    sample_weighted: bool
    n_bins: int
    ece: float
    mce: float
    bins: tuple[ReliabilityBin, ...]
    mean_confidence: float
    accuracy: float
    adaptive_ece: float
    adaptive_ece_bound: float
    adaptive_bins: tuple[ReliabilityBin, ...]
    brier: float
    entropy: float
    soft_targets: bool
    target_entropy: float | None
    kl_divergence: float | None
    cross_entropy: float | None
    rms_calibration_error: float
    classwise_ece: float
    brier_decomposition: BrierDecomposition


@dataclass(frozen=True)
class TemperatureFit:
    """The temperature that minimises the mean cross-entropy, and what it changes.

    ``loss_before`` and ``ece_before`` are at ``T = 1`` on the same rows,
    computed the same way as ``loss`` and ``ece`` at ``temperature``, so the
    two pairs compare like with like (``loss_before - loss`` is the part of
    the loss that over- or under-confidence alone explains). ``at_bound`` is
    True when the minimum lies at or beyond an end of ``bounds``: then the
    true minimiser is that far out or further (``T = T_min`` when the
    predictions are all right and separable: the loss keeps falling as
    ``T -> 0``). ``evaluations`` counts passes of the objective over the rows.
    """

    temperature: float
    loss: float
    loss_before: float
    ece: float
    ece_before: float
    unit: str
    n_samples: int
    n_bins: int
    bounds: tuple[float, float]
    at_bound: bool
    evaluations: int
