"""Privacy tools the labs use around their tasks: pseudonyms, k-anonymity, Laplace noise.

Three ways of protecting the people in a data set, from the weakest to the strongest:

* **Pseudonymization** replaces an identifier (a phone number) by a stand-in.
  :func:`plain_hash` is the tempting and broken way: anyone can hash every possible
  phone number and look the pseudonyms up. :func:`keyed_pseudonym` uses HMAC-SHA256
  with a secret key, which nobody without the key can invert that way.
* **k-anonymity** coarsens the quasi-identifiers (age band, occupation, region) until
  every combination that occurs is shared by at least ``k`` records:
  :func:`generalize` applies a generalization hierarchy and :func:`k_anonymity`
  measures the result.
* **Differential privacy** publishes aggregates with calibrated noise:
  :func:`laplace_mechanism` adds Laplace noise of scale ``sensitivity / epsilon``, and
  :func:`laplace_coverage` says how often that noise stays within a bound.

Lab 06 asks the learner to write the pseudonym, the dictionary attack, the k-anonymity
measurement and the Laplace mechanism by hand; the functions here are the references its
checks compare with (and are themselves tested against :mod:`hmac` test vectors and
:data:`scipy.stats.laplace`).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ._validation import check_float, check_int, check_rng

__all__ = ["SUPPRESSED", "equivalence_class_sizes", "generalize", "k_anonymity",
           "keyed_pseudonym", "laplace_coverage", "laplace_mechanism", "plain_hash",
           "synthetic_phone_numbers"]

#: The value a fully generalized (suppressed) quasi-identifier takes.
SUPPRESSED = "*"


def _text(name: str, value: Any) -> bytes:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string (e.g. a phone number), "
                        f"got {type(value).__name__}.")
    return value.encode("utf-8")


def plain_hash(value: str) -> str:
    """SHA-256 of a string, as 64 hex digits: an *unkeyed* hash, open to dictionary attacks.

    Anyone who can list the possible values (every phone number of an operator) can
    hash them all and look a pseudonym up; use :func:`keyed_pseudonym` instead.

    Parameters
    ----------
    value : str
        The identifier, hashed as UTF-8.

    Returns
    -------
    str
        The hex digest.

    Examples
    --------
    >>> plain_hash("abc")[:16]
    'ba7816bf8f01cfea'
    """
    return hashlib.sha256(_text("value", value)).hexdigest()


def keyed_pseudonym(value: str, key: bytes) -> str:
    """HMAC-SHA256 of a string under a secret key, as 64 hex digits.

    Without the key nobody can compute the pseudonym of a guessed value, so listing
    every possible phone number no longer inverts it. The key must stay secret (and be
    long and random, e.g. ``secrets.token_bytes(32)``): whoever holds it can run the
    dictionary attack again.

    Parameters
    ----------
    value : str
        The identifier, as UTF-8.
    key : bytes
        The secret key.

    Returns
    -------
    str
        The hex digest.

    Examples
    --------
    >>> keyed_pseudonym("what do ya want for nothing?", b"Jefe")[:16]  # RFC 4231, case 2
    '5bdcc146bf60754e'
    """
    if not isinstance(key, (bytes, bytearray)):
        raise TypeError(f"key must be bytes (e.g. secrets.token_bytes(32)), "
                        f"got {type(key).__name__}.")
    if len(key) == 0:
        raise ValueError("key is empty: use a long random key, e.g. secrets.token_bytes(32).")
    return hmac.new(bytes(key), _text("value", value), hashlib.sha256).hexdigest()


def synthetic_phone_numbers(n: int, *, prefix: str = "+99 555 ", n_digits: int = 5,
                            random_state: int | np.random.Generator | None = None
                            ) -> list[str]:
    """Distinct fictional phone numbers: ``prefix`` followed by ``n_digits`` digits.

    The numbers are drawn uniformly without replacement from the ``10 ** n_digits``
    numbers that share the prefix, zero-padded (``"+99 555 00042"``). A small number
    space is what makes a dictionary attack on their unkeyed hashes run in seconds.

    Parameters
    ----------
    n : int
        How many numbers, at most ``10 ** n_digits``.
    prefix : str
        The fixed part (country and operator code). The default is fictional.
    n_digits : int
        Free digits after the prefix, from 1 to 9.
    random_state : int, numpy.random.Generator or None
        Seed.

    Returns
    -------
    list of str

    Examples
    --------
    >>> synthetic_phone_numbers(3, n_digits=2, random_state=0)
    ['+99 555 63', '+99 555 51', '+99 555 83']
    """
    n_digits = check_int("n_digits", n_digits, minimum=1, maximum=9)
    n = check_int("n", n, minimum=0, maximum=10 ** n_digits)
    if not isinstance(prefix, str):
        raise TypeError(f"prefix must be a string, got {type(prefix).__name__}.")
    rng = check_rng(random_state)
    drawn = rng.choice(10 ** n_digits, size=n, replace=False)
    return [f"{prefix}{int(d):0{n_digits}d}" for d in drawn]


def _frame(frame: Any, columns: Sequence[str], what: str) -> pd.DataFrame:
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"{what} needs a pandas DataFrame, got {type(frame).__name__}.")
    if isinstance(columns, str) or not isinstance(columns, Sequence) or not columns:
        raise TypeError("quasi_identifiers must be a non-empty list of column names, "
                        f"got {columns!r}.")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"the frame has no column(s) {missing}; it has "
                         f"{list(frame.columns)}.")
    return frame


def equivalence_class_sizes(frame: pd.DataFrame, quasi_identifiers: Sequence[str]
                            ) -> pd.Series:
    """How many records share each combination of quasi-identifier values.

    A missing value is a value like any other: the records whose age band is missing
    and who share the other quasi-identifiers form one class (pandas' ``groupby``
    would silently drop them unless told ``dropna=False``).

    Parameters
    ----------
    frame : pandas.DataFrame
        One row per person.
    quasi_identifiers : list of str
        Columns an attacker could know from elsewhere.

    Returns
    -------
    pandas.Series
        One entry per combination that occurs, the number of records sharing it.

    Examples
    --------
    >>> table = pd.DataFrame({"age": ["18-34", "18-34", None], "region": ["n", "n", "n"]})
    >>> equivalence_class_sizes(table, ["age", "region"]).tolist()
    [2, 1]
    """
    frame = _frame(frame, quasi_identifiers, "equivalence_class_sizes")
    if len(frame) == 0:
        raise ValueError("the frame is empty: there is nothing to measure.")
    return frame.groupby(list(quasi_identifiers), dropna=False, observed=True).size()


def k_anonymity(frame: pd.DataFrame, quasi_identifiers: Sequence[str]) -> int:
    """The ``k`` of a table: the size of its smallest equivalence class.

    A table is k-anonymous when every record shares its quasi-identifier values with at
    least ``k - 1`` others, so that someone who knows those values about a person
    cannot narrow them down to fewer than ``k`` records (Sweeney, 2002).

    Parameters
    ----------
    frame : pandas.DataFrame
        One row per person.
    quasi_identifiers : list of str
        Columns an attacker could know from elsewhere.

    Returns
    -------
    int
        The smallest class size (1 means someone is unique).

    Examples
    --------
    >>> table = pd.DataFrame({"age": ["18-34", "18-34", None], "region": ["n", "n", "n"]})
    >>> k_anonymity(table, ["age", "region"])
    1
    >>> k_anonymity(table, ["region"])
    3
    """
    return int(equivalence_class_sizes(frame, quasi_identifiers).min())


def generalize(frame: pd.DataFrame, hierarchies: Mapping[str, Sequence[Any]],
               levels: Mapping[str, int]) -> pd.DataFrame:
    """Coarsen quasi-identifiers along generalization hierarchies.

    ``hierarchies[column]`` lists the generalization steps of a column, from the
    finest to the coarsest: step 1 is ``hierarchies[column][0]``, and so on. A step is a
    dict that maps every value to a coarser one, or :data:`SUPPRESSED` (``"*"``), which
    replaces every value, missing ones included, by ``"*"``. Level 0 keeps the column
    as it is; a missing value stays missing under a dict step.

    Parameters
    ----------
    frame : pandas.DataFrame
        The table to release.
    hierarchies : mapping of str to list
        The steps of each column that can be generalized.
    levels : mapping of str to int
        How many steps to apply to each column (columns not named keep level 0).

    Returns
    -------
    pandas.DataFrame
        A copy with the generalized columns as plain object columns.

    Raises
    ------
    ValueError
        When a column or a level does not exist, or a value has no coarser value in a
        step's dict.

    Examples
    --------
    >>> table = pd.DataFrame({"age": ["18-24", "65+", None], "region": ["n", "s", "n"]})
    >>> steps = {"age": [{"18-24": "18-34", "65+": "65+"}, "*"], "region": ["*"]}
    >>> generalize(table, steps, {"age": 1}).age.tolist()
    ['18-34', '65+', nan]
    >>> generalize(table, steps, {"age": 2, "region": 1}).values.tolist()
    [['*', '*'], ['*', '*'], ['*', '*']]
    """
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"generalize needs a pandas DataFrame, got {type(frame).__name__}.")
    if not isinstance(hierarchies, Mapping) or not isinstance(levels, Mapping):
        raise TypeError("hierarchies and levels must be dicts keyed by column name.")
    out = frame.copy()
    for column, level in levels.items():
        if column not in frame.columns:
            raise ValueError(f"the frame has no column {column!r}.")
        steps = hierarchies.get(column, ())
        level = check_int(f"levels[{column!r}]", level, minimum=0, maximum=len(steps))
        values = frame[column].astype(object)
        for step in list(steps)[:level]:
            if isinstance(step, str) and step == SUPPRESSED:
                values = pd.Series(SUPPRESSED, index=frame.index, dtype=object)
            elif isinstance(step, Mapping):
                present = values.dropna()
                unknown = sorted({str(v) for v in present if v not in step})
                if unknown:
                    raise ValueError(f"the hierarchy of {column!r} has no coarser value for "
                                     f"{unknown[:5]}.")
                values = values.map(lambda v, s=step: s[v] if v in s else v)
            else:
                raise TypeError(f"a step of the hierarchy of {column!r} must be a dict or "
                                f"{SUPPRESSED!r}, got {type(step).__name__}.")
        out[column] = values.astype(object)
    return out


def laplace_mechanism(value: Any, epsilon: float, *, sensitivity: float = 1.0,
                      random_state: int | np.random.Generator | None = None) -> Any:
    """Release a number (or an array of them) with Laplace noise: epsilon-DP.

    Each entry gets its own draw from a Laplace distribution with location 0 and scale
    ``sensitivity / epsilon`` (Dwork et al., 2006). For a count of people, one
    person changes the count by at most 1, so ``sensitivity=1``; a histogram over
    disjoint groups (each person in one group) can be released with one draw per group
    at the same epsilon.

    Parameters
    ----------
    value : float or array-like of float
        The true value(s).
    epsilon : float
        The privacy parameter, > 0: smaller is more private and noisier.
    sensitivity : float
        How much one person can change the value (L1 norm), > 0.
    random_state : int, numpy.random.Generator or None
        Seed or generator of the noise.

    Returns
    -------
    float or numpy.ndarray
        The noisy value(s), same shape as ``value``.

    Examples
    --------
    >>> noisy = laplace_mechanism([120.0, 24.0], epsilon=1.0, random_state=0)
    >>> noisy.shape, bool(np.all(np.abs(noisy - [120.0, 24.0]) < 10))
    ((2,), True)
    """
    epsilon = check_float("epsilon", epsilon, low=0, low_inclusive=False)
    sensitivity = check_float("sensitivity", sensitivity, low=0, low_inclusive=False)
    arr = np.asarray(value)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"value must be a number or an array of numbers, got dtype {arr.dtype}.")
    arr = arr.astype(float)
    if not np.all(np.isfinite(arr)):
        raise ValueError("value contains NaN or infinite entries.")
    rng = check_rng(random_state)
    noisy = arr + rng.laplace(0.0, sensitivity / epsilon, size=arr.shape)
    return float(noisy) if noisy.ndim == 0 else noisy


def laplace_coverage(epsilon: Any, bound: Any, *, sensitivity: float = 1.0) -> Any:
    """Probability that Laplace noise of scale ``sensitivity / epsilon`` stays within ``bound``.

    ``P(|noise| <= bound) = 1 - exp(-epsilon * bound / sensitivity)``. Inverting it
    gives the smallest epsilon for which a released value is within ``bound`` of the
    truth with a given probability.

    Parameters
    ----------
    epsilon : float or array-like
        Privacy parameter(s), > 0.
    bound : float or array-like
        Allowed absolute error(s), >= 0.
    sensitivity : float
        > 0.

    Returns
    -------
    float or numpy.ndarray

    Examples
    --------
    >>> import math
    >>> round(laplace_coverage(math.log(20), 1.0), 6)
    0.95
    """
    sensitivity = check_float("sensitivity", sensitivity, low=0, low_inclusive=False)
    eps = np.asarray(epsilon, dtype=float)
    b = np.asarray(bound, dtype=float)
    if not (np.all(np.isfinite(eps)) and np.all(eps > 0)):
        raise ValueError("epsilon must be finite and > 0.")
    if not (np.all(np.isfinite(b)) and np.all(b >= 0)):
        raise ValueError("bound must be finite and >= 0.")
    cover = -np.expm1(-eps * b / sensitivity)
    return float(cover) if cover.ndim == 0 else cover
