"""Cross-entropy per sample: binary, categorical and multilabel, from probabilities or logits.

Pure NumPy: arrays in, arrays out, no files, no printing. The three public
functions (:func:`categorical_cross_entropy`, :func:`binary_cross_entropy`,
:func:`multilabel_cross_entropy`) reduce the per-sample losses the way
scikit-learn's ``log_loss`` and PyTorch's ``cross_entropy`` do;
:func:`score` returns the per-sample facts a report needs and the per-class
sums that :class:`cecli.Accumulator` merges.

Conventions, in one place:

* losses are in nats (natural log) unless ``base`` is 2 (bits) or 10 (bans),
  which only rescales them;
* probabilities are clipped to ``[eps, 1 - eps]`` before the log, ``eps``
  being the machine epsilon of their float type by default, as in
  scikit-learn; every value that clipping changed is counted;
* a sample's weight is its ``sample_weights`` entry times the weight of its
  class (for soft targets, the target-weighted mean of the class weights), and
  a weighted mean is ``sum_i w_i l_i / sum_i w_i``: PyTorch's convention for
  ``weight`` with class-index targets, and scikit-learn's for ``sample_weight``.

The package's files, in the order a chunk meets them: ``_units`` (kinds,
reductions, units), ``_common`` (targets, option checks, per-class sums),
``_categorical`` and ``_bernoulli`` (binary and multilabel) compute each
kind's losses, ``_weights`` applies weights and reductions, ``_functions``
(categorical) and ``_binary_functions`` (binary, multilabel) hold the three
public loss functions, and ``_score`` the per-sample facts of one chunk;
``_ignore`` leaves out ignored rows, ``_names`` maps named classes, ``_axes``
turns a class axis into rows; ``_results`` the objects they return.
"""

from __future__ import annotations

from cecli.losses._binary_functions import binary_cross_entropy, multilabel_cross_entropy
from cecli.losses._functions import categorical_cross_entropy
from cecli.losses._results import ClassSums, LossResult, SampleScores
from cecli.losses._score import score
from cecli.losses._units import (
    KINDS,
    REDUCTIONS,
    UNITS,
    ClassWeights,
    Kind,
    Reduction,
    log_base_of,
    unit_of,
)
from cecli.losses._weights import balanced_dot, balanced_weights

__all__ = [
    "KINDS",
    "REDUCTIONS",
    "UNITS",
    "ClassSums",
    "ClassWeights",
    "Kind",
    "LossResult",
    "Reduction",
    "SampleScores",
    "balanced_dot",
    "balanced_weights",
    "binary_cross_entropy",
    "categorical_cross_entropy",
    "log_base_of",
    "multilabel_cross_entropy",
    "score",
    "unit_of",
]
