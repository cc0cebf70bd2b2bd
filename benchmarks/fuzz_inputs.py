"""Fuzz ``cecli score`` with seeded mutations of valid input files, thousands at a time.

Each case is a seed format, a mutator and a seed (``csv/flip/17``); the same
case makes the same files on every run and machine (``tests/fuzzing.py``).
A run must exit 0 (scored) or 2 (refused, with one ``cecli: error:`` line);
anything else is a failure (``tests/fuzz_runs.py`` judges), listed with the
command that reproduces it.

    python benchmarks/fuzz_inputs.py --cases 5000 --seed 0
    python benchmarks/fuzz_inputs.py --cases 300 --seed 0 --subprocess
    python benchmarks/fuzz_inputs.py --repro npz/flip/3      # write the files, run, show

Cases run in this process through the console script's entry point (fast);
``--subprocess`` runs each in a fresh ``python -m cecli``, on a thread pool,
to see aborts and signals too. The summary goes to stdout; the exit status
is 1 when any case failed.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from fuzz_runs import Outcome, command_line, run_in_process, run_subprocess
from fuzzing import FORMATS, MUTATORS, Case, build, cases


def _run(case: Case, subprocess: bool) -> Outcome:
    built = build(case)
    with tempfile.TemporaryDirectory(prefix="cecli-fuzz-") as folder:
        run = run_subprocess if subprocess else run_in_process
        return run(built, Path(folder))


def _status(outcome: Outcome) -> str:
    if outcome.status is None:
        return "exception"
    return f"signal {-outcome.status}" if outcome.status < 0 else f"exit {outcome.status}"


def _last_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1][:300] if lines else "(nothing on stderr)"


def repro(text: str, keep: str | None) -> int:
    """Write one case's files (into ``keep``, or a temporary folder), run it and show it all."""
    case = Case.parse(text)
    built = build(case)
    folder = Path(keep or tempfile.mkdtemp(prefix="cecli-fuzz-"))
    folder.mkdir(parents=True, exist_ok=True)
    outcome = run_subprocess(built, folder)
    args = built.write(folder)
    print(f"case {case.id}: mutated {built.target} in {folder}")
    print(f"{built.target} = {built.files[built.target]!r}")
    print("cecli " + " ".join(args))
    print(f"{_status(outcome)}; problem: {outcome.problem or 'none'}")
    print("--- stderr ---\n" + outcome.stderr + "--- stdout ---\n" + outcome.stdout[:2000])
    return 0 if outcome.problem is None else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=5000, help="how many cases (default 5000)")
    parser.add_argument("--seed", type=int, default=0, help="the first case's seed")
    parser.add_argument("--subprocess", action="store_true", help="a fresh process per case")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="--subprocess pool")
    parser.add_argument("--repro", metavar="FORMAT/MUTATOR/SEED", help="run one case and show it")
    parser.add_argument("--keep", metavar="DIR", help="with --repro: write the files here")
    options = parser.parse_args()
    if options.repro:
        return repro(options.repro, options.keep)

    todo = cases(options.cases, options.seed * 1_000_000)
    start = time.perf_counter()
    if options.subprocess:
        with ThreadPoolExecutor(max(1, options.jobs)) as pool:
            outcomes = list(pool.map(lambda c: _run(c, True), todo))
    else:
        outcomes = [_run(c, False) for c in todo]
    elapsed = time.perf_counter() - start

    by_status = Counter(_status(o) for o in outcomes)
    failed = [(c, o) for c, o in zip(todo, outcomes, strict=True) if o.problem is not None]
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    mode = "subprocess" if options.subprocess else "in-process"
    print(
        f"{len(todo)} cases ({mode}), first seed {options.seed * 1_000_000}: "
        f"{len(todo) - len(failed)} clean, {len(failed)} failed, in {elapsed:.1f} s "
        f"({os.cpu_count()} cores, load average {load})"
    )
    print("by exit status: " + ", ".join(f"{k}: {v}" for k, v in sorted(by_status.items())))
    width = max(len(f) for f in FORMATS)
    print(f"\n{'format':<{width}}  " + "  ".join(f"{m:>9}" for m in MUTATORS) + "   (0/2/failed)")
    for fmt in FORMATS:
        cells = []
        for mutator in MUTATORS:
            mine = [
                o
                for c, o in zip(todo, outcomes, strict=True)
                if (c.fmt, c.mutator) == (fmt, mutator)
            ]
            ok = Counter(o.status for o in mine if o.problem is None)
            bad = sum(o.problem is not None for o in mine)
            cells.append(f"{ok[0]}/{ok[2]}/{bad}".rjust(9))
        print(f"{fmt:<{width}}  " + "  ".join(cells))
    if failed:
        print(f"\n{len(failed)} failures:")
        for case, outcome in failed:
            print(f"  {case.id}: {outcome.problem}: {_last_line(outcome.stderr)}")
            print(f"    {command_line(case)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
