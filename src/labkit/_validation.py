"""Input validation shared by labkit's public functions.

Every public function validates its arguments at the boundary with these helpers, so
that a learner who passes the wrong thing reads what was wrong and what to do instead
of a traceback from deep inside numpy.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np


def check_int(name: str, value: Any, *, minimum: int | None = None,
              maximum: int | None = None) -> int:
    """Return ``value`` as an int, or raise a clear error."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__} {value!r}.")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}.")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be at most {maximum}, got {value}.")
    return value


def check_float(name: str, value: Any, *, low: float | None = None, high: float | None = None,
                low_inclusive: bool = True, high_inclusive: bool = True) -> float:
    """Return ``value`` as a finite float inside the given bounds, or raise a clear error."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {type(value).__name__} {value!r}.")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}.")
    if low is not None and (value < low or (value == low and not low_inclusive)):
        bound = ">=" if low_inclusive else ">"
        raise ValueError(f"{name} must be {bound} {low}, got {value}.")
    if high is not None and (value > high or (value == high and not high_inclusive)):
        bound = "<=" if high_inclusive else "<"
        raise ValueError(f"{name} must be {bound} {high}, got {value}.")
    return value


def check_rng(random_state: Any) -> np.random.Generator:
    """Turn a seed, ``None`` or a Generator into a ``numpy.random.Generator``.

    Passing the same integer gives the same stream, so a lab's single ``SEED``
    reproduces every draw made from it.
    """
    if isinstance(random_state, np.random.Generator):
        return random_state
    if random_state is None:
        return np.random.default_rng()
    if isinstance(random_state, bool) or not isinstance(random_state, numbers.Integral):
        raise TypeError(
            "random_state must be an int seed, a numpy Generator or None, "
            f"got {type(random_state).__name__}."
        )
    if random_state < 0:
        raise ValueError(f"random_state must be a non-negative seed, got {random_state}.")
    return np.random.default_rng(int(random_state))


def check_1d(name: str, values: Any, *, dtype: str = "numeric", allow_nan: bool = False,
             min_length: int = 1) -> np.ndarray:
    """Return a 1-d numpy array, checking its kind, length and finiteness.

    ``dtype`` is ``"numeric"`` (ints or floats), ``"binary"`` (only 0 and 1) or
    ``"any"``.
    """
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got an array of shape {arr.shape}.")
    if arr.shape[0] < min_length:
        raise ValueError(f"{name} is empty: it needs at least {min_length} value(s).")
    if dtype in ("numeric", "binary"):
        if arr.dtype == bool:
            arr = arr.astype(int)
        if not np.issubdtype(arr.dtype, np.number):
            raise TypeError(f"{name} must hold numbers, got dtype {arr.dtype}.")
        if not allow_nan and not np.all(np.isfinite(arr)):
            raise ValueError(f"{name} contains NaN or infinite values; remove or impute them.")
    if dtype == "binary":
        bad = np.setdiff1d(np.unique(arr), [0, 1])
        if bad.size:
            raise ValueError(f"{name} must contain only 0 and 1, found {bad[:5].tolist()}.")
        arr = arr.astype(int)
    return arr


def check_same_length(**arrays: np.ndarray) -> None:
    """Raise when the named arrays do not share their first dimension."""
    lengths = {name: len(a) for name, a in arrays.items()}
    if len(set(lengths.values())) > 1:
        detail = ", ".join(f"{n} has {k}" for n, k in lengths.items())
        raise ValueError(f"Inputs must have the same length: {detail}.")
