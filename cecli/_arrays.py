"""NumPy arrays from what the peers hand over: pandas, polars and PyTorch objects, lists.

``np.asarray`` takes most of them already, but not all well: a pandas column
of a nullable dtype (``Int64``, ``Float64``, ``boolean``) becomes an array of
objects, a PyTorch tensor that requires a gradient refuses, and a tensor of
``bfloat16`` has no NumPy type. :func:`as_array` turns each into the plain
NumPy array the checks expect. A library is recognised by the module its
object's type comes from, so none of them is imported unless it was given
(``import cecli`` never imports torch).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from cecli.errors import ShapeError


def as_array(values: Any) -> NDArray:
    """``values`` as a NumPy array: from pandas, polars and PyTorch objects too.

    * PyTorch tensors on the CPU: detached from the autograd graph (no copy);
      ``bfloat16`` (which NumPy lacks) is widened to ``float32``; a tensor on
      another device is refused, with the fix (``.cpu()``).
    * pandas Series, DataFrames and Index: their values, a nullable numeric
      or boolean dtype as float64 with NaN for a missing value (which the
      checks then name), categoricals as their values.
    * polars Series and DataFrames: ``to_numpy()``.
    * anything else: ``np.asarray``.

    Examples
    --------
    >>> import pandas as pd
    >>> as_array(pd.Series([0, 1, None], dtype="Int64"))
    array([ 0.,  1., nan])
    >>> as_array(pd.DataFrame({"cat": [0.2, 0.9], "dog": [0.8, 0.1]}))
    array([[0.2, 0.8],
           [0.9, 0.1]])
    >>> as_array([[1, 2]]).shape
    (1, 2)
    """
    if isinstance(values, np.ndarray):
        return values
    library = type(values).__module__.partition(".")[0]
    if library == "torch":
        return _from_torch(values)
    if library == "pandas":
        return _from_pandas(values)
    if library == "polars" and hasattr(values, "to_numpy"):
        return np.asarray(values.to_numpy())
    return np.asarray(values)


def _from_torch(tensor: Any) -> NDArray:
    device = getattr(tensor, "device", None)
    if device is not None and getattr(device, "type", "cpu") != "cpu":
        raise ShapeError(
            f"A tensor on the {device.type} device cannot be read as a NumPy array; "
            "move it to the CPU first (tensor.cpu())."
        )
    if hasattr(tensor, "detach"):
        tensor = tensor.detach()
    if str(getattr(tensor, "dtype", "")) == "torch.bfloat16":
        tensor = tensor.float()
    return np.asarray(tensor.numpy() if hasattr(tensor, "numpy") else tensor)


def _from_pandas(values: Any) -> NDArray:
    import pandas as pd

    if isinstance(values, pd.DataFrame):
        dtypes = list(values.dtypes)
        extension = any(not isinstance(d, np.dtype) for d in dtypes)
        if extension and all(_nullable_number(d) for d in dtypes):
            return values.to_numpy(dtype=np.float64, na_value=np.nan)
        return values.to_numpy()
    if isinstance(values, (pd.Series, pd.Index)):
        if not isinstance(values.dtype, np.dtype) and _nullable_number(values.dtype):
            return values.to_numpy(dtype=np.float64, na_value=np.nan)
        return np.asarray(values)
    return np.asarray(values)


def _nullable_number(dtype: Any) -> bool:
    """A pandas extension dtype of numbers or booleans (``Int64``, ``Float32``, ``boolean``)."""
    if isinstance(dtype, np.dtype):
        return dtype.kind in "biuf"
    kind = getattr(getattr(dtype, "numpy_dtype", None), "kind", None)
    return kind is not None and kind in "biuf"
