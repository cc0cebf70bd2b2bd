"""The likely label errors of a ``cecli score --label-issues`` run, as plain data.

:class:`LabelIssueSection` names what
:class:`~cecli.label_issues.LabelIssueFindings` found with the run's class
names and ids: the rows worst first (``--top`` of them), the per-class
thresholds, the estimated noise matrix and the most confused pairs. Its
:meth:`~LabelIssueSection.to_dict` is the JSON document's part; the
renderers read the same methods.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cecli.report.format import finite

if TYPE_CHECKING:
    from cecli.label_issues import LabelIssueFindings, LabelIssueResult
    from cecli.readers.shards import ShardMap
    from cecli.shown import Shown

#: The keys of one listed label issue in the JSON document, in order.
ISSUE_KEYS = ("row", "id", "label", "label_index", "suggested", "suggested_index",
              "p_label", "p_suggested", "score")  # fmt: skip
#: Confused pairs listed in the report.
TOP_PAIRS = 10
#: Classes up to which the table and markdown show the noise matrix (JSON always has it).
SHOWN_MATRIX_CLASSES = 12
#: Classes up to which the noise matrix is written at all (K x K numbers).
DENSE_MATRIX_CLASSES = 1024
_PRESENCE = ("absent", "present")


@dataclass(frozen=True)
class LabelIssueSection:
    """What confident learning found, named for people.

    Examples
    --------
    >>> from cecli.label_issues import LabelIssueFindings, find_label_issues
    >>> result = find_label_issues([0, 0, 1, 1], [[.9, .1], [.2, .8], [.1, .9], [.3, .7]])
    >>> section = LabelIssueSection(
    ...     LabelIssueFindings("categorical", [result]), ["cat", "dog"], top=10
    ... )
    >>> [(r["row"], r["label"], r["suggested"]) for r in section.rows()]
    [(1, 'cat', 'dog')]
    >>> section.to_dict()["label_issue_count"], section.confused_pairs()
    (1, [{'label': 'cat', 'suggested': 'dog', 'count': 1}])
    """

    findings: LabelIssueFindings
    classes: list[str]
    top: int
    #: For an input of many files: each listed issue gains ``file`` and ``file_row``.
    shards: ShardMap | None = None
    #: With ``--show``: each listed issue gains ``show``, the values of the columns shown.
    show: Shown | None = None

    #: The document's keys, in order.
    KEYS = ("label_issues", "label_issue_count", "label_issues_estimated", "label_quality",
            "label_thresholds", "noise_matrix", "confused_pairs")  # fmt: skip

    @property
    def multilabel(self) -> bool:
        return self.findings.kind == "multilabel"

    @property
    def count(self) -> int:
        return self.findings.n_issues

    def class_name(self, index: int) -> str:
        classes = self.classes
        return classes[index] if 0 <= index < len(classes) else str(index)

    def _given_name(self, index: int) -> str:
        return _PRESENCE[index] if self.multilabel else self.class_name(index)

    @property
    def n_shown(self) -> int:
        """How many issues a person sees (table, markdown): ``top``, or all when ``top`` is 0."""
        n = len(self.findings.rows)
        return n if self.top == 0 else min(self.top, n)

    def keys(self) -> tuple[str, ...]:
        """The keys of a listed issue, in order (``class`` for multilabel; ``file``, sharded)."""
        keys = (*ISSUE_KEYS[:2], "class", *ISSUE_KEYS[2:]) if self.multilabel else ISSUE_KEYS
        keys += ("show",) if self.show is not None else ()
        return keys if self.shards is None else (keys[0], "file", "file_row", *keys[1:])

    def given_names(self) -> list[str]:
        """The names a given or suggested label has, by index (multilabel: absent, present)."""
        return list(_PRESENCE) if self.multilabel else list(self.classes)

    def rows(self, *, every: bool = False) -> list[dict[str, Any]]:
        """The issues a person sees, worst first (:attr:`n_shown`); with ``every``, all of them.

        JSON lists every issue found: they are the answer, and as many as the
        fold keeps anyway.
        """
        f = self.findings
        n = len(f.rows) if every else self.n_shown
        out = []
        for i in range(n):
            label, suggested = int(f.labels[i]), int(f.suggested[i])
            row: dict[str, Any] = {"row": int(f.rows[i])}
            if self.shards is not None:
                row["file"], row["file_row"] = self.shards.file_of(int(f.rows[i]))
            row["id"] = None
            if f.ids is not None and f.ids[i] is not None:
                row["id"] = str(f.ids[i])
            if self.multilabel:
                row["class"] = self.class_name(int(f.classes[i]))
            row |= {
                "label": self._given_name(label),
                "label_index": label,
                "suggested": self._given_name(suggested),
                "suggested_index": suggested,
                "p_label": finite(float(f.p_given[i])),
                "p_suggested": finite(float(f.p_suggested[i])),
                "score": finite(float(f.scores[i])),
            }
            if self.show is not None:
                row["show"] = self.show.as_dict(int(f.rows[i]))
            out.append(row)
        return out

    def thresholds(self) -> dict[str, Any]:
        """Per class, the mean probability the model gives it over the rows labelled with it.

        None for a class no row is labelled with.
        """

        def values(result: LabelIssueResult) -> list[float | None]:
            return [
                finite(t) if n else None
                for t, n in zip(result.thresholds, result.label_counts, strict=True)
            ]

        problems = self.findings.problems
        if self.multilabel:
            return {
                self.class_name(i): dict(zip(_PRESENCE, values(r), strict=True))
                for i, r in enumerate(problems)
            }
        return dict(zip(map(self.class_name, range(len(problems[0].thresholds))),
                        values(problems[0]), strict=True))  # fmt: skip

    def noise_matrix(self) -> Any:
        """P(given label i | true label j), rows i, columns j; None above 1,024 classes."""
        problems = self.findings.problems
        if self.multilabel:
            return {self.class_name(i): r.noise_matrix().tolist() for i, r in enumerate(problems)}
        if len(problems[0].thresholds) > DENSE_MATRIX_CLASSES:
            return None
        return problems[0].noise_matrix().tolist()

    def confused_pairs(self) -> list[dict[str, Any]]:
        """The most frequent (given, suggested) pairs among the issues found."""
        out: list[dict[str, Any]] = []
        for index, result in enumerate(self.findings.problems):
            for given, suggested, count in result.confused_pairs():
                pair: dict[str, Any] = {"class": self.class_name(index)} if self.multilabel else {}
                pair |= {
                    "label": self._given_name(given),
                    "suggested": self._given_name(suggested),
                    "count": count,
                }
                out.append(pair)
        out.sort(key=lambda pair: -pair["count"])  # stable: the problems' own order on ties
        return out[:TOP_PAIRS]

    def to_dict(self, *, rows: bool = True) -> dict[str, Any]:
        """The JSON document's label-issue keys; with ``rows=False``, no issue listed."""
        f = self.findings
        return {
            "label_issues": self.rows(every=True) if rows else [],
            "label_issue_count": self.count,
            "label_issues_estimated": f.estimated_issues,
            "label_quality": f.problems[0].rank_by,
            "label_thresholds": self.thresholds(),
            "noise_matrix": self.noise_matrix(),
            "confused_pairs": self.confused_pairs(),
        }


#: The label-issue keys of a document without ``--label-issues``.
NO_LABEL_ISSUES: dict[str, Any] = dict.fromkeys(LabelIssueSection.KEYS)
