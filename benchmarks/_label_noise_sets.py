"""The evaluation sets of ``bench_label_issues.py``: out-of-sample predictions on noisy labels.

Each set is a data set, a model and a planted label noise: a fixed fraction
of the rows (5% or 15%, chosen uniformly at random) has its label flipped,
either to a uniformly chosen other class ("uniform") or to one fixed other
class per class ("class-conditional", as a systematic confusion would). The
model is trained on the noisy labels, as a user's would be, and its
predictions are out of sample: ``cross_val_predict(..., method="predict_proba")``
over 5 stratified folds. Every seed is fixed, and each set is cached as a
``.npz`` (labels, predictions, which rows were flipped) so that reruns only
read them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

NOISE_RATES = (0.05, 0.15)
NOISE_KINDS = ("uniform", "class-conditional")
DATA_SETS = ("iris", "wine", "breast_cancer", "digits", "synthetic20")
MODELS = ("logreg", "hgb")
SYNTHETIC_ROWS, SYNTHETIC_CLASSES = 20_000, 20


@dataclass(frozen=True)
class NoisySet:
    name: str
    labels: np.ndarray  # the noisy (given) labels
    pred_probs: np.ndarray  # out-of-sample, N x K float64
    flipped: np.ndarray  # bool: the rows whose label was changed

    @property
    def n_classes(self) -> int:
        return self.pred_probs.shape[1]


def _features(data_set: str) -> tuple[np.ndarray, np.ndarray]:
    from sklearn import datasets

    if data_set == "synthetic20":
        return datasets.make_classification(
            n_samples=SYNTHETIC_ROWS,
            n_features=40,
            n_informative=24,
            n_redundant=6,
            n_classes=SYNTHETIC_CLASSES,
            n_clusters_per_class=1,
            class_sep=1.5,
            random_state=0,
        )
    loader = {
        "iris": datasets.load_iris,
        "wine": datasets.load_wine,
        "breast_cancer": datasets.load_breast_cancer,
        "digits": datasets.load_digits,
    }[data_set]
    bunch = loader()
    return bunch.data, bunch.target


def plant_noise(
    labels: np.ndarray, n_classes: int, rate: float, kind: str, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """The labels with ``round(rate * N)`` rows flipped, and which rows they are."""
    rng = np.random.default_rng(seed)
    n = len(labels)
    rows = rng.choice(n, size=round(rate * n), replace=False)
    noisy = labels.copy()
    if kind == "uniform":
        offsets = rng.integers(1, n_classes, size=len(rows))
    else:  # each class goes to one fixed other class
        offsets = rng.integers(1, n_classes, size=n_classes)[labels[rows]]
    noisy[rows] = (labels[rows] + offsets) % n_classes
    flipped = np.zeros(n, dtype=bool)
    flipped[rows] = True
    return noisy, flipped


def _model(name: str):
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if name == "logreg":
        return make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000))
    return HistGradientBoostingClassifier(max_iter=100, random_state=0)


def set_names() -> list[tuple[str, str, float, str]]:
    names = []
    for data_set in DATA_SETS:
        for model in MODELS:
            for rate in NOISE_RATES:
                for kind in NOISE_KINDS:
                    # with two classes a class-conditional flip is the uniform one
                    if data_set == "breast_cancer" and kind != "uniform":
                        continue
                    names.append((data_set, model, rate, kind))
    return names


def load_set(
    folder: Path, data_set: str, model: str, rate: float, kind: str, *, say=print
) -> NoisySet:
    """One evaluation set, from the cache in ``folder`` or made (and cached) now."""
    name = f"{data_set}-{model}-{round(rate * 100)}pct-{kind}"
    path = folder / f"{name}.npz"
    if path.exists():
        saved = np.load(path)
        return NoisySet(name, saved["labels"], saved["pred_probs"], saved["flipped"])
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    x, y = _features(data_set)
    n_classes = int(y.max()) + 1
    seed = sum(map(ord, name))
    noisy, flipped = plant_noise(y, n_classes, rate, kind, seed)
    start = time.perf_counter()
    folds = StratifiedKFold(5, shuffle=True, random_state=0)
    probs = cross_val_predict(_model(model), x, noisy, cv=folds, method="predict_proba")
    say(f"  made {name} in {time.perf_counter() - start:.1f} s")
    folder.mkdir(parents=True, exist_ok=True)
    np.savez(path, labels=noisy, pred_probs=probs.astype(np.float64), flipped=flipped)
    return NoisySet(name, noisy, probs.astype(np.float64), flipped)


def all_sets(folder: Path, *, say=print) -> list[NoisySet]:
    return [load_set(folder, *name, say=say) for name in set_names()]
