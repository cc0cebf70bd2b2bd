"""Calibration: is the model wrong, or right but over- or under-confident?

Pure NumPy, like :mod:`cecli.losses`: arrays in, numbers and plain result
objects out. Three pieces:

* :class:`CalibrationAccumulator` (and the one-shot :func:`calibration`)
  keeps per-bin sums, fed chunk by chunk and mergeable across workers, and
  reads from them the expected, maximum and root-mean-square calibration
  error (ECE, MCE, RMS), the reliability table, an adaptive (equal-mass) ECE,
  the classwise ECE (every class's probability binned), the Brier score and
  its decomposition into reliability, resolution and uncertainty, the mean
  predictive entropy and, for soft targets, the split of cross-entropy into
  the targets' entropy plus the KL divergence.
* :func:`fit_temperature` finds the single temperature ``T`` that minimises
  the mean cross-entropy of ``softmax(logits / T)`` (for probabilities, of
  ``log p / T``), and reports the loss and ECE before and after.
* :class:`ReservoirSample` keeps a uniform random sample of a stream's rows in
  bounded memory, for fitting a temperature when the input cannot be read twice.

Conventions, in one place:

* **What is binned.** Categorical: the top-1 confidence ``max_k p_k``, and
  whether the top-1 class is the true one. Binary: the positive-class
  probability ``p``, and the target ``t`` (scikit-learn's
  ``calibration_curve``: per bin, mean predicted probability against the
  fraction of positives). Multilabel: every (sample, label) cell as a binary
  prediction. With soft targets ``t`` the "accuracy" credit of a row is the
  target probability of the predicted class, ``t[argmax p]`` (binary: ``t``):
  the chance that the prediction is right under the target distribution,
  which is 0 or 1 for one-hot targets.
* **Bin edges.** ``n_bins`` equal-width bins with edges ``b / n_bins``;
  bin ``b`` holds ``lower < c <= upper`` and the first bin also holds
  ``c = 0`` (``np.searchsorted(edges[1:-1], c)``). These are the bins of
  Guo et al. (2017), of scikit-learn's ``calibration_curve(strategy="uniform")``
  and of torchmetrics' original loop (``conf > lower & conf <= upper``).
  torchmetrics' later ``torch.bucketize(..., right=True)`` binning uses
  ``lower <= c < upper`` and counts ``c = 1`` in a hidden extra bin
  (Lightning-AI/torchmetrics#3510); that is not copied. The edges are
  correctly rounded, where scikit-learn's ``np.linspace(0, 1, n_bins + 1)``
  can be one ulp off (its ``linspace(0, 1, 6)[3]`` is 0.6000000000000001):
  all of these agree unless a confidence lies exactly on an edge.
* **ECE, MCE and RMS.** ``ECE = sum_b (W_b / W) |acc_b - conf_b|``,
  ``MCE = max_b |acc_b - conf_b|`` and
  ``RMS = sqrt(sum_b (W_b / W) (acc_b - conf_b)^2)`` over bins with positive
  weight, where ``W_b`` is the bin's weight (its count, unweighted),
  ``acc_b`` and ``conf_b`` its weighted mean credit and confidence:
  torchmetrics' ``CalibrationError`` with ``norm="l1"``, ``"max"``, ``"l2"``.
* **Every column binned.** The classwise ECE and the Brier decomposition bin
  each column's probability on its own, in the same equal-width bins: every
  class of a categorical row against ``[y = c]`` (or the soft target), every
  label of a multilabel row, the positive class of a binary row; see
  :class:`BrierDecomposition` and ``_classwise``.
* **Weights.** Sample weights make every mean a weighted mean
  ``sum_i w_i x_i / sum_i w_i`` and every bin's share its weight; class
  weights do not apply (calibration describes the data as it comes).
* **Units.** Entropies, KL divergence and losses are in the unit of ``base``
  (nats, bits or bans), as everywhere in cecli; the Brier score and the
  calibration errors are probabilities and have no unit.
* **Precision.** Per-row values are computed in the predictions' own float
  type, as the losses are (float32 stays float32: its ``exp`` is several
  times faster, and the values are no more precise than the input), without
  cancellation (the Brier score is ``sum_{j != y} p_j^2 + (1 - p_y)^2``, the
  entropy ``log S - sum_j p_j d_j``), and summed over rows in float64. For
  class indices over at most 64 classes the loss kernel forms them
  (:mod:`cecli._row_terms`): for probabilities the squares exact in
  float64; for logits the Brier score's and the entropy's sums over classes
  in the float type (for float32 good to about ``K * 6e-8`` relative, as
  the float32 ``exp`` they come from). The temperature fit's final
  evaluations are in float64.

The package's files: ``_facts`` (what one chunk contributes), ``_bins`` (bin
edges and per-bin sums), ``_classwise`` (every column's probability binned:
the classwise ECE and the Brier decomposition), ``_accumulator`` (the mergeable sums and their
reading), ``_reservoir`` (the row sample), ``_objective`` and ``_temperature``
(the function temperature scaling minimises, and the search) and ``_results``
(the objects returned).
"""

from __future__ import annotations

from cecli.calibration._accumulator import CalibrationAccumulator, calibration
from cecli.calibration._bins import (
    DEFAULT_BINS,
    FINE_BINS,
    FINE_LOGIT_LIMIT,
    WILSON_LEVEL,
    wilson_interval,
)
from cecli.calibration._reservoir import ReservoirSample
from cecli.calibration._results import (
    BrierDecomposition,
    CalibrationSummary,
    ReliabilityBin,
    TemperatureFit,
)
from cecli.calibration._temperature import TEMPERATURE_BOUNDS, fit_temperature

__all__ = [
    "DEFAULT_BINS",
    "FINE_BINS",
    "FINE_LOGIT_LIMIT",
    "TEMPERATURE_BOUNDS",
    "WILSON_LEVEL",
    "BrierDecomposition",
    "CalibrationAccumulator",
    "CalibrationSummary",
    "ReliabilityBin",
    "ReservoirSample",
    "TemperatureFit",
    "calibration",
    "fit_temperature",
    "wilson_interval",
]
