"""Two JSON documents that must agree: exactly, but floats to 1e-12 relative.

What a run split differently (other chunks, shards, workers) must give: the
same counts, rows and text, and sums in another order, so floats to rounding.
"""

from __future__ import annotations

import math


def assert_close(a, b, path="$", rel_tol=1e-12, abs_tol=1e-300):
    """Assert that ``a`` and ``b`` agree, naming the first place where they do not."""
    if isinstance(a, float) or isinstance(b, float):
        assert isinstance(a, (int, float)), path
        assert isinstance(b, (int, float)), path
        assert math.isclose(a, b, rel_tol=rel_tol, abs_tol=abs_tol), (path, a, b)
    elif isinstance(a, dict):
        assert isinstance(b, dict), path
        assert list(a) == list(b), path  # the same keys, in the same order
        for key in a:
            assert_close(a[key], b[key], f"{path}.{key}", rel_tol, abs_tol)
    elif isinstance(a, list):
        assert isinstance(b, list), path
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_close(x, y, f"{path}[{i}]", rel_tol, abs_tol)
    else:
        assert a == b, (path, a, b)
