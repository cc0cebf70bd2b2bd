"""What ``cecli score --calibration`` costs, in time and memory, and its peers.

Run by hand (never in the test suite)::

    python benchmarks/bench_calibration.py
    python benchmarks/bench_calibration.py --rounds 5

On 1,000,000 x 10 float32 logits with their labels, saved as .npy:

* the whole command, ``cecli score`` without and with ``--calibration``
  (and ``--plot``), each in its own process, the variants run in turn round
  after round: median wall and CPU time, peak RSS, and the ratio of each to
  plain ``score`` from the same rounds (the target for ``--calibration`` is
  at most 1.3x);
* the temperature fitted on the sample ``cecli score`` keeps (at most
  32,768 rows) against the one fitted on every row: how far apart they are,
  and how much higher the loss of all rows is at the sample's temperature;
* in process, on the same arrays as probabilities: the calibration sums
  (:func:`cecli.calibration.calibration`: ECE, MCE, adaptive ECE, Brier,
  entropy) against scikit-learn's ``calibration_curve`` on the top-1
  confidence plus a NumPy multiclass Brier score (what a user would
  otherwise write), and :func:`cecli.calibration.fit_temperature` against a
  temperature fit with ``scipy.optimize.minimize_scalar`` (bounded) over
  ``scipy.special.log_softmax``, the usual recipe.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _bytecode import compile_cecli

N_ROWS, N_CLASSES = 1_000_000, 10


def make_files(folder: Path) -> tuple[Path, Path]:
    rng = np.random.default_rng(0)
    true = rng.normal(0.0, 1.5, size=(N_ROWS, N_CLASSES))
    p = np.exp(true - true.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    labels = (p.cumsum(axis=1) > rng.random((N_ROWS, 1))).argmax(axis=1)
    logits = (3 * true).astype(np.float32)  # over-confident: the fit should find T near 3
    preds, targets = folder / "logits.npy", folder / "labels.npy"
    np.save(preds, logits)
    np.save(targets, labels)
    return preds, targets


def run(args: list[str]) -> tuple[float, float, float]:
    """Wall seconds, peak RSS (MiB) and CPU seconds of one process."""
    start = time.perf_counter()
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - start
    if status != 0:
        raise SystemExit(f"{' '.join(args)} failed: {process.stderr.read().decode()}")
    process.stderr.close()
    return elapsed, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime


def median_time(work, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--make", help=argparse.SUPPRESS)  # internal: write the files there
    arguments = parser.parse_args()
    if arguments.make:
        make_files(Path(arguments.make))
        return
    rounds = arguments.rounds
    print(compile_cecli())

    with tempfile.TemporaryDirectory() as folder:
        # Linux keeps a process's peak RSS across exec, so a command forked from a parent
        # that holds big arrays or scipy would inherit its size: make the files elsewhere,
        # import the peers after the commands have run
        subprocess.run([sys.executable, __file__, "--make", folder], check=True)
        preds, targets = Path(folder) / "logits.npy", Path(folder) / "labels.npy"
        command = [sys.executable, "-m", "cecli", "score", str(preds), str(targets), "--logits"]
        print(f"cecli score on {N_ROWS:,} x {N_CLASSES} float32 logits (.npy), {rounds} rounds")
        print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at the start")
        variants = [("score", []), ("score --calibration", ["--calibration"])]
        try:
            import matplotlib  # noqa: F401

            plot = str(Path(folder) / "plot.png")
            variants.append(("score --calibration --plot", ["--calibration", "--plot", plot]))
        except ImportError:
            pass
        runs: dict[str, list[tuple[float, float, float]]] = {name: [] for name, _ in variants}
        for _ in range(rounds):
            for name, extra in variants:  # in turn, so that a drift of speed hits all alike
                runs[name].append(run(command + extra))
        print(f"{'command':<30} {'wall s':>7} {'cpu s':>7} {'peak MiB':>9} {'wall / score':>13}")
        plain = runs["score"]
        for name, _ in variants:
            wall = statistics.median(r[0] for r in runs[name])
            cpu = statistics.median(r[2] for r in runs[name])
            ratio = statistics.median(a[0] / b[0] for a, b in zip(runs[name], plain, strict=True))
            peak = max(r[1] for r in runs[name])
            print(f"{name:<30} {wall:>7.2f} {cpu:>7.2f} {peak:>9.0f} {ratio:>12.2f}x")
        print(f"load average {os.getloadavg()[0]:.2f} at the end")

        from scipy.optimize import minimize_scalar
        from scipy.special import log_softmax, softmax
        from sklearn.calibration import calibration_curve

        from cecli.calibration import calibration, fit_temperature

        logits, labels = np.load(preds), np.load(targets)
        probs = softmax(logits.astype(np.float64), axis=1).astype(np.float32)
        probs /= probs.sum(axis=1, keepdims=True, dtype=np.float64).astype(np.float32)

        def ours() -> object:
            return calibration(labels, probs, n_bins=15)

        def peer() -> object:
            top = probs.argmax(axis=1)
            confidence = probs.max(axis=1)
            curve = calibration_curve(top == labels, confidence, n_bins=15)
            onehot = np.eye(N_CLASSES, dtype=np.float64)[labels]
            brier = np.mean(np.sum((probs - onehot) ** 2, axis=1))
            return curve, brier

        def fit_ours() -> object:
            return fit_temperature(labels, logits, from_logits=True)

        def fit_peer() -> object:
            z = logits.astype(np.float64)
            rows = np.arange(N_ROWS)

            def loss(t: float) -> float:
                return -float(np.mean(log_softmax(z / t, axis=1)[rows, labels]))

            return minimize_scalar(loss, bounds=(0.05, 20.0), method="bounded")

        print(f"\nin process, {N_ROWS:,} x {N_CLASSES}, median of {rounds}")
        print(f"{'what':<58} {'s':>7}")
        t_ours, t_peer = median_time(ours, rounds), median_time(peer, rounds)
        t_fit, t_fit_peer = median_time(fit_ours, rounds), median_time(fit_peer, 1)
        print(f"{'cecli calibration (ECE, MCE, adaptive ECE, Brier, entropy)':<58} {t_ours:>7.3f}")
        print(f"{'sklearn calibration_curve + NumPy Brier':<58} {t_peer:>7.3f}")
        print(f"{'cecli fit_temperature':<58} {t_fit:>7.3f}")
        print(f"{'scipy minimize_scalar over log_softmax (1 round)':<58} {t_fit_peer:>7.3f}")
        fit, reference = fit_ours(), fit_peer()
        print(f"\ntemperature: cecli {fit.temperature:.5f}, scipy {reference.x:.5f} (true: 3)")

        from cecli.folds import TemperatureSample
        from cecli.view import view_of

        sample = TemperatureSample(15)
        for lo in range(0, N_ROWS, 1 << 17):
            hi = min(lo + (1 << 17), N_ROWS)
            sample.add(view_of("categorical", labels[lo:hi], logits[lo:hi], from_logits=True))
        on_sample = sample.result()
        assert on_sample is not None

        def mean_loss_at(temperature: float) -> float:
            return -float(np.mean(log_softmax(z / temperature, axis=1)[np.arange(N_ROWS), labels]))

        z = logits.astype(np.float64)
        excess = mean_loss_at(on_sample.temperature) - mean_loss_at(fit.temperature)
        print(
            f"temperature on cecli score's sample of {on_sample.n_samples:,} rows: "
            f"{on_sample.temperature:.5f} ({on_sample.temperature / fit.temperature - 1:+.2%} "
            f"from all rows'); the loss of all rows there is {excess:.1e} nats above the least"
        )
        # the spread of that figure: 40 other uniform samples of as many rows
        rng = np.random.default_rng(2)
        errors, excesses, least = [], [], mean_loss_at(fit.temperature)
        for _ in range(40):
            rows = np.sort(rng.choice(N_ROWS, on_sample.n_samples, replace=False))
            t = fit_temperature(labels[rows], logits[rows], from_logits=True).temperature
            errors.append(abs(t / fit.temperature - 1))
            excesses.append(mean_loss_at(t) - least)
        print(
            f"over 40 uniform samples of {on_sample.n_samples:,} rows: T within "
            f"{np.sqrt(np.mean(np.square(errors))):.2%} of all rows' (root-mean-square; "
            f"95th percentile {np.quantile(errors, 0.95):.2%}), the loss {np.median(excesses):.1e} "
            f"nats above the least (median; {max(excesses):.1e} at most)"
        )


if __name__ == "__main__":
    main()
