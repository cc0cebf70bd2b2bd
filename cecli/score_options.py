"""The options of a scoring run: :class:`ScoreOptions`, what ``cecli score`` passes the folds."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from numpy.typing import ArrayLike

from cecli.accumulate import Accumulator
from cecli.errors import OptionError
from cecli.losses import ClassWeights

if TYPE_CHECKING:
    from cecli.slices import SliceSpec


@dataclass(frozen=True)
class ScoreOptions:
    """The options of a scoring run, as ``cecli score`` passes them.

    A bad option, or two that no input takes together, fails when the
    options are made, before any file is read, with the accumulator's message.

    Examples
    --------
    >>> from cecli.score_options import ScoreOptions
    >>> ScoreOptions(ignore_index=-100, top_k=5).accumulator("categorical", from_logits=True).top_k
    5
    >>> ScoreOptions(pos_weight=3, top_k=5)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    cecli.errors.OptionError: top_k is for categorical predictions, and pos_weight ...
    """

    class_weights: ClassWeights = None
    eps: float | str = "auto"
    label_smoothing: float = 0.0
    focal_gamma: float = 0.0
    threshold: float = 0.9
    base: str | float = "e"
    keep: int | None = 10
    #: Equal-width confidence bins of the calibration sums, or None for no calibration.
    calibration_bins: int | None = None
    #: Whether to fit a temperature (it needs calibration_bins).
    temperature: bool = False
    #: Also count per-sample losses in fine log-spaced bins, for a picture.
    fine_histogram: bool = False
    #: Find likely label errors by confident learning (more passes over the rows).
    label_issues: bool = False
    #: The label-quality score they are ranked by (see :class:`cecli.label_issues.LabelIssues`).
    label_quality: str = "self_confidence"
    #: The --by columns (see cecli.slices.parse_by); empty for no slices.
    slices: tuple[SliceSpec, ...] = ()
    #: Slices with fewer rows are listed apart, not ranked.
    min_slice_rows: int = 30
    #: Also find each row's EL2N score (:attr:`cecli.SampleScores.el2n`) and fold its
    #: distribution (:class:`cecli.el2n.El2nDistribution`).
    el2n: bool = False
    #: Binary and multilabel: the positive term's weight, one number or one per label.
    pos_weight: ArrayLike | None = None
    #: The focal alpha, one number or one per class (label).
    focal_alpha: ArrayLike | None = None
    #: Rows whose target is this are left out of every statistic (``--ignore-label``).
    ignore_index: int | None = None
    #: Also count top-k accuracy, and rank each row's true class (``--top-k``).
    top_k: int | None = None

    def __post_init__(self) -> None:
        # a bad option fails here, before any file is read, with the accumulator's message
        # (pos_weight is checked as binary's: it is refused for categorical inputs when
        # the inputs say they are)
        if self.pos_weight is not None and self.top_k is not None:
            raise OptionError(
                "is for categorical predictions, and pos_weight (--pos-weight) for binary and "
                "multilabel ones: no input takes both. Leave one out.",
                option="top_k",
            )
        self.accumulator(
            "binary" if self.pos_weight is not None else "categorical", from_logits=False
        )

    def accumulator(self, kind: str, *, from_logits: bool) -> Accumulator:
        """The loss fold of these options."""
        return Accumulator(
            kind,  # type: ignore[arg-type]
            from_logits=from_logits,
            class_weights=self.class_weights,
            eps=self.eps,
            label_smoothing=self.label_smoothing,
            focal_gamma=self.focal_gamma,
            threshold=self.threshold,
            base=self.base,
            keep=self.keep,
            pos_weight=self.pos_weight,
            focal_alpha=self.focal_alpha,
            ignore_index=self.ignore_index,
            top_k=self.top_k,
        )
