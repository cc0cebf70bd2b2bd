"""What a label-issue fold finds: :class:`LabelIssueResult`, plain arrays and counts."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from cecli.errors import OptionError
from cecli.label_issues import _joint
from cecli.label_issues._joint import Joint


@dataclass(frozen=True)
class LabelIssueResult:
    """What confident learning found: the likely label errors, worst first, and its estimates.

    Examples
    --------
    >>> from cecli.label_issues import find_label_issues
    >>> probs = [[.9, .1], [.8, .2], [.3, .7], [.2, .8], [.2, .8], [.1, .9], [.3, .7]]
    >>> result = find_label_issues([0, 0, 0, 0, 1, 1, 1], probs)
    >>> result.rows.tolist(), result.n_issues, result.confused_pairs()
    ([3], 1, [(0, 1, 1)])
    >>> result.noise_matrix().tolist()
    [[1.0, 0.25], [0.0, 0.75]]

    ``rows`` are 0-based rows of the whole input; ``labels`` their given
    classes, ``suggested`` the most probable class and ``p_suggested`` its
    probability, ``p_given`` the given class's, ``scores`` the label-quality
    score they are ranked by (lower: worse). ``ids`` are the rows' ids when
    the chunks had ids. ``estimated_issues`` is cleanlab's
    ``count.num_label_issues`` (rows off the diagonal of the uncalibrated
    joint whose label is not the most probable); ``n_issues`` the rows found.
    """

    n_samples: int
    rank_by: str
    thresholds: NDArray[np.float64]
    label_counts: NDArray[np.int64]
    confident_joint: Joint
    calibrated_joint: Joint
    prune_counts: Joint
    estimated_issues: int
    rows: NDArray[np.int64]
    labels: NDArray[np.int64]
    suggested: NDArray[np.int64]
    p_given: NDArray[np.float64]
    p_suggested: NDArray[np.float64]
    scores: NDArray[np.float64]
    ids: NDArray | None = None
    #: The rows' ``--show`` values (rows x columns of text or None), when the chunks had them.
    shown: NDArray | None = None

    @property
    def n_issues(self) -> int:
        return len(self.rows)

    def noise_matrix(self) -> NDArray[np.float64]:
        """P(given = i | true = j) as a dense K x K array (see :func:`._joint.noise_matrix`)."""
        if self.calibrated_joint.n_classes > _joint.DENSE_CLASSES:
            raise OptionError(
                f"The noise matrix of {self.calibrated_joint.n_classes:,} classes is not kept "
                f"dense (at most {_joint.DENSE_CLASSES:,}); read calibrated_joint's entries."
            )
        return _joint.noise_matrix(self.calibrated_joint)

    def confused_pairs(self) -> list[tuple[int, int, int]]:
        """(given, suggested, rows) of the issues found, the most frequent pair first."""
        keys, counts = _joint.sum_by_key(
            self.labels * len(self.thresholds) + self.suggested, np.ones(len(self.rows), np.int64)
        )
        order = np.lexsort((keys, -counts))
        k = len(self.thresholds)
        return [
            (int(key // k), int(key % k), int(c))
            for key, c in zip(keys[order], counts[order], strict=True)
        ]
