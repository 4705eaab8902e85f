"""Metrics the labs use around their tasks: confusion counts and operating-point tables.

A binary classifier that outputs scores becomes a decision rule only once a threshold
is chosen: here a case is predicted positive when its score is *at least* the
threshold (``score >= threshold``), the convention of scikit-learn's
:func:`~sklearn.metrics.precision_recall_curve`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ._validation import check_1d, check_float, check_same_length

__all__ = ["RANK_DECIMALS", "confusion_at_threshold", "operating_points", "stable_argmax",
           "stable_argsort"]


def _labels_and_scores(y_true: Any, scores: Any) -> tuple[np.ndarray, np.ndarray]:
    y = check_1d("y_true", y_true, dtype="binary")
    s = check_1d("scores", scores, dtype="numeric").astype(float)
    check_same_length(y_true=y, scores=s)
    return y, s


def confusion_at_threshold(y_true: Any, scores: Any, threshold: float) -> dict[str, int]:
    """Count the four outcomes of predicting positive when ``score >= threshold``.

    Parameters
    ----------
    y_true : array-like of 0/1
        True labels, 1 for the positive class.
    scores : array-like of float
        One score per case; higher means more likely positive.
    threshold : float
        Cases with a score at least this high are predicted positive.

    Returns
    -------
    dict
        ``{"tp": ..., "fp": ..., "fn": ..., "tn": ...}`` as Python ints: true
        positives, false positives (false alarms), false negatives (misses) and true
        negatives.

    Examples
    --------
    >>> confusion_at_threshold([1, 0, 1, 0], [0.9, 0.8, 0.3, 0.1], 0.5)
    {'tp': 1, 'fp': 1, 'fn': 1, 'tn': 1}
    >>> confusion_at_threshold([1, 0], [0.5, 0.2], 0.5)["tp"]  # a tie counts as positive
    1
    """
    y, s = _labels_and_scores(y_true, scores)
    t = check_float("threshold", threshold)
    predicted = s >= t
    positive = y == 1
    return {
        "tp": int(np.sum(predicted & positive)),
        "fp": int(np.sum(predicted & ~positive)),
        "fn": int(np.sum(~predicted & positive)),
        "tn": int(np.sum(~predicted & ~positive)),
    }


def operating_points(y_true: Any, scores: Any, thresholds: Any,
                     names: Sequence[str] | None = None) -> pd.DataFrame:
    """Tabulate what each threshold does: recall, precision, misses and false alarms.

    Parameters
    ----------
    y_true : array-like of 0/1
        True labels, 1 for the positive class.
    scores : array-like of float
        One score per case; higher means more likely positive.
    thresholds : float or array-like of float
        The operating points to describe (``score >= threshold`` is positive).
    names : sequence of str, optional
        A label per threshold, used as the table's index (e.g. ``"recall-first"``).

    Returns
    -------
    pandas.DataFrame
        One row per threshold with columns ``threshold``, ``recall``, ``precision``,
        ``accuracy``, ``missed`` (false negatives), ``false_alarms`` (false
        positives) and ``flagged`` (cases predicted positive). Precision is NaN where
        nothing is flagged, since it is undefined there; recall is NaN when
        ``y_true`` has no positive case.

    Examples
    --------
    >>> table = operating_points([1, 0, 1, 0], [0.9, 0.8, 0.3, 0.1], [0.5, 0.2],
    ...                          names=["strict", "lenient"])
    >>> table[["recall", "missed", "false_alarms"]]
             recall  missed  false_alarms
    strict      0.5       1             1
    lenient     1.0       0             1
    """
    y, s = _labels_and_scores(y_true, scores)
    ts = check_1d("thresholds", np.atleast_1d(thresholds)).astype(float)
    if names is not None:
        if isinstance(names, str):
            raise TypeError("names must be a sequence of labels, one per threshold, "
                            "not a single string; wrap it in a list.")
        names = [str(n) for n in names]
        if len(names) != len(ts):
            raise ValueError(f"names has {len(names)} labels but there are {len(ts)} "
                             "thresholds; give one label per threshold.")
    rows = []
    for t in ts:
        c = confusion_at_threshold(y, s, float(t))
        flagged = c["tp"] + c["fp"]
        positives = c["tp"] + c["fn"]
        rows.append({
            "threshold": float(t),
            "recall": c["tp"] / positives if positives else np.nan,
            "precision": c["tp"] / flagged if flagged else np.nan,
            "accuracy": (c["tp"] + c["tn"]) / len(y),
            "missed": c["fn"],
            "false_alarms": c["fp"],
            "flagged": flagged,
        })
    return pd.DataFrame(rows, index=pd.Index(names) if names is not None else None)


#: Decimals kept before ranking: far coarser than a last-bit difference between CPUs
#: (about 1e-16 relative), far finer than any real difference between two scores.
RANK_DECIMALS = 9


def _rounded_scores(scores: Any) -> np.ndarray:
    s = np.asarray(scores)
    if s.ndim not in (1, 2) or s.size == 0:
        raise ValueError(f"scores must be a non-empty 1-d or 2-d array, got shape {s.shape}.")
    if s.dtype.kind not in "biuf":
        raise TypeError(f"scores must be numbers, got dtype {s.dtype}.")
    s = s.astype(float)
    if np.isnan(s).any():
        raise ValueError("scores contain NaN; rank only finite scores (impute or drop them).")
    scale = np.nanmax(np.abs(s), axis=-1, keepdims=True)
    scale = np.where(np.isfinite(scale) & (scale > 0), scale, 1.0)
    # Relative rounding: two scores within ~1e-9 of the row's largest are a tie.
    return np.round(s / scale, RANK_DECIMALS)


def stable_argsort(scores: Any, *, descending: bool = True) -> np.ndarray:
    """Rank scores so that near-ties break the same way on every CPU.

    Scores are rounded (relative to each row's largest magnitude) to
    :data:`RANK_DECIMALS` decimals, and ties go to the lower index. Two CPUs that differ
    in the last bits of a score then produce the same order, where ``np.argsort`` would
    let the last bits decide.

    Parameters
    ----------
    scores : array-like of shape (n,) or (n_rows, n)
        Scores; each row is ranked separately.
    descending : bool
        Highest score first (default).

    Returns
    -------
    ndarray of int
        Indices that sort each row.

    Examples
    --------
    >>> stable_argsort([0.3, 0.7, 0.7 + 1e-15, 0.1])
    array([1, 2, 0, 3])
    >>> stable_argsort([[1.0, 3.0, 2.0]], descending=False)
    array([[0, 2, 1]])
    """
    s = _rounded_scores(scores)
    return np.argsort(-s if descending else s, axis=-1, kind="stable")


def stable_argmax(scores: Any) -> np.ndarray | int:
    """Index of the highest score (per row), near-ties to the lower index on every CPU.

    Examples
    --------
    >>> stable_argmax([0.2, 0.5 + 1e-15, 0.5])
    1
    >>> stable_argmax([[0.1, 0.9], [0.4, 0.4]])
    array([1, 0])
    """
    order = stable_argsort(scores)
    first = order[..., 0]
    return int(first) if np.ndim(first) == 0 else first
