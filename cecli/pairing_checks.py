"""``cecli compare``'s checks that two models' rows line up: ids, row counts, labels, weights.

Each raises an :class:`~cecli.errors.InputError` naming the file, the row (and
its id, when there is one) and how many rows differ.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from cecli.errors import InputError, OptionError

if TYPE_CHECKING:
    from cecli.pairing import Side


def _join(
    b_ids: np.ndarray | None, b_file: str, c_ids: np.ndarray | None, c_file: str
) -> np.ndarray:
    """For each baseline row, the candidate row with the same id."""
    import pandas as pd

    for ids, file in ((b_ids, b_file), (c_ids, c_file)):
        if ids is None:
            raise OptionError(f"{file} has no id column to join on; check --id-col.")
        index = pd.Index(ids)
        if not index.is_unique:
            duplicated = index[index.duplicated()]
            first = duplicated[0]
            rows = np.flatnonzero(ids == first)[:2].tolist()
            raise InputError(
                file,
                f"the id {first!r} is on rows {rows[0]} and {rows[1]} ({len(duplicated)} "
                "repeated ids in all); rows can be joined only on ids that are unique.",
            )
    assert b_ids is not None
    assert c_ids is not None
    position = pd.Index(c_ids).get_indexer(b_ids)
    only_b = b_ids[position < 0]
    matched = np.zeros(len(c_ids), dtype=bool)
    matched[position[position >= 0]] = True
    only_c = c_ids[~matched]
    if len(only_b) or len(only_c):
        parts = []
        for ids, file, other in ((only_b, b_file, c_file), (only_c, c_file, b_file)):
            if len(ids):
                shown = ", ".join(repr(str(i)) for i in ids[:5])
                more = ", ..." if len(ids) > 5 else ""
                parts.append(f"{len(ids)} ids of {file} are not in {other} ({shown}{more})")
        raise InputError(
            b_file,
            "; ".join(parts) + ". Both models must be scored on the same rows.",
        )
    return position


def _same_rows(b: Side, b_file: str, c: Side, c_file: str) -> None:
    """Without a join, the two sides must have the same rows, in the same order."""
    nb, nc = len(b.rows), len(c.rows)
    if nb != nc:
        raise InputError(
            c_file,
            f"has {nc} rows but {b_file} has {nb}; both models must be scored on the same "
            "rows, in the same order (or joined on an id column with --id-col).",
        )
    if b.ids is not None and c.ids is not None:
        found = _first_difference(b.ids, c.ids, None)
        if found is not None:
            row, _, n = found
            raise InputError(
                c_file,
                f"row {row} has id {c.ids[row]!r} but row {row} of {b_file} has "
                f"{b.ids[row]!r} ({n} rows differ); to line the rows up by id, "
                "pass --id-col.",
            )


def _first_difference(
    b_values: np.ndarray,
    c_values: np.ndarray,
    ids: np.ndarray | None,
    ignored: np.ndarray | None = None,
) -> tuple[int, str, int] | None:
    """The first row where the two differ, that row as a person reads it, and how many differ.

    The rows ``ignored`` marks (left out by ``ignore_index``) are not compared.
    """
    unequal = b_values != c_values
    if ignored is not None:
        unequal &= ~ignored
    differ = np.flatnonzero(unequal)
    if not len(differ):
        return None
    row = int(differ[0])
    return row, f"row {row}" + ("" if ids is None else f" (id {ids[row]!r})"), len(differ)


def _same_targets(
    b_key: np.ndarray, b_file: str, c_key: np.ndarray, c_file: str, ids: np.ndarray | None
) -> None:
    found = _first_difference(b_key, c_key, ids)
    if found is not None:
        _, where, n = found
        raise InputError(
            c_file,
            f"{where}: the label is not the one {b_file} has ({n} rows differ); both "
            "models must be scored against the same labels.",
        )


def _same_weights(
    b_weight: np.ndarray,
    b_file: str,
    c_weight: np.ndarray,
    c_file: str,
    ids: np.ndarray | None,
    ignored: np.ndarray | None = None,
) -> None:
    found = _first_difference(b_weight, c_weight, ids, ignored)
    if found is not None:
        row, where, n = found
        raise InputError(
            c_file,
            f"{where}: the sample weight is {c_weight[row]:g} but {b_weight[row]:g} in "
            f"{b_file} ({n} rows differ); both models must be scored with the same weights.",
        )
