"""Make the files in sample_data/ from models trained with scikit-learn.

    python sample_data/make_samples.py

Everything comes from datasets that ship inside scikit-learn, so it runs
offline and gives the same files every time (fixed seeds):

* ``digits_probs.csv`` / ``digits_labels.csv``: a logistic-regression digits
  classifier's predicted probabilities (10 classes, one column per digit) on
  a held-out test split, and the true digits. Eight labels are deliberately
  flipped (see ``FLIPPED_ROWS`` below and sample_data/README.md) so that the
  report has confident mistakes to flag besides the model's real ones.
* ``digits_images.csv``: the labels of ``digits_labels.csv`` (flipped ones
  too) beside each test row's ``image``, its index in scikit-learn's
  ``load_digits().images``: a column for ``--show``.
* ``digits_probs_mlp.csv``: a second digits model, a small neural network
  (scikit-learn's MLPClassifier), on the same test images in the same order:
  the candidate to compare with the logistic regression in ``cecli compare``.
* ``breast_cancer_logits.csv``: a binary breast-cancer classifier's logit
  (the decision function, log-odds of "benign") with the true label
  (1 = benign, 0 = malignant) and a sample id, in one file.
* ``digits_multilabel_probs.csv`` / ``digits_multilabel_labels.csv``: a small
  multilabel case on the digits images: three yes/no labels per image
  (``even``, ``large`` = digit >= 5, ``prime``), each from its own logistic
  regression.
* ``digits.npz``: the digits probabilities and (flipped) labels as NumPy
  arrays (keys ``probs`` and ``labels``), for the Python API: exactly the
  numbers of ``digits_probs.csv`` and ``digits_labels.csv``.

Needs scikit-learn (``pip install ".[test]"``).

The files are the same, byte for byte, on every run and machine. A model's
float64 outputs are not: their last bits depend on how many threads the BLAS
uses and on which CPU kernels it picks, so every number is written rounded
(the CSVs' fixed decimals, and the same numbers in the NPZ), and the NPZ is
written by :func:`write_npz` with fixed zip timestamps and no compression
(whose bytes would depend on the zlib). The BLAS is also held to one thread,
so a run on one machine gives the same bits whatever its number of cores.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

HERE = Path(__file__).resolve().parent
SEED = 0
#: Test-set rows whose digit label is replaced by another digit, on purpose.
FLIPPED_ROWS = [3, 41, 97, 150, 201, 263, 318, 402]


#: The timestamp of every member of the NPZ (the earliest a zip can hold).
ZIP_DATE_TIME = (1980, 1, 1, 0, 0, 0)


def write_csv(path: Path, header: list[str], columns: list[np.ndarray], fmt: list[str]) -> None:
    rows = [",".join(header)]
    for values in zip(*columns, strict=True):
        rows.append(",".join(f.format(v) for f, v in zip(fmt, values, strict=True)))
    path.write_bytes(("\n".join(rows) + "\n").encode())  # "\n" on every platform


def as_written(values: np.ndarray, fmt: str) -> np.ndarray:
    """The numbers a CSV written with ``fmt`` holds: ``values`` through the text and back."""
    return np.array([float(fmt.format(v)) for v in values.ravel()]).reshape(values.shape)


def write_npz(path: Path, **arrays: np.ndarray) -> None:
    """``np.savez`` with the same bytes on every run: fixed timestamps, stored, not deflated."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, array in arrays.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.ascontiguousarray(array), allow_pickle=False)
            member = zipfile.ZipInfo(f"{name}.npy", date_time=ZIP_DATE_TIME)
            member.external_attr = 0o644 << 16  # rw-r--r--, whatever the umask
            archive.writestr(member, buffer.getvalue())


def digits() -> tuple[np.ndarray, np.ndarray]:
    data = load_digits()
    x_train, x_test, y_train, y_test = train_test_split(
        data.data, data.target, test_size=0.25, random_state=SEED, stratify=data.target
    )
    model = make_pipeline(StandardScaler(), LogisticRegression(C=0.5, max_iter=2000))
    model.fit(x_train, y_train)
    probs = model.predict_proba(x_test)
    labels = y_test.astype(np.int64)  # the platform's default integer is not always 64-bit
    rng = np.random.default_rng(SEED)
    for row in FLIPPED_ROWS:
        labels[row] = (labels[row] + rng.integers(1, 10)) % 10  # any digit but the true one
    header = [str(c) for c in model.classes_]
    probs = as_written(probs, "{:.8f}")  # what the CSV holds, so the NPZ holds the same
    write_csv(HERE / "digits_probs.csv", header, list(probs.T), ["{:.8f}"] * 10)
    write_csv(HERE / "digits_labels.csv", ["label"], [labels], ["{:d}"])
    # the same split of the images' numbers: which image of load_digits() each test row is
    _, index_test = train_test_split(
        np.arange(len(data.target)), test_size=0.25, random_state=SEED, stratify=data.target
    )
    write_csv(HERE / "digits_images.csv", ["label", "image"], [labels, index_test], ["{:d}"] * 2)
    write_npz(HERE / "digits.npz", probs=probs, labels=labels)
    mlp = make_pipeline(StandardScaler(), MLPClassifier((64,), max_iter=1000, random_state=SEED))
    mlp.fit(x_train, y_train)
    write_csv(
        HERE / "digits_probs_mlp.csv", header, list(mlp.predict_proba(x_test).T), ["{:.8f}"] * 10
    )
    return probs, labels


def breast_cancer() -> None:
    data = load_breast_cancer()
    ids = np.arange(len(data.target))
    x_train, x_test, y_train, y_test, _, id_test = train_test_split(
        data.data, data.target, ids, test_size=0.3, random_state=SEED, stratify=data.target
    )
    model = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000))
    model.fit(x_train, y_train)
    logits = model.decision_function(x_test)  # log-odds of class 1, "benign"
    write_csv(
        HERE / "breast_cancer_logits.csv",
        ["id", "logit", "label"],
        [id_test, logits, y_test],
        ["sample-{:03d}", "{:.6f}", "{:d}"],
    )


def digits_multilabel() -> None:
    data = load_digits()
    digit = data.target
    targets = np.stack([digit % 2 == 0, digit >= 5, np.isin(digit, [2, 3, 5, 7])], axis=1)
    x_train, x_test, t_train, t_test = train_test_split(
        data.data, targets.astype(int), test_size=0.1, random_state=SEED
    )
    probs = np.empty(t_test.shape)
    for j in range(targets.shape[1]):
        model = make_pipeline(StandardScaler(), LogisticRegression(C=0.05, max_iter=2000))
        model.fit(x_train, t_train[:, j])
        probs[:, j] = model.predict_proba(x_test)[:, 1]
    header = ["even", "large", "prime"]
    write_csv(HERE / "digits_multilabel_probs.csv", header, list(probs.T), ["{:.6f}"] * 3)
    write_csv(HERE / "digits_multilabel_labels.csv", header, list(t_test.T), ["{:d}"] * 3)


def main() -> None:
    with threadpool_limits(limits=1):
        digits()
        breast_cancer()
        digits_multilabel()
    print(f"wrote the sample files in {HERE}")


if __name__ == "__main__":
    main()
