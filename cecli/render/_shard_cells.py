"""The ``file`` and ``file_row`` of listed rows, for an input of many files.

A sharded input's rows in the JSON document carry, after ``row``, the shard
they are in and their row there. The streaming writers fill each row from a
template with one cell per key; for a sharded input the ``row`` cell is
widened to hold all three keys' values, so the templates stay as they are and
a single file's text does not change by a byte.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pyarrow as pa

    from cecli.readers.shards import ShardMap

_string = json.JSONEncoder().encode
#: What follows a row's number, inside a listed row (its keys six spaces in).
FILE = ',\n      "file": '
FILE_ROW = ',\n      "file_row": '


def row_texts(shards: ShardMap, rows: np.ndarray) -> list[str]:
    """Each row's ``row`` cell widened with its ``file`` and ``file_row``, as JSON text.

    Examples
    --------
    >>> from cecli.readers.shards import ShardMap
    >>> row_texts(ShardMap(["a.csv", "b.csv"], [0, 2]), np.array([3]))
    ['3,\\n      "file": "b.csv",\\n      "file_row": 1']
    """
    index, file_row = shards.locate(rows)
    names = [_string(p) for p in shards.paths]
    cells = zip(np.asarray(rows).tolist(), index.tolist(), file_row.tolist(), strict=True)
    return [f"{r}{FILE}{names[i]}{FILE_ROW}{f}" for r, i, f in cells]


def row_arrow(shards: ShardMap, rows: np.ndarray) -> pa.Array:
    """:func:`row_texts` as an Arrow array of text, put together by pyarrow."""
    import pyarrow.compute as pc

    from cecli.render import _arrow

    index, file_row = shards.locate(rows)
    names = _arrow.strings([_string(p) for p in shards.paths])
    return pc.binary_join_element_wise(
        _arrow.int_texts(np.asarray(rows, dtype=np.int64)),
        _arrow.scalar(FILE),
        pc.take(names, _arrow.numbers(index.astype(np.int64))),
        _arrow.scalar(FILE_ROW),
        _arrow.int_texts(file_row),
        _arrow.scalar(""),
    )
