"""Score a pandas DataFrame (or a pyarrow Table) in memory, as ``cecli score`` scores a file.

The frame is read by :class:`~cecli.readers.table.TableSource`, the Parquet
reader's rules over an Arrow table made column by column (a float32 column
stays float32), and then goes the way a file goes: the same choice of
columns (:class:`~cecli.inputs.InputOptions`: ``label_col``, ``pred_cols``,
``id_col``, ``weight_col``, ...), one validated view per chunk, the same
folds (:class:`~cecli.folds.ScoreOptions`), the same
:class:`~cecli.folds.Scored`. :func:`cecli.dask.score_frame` scores a Dask
DataFrame's partitions the same way on workers.

Examples
--------
>>> import pandas as pd
>>> from cecli.frame import score_frame
>>> df = pd.DataFrame({"cat": [0.9, 0.2, 0.6], "dog": [0.1, 0.8, 0.4],
...                    "label": ["cat", "dog", "dog"]})
>>> scored = score_frame(df, label_col="label")
>>> round(scored.summary.mean_loss, 4), scored.summary.n_samples
(0.4149, 3)
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from cecli.errors import OptionError

__all__ = ["resolved", "score_frame", "split_options"]

#: Options of files that a frame in memory has no use for.
FILE_OPTIONS = ("input_format", "header", "pred_key", "label_key", "storage_options")


def split_options(who: str, options: dict[str, Any], *, frame: bool = False) -> tuple[Any, Any]:
    """``options`` split into an :class:`~cecli.inputs.InputOptions` and a ``ScoreOptions``.

    Parameters
    ----------
    who : str
        The function the options were given to, for the message.
    options : dict
        Fields of either dataclass.
    frame : bool
        Whether the input is a frame in memory: the options of files are refused.

    Returns
    -------
    tuple of InputOptions and ScoreOptions

    Raises
    ------
    OptionError
        For an option neither has (or, with ``frame``, one only files have).

    Examples
    --------
    >>> split_options("f", {"label_col": "y", "keep": 3})[1].keep
    3
    >>> split_options("f", {"header": True}, frame=True)
    Traceback (most recent call last):
    ...
    cecli.errors.OptionError: f got options it does not know: header (an option of files).
    """
    from cecli.folds import ScoreOptions
    from cecli.inputs import InputOptions

    input_names = {f.name for f in fields(InputOptions)}
    score_names = {f.name for f in fields(ScoreOptions)}
    if frame:
        input_names -= set(FILE_OPTIONS)
    unknown = sorted(set(options) - input_names - score_names)
    if unknown:
        note = " (an option of files)" if frame and set(unknown) <= set(FILE_OPTIONS) else ""
        raise OptionError(f"{who} got options it does not know: {', '.join(unknown)}{note}.")
    given = dict(options)
    if given.get("ignore_index") is not None and given.get("ignore_label") is None:
        from cecli.losses._ignore import check_ignore_index

        # the labels are decoded knowing it (a class named by an integer, say); see resolved
        given["ignore_label"] = str(check_ignore_index(given["ignore_index"]))
    input_options = InputOptions(**{k: v for k, v in given.items() if k in input_names})
    score_options = ScoreOptions(**{k: v for k, v in given.items() if k in score_names})
    return input_options, score_options


def resolved(score_options: Any, inputs: Any) -> Any:
    """``score_options`` with the ``ignore_index`` the opened ``inputs`` decode ignored labels to.

    ``ignore_label`` (or ``ignore_index``) names a label as the rows spell it;
    the core leaves out the rows whose decoded target is
    :attr:`cecli.inputs.Inputs.ignore_index`.
    """
    from dataclasses import replace

    if inputs.ignore_index is None:
        return score_options
    return replace(score_options, ignore_index=inputs.ignore_index)


def score_frame(frame: Any, labels: Any = None, **options: Any) -> Any:
    """Score the rows of a DataFrame: the :class:`~cecli.folds.Scored` a file of them gets.

    Parameters
    ----------
    frame : pandas.DataFrame or pyarrow.Table
        The predictions, one column per class (or one for binary), and the labels
        unless ``labels`` holds them; the columns are chosen as in a file.
    labels : pandas.DataFrame or pyarrow.Table, optional
        The labels, a row per row of ``frame``, if not a column of it.
    **options
        Fields of :class:`~cecli.inputs.InputOptions` (``label_col``, ``pred_cols``,
        ``id_col``, ``weight_col``, ``kind``, ``from_logits``, ...) and of
        :class:`~cecli.folds.ScoreOptions` (``keep``, ``calibration_bins``, ...).
        ``ignore_index=-100`` (or ``ignore_label="PAD"``, a label as the
        frame spells it) leaves out the rows with that label; ``top_k=5``
        counts top-5 accuracy.

    Returns
    -------
    Scored
        What :func:`cecli.pipeline.score_inputs` returns for a file of the same rows.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from cecli.frame import score_frame
    >>> df = pd.DataFrame({"p": np.array([0.9, 0.3], dtype=np.float32), "y": [1, 0]})
    >>> s = score_frame(df, label_col="y", keep=1).summary
    >>> s.n_samples, [r.row for r in s.worst]
    (2, [1])
    """
    from cecli.inputs import Inputs
    from cecli.pipeline import score_inputs
    from cecli.readers.table import TableSource

    input_options, score_options = split_options("score_frame", options, frame=True)
    preds = TableSource(frame)
    label_source = None if labels is None else TableSource(labels, "the labels DataFrame")
    with Inputs(preds, label_source, input_options) as inputs:
        return score_inputs(inputs, resolved(score_options, inputs))
