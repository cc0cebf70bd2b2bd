"""cecli: score saved model outputs with cross-entropy.

The Python API is a short list of names::

    import cecli
    cecli.categorical_cross_entropy(labels, probs)
    cecli.binary_cross_entropy(targets, probs, from_logits=False)
    cecli.multilabel_cross_entropy(targets, probs)
    acc = cecli.Accumulator("categorical"); acc.update(labels, probs); acc.result()
    cecli.find_label_issues(labels, probs).rows   # likely label errors, worst first
    cecli.score_frame(df, label_col="label")      # a pandas DataFrame, as a file is scored

Every problem with the inputs raises :class:`cecli.CecliError`.

The names are imported on first use, so that ``import cecli`` (and the
``cecli --version`` and ``--help`` that depend on it) does not pay for NumPy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from cecli._version import __version__
from cecli.errors import CecliError

if TYPE_CHECKING:
    from cecli.accumulate import Accumulator, ClassSummary, RowFacts, Summary
    from cecli.frame import score_frame
    from cecli.label_issues import LabelIssueResult, LabelIssues, find_label_issues
    from cecli.losses import (
        LossResult,
        SampleScores,
        binary_cross_entropy,
        categorical_cross_entropy,
        multilabel_cross_entropy,
    )

_LAZY = {
    "Accumulator": "cecli.accumulate",
    "ClassSummary": "cecli.accumulate",
    "RowFacts": "cecli.accumulate",
    "Summary": "cecli.accumulate",
    "LabelIssueResult": "cecli.label_issues",
    "LabelIssues": "cecli.label_issues",
    "find_label_issues": "cecli.label_issues",
    "score_frame": "cecli.frame",
    "LossResult": "cecli.losses",
    "SampleScores": "cecli.losses",
    "binary_cross_entropy": "cecli.losses",
    "categorical_cross_entropy": "cecli.losses",
    "multilabel_cross_entropy": "cecli.losses",
}

__all__ = [
    "Accumulator",
    "CecliError",
    "ClassSummary",
    "LabelIssueResult",
    "LabelIssues",
    "LossResult",
    "RowFacts",
    "SampleScores",
    "Summary",
    "__version__",
    "binary_cross_entropy",
    "categorical_cross_entropy",
    "find_label_issues",
    "multilabel_cross_entropy",
    "score_frame",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'cecli' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
