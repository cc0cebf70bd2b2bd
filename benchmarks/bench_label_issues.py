"""How well confident learning finds planted label errors, and what a streaming design costs.

Run by hand (never in the test suite; it needs cleanlab and scikit-learn)::

    python benchmarks/bench_label_issues.py               # every set, then the timings
    python benchmarks/bench_label_issues.py --big         # also 1,000,000 x 10 in memory
    python benchmarks/bench_label_issues.py --cache DIR   # where the sets are kept

The sets (``_label_noise_sets.py``): digits, wine, breast cancer, iris and a
20,000-row 20-class ``make_classification`` set; a logistic regression and
a histogram gradient boosting model, out of sample (5-fold
``cross_val_predict``) on labels of which 5% or 15% were flipped, uniformly
or class-conditionally. The first run trains the models (about 10 minutes
on 2 cores) and caches the predictions; later runs only read them.

For each set: precision, recall and F1 of finding the flipped rows for

* ``flag``: cecli's flag today, wrong with confidence >= 0.9;
* ``cleanlab``: ``cleanlab.filter.find_label_issues`` with its defaults;
* ``batched``: ``cleanlab.experimental.label_issues_batched.find_label_issues_batched``;
* ``cecli``: :class:`cecli.label_issues.LabelIssues`, design (a): three
  passes (four when a pair is short of rows) over chunks of 1,000 rows (or
  a tenth of the set, if smaller);
* ``1pass``: design (b), one pass over the same chunks in file order,
  keeping the candidates only (rows whose label is not the most probable),
  each with its two most probable classes above the label; the confident
  joint is counted with the thresholds known so far (the exact ones need
  every row first);
* ``1p-all``: the same with every class above the label kept;
* ``1p-sort``: ``1p-all`` on the rows sorted by label, as many files are;
* ``cand``: ``1p-all``'s candidates with the exact confident joint: what
  keeping the candidates alone loses, the joint apart;
* ``nmargin``: cleanlab's ``filter_by="low_normalized_margin"``, another
  rule, which one pass could give exactly (its count and rows read the
  candidates only).

Then: the fraction of rows each streaming design holds, how the two
label-quality scores rank the issues found (average precision of the
flipped rows among them), a summary (mean F1 over the sets), and timings
on the 20-class set (and, with ``--big``, on 1,000,000 x 10).
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from _label_noise_sets import NoisySet, all_sets

from cecli.label_issues import LabelIssues, find_label_issues
from cecli.label_issues import _joint as joint_math

CHUNK_ROWS = 1_000
TOP_OTHER = 2


def flagged_by_cecli(labels: np.ndarray, probs: np.ndarray, threshold: float = 0.9) -> np.ndarray:
    predicted = probs.argmax(axis=1)
    return (predicted != labels) & (probs.max(axis=1) >= threshold)


def _mask(rows: np.ndarray, n: int) -> np.ndarray:
    mask = np.zeros(n, dtype=bool)
    mask[rows] = True
    return mask


def scores(found: np.ndarray, truth: np.ndarray) -> tuple[float, float, float]:
    tp = int((found & truth).sum())
    precision = tp / max(int(found.sum()), 1)
    recall = tp / max(int(truth.sum()), 1)
    return precision, recall, 2 * precision * recall / max(precision + recall, 1e-12)


def _wrong(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    bumped = probs.copy()
    bumped[np.arange(len(labels)), labels] += joint_math.TOLERANCE
    return bumped.argmax(axis=1) != labels


def _joint_keys(labels: np.ndarray, probs: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    confident = probs >= thresholds - joint_math.TOLERANCE
    n_confident = confident.sum(axis=1)
    guess = np.where(n_confident > 1, probs.argmax(axis=1), confident.argmax(axis=1))
    counted = n_confident > 0
    return (labels * probs.shape[1] + guess)[counted]


class Candidates:
    """Design (b)'s facts of the candidate rows (label not the most probable), kept in one pass.

    Per candidate: row, label, its probability, the most probable class and
    its probability (for the report); per class more probable than the label
    by over 1e-6 (the ``top`` most probable of them, or all): row, class and
    margin ``p_j - p_label``, what the choice of rows reads.
    """

    def __init__(self, top: int | None) -> None:
        self.top = top
        self.rows: list[dict[str, np.ndarray]] = []
        self.entries: list[dict[str, np.ndarray]] = []

    def add(self, labels: np.ndarray, probs: np.ndarray, first_row: int) -> None:
        wrong = np.flatnonzero(_wrong(probs, labels))
        y, p = labels[wrong], probs[wrong]
        p_label = p[np.arange(len(y)), y]
        margins = p - p_label[:, None]
        if self.top is not None:  # all but the top most probable others count as not above
            order = np.argsort(-margins, axis=1, kind="stable")
            np.put_along_axis(margins, order[:, self.top :], -np.inf, axis=1)
        at, true = np.nonzero(margins > joint_math.TOLERANCE)
        top = p.argmax(axis=1)
        self.rows.append(
            {
                "row": (first_row + wrong).astype(np.int64),
                "label": y.astype(np.int32),
                "p_label": p_label,
                "top": top.astype(np.int32),
                "p_top": p[np.arange(len(y)), top],
            }
        )
        self.entries.append(
            {
                "row": (first_row + wrong[at]).astype(np.int64),
                "given": y[at].astype(np.int32),
                "true": true.astype(np.int32),
                "margin": margins[at, true],
            }
        )

    @staticmethod
    def _joined(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
        return {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}

    def count(self) -> int:
        return sum(len(part["row"]) for part in self.rows)

    def bytes_per_row(self) -> float:
        held = [self._joined(self.rows), self._joined(self.entries)]
        return sum(c.nbytes for part in held for c in part.values()) / max(self.count(), 1)

    def choose(self, pairs: joint_math.Joint, label_counts: np.ndarray) -> np.ndarray:
        """Per (given k, true j): the n candidates with the largest p_j - p_k above 1e-6."""
        e = self._joined(self.entries)
        k = len(label_counts)
        wanted = dict(
            zip((pairs.given * k + pairs.true).tolist(), pairs.count.tolist(), strict=True)
        )
        key = e["given"].astype(np.int64) * k + e["true"]
        order = np.lexsort((e["row"], -e["margin"], key))
        key, rows = key[order], e["row"][order]
        starts = np.flatnonzero(np.concatenate(([True], key[1:] != key[:-1]))) if len(key) else []
        bounds = [*list(starts), len(key)]
        chosen = []
        for lo, hi in itertools.pairwise(bounds):
            n = wanted.get(int(key[lo]), 0)
            if n and label_counts[key[lo] // k] > 1:
                chosen.append(rows[lo : min(hi, lo + n)])
        return np.unique(np.concatenate(chosen)) if chosen else np.zeros(0, np.int64)


def one_pass(
    labels: np.ndarray,
    probs: np.ndarray,
    chunk_rows: int,
    *,
    top: int | None = TOP_OTHER,
    exact_joint: bool = False,
):
    """Design (b): one pass; the joint with running thresholds (or, for ``cand``, exact ones)."""
    k = probs.shape[1]
    sums, counts = np.zeros(k), np.zeros(k, dtype=np.int64)
    keys, candidates = [], Candidates(top)
    for lo in range(0, len(labels), chunk_rows):
        y, p = labels[lo : lo + chunk_rows], probs[lo : lo + chunk_rows]
        sums += np.bincount(y, weights=p[np.arange(len(y)), y], minlength=k)
        counts += np.bincount(y, minlength=k)
        if not exact_joint:
            keys.append(_joint_keys(y, p, joint_math.thresholds(sums, counts)))
        candidates.add(y, p, lo)
    if exact_joint:
        keys = [_joint_keys(labels, probs, joint_math.thresholds(sums, counts))]
    joint = joint_math.Joint.from_keys(k, np.concatenate(keys), np.ones(sum(map(len, keys))))
    pairs = joint_math.prune_counts(joint_math.calibrate(joint, counts))
    return candidates.choose(pairs, counts), candidates


def average_precision(ranked_truth: np.ndarray) -> float:
    """Average precision of a ranking (best first) whose relevant items are True."""
    if not ranked_truth.any():
        return 0.0
    hits = np.cumsum(ranked_truth)
    return float((hits / np.arange(1, len(ranked_truth) + 1))[ranked_truth].mean())


def chunk_rows_of(n: int) -> int:
    """Chunks of 1,000 rows, or fewer so that every set has at least 10 of them."""
    return max(10, min(CHUNK_ROWS, n // 10))


def evaluate(noisy: NoisySet) -> dict:
    from cleanlab.experimental.label_issues_batched import find_label_issues_batched
    from cleanlab.filter import find_label_issues as cleanlab_find

    y, p, truth = noisy.labels, noisy.pred_probs, noisy.flipped
    n, chunk = len(y), chunk_rows_of(len(y))
    found = {"flag": flagged_by_cecli(y, p)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        found["cleanlab"] = cleanlab_find(y, p, n_jobs=1)
        found["batched"] = _mask(find_label_issues_batched(y, p, n_jobs=1, verbose=False), n)
        found["nmargin"] = cleanlab_find(y, p, n_jobs=1, filter_by="low_normalized_margin")
    fold = LabelIssues(p.shape[1])
    while True:
        for lo in range(0, n, chunk):
            fold.add(y[lo : lo + chunk], p[lo : lo + chunk], first_row=lo)
        if not fold.needs_another_pass:
            break
        fold = fold.next_pass()
    result = fold.result()
    found["cecli"] = _mask(result.rows, n)
    chosen, candidates = one_pass(y, p, chunk)
    found["1pass"] = _mask(chosen, n)
    chosen_all, candidates_all = one_pass(y, p, chunk, top=None)
    found["1p-all"] = _mask(chosen_all, n)
    by_label = np.argsort(y, kind="stable")  # the same rows, in a file sorted by label
    chosen_sorted, _ = one_pass(y[by_label], p[by_label], chunk, top=None)
    found["1p-sort"] = _mask(by_label[chosen_sorted], n)
    found["cand"] = _mask(one_pass(y, p, chunk, top=None, exact_joint=True)[0], n)
    row = {name: scores(mask, truth) for name, mask in found.items()}
    row["same"] = {
        name: bool(np.array_equal(mask, found["cleanlab"])) for name, mask in found.items()
    }
    row["jaccard"] = {
        name: (mask & found["cleanlab"]).sum() / max((mask | found["cleanlab"]).sum(), 1)
        for name, mask in found.items()
    }
    row["passes"] = fold.pass_number
    row["candidates"] = candidates.count() / n
    row["candidate_bytes"] = candidates.bytes_per_row()
    row["candidate_bytes_all"] = candidates_all.bytes_per_row()
    row["held_a"] = int(result.prune_counts.count.sum()) / n
    ranked = {}
    for score in ("normalized_margin", "self_confidence"):
        again = find_label_issues(y, p, rank_by=score)
        ranked[score] = average_precision(truth[again.rows])
    row["ranking"] = ranked
    return row


METHODS = ("flag", "cleanlab", "batched", "cecli", "1pass", "1p-all", "1p-sort", "cand", "nmargin")


def print_table(names: list[str], rows: list[dict]) -> None:
    print(f"{'set':42} F1: " + " ".join(f"{m:>8}" for m in METHODS) + "  passes  cand%  held%")
    for name, row in zip(names, rows, strict=True):
        f1 = " ".join(f"{row[m][2]:8.3f}" for m in METHODS)
        print(
            f"{name:42}     {f1}  {row['passes']:6}  {100 * row['candidates']:5.1f}"
            f"  {100 * row['held_a']:5.1f}"
        )
    print("\nprecision/recall of each set:")
    for name, row in zip(names, rows, strict=True):
        pr = " ".join(f"{row[m][0]:.2f}/{row[m][1]:.2f}" for m in METHODS)
        print(f"{name:42}     {pr}")
    print("\nmean over the sets (and against cleanlab's rows):")
    for m in METHODS:
        precision = statistics.mean(r[m][0] for r in rows)
        recall = statistics.mean(r[m][1] for r in rows)
        f1 = statistics.mean(r[m][2] for r in rows)
        worse = sum(r[m][2] < r["cleanlab"][2] - 1e-12 for r in rows)
        same = sum(r["same"][m] for r in rows)
        jaccard = statistics.mean(r["jaccard"][m] for r in rows)
        print(
            f"  {m:8} P {precision:.3f}  R {recall:.3f}  F1 {f1:.3f}  F1 below cleanlab's on "
            f"{worse:2} of {len(rows)}; cleanlab's rows on {same:2}, Jaccard {jaccard:.3f}"
        )
    cand = [r["candidates"] for r in rows]
    held = [r["held_a"] for r in rows]
    print(
        f"\nrows held: design (b) every candidate, {100 * min(cand):.1f}-{100 * max(cand):.1f}% "
        f"of the rows, {statistics.mean(r['candidate_bytes'] for r in rows):.0f} bytes each "
        f"with the top {TOP_OTHER} classes above the label, "
        f"{statistics.mean(r['candidate_bytes_all'] for r in rows):.0f} with all of them; "
        f"design (a) passes 3-4, at most the prune counts' sum, "
        f"{100 * min(held):.1f}-{100 * max(held):.1f}% ({_entry_bytes()} bytes each). "
        f"The fourth pass ran on {sum(r['passes'] == 4 for r in rows)} of {len(rows)} sets."
    )
    for score in ("normalized_margin", "self_confidence"):
        ap = statistics.mean(r["ranking"][score] for r in rows)
        wins = sum(r["ranking"][score] >= max(r["ranking"].values()) for r in rows)
        print(
            f"ranking the issues found by {score}: mean average precision {ap:.3f} "
            f"(the better on {wins} of {len(rows)} sets)"
        )


def _entry_bytes() -> int:
    # pair, margin, row, wrong, p_given, suggested, p_suggested (and 8 for an id, if any)
    return 8 + 8 + 8 + 1 + 8 + 8 + 8


def _median_seconds(work, rounds: int = 5) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def time_one(name: str, labels: np.ndarray, probs: np.ndarray, rounds: int) -> None:
    from cleanlab.experimental.label_issues_batched import find_label_issues_batched
    from cleanlab.filter import find_label_issues as cleanlab_find

    def fold_passes() -> None:
        find_label_issues(labels, probs, chunk_rows=65_536)

    contenders = {
        "cleanlab find_label_issues, n_jobs=1": lambda: cleanlab_find(labels, probs, n_jobs=1),
        "cleanlab find_label_issues, default n_jobs": lambda: cleanlab_find(labels, probs),
        "cleanlab find_label_issues_batched": lambda: find_label_issues_batched(
            labels, probs, n_jobs=1, verbose=False
        ),
        "cecli LabelIssues, every pass, 65,536-row chunks": fold_passes,
        "design (b) prototype, one pass": lambda: one_pass(labels, probs, 65_536),
    }
    print(f"\ntimes on {name} ({len(labels):,} x {probs.shape[1]}), median of {rounds}:")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        medians = {label: _median_seconds(work, rounds) for label, work in contenders.items()}
    base = medians["cleanlab find_label_issues, n_jobs=1"]
    for label, seconds in medians.items():
        print(f"  {label:50} {seconds * 1000:8.1f} ms  ({seconds / base:.2f}x cleanlab n_jobs=1)")


def big_set() -> tuple[np.ndarray, np.ndarray]:
    """1,000,000 x 10 probabilities with 10% of the labels flipped (no model: a Dirichlet)."""
    rng = np.random.default_rng(0)
    n, k = 1_000_000, 10
    truth = rng.integers(0, k, n)
    z = rng.standard_normal((n, k))
    z[np.arange(n), truth] += 3.0
    probs = np.exp(z - z.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    labels = truth.copy()
    flip = rng.random(n) < 0.1
    labels[flip] = (truth[flip] + rng.integers(1, k, int(flip.sum()))) % k
    return labels, probs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "cecli-noise")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--big", action="store_true", help="also time 1,000,000 x 10")
    args = parser.parse_args()
    sets = all_sets(args.cache)
    rows = [evaluate(s) for s in sets]
    print_table([s.name for s in sets], rows)
    synthetic = next(s for s in sets if s.name == "synthetic20-logreg-15pct-uniform")
    time_one("the 20-class set", synthetic.labels, synthetic.pred_probs, args.rounds)
    if args.big:
        time_one("1,000,000 x 10", *big_set(), max(1, args.rounds // 2))


if __name__ == "__main__":
    main()
