"""The checks of ``--workers`` and ``--dask``, made before any file is read."""

from __future__ import annotations

import os

from cecli.errors import OptionError


def check_worker_options(
    workers: int | None,
    address: str | None,
    *,
    top: int,
    per_sample: str | None,
) -> None:
    """Refuse what does not run on workers yet, and a missing Dask, with one clear line.

    Examples
    --------
    >>> check_worker_options(2, None, top=0, per_sample=None)
    Traceback (most recent call last):
    ...
    cecli.errors.OptionError: --top 0 keeps every row's state, ... for every row's scores.
    """
    flag = "--dask" if address is not None else "--workers"
    if workers is not None and address is not None:
        raise OptionError("Give --workers (a local cluster) or --dask ADDRESS, not both.")
    if workers is not None and workers < 1:
        raise OptionError(f"--workers must be at least 1; got {workers}.")
    if top == 0:
        raise OptionError(
            "--top 0 keeps every row's state, which would all travel through the scheduler; "
            f"with {flag} give --top N (N >= 1), and --per-sample DIR/ for every row's scores."
        )
    if per_sample is not None:
        from cecli.dask._per_sample import is_folder

        if not is_folder(per_sample):
            stem = os.path.splitext(per_sample)[0] or "per_sample"
            raise OptionError(
                f"--per-sample {per_sample}: with {flag} each worker writes its shards' rows "
                f"to a folder of parts; give a folder, such as {stem}/ (or leave out {flag})."
            )
    from cecli.dask import _distributed

    _distributed(flag)


def check_compare_worker_options(
    workers: int | None,
    address: str | None,
    *,
    top: int,
    ci_method: str | None,
    calibration: bool,
    by: str | None,
    id_col: str | None,
    class_weights: str | None,
    paths: tuple[str | None, ...] = (),
) -> str:
    """``cecli compare``'s refusals on workers, one line each; the CI method to use.

    On workers the interval is the streaming Poisson bootstrap's: the row
    bootstrap (bca, percentile) keeps every row.

    Examples
    --------
    >>> check_compare_worker_options(
    ...     2, None, top=10, ci_method="bca", calibration=False, by=None, id_col=None,
    ...     class_weights=None,
    ... )
    Traceback (most recent call last):
    ...
    cecli.errors.OptionError: --ci-method bca resamples rows, ... (the default there).
    """
    flag = "--dask" if address is not None else "--workers"
    if "-" in paths:
        raise OptionError(f"{flag} reads files, not standard input (-); give a file.")
    if ci_method is not None and ci_method != "poisson":
        raise OptionError(
            f"--ci-method {ci_method} resamples rows, so it keeps every row; on workers use "
            "--ci-method poisson (the default there)."
        )
    if calibration:
        raise OptionError(
            "--calibration's intervals resample rows, which keeps every row; leave out "
            f"{flag} to compare calibration."
        )
    if by is not None:
        raise OptionError(f"--by slices are compared serially for now; leave out {flag}.")
    if id_col is not None:
        raise OptionError(
            f"--id-col joins rows by id, which does not run on workers: with {flag} the two "
            "models' shards must line up row by row. Leave out --id-col or leave out " + flag + "."
        )
    if class_weights is not None and class_weights.strip().lower() == "balanced":
        raise OptionError(
            "--class-weights balanced weighs each row by its class's count over every row, "
            f"which a shard does not know; with {flag} give one weight per class."
        )
    check_worker_options(workers, address, top=top, per_sample=None)
    return "poisson"
