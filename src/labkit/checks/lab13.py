"""Public self-checks of Lab 13, *The assumptions your model makes*.

The two function checks run the learner's detector on small cases worked out by hand
(the ones the lab's instructions walk through) before recording what it gives on this
run's data and testing properties every correct answer has. The three decision checks
test that a decision is consistent with the lab's tables and record it for the grader.
Failures say what is wrong in plain words; they never print a value computed from this
run's data.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from ._core import (
    Example,
    as_number,
    call_answer,
    check_examples,
    decision,
    expect,
    expect_choice,
    expect_number,
    passed,
    record,
)

__all__ = ["ESTIMATE", "LAST_WEEK", "RANDOM", "TRAINING", "broken_assumption",
           "largest_exact_k", "neighbour_gap_ratio", "promised_accuracy",
           "within_class_correlation"]

# ---------------------------------------------------------------- neighbour_gap_ratio
# Worked examples. X = [0, 1, 3, 6] on one axis: each point's nearest other point is
# 0 -> 1, 1 -> 0, 3 -> 1, 6 -> 3. With y = x the gaps to the neighbour are 1, 1, 2, 3
# (mean 1.75) and the six pairs differ by 1, 3, 6, 2, 5, 3 (mean 20/6): ratio 0.525.
# With y = [6, 0, 3, 1] the neighbour gaps are 6, 6, 3, 2 (mean 4.25), the pairs the
# same: ratio 1.275, neighbours *less* alike than random pairs.
_LINE = np.array([[0.0], [1.0], [3.0], [6.0]])
_SMOOTH_Y = np.array([0.0, 1.0, 3.0, 6.0])
_ROUGH_Y = np.array([6.0, 0.0, 3.0, 1.0])
_GRID = np.array([[0.0, 0.0], [0.0, 5.0], [1.0, 0.0], [1.0, 5.0]])
_GRID_Y = np.array([0.0, 9.0, 1.0, 10.0])
_SELF = ("each point's nearest neighbour is itself (distance 0), so every gap is 0; "
         "look for the nearest *other* point.")
_DIAGONAL = ("the mean over all pairs should leave out each point paired with itself "
             "(n * (n - 1) ordered pairs, not n * n), or the zeros on the diagonal pull "
             "the denominator down.")
_RATIO_EXAMPLES = (
    Example((_LINE, _SMOOTH_Y), 1.75 / (20 / 6), "X=[[0], [1], [3], [6]], y=[0, 1, 3, 6]",
            slips={
                0.0: _SELF,
                1.75 / 2.5: _DIAGONAL,
                3.75 / 14: "that squares the differences; use absolute differences, in the "
                           "neighbour gaps and in the pairs alike.",
                1.75: "that is the mean gap to the neighbour alone; divide it by the mean "
                      "absolute difference between two different points, so the ratio "
                      "does not depend on the units of y.",
                1.75 / 2.0: "the denominator is the mean absolute deviation from the mean "
                            "of y; use the mean absolute difference between two different "
                            "points instead.",
            }),
    Example((_LINE, _ROUGH_Y), 4.25 / (20 / 6), "X=[[0], [1], [3], [6]], y=[6, 0, 3, 1]",
            slips={
                0.0: _SELF,
                4.25 / 2.5: _DIAGONAL,
                1.75 / (20 / 6): "the neighbours were found among the *outputs*; find "
                                 "each point's nearest neighbour by its inputs X, then "
                                 "compare their outputs y.",
            }),
    Example((_GRID, _GRID_Y), 1.0 / (38 / 6),
            "X=[[0, 0], [0, 5], [1, 0], [1, 5]], y=[0, 9, 1, 10]",
            slips={
                0.0: _SELF,
                9.0 / (38 / 6): "the neighbours were found with the first feature only; "
                                "use the distance over all features (each row of X is "
                                "one point).",
            }),
)


def _reference_ratio(X: np.ndarray, y: np.ndarray) -> float:
    from sklearn.neighbors import NearestNeighbors

    _, index = NearestNeighbors(n_neighbors=2).fit(X).kneighbors(X)
    neighbour = np.where(index[:, 0] == np.arange(len(X)), index[:, 1], index[:, 0])
    pairs = np.abs(y[:, None] - y[None, :]).sum() / (len(y) * (len(y) - 1))
    return float(np.mean(np.abs(y - y[neighbour])) / pairs)


def _regression(task: str, X: Any, y: Any, name: str) -> tuple[np.ndarray, np.ndarray]:
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    expect(X.ndim == 2 and y.ndim == 1 and len(X) == len(y) and len(y) >= 3, task,
           f"give the check {name} as X (a 2-d array, one row per point) and y (1-d, one "
           "value per row), with at least 3 points.")
    expect(bool(np.all(np.isfinite(X)) and np.all(np.isfinite(y))), task,
           f"{name} contains NaN or infinite values.")
    return X, y


def neighbour_gap_ratio(func: Callable[..., Any], X_smooth: Any, y_smooth: Any,
                        X_rough: Any, y_rough: Any) -> None:
    """Check ``neighbour_gap_ratio(X, y)``, the lab's smoothness detector.

    The ratio is the mean absolute difference between the output of each point and
    that of its nearest *other* point (by Euclidean distance on X), divided by the mean
    absolute difference between the outputs of two different points. Runs the worked
    examples first, then records the ratio on the lab's smooth and rough data and tests
    that it agrees with an independent computation, that it does not change when y is
    rescaled and shifted or when the rows are shuffled, and that the smooth data give
    the smaller ratio.

    Parameters
    ----------
    func : callable
        The learner's ``neighbour_gap_ratio``.
    X_smooth, y_smooth, X_rough, y_rough : array-like
        This run's two regressions: inputs (2-d) and outputs (1-d).

    Raises
    ------
    AssertionError
        Saying in plain words what is wrong.

    Examples
    --------
    >>> def ratio(X, y):
    ...     X, y = np.asarray(X, float), np.asarray(y, float)
    ...     d = ((X[:, None, :] - X[None, :, :]) ** 2).sum(axis=2)
    ...     np.fill_diagonal(d, np.inf)
    ...     gaps = np.abs(y - y[d.argmin(axis=1)]).mean()
    ...     return gaps / (np.abs(y[:, None] - y).sum() / (len(y) * (len(y) - 1)))
    >>> x = np.linspace(0, 1, 40)[:, None]
    >>> neighbour_gap_ratio(ratio, x, x[:, 0], x, np.sin(997 * x[:, 0]))
    [ok] neighbour_gap_ratio: all checks passed
    """
    task = "neighbour_gap_ratio"
    smooth = _regression(task, X_smooth, y_smooth, "the smooth data")
    rough = _regression(task, X_rough, y_rough, "the rough data")
    check_examples(task, lambda *a: expect_number(task, func(*a)), _RATIO_EXAMPLES)

    on_run = {}
    for name, (X, y) in (("smooth", smooth), ("rough", rough)):
        on_run[name] = expect_number(task, call_answer(task, func, X.copy(), y.copy()))
    record(task, **on_run)
    for name, (X, y) in (("smooth", smooth), ("rough", rough)):
        expect(math.isclose(on_run[name], _reference_ratio(X, y), rel_tol=1e-6,
                            abs_tol=1e-9), task,
               f"on this run's {name} data the ratio is not the mean gap to the nearest "
               "other point divided by the mean gap between two different points.")
    X, y = smooth
    rescaled = expect_number(task, call_answer(task, func, X.copy(), 10 * y - 3))
    expect(math.isclose(rescaled, on_run["smooth"], rel_tol=1e-6, abs_tol=1e-9), task,
           "multiplying y by 10 and subtracting 3 changed the ratio; a detector should not "
           "depend on the units of the output.")
    order = np.random.default_rng(0).permutation(len(y))
    shuffled = expect_number(task, call_answer(task, func, X[order], y[order]))
    expect(math.isclose(shuffled, on_run["smooth"], rel_tol=1e-6, abs_tol=1e-9), task,
           "shuffling the rows changed the ratio; it should not depend on their order.")
    expect(on_run["smooth"] < on_run["rough"], task,
           "the smooth data should give a smaller ratio than the rough data.")
    passed(task)


# ---------------------------------------------------------------- within_class_correlation
# Worked examples. (1) Four points per class on the corners of a unit square, the two
# squares far apart: inside each class the features are uncorrelated (0), although over
# both classes together they move together. (2) Class 0: x2 falls as x1 rises (r = -1);
# class 1: r = 1 / sqrt(5). (3) Three features, class 0: only x1 and x3 are correlated
# (r = 0.6); class 1: none.
_SQUARES_X = np.array([[0, 0], [1, 0], [0, 1], [1, 1], [4, 4], [5, 4], [4, 5], [5, 5]],
                      dtype=float)
_SQUARES_Y = np.array([0, 0, 0, 0, 1, 1, 1, 1])
_NEGATIVE_X = np.array([[0, 3], [1, 2], [2, 1], [3, 0], [0, 0], [1, 1], [2, 0], [3, 1]],
                       dtype=float)
_NEGATIVE_Y = _SQUARES_Y
_THREE_X = np.array([[0, 0, 1], [1, 1, 0], [2, 1, 3], [3, 0, 2],
                     [0, 0, 1], [1, 0, 0], [0, 1, 0], [1, 1, 1]], dtype=float)
_THREE_Y = _SQUARES_Y
_MARGINAL = ("that is the correlation over all rows together; the assumption is about "
             "features *given the class*: compute the correlations inside each class "
             "separately. Features that both depend on the class move together over the "
             "whole table even when they are independent inside each class.")
_WITH_DIAGONAL = ("that is each feature's correlation with itself (always 1); leave out "
                  "the diagonal of the correlation matrix.")
_CORRELATION_EXAMPLES = (
    Example((_SQUARES_X, _SQUARES_Y), 0.0,
            "two classes, each four points on the corners of a unit square "
            "(X=[[0, 0], [1, 0], [0, 1], [1, 1], [4, 4], [5, 4], [4, 5], [5, 5]], "
            "y=[0, 0, 0, 0, 1, 1, 1, 1])",
            slips={float(np.corrcoef(_SQUARES_X, rowvar=False)[0, 1]): _MARGINAL,
                   1.0: _WITH_DIAGONAL}),
    Example((_NEGATIVE_X, _NEGATIVE_Y), 1.0,
            "X=[[0, 3], [1, 2], [2, 1], [3, 0], [0, 0], [1, 1], [2, 0], [3, 1]], "
            "y=[0, 0, 0, 0, 1, 1, 1, 1] (class 0: r=-1, class 1: r=1/sqrt(5))",
            slips={1 / math.sqrt(5): "a correlation of -1 is as strong a dependence as +1: "
                                     "take the absolute value before the largest.",
                   (1 + 1 / math.sqrt(5)) / 2: "that averages the classes; the assumption "
                                               "fails if it fails in any class, so take "
                                               "the largest.",
                   0.0: "the answer is not 0: x2 falls exactly as x1 rises in class 0."}),
    Example((_THREE_X, _THREE_Y), 0.6,
            "three features, X=[[0, 0, 1], [1, 1, 0], [2, 1, 3], [3, 0, 2], [0, 0, 1], "
            "[1, 0, 0], [0, 1, 0], [1, 1, 1]], y=[0, 0, 0, 0, 1, 1, 1, 1] (class 0: "
            "r(x1, x3)=0.6, every other pair 0)",
            slips={0.0: "the pair (x1, x3) was missed: look at every pair of different "
                        "features, not only neighbouring columns.",
                   0.3: "that averages the classes; take the largest over classes."}),
)


def _reference_correlation(X: np.ndarray, y: np.ndarray) -> float:
    worst = 0.0
    for label in np.unique(y):
        rows = X[y == label]
        centred = rows - rows.mean(axis=0)
        scale = np.sqrt((centred ** 2).sum(axis=0))
        r = (centred.T @ centred) / np.outer(scale, scale)
        np.fill_diagonal(r, 0.0)
        worst = max(worst, float(np.abs(r).max()))
    return worst


def within_class_correlation(func: Callable[..., Any], X: Any, y: Any) -> None:
    """Check ``within_class_correlation(X, y)``, the lab's conditional-independence detector.

    The answer is the largest absolute Pearson correlation between two different
    features, computed among the rows of one class, over all classes. Runs the worked
    examples, then records the answer on this run's data and on the same data with a
    copy of the first feature appended, and tests: the answer agrees with an independent
    computation, lies in [0, 1], is 1 with the copy, and does not change when the class
    labels are renamed or a feature is rescaled.

    Parameters
    ----------
    func : callable
        The learner's ``within_class_correlation``.
    X : array-like of shape (n_samples, n_features)
        This run's features (at least two).
    y : array-like of shape (n_samples,)
        Class labels.

    Raises
    ------
    AssertionError
        Saying in plain words what is wrong.

    Examples
    --------
    >>> def worst(X, y):
    ...     out = 0.0
    ...     for c in np.unique(y):
    ...         r = np.corrcoef(X[y == c], rowvar=False)
    ...         out = max(out, np.abs(r[~np.eye(len(r), dtype=bool)]).max())
    ...     return out
    >>> rng = np.random.default_rng(0)
    >>> within_class_correlation(worst, rng.normal(size=(200, 3)), rng.integers(0, 2, 200))
    [ok] within_class_correlation: all checks passed
    """
    task = "within_class_correlation"
    X = np.asarray(X, dtype=float)
    y = np.asarray(y)
    expect(X.ndim == 2 and X.shape[1] >= 2 and y.ndim == 1 and len(y) == len(X), task,
           "give the check X (2-d, at least two features) and y (1-d, one label per row).")
    classes = np.unique(y)
    expect(len(classes) >= 2 and all(np.sum(y == c) >= 3 for c in classes), task,
           "y needs at least two classes with at least 3 rows each.")
    check_examples(task, lambda *a: expect_number(task, func(*a)), _CORRELATION_EXAMPLES)

    value = expect_number(task, call_answer(task, func, X.copy(), y.copy()))
    with_copy = np.column_stack([X, X[:, 0]])
    copied = expect_number(task, call_answer(task, func, with_copy, y.copy()))
    record(task, correlation=value, with_copy=copied)
    expect(0.0 <= value <= 1.0 + 1e-9, task, "a largest absolute correlation lies in [0, 1].")
    expect(math.isclose(value, _reference_correlation(X, y), rel_tol=1e-6, abs_tol=1e-9),
           task, "on this run's data the answer is not the largest absolute correlation "
                 "between two different features inside a class.")
    expect(math.isclose(copied, 1.0, rel_tol=1e-6), task,
           "with an exact copy of a feature appended the answer should be 1 (a feature and "
           "its copy are perfectly correlated in every class).")
    renamed = np.where(y == classes[0], classes[1], classes[0]) if len(classes) == 2 else y
    again = expect_number(task, call_answer(task, func, X.copy(), renamed))
    expect(math.isclose(again, value, rel_tol=1e-6, abs_tol=1e-9), task,
           "renaming the classes changed the answer; it should depend on which rows share "
           "a class, not on the labels' values.")
    scaled = X.copy()
    scaled[:, 0] = 100 * scaled[:, 0] + 7
    again = expect_number(task, call_answer(task, func, scaled, y.copy()))
    expect(math.isclose(again, value, rel_tol=1e-6, abs_tol=1e-9), task,
           "rescaling a feature changed the answer; a correlation does not depend on units.")
    passed(task)


# ---------------------------------------------------------------- promised_accuracy

#: Row names of the lab's table of estimates, and its column.
TRAINING = "the training days themselves"
RANDOM = "random held-out events"
LAST_WEEK = "the last week, after the training days"
ESTIMATE = "accuracy"


def promised_accuracy(value: Any, estimates: Any) -> None:
    """Check the decision ``PROMISED_ACCURACY``: the estimate to promise for after launch.

    A model goes live on days it has not seen; the only estimate in the table measured
    that way is the one on the last week, held out *after* the training days. Records
    the decision with an interval of +-0.0005 around that row's accuracy.

    Parameters
    ----------
    value : float
        The learner's ``PROMISED_ACCURACY``.
    estimates : pandas.DataFrame
        The lab's table: rows :data:`TRAINING`, :data:`RANDOM` and :data:`LAST_WEEK`,
        column :data:`ESTIMATE`.

    Raises
    ------
    AssertionError
        Saying in plain words what is wrong.

    Examples
    --------
    >>> table = pd.DataFrame({ESTIMATE: [0.3, 0.25, 0.2]}, index=[TRAINING, RANDOM, LAST_WEEK])
    >>> promised_accuracy(0.2, table)
    [ok] promised_accuracy: consistent with the table
    """
    task = "promised_accuracy"
    expect(isinstance(estimates, pd.DataFrame) and ESTIMATE in estimates.columns
           and {TRAINING, RANDOM, LAST_WEEK} <= set(estimates.index), task,
           f"give the check the lab's table of estimates (rows {TRAINING!r}, {RANDOM!r}, "
           f"{LAST_WEEK!r}; column {ESTIMATE!r}).")
    column = pd.to_numeric(estimates[ESTIMATE], errors="coerce")
    expect(bool(column.notna().all()), task, f"the {ESTIMATE!r} column must hold numbers.")
    got = math.nan if isinstance(value, (str, bool)) else as_number(value)
    expect(not math.isnan(got), task, "set PROMISED_ACCURACY to a single number (a float), "
                                      f"got {type(value).__name__} {str(value)[:40]}.")
    right = float(column[LAST_WEEK])
    record(task, accuracy=decision(got, between=(right - 5e-4, right + 5e-4)))
    if math.isclose(got, right, rel_tol=1e-9, abs_tol=1e-9):
        passed(task, "consistent with the table")
        return
    if math.isclose(got, 100 * right, rel_tol=1e-9):
        why = "it looks like a percentage; give the accuracy as a fraction between 0 and 1."
    elif math.isclose(got, float(column[RANDOM]), rel_tol=1e-9):
        why = ("that is the estimate on random held-out events: they are mixed in time with "
               "the training events, so it assumes tomorrow looks like a random day of the "
               "past. After launch the model only sees days after its training data.")
    elif math.isclose(got, float(column[TRAINING]), rel_tol=1e-9):
        why = ("that is measured on the events the model was trained on; it says how well "
               "the model remembers, not how it will do on new days.")
    else:
        why = ("promise the estimate measured the way the model will be used: trained on "
               "earlier days, scored on later ones.")
    expect(False, task, f"PROMISED_ACCURACY does not match the table: {why}")


# ---------------------------------------------------------------- largest_exact_k


def largest_exact_k(value: Any, n_findings: int, budget: float) -> None:
    """Check the decision ``LARGEST_EXACT_K``: the most causes exact inference can afford.

    Exact inference in the lab's noisy-OR network multiplies ``2**k * (k + n_findings)``
    factors for ``k`` causes; the answer is the largest ``k`` whose cost is within
    ``budget``. Records the decision with that ``k`` as the only accepted answer.

    Parameters
    ----------
    value : int
        The learner's ``LARGEST_EXACT_K``.
    n_findings : int
        Observed findings in the network.
    budget : float
        Operations (factors multiplied) allowed per query.

    Raises
    ------
    AssertionError
        Saying in plain words what is wrong.

    Examples
    --------
    >>> largest_exact_k(24, 20, 1e9)
    [ok] largest_exact_k: consistent with the cost of exact inference
    """
    task = "largest_exact_k"
    d = int(expect_number(task, n_findings))
    limit = expect_number(task, budget)
    expect(d >= 1 and limit >= 1, task, "n_findings and budget must be positive.")
    got = math.nan if isinstance(value, (str, bool)) else as_number(value)
    expect(not math.isnan(got) and float(got).is_integer(),
           task, f"set LARGEST_EXACT_K to a whole number of causes, got "
                 f"{type(value).__name__} {str(value)[:40]}.")
    k = int(got)
    right = 0
    while 2 ** (right + 1) * (right + 1 + d) <= limit:
        right += 1
    record(task, k=decision(k, accepted=[right]))
    if k == right:
        passed(task, "consistent with the cost of exact inference")
        return
    if k > right and 2 ** k <= limit:
        why = ("with that many causes the 2**k states fit the budget, but each state also "
               "costs one factor per cause and per finding: multiply by (k + n_findings).")
    elif k > right:
        why = ("that exceeds the budget: the cost doubles with every added cause, so it "
               "grows far faster than a straight line through the table.")
    else:
        why = ("a larger network still fits the budget: extrapolate the cost beyond the "
               "table (it doubles with every added cause, times k + n_findings).")
    expect(False, task, f"LARGEST_EXACT_K does not match the budget: {why}")


# ---------------------------------------------------------------- broken_assumption


def _firing(task: str, report: Any) -> list[str]:
    expect(isinstance(report, pd.DataFrame)
           and {"value", "alarm", "alarm when"} <= set(report.columns), task,
           "give the check the lab's report (a DataFrame with 'value', 'alarm' and "
           "'alarm when' columns, one row per assumption).")
    value = pd.to_numeric(report["value"], errors="coerce")
    alarm = pd.to_numeric(report["alarm"], errors="coerce")
    side = report["alarm when"]
    expect(bool(value.notna().all() and alarm.notna().all()
                and side.isin(["above", "below"]).all()), task,
           "the report's 'value' and 'alarm' must be numbers and 'alarm when' 'above' or "
           "'below'.")
    fires = np.where(side == "above", value > alarm, value < alarm)
    return [str(name) for name in report.index[fires]]


def broken_assumption(value: Any, report: Any) -> None:
    """Check the decision ``BROKEN``: which assumption the mystery table breaks.

    An assumption is in doubt when its detector's value lies beyond the alarm level, on
    the side the ``alarm when`` column names. Records the decision; the accepted answers
    are the assumptions whose detectors fire.

    Parameters
    ----------
    value : str
        The learner's ``BROKEN``, a row name of the report.
    report : pandas.DataFrame
        The lab's report (:func:`labkit.assumptions.assumption_report`).

    Raises
    ------
    AssertionError
        Saying in plain words what is wrong.

    Examples
    --------
    >>> report = pd.DataFrame({"value": [0.3, 0.5, 0.4], "alarm": [0.06, 0.6, 0.08],
    ...                        "alarm when": ["below", "above", "above"]},
    ...                       index=["prediction", "iid", "boundaries"])
    >>> broken_assumption("boundaries", report)
    [ok] broken_assumption: consistent with the detectors
    """
    task = "broken_assumption"
    firing = _firing(task, report)
    answer = expect_choice(task, value, [str(name).lower() for name in report.index])
    answer = next(str(n) for n in report.index if str(n).lower() == answer)
    record(task, assumption=decision(answer, accepted=firing))
    expect(firing, task, "no detector in this report is beyond its alarm level.")
    if answer in firing:
        passed(task, "consistent with the detectors")
        return
    numbers = pd.to_numeric(report["value"])
    above = numbers > pd.to_numeric(report["alarm"])
    if report.loc[answer, "alarm when"] == "below" and above[answer]:
        why = (f"the {answer!r} detector raises its alarm when its value falls *below* the "
               "alarm level; its value is above it, which is what the intact assumption "
               "gives.")
    elif report.loc[answer, "alarm when"] == "above" and not above[answer]:
        why = (f"the {answer!r} detector raises its alarm when its value rises *above* the "
               "alarm level; it stays below, as it does when the assumption holds.")
    else:
        why = "compare each detector's value with its own alarm level, on its own side."
    expect(False, task, f"BROKEN does not match the detectors: {why}")
