"""The checks of ``--workers`` and ``--dask``, made before any file is read."""

from __future__ import annotations

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
    cecli.errors.OptionError: --top 0 keeps every row's state, ... give --top N (N >= 1).
    """
    flag = "--dask" if address is not None else "--workers"
    if workers is not None and address is not None:
        raise OptionError("Give --workers (a local cluster) or --dask ADDRESS, not both.")
    if workers is not None and workers < 1:
        raise OptionError(f"--workers must be at least 1; got {workers}.")
    if top == 0:
        raise OptionError(
            "--top 0 keeps every row's state, which would all travel through the scheduler; "
            f"with {flag} give --top N (N >= 1)."
        )
    if per_sample is not None:
        raise OptionError(f"--per-sample is written serially for now; leave out {flag}.")
    from cecli.dask import _distributed

    _distributed(flag)
