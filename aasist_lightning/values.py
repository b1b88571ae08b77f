"""The checks of configured numbers that every layer shares: a YAML bool is a Python ``int``, NumPy has its
own scalar types, and ``nan`` / ``inf`` parse as floats."""

from __future__ import annotations

import math
from numbers import Integral, Real
from typing import Any


def is_integer(value: Any) -> bool:
    """An integer (Python or NumPy), not a bool."""
    return isinstance(value, Integral) and not isinstance(value, bool)


def is_real(value: Any) -> bool:
    """A finite real number (Python or NumPy), not a bool: NaN and inf are refused wherever this is used."""
    return isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value)


__all__ = ["is_integer", "is_real"]
