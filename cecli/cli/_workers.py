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
