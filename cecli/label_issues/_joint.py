"""The confident joint's arithmetic, as cleanlab does it: pure NumPy on counts.

The joint is held as its positive entries (``given``, ``true``, ``count``),
sorted by given class then true class, so that 32,000 classes cost what
their few nonzero pairs cost, not 8 GB. Up to :data:`DENSE_CLASSES` classes
the calibration is done on the dense K x K matrix with cleanlab's own
sequence of NumPy operations (``count.calibrate_confident_joint`` and
``internal.util.round_preserving_row_totals``), so that its floats, its
rounding and its ties come out bit for bit the same; above that, the same
arithmetic runs on the entries alone: the total is summed exactly, not in
NumPy's order, so where two counts of a row tie in their fractions to the
last bit, the one rounded up may be another than cleanlab's (which could
not hold such a matrix anyway: 32,000 classes are 8 GB).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

#: cleanlab's ``FLOATING_POINT_COMPARISON``: the slack of every comparison of probabilities.
TOLERANCE = 1e-6
#: cleanlab's ``CONFIDENT_THRESHOLDS_LOWER_BOUND``: no threshold is lower.
THRESHOLD_FLOOR = 2 * TOLERANCE
#: The threshold of a class no row is labelled with: no probability reaches it.
ABSENT_THRESHOLD = 2.0
#: cleanlab's ``TINY_VALUE``, the floor of every divisor.
TINY = 1e-100
#: Up to this many classes the K x K joint is calibrated dense (8 MiB of float64 at most).
DENSE_CLASSES = 1024


@dataclass(frozen=True)
class Joint:
    """Counts of (given class, true class) pairs: the positive entries of a K x K matrix."""

    n_classes: int
    given: NDArray[np.int64]
    true: NDArray[np.int64]
    count: NDArray[np.int64]

    @classmethod
    def from_keys(cls, n_classes: int, keys: NDArray[np.int64], counts: NDArray) -> Joint:
        """The joint of flat keys ``given * K + true`` and their counts (summed when repeated)."""
        keys, counts = sum_by_key(keys, counts)
        keep = counts > 0
        keys, counts = keys[keep], counts[keep]
        return cls(n_classes, keys // n_classes, keys % n_classes, counts.astype(np.int64))

    @classmethod
    def from_dense(cls, matrix: NDArray) -> Joint:
        given, true = np.nonzero(matrix > 0)
        return cls(len(matrix), given, true, matrix[given, true].astype(np.int64))

    def dense(self) -> NDArray[np.int64]:
        matrix = np.zeros((self.n_classes, self.n_classes), dtype=np.int64)
        matrix[self.given, self.true] = self.count
        return matrix


def sum_by_key(keys: NDArray[np.int64], counts: NDArray) -> tuple[NDArray[np.int64], NDArray]:
    """Each distinct key once, in increasing order, with the sum of its counts."""
    if len(keys) == 0:
        return keys.astype(np.int64), counts
    order = np.argsort(keys, kind="stable")
    keys, counts = keys[order], counts[order]
    starts = np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1])))
    return keys[starts], np.add.reduceat(counts, starts)


def thresholds(sums: NDArray[np.float64], label_counts: NDArray[np.int64]) -> NDArray[np.float64]:
    """Per-class thresholds: the mean probability of class j over the rows labelled j.

    As cleanlab's ``count.get_confident_thresholds``: a class with no rows
    gets :data:`ABSENT_THRESHOLD`, and none is below :data:`THRESHOLD_FLOOR`.

    Examples
    --------
    >>> import numpy as np
    >>> thresholds(np.array([1.5, 0.0, 0.0]), np.array([2, 0, 1])).tolist()
    [0.75, 2.0, 2e-06]
    """
    present = label_counts > 0
    means = np.divide(sums, label_counts, out=np.full(len(sums), ABSENT_THRESHOLD), where=present)
    return np.clip(means, THRESHOLD_FLOOR, None)


def _round_preserving_sum(floats: NDArray[np.float64]) -> NDArray[np.float64]:
    """cleanlab's ``round_preserving_sum``, step for step (its ties included)."""
    ints = floats.round()
    target, total = np.sum(floats).round(), np.sum(ints).round()
    while abs(total - target) > TOLERANCE:
        diff = np.round(target - total)
        step = -1 if diff < 0.0 else 1
        changes = min(int(abs(diff)), len(floats))
        ints[np.argsort(floats - ints)[::-step][:changes]] += step
        total = np.sum(ints).round()
    return ints


