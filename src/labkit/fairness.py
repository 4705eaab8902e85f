"""Per-group metrics for binary decisions: thin, practitioner-style helpers around fairlearn.

A model can look fine on average and fail one group: an aggregate metric is dominated
by the largest groups, so an under-represented group's problems hardly move it. The
remedy is to disaggregate: compute each metric per group and look at the worst group
and the gaps. :func:`group_report` does that with :class:`fairlearn.metrics.MetricFrame`
in one call, and :func:`recall_gap` reduces it to the one number an equal-opportunity
check cares about.

fairlearn is imported inside the functions, so ``import labkit.fairness`` stays fast.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ._validation import check_1d, check_same_length

__all__ = ["REPORT_COLUMNS", "group_report", "recall_gap"]

#: The columns of :func:`group_report`, in order.
REPORT_COLUMNS = ("count", "positives", "base rate", "selection rate", "recall",
                  "false positive rate", "precision")


def _inputs(y_true: Any, y_pred: Any, sensitive_features: Any
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    y = check_1d("y_true", y_true, dtype="binary")
    p = check_1d("y_pred", y_pred, dtype="binary")
    g = check_1d("sensitive_features", sensitive_features, dtype="any")
    check_same_length(y_true=y, y_pred=p, sensitive_features=g)
    if pd.isna(g).any():
        raise ValueError("sensitive_features contains missing values; give them a group "
                         "of their own (e.g. 'unknown') so that they are reported.")
    return y, p, g.astype(str)


def _rate(numerator: np.ndarray, denominator: np.ndarray) -> float:
    n = int(denominator.sum())
    return float(numerator.sum() / n) if n else float("nan")


def _recall(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    return _rate((y_pred == 1) & (y_true == 1), y_true == 1)


def _fpr(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    return _rate((y_pred == 1) & (y_true == 0), y_true == 0)


def _precision(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    return _rate((y_pred == 1) & (y_true == 1), y_pred == 1)


def group_report(y_true: Any, y_pred: Any, sensitive_features: Any) -> pd.DataFrame:
    """Metrics of binary decisions per group, and overall, with fairlearn's MetricFrame.

    A rate whose denominator is empty in a group (recall in a group without positive
    cases, precision in a group nobody was flagged in) is NaN, not 0: there is nothing
    to measure.

    Parameters
    ----------
    y_true : array-like of 0/1
        What happened.
    y_pred : array-like of 0/1
        The decisions.
    sensitive_features : array-like
        The group of each case (e.g. the user's region).

    Returns
    -------
    pandas.DataFrame
        One row per group (sorted by name) and a last row ``"overall"``; the columns
        are :data:`REPORT_COLUMNS`: the number of cases, of positive cases, the share
        of positives, the share flagged, recall (true positive rate), false positive
        rate and precision.

    Examples
    --------
    >>> report = group_report([1, 1, 0, 1, 0, 0], [1, 0, 0, 1, 1, 0],
    ...                       ["a", "a", "a", "b", "b", "b"])
    >>> report["recall"].tolist()
    [0.5, 1.0, 0.6666666666666666]
    >>> report.index.tolist()
    ['a', 'b', 'overall']
    """
    from fairlearn.metrics import MetricFrame

    y, p, g = _inputs(y_true, y_pred, sensitive_features)
    metrics = {
        "count": lambda t, _: float(len(t)),
        "positives": lambda t, _: float(np.sum(t == 1)),
        "base rate": lambda t, _: float(np.mean(t == 1)),
        "selection rate": lambda _, q: float(np.mean(q == 1)),
        "recall": _recall,
        "false positive rate": _fpr,
        "precision": _precision,
    }
    frame = MetricFrame(metrics=metrics, y_true=y, y_pred=p,
                        sensitive_features=pd.Series(g, name="group"))
    table = frame.by_group.sort_index()
    overall = frame.overall.to_frame().T
    overall.index = ["overall"]
    report = pd.concat([table, overall])[list(REPORT_COLUMNS)].astype(float)
    report[["count", "positives"]] = report[["count", "positives"]].astype(int)
    report.index.name = "group"
    return report


def recall_gap(y_true: Any, y_pred: Any, sensitive_features: Any, group: str) -> float:
    """Recall of everyone outside ``group`` minus the recall of ``group``.

    Positive when the group's positive cases are caught less often than everyone
    else's: the gap that equal opportunity asks to close (Hardt et al., 2016).

    Parameters
    ----------
    y_true, y_pred : array-like of 0/1
    sensitive_features : array-like
        The group of each case.
    group : str
        The group to compare with the rest.

    Returns
    -------
    float

    Raises
    ------
    ValueError
        When the group, or the rest, has no positive case (recall is undefined).

    Examples
    --------
    >>> recall_gap([1, 1, 0, 1, 1, 0], [1, 0, 0, 1, 1, 1], ["a", "a", "a", "b", "b", "b"],
    ...            group="a")
    0.5
    """
    y, p, g = _inputs(y_true, y_pred, sensitive_features)
    if not isinstance(group, str):
        raise TypeError(f"group must be a string naming a group, got {type(group).__name__}.")
    inside = g == group
    if not inside.any():
        raise ValueError(f"no case belongs to group {group!r}; the groups are "
                         f"{sorted(set(g.tolist()))[:10]}.")
    for name, mask in ((f"group {group!r}", inside), ("the rest", ~inside)):
        if not np.any(y[mask] == 1):
            raise ValueError(f"{name} has no positive case, so its recall is undefined.")
    return _recall(y[~inside], p[~inside]) - _recall(y[inside], p[inside])
