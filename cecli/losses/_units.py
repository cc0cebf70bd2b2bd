"""Kinds, reductions and units of the loss functions: names in one place."""

from __future__ import annotations

import math
from typing import Literal

from numpy.typing import ArrayLike

from cecli.errors import OptionError

Kind = Literal["binary", "categorical", "multilabel"]
Reduction = Literal["none", "mean", "sum"]
ClassWeights = ArrayLike | Literal["balanced"] | None

KINDS: tuple[str, ...] = ("binary", "categorical", "multilabel")
REDUCTIONS: tuple[str, ...] = ("none", "mean", "sum")
UNITS = {"e": "nats", "2": "bits", "10": "bans"}
_LOG_BASE = {"e": 1.0, "2": math.log(2.0), "10": math.log(10.0)}


def unit_of(base: str | float) -> tuple[str, float]:
    """The unit name and ``ln(base)`` for ``base`` in ``"e"``, ``2``, ``10``."""
    key = {"e": "e", "2": "2", "10": "10", "2.0": "2", "10.0": "10"}.get(str(base).strip().lower())
    if key is None and isinstance(base, float) and base == math.e:
        key = "e"
    if key is None:
        raise OptionError(
            f'must be "e" (nats), 2 (bits) or 10 (bans); got {base!r}.', option="base"
        )
    return UNITS[key], _LOG_BASE[key]


def log_base_of(unit: str) -> float:
    """``ln(base)`` of a unit name: ``"nats"``, ``"bits"`` or ``"bans"``."""
    return _LOG_BASE[next(key for key, name in UNITS.items() if name == unit)]