def calibrate(joint: Joint, label_counts: NDArray[np.int64]) -> Joint:
    """The confident joint calibrated to the label counts, in whole counts.

    As cleanlab's ``count.calibrate_confident_joint`` after
    ``compute_confident_joint`` has set every diagonal count to at least 1:
    each given class's row is scaled to that class's count of rows, the
    whole to the number of rows, and each row rounded so that its total is
    kept (``round_preserving_row_totals``).

    Examples
    --------
    >>> import numpy as np
    >>> joint = Joint.from_dense(np.array([[3, 1], [0, 2]]))
    >>> calibrate(joint, np.array([8, 2])).dense().tolist()
    [[6, 2], [0, 2]]
    """
    k = joint.n_classes
    if k <= DENSE_CLASSES:
        # column-major, as cleanlab's (a transposed confusion matrix): np.sum adds in memory
        # order, and a last-bit change of the total can turn a tie in the rounding
        cj = np.asfortranarray(joint.dense())
        np.fill_diagonal(cj, cj.diagonal().clip(min=1))
        # cleanlab's own expressions, so that the floats (and the ties in rounding) are its own
        cal = (cj.T / np.clip(cj.sum(axis=1), a_min=TINY, a_max=None) * label_counts).T
        cal = cal / np.clip(np.sum(cal), a_min=TINY, a_max=None) * label_counts.sum()
        rounded = np.array([_round_preserving_sum(row) for row in cal]).reshape(k, k)
        return Joint.from_dense(rounded)
    diagonal = np.zeros(k, dtype=np.int64)
    on = joint.given == joint.true
    diagonal[joint.given[on]] = joint.count[on]
    missing = np.flatnonzero(diagonal == 0)
    keys = np.concatenate((joint.given * k + joint.true, missing * (k + 1)))
    whole = Joint.from_keys(k, keys, np.concatenate((joint.count, np.ones(len(missing), np.int64))))
    given = whole.given
    row_sums = np.bincount(given, weights=whole.count, minlength=k)
    cal = whole.count / np.clip(row_sums, TINY, None)[given] * label_counts[given]
    cal = cal / max(math.fsum(cal), TINY) * label_counts.sum()
    ints = cal.round()
    targets = np.bincount(given, weights=cal, minlength=k).round()
    short = targets - np.bincount(given, weights=ints, minlength=k)
    starts = np.searchsorted(given, np.arange(k + 1))
    for row in np.flatnonzero(short).tolist():
        lo, hi = starts[row], starts[row + 1]
        step = 1 if short[row] > 0 else -1
        # a stable sort, read backwards to add: among ties the later class first, as cleanlab
        order = np.argsort(cal[lo:hi] - ints[lo:hi], kind="stable")[::-step]
        ints[lo + order[: min(int(abs(short[row])), k)]] += step
    keep = ints > 0
    return Joint(k, given[keep], whole.true[keep], ints[keep].astype(np.int64))


def prune_counts(calibrated: Joint) -> Joint:
    """How many rows of each given class to prune as each other true class.

    cleanlab's ``filter._keep_at_least_n_per_class`` with ``n=1`` and
    ``frac_noise=1`` on the transposed calibrated joint: a given class whose
    diagonal count is 0 gets 1, taken evenly from its other counts, and the
    counts are truncated to whole rows. Only the off-diagonal counts are
    returned: ``given`` is the class the rows are labelled with, ``true``
    the one they are pruned as.

    Examples
    --------
    >>> import numpy as np
    >>> counts = prune_counts(Joint.from_dense(np.array([[6, 2], [3, 0]])))
    >>> counts.given.tolist(), counts.true.tolist(), counts.count.tolist()
    ([0, 1], [1, 0], [2, 2])
    """
    k = calibrated.n_classes
    given, true, count = calibrated.given, calibrated.true, calibrated.count
    on = given == true
    diagonal = np.zeros(k, dtype=np.int64)
    diagonal[given[on]] = count[on]
    raised = np.maximum(diagonal, 1) - diagonal
    # cleanlab counts a column's nonzero entries less one, as if its diagonal were nonzero
    spread = np.maximum(np.bincount(given, minlength=k) - 1.0, 1.0)
    off = ~on
    rows = count[off] - (raised / spread)[given[off]]
    rows = np.maximum(rows, 0).astype(np.int64)
    keep = rows > 0
    return Joint(k, given[off][keep], true[off][keep], rows[keep])


def noise_matrix(calibrated: Joint) -> NDArray[np.float64]:
    """P(given label = i | true label = j), from the calibrated joint (dense, K x K).

    As cleanlab's ``count.estimate_latent`` (its ``noise_matrix``): each
    true class's column of the joint normalised to 1, the noise rates (off
    the diagonal) clipped to at most 0.9999 and the columns normalised again.

    Examples
    --------
    >>> import numpy as np
    >>> noise_matrix(Joint.from_dense(np.array([[6, 2], [0, 2]]))).tolist()
    [[1.0, 0.5], [0.0, 0.5]]
    """
    cj = calibrated.dense()
    noise = cj / np.clip(cj.sum(axis=0).astype(float), a_min=TINY, a_max=None)
    diagonal = noise.diagonal().copy()
    noise = np.clip(noise, 0, 0.9999)
    np.fill_diagonal(noise, diagonal)
    return noise / np.clip(noise.sum(axis=0), a_min=TINY, a_max=None)
