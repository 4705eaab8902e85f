"""Data-quality tools: distribution shift between two periods, and honest splits.

Lab 04 uses these around the code the learner writes:

* :func:`psi`, the **population stability index** of one column between a reference
  sample and a current one, and :func:`psi_by_period`, a table of it per column and
  period. PSI adds up, over bins, ``(current share - reference share) * ln(current
  share / reference share)``: zero when the two histograms agree, larger the more they
  differ. Practitioners often read below 0.1 as stable and above 0.25 as a major shift,
  but the value two samples of the *same* distribution give grows with the number of
  bins and shrinks with the sample size, so a threshold is best set from periods known
  to be quiet.
* :func:`adversarial_auc`, **adversarial validation**: train a classifier to tell the
  reference rows from the current ones. A cross-validated ROC AUC near 0.5 means it
  cannot (the periods look alike); well above 0.5 means something in the columns moved.
* :func:`time_split` and :func:`random_split`, boolean masks for the two ways to hold
  out a test set whose comparison is the point of the lab's leakage section.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ._validation import check_float, check_int, check_rng

__all__ = ["adversarial_auc", "psi", "psi_by_period", "random_split", "time_split"]


def _as_series(name: str, values: Any) -> pd.Series:
    if isinstance(values, pd.DataFrame):
        raise TypeError(f"{name} must be one column (1-d), got a DataFrame; "
                        "pass one of its columns.")
    if isinstance(values, (str, bytes)) or np.ndim(values) != 1:
        raise ValueError(f"{name} must be one-dimensional (a list, array or Series), "
                         f"got {type(values).__name__} with {np.ndim(values)} dimensions.")
    series = values.reset_index(drop=True) if isinstance(values, pd.Series) \
        else pd.Series(list(values) if not isinstance(values, np.ndarray) else values)
    if len(series) == 0:
        raise ValueError(f"{name} is empty: PSI needs at least one value in each sample.")
    return series


def _is_numeric(series: pd.Series) -> bool:
    return (pd.api.types.is_numeric_dtype(series.dtype)
            and not pd.api.types.is_bool_dtype(series.dtype))


def _category_codes(reference: pd.Series, current: pd.Series) -> tuple[np.ndarray, ...]:
    """Bin index of every value: one bin per category seen in either sample."""
    seen = pd.concat([reference, current], ignore_index=True).dropna().unique()
    categories = sorted(seen.tolist(), key=lambda v: (type(v).__name__, str(v)))
    lookup = {value: i for i, value in enumerate(categories)}
    missing = len(categories)
    codes = tuple(np.array([missing if pd.isna(v) else lookup[v] for v in s], dtype=np.int64)
                  for s in (reference, current))
    return (*codes, np.int64(missing + 1))


def _quantile_codes(reference: pd.Series, current: pd.Series,
                    bins: int) -> tuple[np.ndarray, ...]:
    """Bin index of every value: quantile bins of the reference, NaN in a bin of its own."""
    ref = reference.to_numpy(dtype=float)
    cur = current.to_numpy(dtype=float)
    for name, arr in (("reference", ref), ("current", cur)):
        if np.isinf(arr).any():
            raise ValueError(f"{name} contains infinite values; PSI bins finite numbers "
                             "(missing values, NaN, get a bin of their own).")
    finite = np.sort(ref[~np.isnan(ref)])
    n = finite.size
    # The i/bins quantile is the smallest reference value with at least i*n/bins values
    # at or below it (integer arithmetic: no edge can fall between two values by a
    # rounding error).
    picks = [-(-i * n // bins) - 1 for i in range(1, bins)] if n else []
    edges = np.unique(finite[picks]) if n else np.array([], dtype=float)
    missing = len(edges) + 1

    def code(arr: np.ndarray) -> np.ndarray:
        out = np.searchsorted(edges, arr, side="right").astype(np.int64)
        out[np.isnan(arr)] = missing
        return out

    return code(ref), code(cur), np.int64(missing + 1)


def psi(reference: Any, current: Any, *, bins: int = 10, categorical: bool | None = None,
        eps: float = 1e-4) -> float:
    """Population stability index of one column between two samples.

    ``PSI = sum over bins of (c - r) * ln(c / r)``, where ``r`` and ``c`` are the
    shares of the reference and the current sample in a bin, each floored at ``eps`` so
    that an empty bin counts as a large but finite change.

    Bins: for a categorical column, one per category seen in either sample; for a
    numeric one, ``bins`` quantile bins of the reference. The edges are reference
    values: the ``i/bins`` quantile is the smallest value with at least ``i/bins`` of
    the reference at or below it; equal edges merge (fewer bins for a column with few
    distinct values), and a value equal to an edge goes to the bin above it. Missing values
    (NaN, None) get a bin of their own, so a change in how often a value is missing
    counts as a shift.

    Parameters
    ----------
    reference, current : array-like, 1-d
        The column in the reference period (e.g. training data) and in the current one.
    bins : int
        Number of quantile bins for a numeric column (at least 2).
    categorical : bool, optional
        Treat the values as categories. By default, numeric dtypes are binned by
        quantile and everything else is categorical; pass ``True`` for integer codes
        such as app ids.
    eps : float
        Floor of a bin's share, in (0, 0.5).

    Returns
    -------
    float
        Non-negative; 0 when both samples fill every bin in the same proportions.

    Examples
    --------
    >>> round(psi(["a", "a", "b", "b"], ["a", "b", "b", "b"]), 4)
    0.2747
    >>> psi([1, 2, 3, 4], [1, 2, 3, 4])
    0.0
    >>> round(psi([0, 0, 1, 1], [0, 0, 0, 0], categorical=True), 3)
    4.604
    """
    ref = _as_series("reference", reference)
    cur = _as_series("current", current)
    bins = check_int("bins", bins, minimum=2)
    eps = check_float("eps", eps, low=0, high=0.5, low_inclusive=False,
                      high_inclusive=False)
    if categorical is not None and not isinstance(categorical, bool):
        raise TypeError(f"categorical must be True, False or None, got {categorical!r}.")
    numeric = _is_numeric(ref) and _is_numeric(cur)
    if categorical is None:
        categorical = not numeric
    if not categorical and not numeric:
        raise TypeError("categorical=False needs numbers in both samples; these hold "
                        "other values: pass categorical=True to use one bin per category.")
    if categorical:
        ref_codes, cur_codes, n_bins = _category_codes(ref, cur)
    else:
        ref_codes, cur_codes, n_bins = _quantile_codes(ref, cur, bins)
    r = np.maximum(np.bincount(ref_codes, minlength=n_bins) / len(ref_codes), eps)
    c = np.maximum(np.bincount(cur_codes, minlength=n_bins) / len(cur_codes), eps)
    return float(max(np.sum((c - r) * np.log(c / r)), 0.0))


def psi_by_period(frame: pd.DataFrame, period_col: str, columns: Sequence[str], *,
                  reference: Any, categorical: Sequence[str] = (), bins: int = 10,
                  eps: float = 1e-4) -> pd.DataFrame:
    """PSI of each column in each period against one reference period.

    Parameters
    ----------
    frame : pandas.DataFrame
        Rows of every period.
    period_col : str
        The column that says which period a row belongs to (e.g. a week number).
    columns : list of str
        The columns to compare.
    reference : scalar
        The period the others are compared with.
    categorical : list of str
        Columns to treat as categories even though they hold numbers (see :func:`psi`).
    bins, eps
        As for :func:`psi`.

    Returns
    -------
    pandas.DataFrame
        One row per period other than the reference (sorted), one column per column.

    Examples
    --------
    >>> frame = pd.DataFrame({"week": [0, 0, 1, 1, 2, 2], "app": [1, 2, 1, 2, 1, 1]})
    >>> table = psi_by_period(frame, "week", ["app"], reference=0, categorical=["app"])
    >>> table.index.tolist(), table["app"].round(2).tolist()
    ([1, 2], [0.0, 4.6])
    """
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"frame must be a pandas DataFrame, got {type(frame).__name__}.")
    if isinstance(columns, str):
        raise TypeError("columns must be a list of column names, not one string.")
    missing = [c for c in [period_col, *columns, *categorical] if c not in frame.columns]
    if missing:
        raise ValueError(f"not columns of the frame: {missing}.")
    periods = frame[period_col]
    if not (periods == reference).any():
        raise ValueError(f"no row has {period_col} == {reference!r}: pick a reference "
                         "period that occurs in the frame.")
    ref_rows = frame[periods == reference]
    others = sorted(p for p in periods.dropna().unique() if p != reference)
    table = pd.DataFrame(
        {col: [psi(ref_rows[col], frame.loc[periods == p, col], bins=bins, eps=eps,
                   categorical=True if col in categorical else None) for p in others]
         for col in columns},
        index=pd.Index(others, name=period_col))
    return table


def _default_adversary(frame: pd.DataFrame) -> Any:
    from sklearn.compose import make_column_transformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numeric = [c for c in frame.columns if _is_numeric(frame[c])]
    other = [c for c in frame.columns if c not in numeric]
    parts = []
    if other:
        parts.append((make_pipeline(SimpleImputer(strategy="constant", fill_value="missing"),
                                    OneHotEncoder(handle_unknown="ignore")), other))
    if numeric:
        parts.append((make_pipeline(SimpleImputer(strategy="median", add_indicator=True,
                                                  keep_empty_features=True),
                                    StandardScaler()), numeric))
    return make_pipeline(make_column_transformer(*parts), LogisticRegression(max_iter=1000))


def adversarial_auc(reference: pd.DataFrame, current: pd.DataFrame, *,
                    n_splits: int = 5, random_state: int | None = None,
                    model: Any = None) -> float:
    """Adversarial validation: how well a classifier tells ``current`` rows from
    ``reference`` rows, as a cross-validated ROC AUC.

    Every row is labelled 0 (reference) or 1 (current); a classifier is trained on
    ``n_splits - 1`` folds and scores the held-out fold, so every row gets a score from
    a model that did not see it. An AUC near 0.5 says the two samples look alike in
    these columns; an AUC well above 0.5 says something moved.

    Leave out columns that encode time (timestamps, day numbers, row ids): they tell
    any two periods apart and say nothing about the data.

    Parameters
    ----------
    reference, current : pandas.DataFrame
        The same columns. Numeric columns are imputed with the median (plus a
        missing-value indicator) and standardised; all others (object, category,
        bool) are one-hot encoded with missing values as a category of their own.
    n_splits : int
        Folds of the stratified cross-validation (at least 2; each sample needs at
        least that many rows).
    random_state : int, optional
        Seed of the fold assignment.
    model : scikit-learn classifier, optional
        Replaces the default (the encoding above and a logistic regression); it must
        accept the raw frames and have ``predict_proba``.

    Returns
    -------
    float
        ROC AUC in [0, 1].

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> before = pd.DataFrame({"x": rng.normal(0, 1, 300)})
    >>> same = pd.DataFrame({"x": rng.normal(0, 1, 300)})
    >>> moved = pd.DataFrame({"x": rng.normal(1, 1, 300)})
    >>> adversarial_auc(before, same, random_state=0) < 0.6
    True
    >>> adversarial_auc(before, moved, random_state=0) > 0.7
    True
    """
    from sklearn.base import clone
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    for name, value in (("reference", reference), ("current", current)):
        if not isinstance(value, pd.DataFrame):
            raise TypeError(f"{name} must be a pandas DataFrame, got {type(value).__name__}.")
    if list(reference.columns) != list(current.columns):
        raise ValueError("reference and current must have the same columns in the same "
                         f"order, got {list(reference.columns)} and {list(current.columns)}.")
    if reference.shape[1] == 0:
        raise ValueError("the frames have no columns to compare.")
    n_splits = check_int("n_splits", n_splits, minimum=2)
    if min(len(reference), len(current)) < n_splits:
        raise ValueError(f"each sample needs at least n_splits={n_splits} rows, got "
                         f"{len(reference)} and {len(current)}.")
    if random_state is not None:
        random_state = check_int("random_state", random_state, minimum=0)
    frame = pd.concat([reference, current], ignore_index=True)
    labels = np.r_[np.zeros(len(reference), int), np.ones(len(current), int)]
    adversary = _default_adversary(frame) if model is None else clone(model)
    folds = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=random_state)
    scores = cross_val_predict(adversary, frame, labels, cv=folds,
                               method="predict_proba")[:, 1]
    return float(roc_auc_score(labels, scores))


def time_split(day: Any, test_from: int) -> tuple[np.ndarray, np.ndarray]:
    """Masks of a split by time: train before ``test_from``, test from it on.

    Examples
    --------
    >>> train, test = time_split([0, 1, 2, 3], test_from=2)
    >>> train.tolist(), test.tolist()
    ([True, True, False, False], [False, False, True, True])
    """
    days = np.asarray(day)
    if days.ndim != 1 or days.size == 0:
        raise ValueError("day must be a non-empty one-dimensional array of day numbers.")
    if not np.issubdtype(days.dtype, np.integer):
        raise TypeError(f"day must hold whole day numbers, got dtype {days.dtype}.")
    test_from = check_int("test_from", test_from)
    test = days >= test_from
    if test.all() or not test.any():
        raise ValueError(f"test_from={test_from} puts every row on one side; pick a day "
                         f"between {days.min() + 1} and {days.max()}.")
    return ~test, test


def random_split(n: int, test_size: float | int,
                 random_state: int | np.random.Generator | None = None
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Masks of a random split of ``n`` rows.

    Parameters
    ----------
    n : int
        Number of rows.
    test_size : float or int
        Share of rows in the test set (in (0, 1)) or their number (1 to ``n - 1``).
    random_state : int, Generator or None
        Seed.

    Examples
    --------
    >>> train, test = random_split(10, 0.3, random_state=0)
    >>> int(test.sum()), bool((train ^ test).all())
    (3, True)
    """
    n = check_int("n", n, minimum=2)
    if isinstance(test_size, bool) or not isinstance(test_size, numbers.Real):
        raise TypeError(f"test_size must be a share or a count, got {test_size!r}.")
    if isinstance(test_size, numbers.Integral):
        n_test = check_int("test_size", test_size, minimum=1, maximum=n - 1)
    else:
        share = check_float("test_size", test_size, low=0, high=1, low_inclusive=False,
                            high_inclusive=False)
        n_test = min(max(int(round(share * n)), 1), n - 1)
    rng = check_rng(random_state)
    test = np.zeros(n, dtype=bool)
    test[rng.permutation(n)[:n_test]] = True
    return ~test, test
