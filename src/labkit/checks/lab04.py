"""Public self-checks of Lab 04, *Data quality and storage*.

Each check runs the learner's answer on small cases worked out by hand first (the ones
the lab's instructions walk through, with the wrong results that plausible slips give),
then records what the answer gives on this run's data for the grader, then tests
properties every correct answer has on this run's data. Failures say what is wrong in
plain words; they never print a value computed from this run's data.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from ._core import (
    Example,
    call_answer,
    check_examples,
    decision,
    expect,
    expect_choice,
    expect_number,
    passed,
    record,
)

__all__ = ["balanced_weights", "class_weight_effect", "impute_with_indicator",
           "psi_threshold", "split_to_report", "storage_layout", "AP_MARGIN",
           "CLASS_WEIGHT_CHOICES"]

# ----------------------------------------------------------------- impute_with_indicator

_NAN = math.nan
_IMPUTE_TRAIN = pd.DataFrame({"battery": [10.0, _NAN, 20.0, 60.0], "hour": [8, 9, 10, 11]})
_IMPUTE_TEST = pd.DataFrame({"battery": [_NAN, 100.0], "hour": [12, 13]})
_IMPUTE_SHOWN = ("train battery=[10, NaN, 20, 60], test battery=[NaN, 100], "
                 "columns=['battery']")
# Flattened as: train values, train indicator, test values, test indicator (per column).
_IMPUTE_EXAMPLES = (
    (("battery",), Example(
        (_IMPUTE_TRAIN, _IMPUTE_TEST, ["battery"]),
        [10, 20, 20, 60, 0, 1, 0, 0, 20, 100, 1, 0], _IMPUTE_SHOWN,
        slips={
            (10, 40, 20, 60, 0, 1, 0, 0, 40, 100, 1, 0):
                "the gaps were filled with the median of train and test together: the "
                "test set leaked into the fill value. Compute the median on train only.",
            (10, 20, 20, 60, 0, 1, 0, 0, 100, 100, 1, 0):
                "the test set's gaps were filled with the test set's own median. Fit the "
                "fill value on train and reuse it for test, as a deployed model would.",
            (10, 30, 20, 60, 0, 1, 0, 0, 30, 100, 1, 0):
                "that is the mean of the training values; use their median, which one "
                "extreme value cannot drag.",
            (10, 20, 20, 60, 0, 0, 0, 0, 20, 100, 0, 0):
                "the indicator is all zeros: it was computed after the gaps were filled. "
                "Record which values are missing before filling them.",
        },
        why="fill each gap with the median of the training column and add a column "
            "<name>_missing that is 1 where the value was missing, 0 elsewhere.")),
    (("a", "b"), Example(
        (pd.DataFrame({"a": [1.0, 2.0, 4.0], "b": [_NAN, _NAN, 3.0], "c": ["x", "y", "z"]}),
         pd.DataFrame({"a": [_NAN], "b": [5.0], "c": ["w"]}), ["a", "b"]),
        [1, 2, 4, 0, 0, 0, 2, 1,
         3, 3, 3, 1, 1, 0, 5, 0],
        "train a=[1, 2, 4], b=[NaN, NaN, 3]; test a=[NaN], b=[5]; columns=['a', 'b']",
        why="each listed column gets its own training median and its own indicator, "
            "even a column with no gap in train (here a: its test value is missing).")),
)


def _flatten_imputed(task: str, columns: tuple[str, ...]) -> Callable[[Any], np.ndarray]:
    def flatten(got: Any) -> np.ndarray:
        expect(isinstance(got, tuple) and len(got) == 2
               and all(isinstance(f, pd.DataFrame) for f in got), task,
               "return a pair (train, test) of pandas DataFrames, got "
               f"{type(got).__name__}.")
        parts = []
        for col in columns:
            for frame, name in zip(got, ("train", "test"), strict=True):
                for need in (col, f"{col}_missing"):
                    expect(need in frame.columns, task,
                           f"the returned {name} frame has no column {need!r}: keep each "
                           "listed column (filled) and add its indicator <name>_missing.")
                parts.append(pd.to_numeric(frame[col], errors="coerce").to_numpy(float))
                parts.append(pd.to_numeric(frame[f"{col}_missing"], errors="coerce")
                             .to_numpy(float))
        return np.concatenate(parts)

    return flatten


def _frames(task: str, train: Any, test: Any, columns: Any) -> list[str]:
    expect(isinstance(train, pd.DataFrame) and isinstance(test, pd.DataFrame), task,
           "give the check the training and the test frame (pandas DataFrames).")
    expect(not isinstance(columns, str) and len(list(columns)) > 0, task,
           "give the check a list of column names.")
    columns = list(columns)
    for col in columns:
        expect(col in train.columns and col in test.columns, task,
               f"{col!r} is not a column of both frames.")
        expect(train[col].notna().any(), task,
               f"the training column {col!r} has no value at all, so it has no median.")
    return columns


def impute_with_indicator(func: Callable[..., Any], train: Any, test: Any,
                          columns: Any) -> None:
    """Check ``impute_with_indicator(train, test, columns)``.

    Runs the worked examples, records the fill values and the filled columns' means on
    this run's data, then checks on this run's data that no gap is left, that each
    indicator marks exactly the values that were missing, that the gaps hold the
    training median, that every other value is untouched, and that the frames given
    to the function are not modified.

    Parameters
    ----------
    func : callable
        The learner's ``impute_with_indicator``.
    train, test : pandas.DataFrame
        This run's training and test frames.
    columns : list of str
        The numeric columns to impute.

    Raises
    ------
    AssertionError
        Saying in plain words what is wrong.

    Examples
    --------
    >>> def impute(train, test, columns):
    ...     train, test = train.copy(), test.copy()
    ...     for col in columns:
    ...         median = train[col].median()
    ...         for frame in (train, test):
    ...             frame[col + "_missing"] = frame[col].isna().astype(int)
    ...             frame[col] = frame[col].fillna(median)
    ...     return train, test
    >>> tr = pd.DataFrame({"x": [1.0, None, 3.0]})
    >>> impute_with_indicator(impute, tr, pd.DataFrame({"x": [None, 5.0]}), ["x"])
    [ok] impute_with_indicator: all checks passed
    """
    task = "impute_with_indicator"
    columns = _frames(task, train, test, columns)
    for cols, example in _IMPUTE_EXAMPLES:
        check_examples(task, func, [example], result=_flatten_imputed(task, cols))
    given_train, given_test = _IMPUTE_TRAIN.copy(), _IMPUTE_TEST.copy()
    call_answer(task, func, given_train, given_test, ["battery"], _case=_IMPUTE_SHOWN)
    expect(given_train.equals(_IMPUTE_TRAIN) and given_test.equals(_IMPUTE_TEST), task,
           "your function changed the frames it was given; work on copies "
           "(DataFrame.copy()) and return new frames.")

    out = call_answer(task, func, train.copy(), test.copy(), list(columns))
    _flatten_imputed(task, tuple(columns))(out)
    new_train, new_test = out
    record(task, columns=columns,
           fill_value=[float(new_test.loc[test[c].isna().to_numpy(), c].iloc[0])
                       if test[c].isna().any() else math.nan for c in columns],
           train_mean=[float(new_train[c].mean()) for c in columns],
           test_mean=[float(new_test[c].mean()) for c in columns],
           test_missing=[float(new_test[f"{c}_missing"].sum()) for c in columns])

    for old, new, name in ((train, new_train, "training"), (test, new_test, "test")):
        expect(len(new) == len(old) and new.index.equals(old.index), task,
               f"the {name} frame should keep its rows, in order, with their index.")
        for col in old.columns:
            if col in columns:
                continue
            expect(col in new.columns and new[col].equals(old[col]), task,
                   f"on this run's data the {name} column {col!r} was changed or dropped; "
                   "leave the columns you do not impute as they are.")
        for col in columns:
            gaps = old[col].isna().to_numpy()
            expect(not new[col].isna().any(), task,
                   f"on this run's data the {name} column {col!r} still has gaps.")
            flags = pd.to_numeric(new[f"{col}_missing"], errors="coerce").to_numpy(float)
            expect(np.array_equal(flags, gaps.astype(float)), task,
                   f"on this run's data the indicator {col}_missing of the {name} frame does "
                   "not mark exactly the values that were missing (1 there, 0 elsewhere).")
            kept = new[col].to_numpy(float)[~gaps]
            expect(np.array_equal(kept, old[col].to_numpy(float)[~gaps]), task,
                   f"on this run's data values of {col!r} that were present changed; fill "
                   "only the gaps.")
            median = float(train[col].median())
            filled = new[col].to_numpy(float)[gaps]
            expect(np.allclose(filled, median, rtol=1e-12, atol=1e-12), task,
                   f"on this run's data the gaps of the {name} column {col!r} do not hold "
                   "the median of the training column.")
    passed(task)


# ---------------------------------------------------------------------- balanced_weights

_BALANCED_EXAMPLES = (
    Example((np.array([0, 0, 0, 1]),), [2 / 3, 2 / 3, 2 / 3, 2.0], "y=[0, 0, 0, 1]",
            slips={
                (0.75, 0.75, 0.75, 0.25):
                    "that weights each class by its share, so the common class got the "
                    "large weight; the weight must fall as a class gets more common.",
                (1 / 3, 1 / 3, 1 / 3, 1.0):
                    "1 / count has the right shape but the wrong scale: multiply by "
                    "n / k so that the weights add up to the number of samples.",
                (4 / 3, 4 / 3, 4 / 3, 4.0):
                    "the division by the number of classes k is missing: n / (k * count).",
                (1.0, 1.0, 1.0, 3.0):
                    "that weights only the rare class (negatives / positives); balanced "
                    "weights give every class the same total weight, n / k.",
            },
            why="each sample of class c weighs n / (k * count of c), with n samples "
                "and k classes."),
    Example((np.array(["b", "a", "b", "b"]),), [2 / 3, 2.0, 2 / 3, 2 / 3],
            "y=['b', 'a', 'b', 'b']",
            why="the weights must follow the order of y (one per sample), whatever the "
                "labels are."),
    Example((np.array([2, 0, 2, 1, 2, 2]),), [0.5, 2.0, 0.5, 2.0, 0.5, 0.5],
            "y=[2, 0, 2, 1, 2, 2] (three classes)"),
)


def balanced_weights(func: Callable[..., Any], y: Any) -> None:
    """Check ``balanced_weights(y)``: one weight per sample, ``n / (k * count)``.

    Runs the worked examples, records the weight of each class on this run's labels,
    then checks that the weights agree with scikit-learn's
    ``compute_sample_weight("balanced", y)``.

    Parameters
    ----------
    func : callable
        The learner's ``balanced_weights``.
    y : array-like, 1-d
        This run's training labels.

    Raises
    ------
    AssertionError
        Saying in plain words what is wrong.

    Examples
    --------
    >>> def weights(y):
    ...     classes, index, counts = np.unique(y, return_inverse=True, return_counts=True)
    ...     return len(y) / (len(classes) * counts[index])
    >>> balanced_weights(weights, [0, 1, 1, 1, 0, 1])
    [ok] balanced_weights: all checks passed
    """
    from sklearn.utils.class_weight import compute_sample_weight

    task = "balanced_weights"
    labels = np.asarray(y)
    expect(labels.ndim == 1 and labels.size > 0, task,
           "give the check this run's labels (a non-empty one-dimensional array).")
    check_examples(task, func, _BALANCED_EXAMPLES, rtol=1e-9, atol=1e-12)

    got = call_answer(task, func, labels.copy())
    try:
        weights = np.asarray(got, dtype=float)
    except (TypeError, ValueError):
        weights = np.full(1, np.nan)
    expect(weights.shape == labels.shape, task,
           "on this run's data the function should return one weight per sample (an array "
           "as long as y).")
    classes, index = np.unique(labels, return_inverse=True)
    record(task, classes=classes.astype(str).tolist(),
           class_weight=[float(weights[index == i].mean()) for i in range(len(classes))],
           total=float(weights.sum()))
    expect(bool(np.all(np.isfinite(weights)) and np.all(weights > 0)), task,
           "on this run's data some weights are not positive finite numbers.")
    reference = compute_sample_weight("balanced", labels)
    expect(np.allclose(weights, reference, rtol=1e-9, atol=1e-12), task,
           "on this run's data your weights differ from scikit-learn's "
           "compute_sample_weight('balanced', y).")
    passed(task)


# ------------------------------------------------------------------- class_weight_effect

#: The answers of the class-weight question (the lab states them in full).
CLASS_WEIGHT_CHOICES = ("a", "b", "c")
#: A change of PR-AUC smaller than this counts as "about the same ranking".
AP_MARGIN = 0.05


def _scores(task: str, name: str, values: Any, n: int) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    expect(arr.shape == (n,) and np.all(np.isfinite(arr)), task,
           f"{name} must hold one finite score per test case.")
    return arr


def class_weight_effect(answer: Any, y_test: Any, scores_plain: Any,
                        scores_weighted: Any) -> None:
    """Check the answer to "what did class weights do?" against the run's numbers.

    ``"a"`` (the weighted model ranks the rare class better) is supported when its
    PR-AUC is higher by more than :data:`AP_MARGIN`; ``"b"`` (about the same ranking, the
    weights moved the operating point) when the PR-AUCs are within :data:`AP_MARGIN`
    and recall at the 0.5 threshold rose; ``"c"`` (prefer the unweighted model for its
    higher accuracy) never is: accuracy rewards predicting the common class.

    Parameters
    ----------
    answer : str
        ``"a"``, ``"b"`` or ``"c"``.
    y_test : array-like of 0/1
        Labels of the test cases (1: the rare class).
    scores_plain, scores_weighted : array-like
        Each model's predicted probability of the rare class on the test cases.

    Examples
    --------
    >>> y = np.array([0, 0, 0, 0, 1, 1])
    >>> plain = np.array([0.1, 0.2, 0.3, 0.35, 0.4, 0.3])
    >>> class_weight_effect("b", y, plain, plain + 0.3)
    [ok] class_weight_effect: all checks passed
    """
    from sklearn.metrics import average_precision_score

    task = "class_weight_effect"
    y = np.asarray(y_test)
    expect(y.ndim == 1 and y.size > 0 and set(np.unique(y).tolist()) <= {0, 1}
           and 0 < y.sum() < y.size, task,
           "y_test must be 0/1 labels with both classes present.")
    plain = _scores(task, "scores_plain", scores_plain, y.size)
    weighted = _scores(task, "scores_weighted", scores_weighted, y.size)
    gain = average_precision_score(y, weighted) - average_precision_score(y, plain)
    recall_plain = float(np.mean(plain[y == 1] >= 0.5))
    recall_weighted = float(np.mean(weighted[y == 1] >= 0.5))
    supported = []
    if gain > AP_MARGIN:
        supported.append("a")
    if abs(gain) <= AP_MARGIN and recall_weighted > recall_plain:
        supported.append("b")
    choice = expect_choice(task, answer, CLASS_WEIGHT_CHOICES)
    record(task, answer=decision(choice, accepted=supported))
    expect(choice != "c", task,
           "accuracy rewards predicting the common class: a model that never predicts the "
           "rare class scores the common class's share. It cannot tell which model finds "
           "the rare cases; PR-AUC and recall can.")
    if choice == "a":
        expect("a" in supported, task,
               f"the PR-AUCs of the two models differ by at most {AP_MARGIN}: the weights "
               "did not make the model rank the rare class better. Look at what changed at "
               "the 0.5 threshold instead.")
    if choice == "b":
        expect("b" in supported, task,
               f"on these numbers the PR-AUCs differ by more than {AP_MARGIN}, or recall at "
               "0.5 did not rise: reread the table.")
    passed(task)


# -------------------------------------------------------------------------- psi_threshold


def _psi_values(task: str, name: str, values: Any) -> np.ndarray:
    arr = np.atleast_1d(np.asarray(values, dtype=float))
    expect(arr.ndim == 1 and arr.size > 0 and np.all(np.isfinite(arr)) and np.all(arr >= 0),
           task, f"{name} must be one or more PSI values (non-negative numbers).")
    return arr


def psi_threshold(threshold: Any, psi_quiet: Any, psi_shifted: Any) -> None:
    """Check an alarm threshold on a weekly PSI: no alarm in a quiet week, an alarm in
    the shifted one.

    A week raises the alarm when its PSI is *above* the threshold. The grader accepts
    any threshold from the largest quiet-week PSI up to (not including) the smallest
    shifted-week PSI.

    Parameters
    ----------
    threshold : float
        The learner's decision.
    psi_quiet : array-like
        PSI of the weeks in which nothing changed.
    psi_shifted : array-like
        PSI of the week(s) after the change.

    Examples
    --------
    >>> psi_threshold(0.05, [0.004, 0.006, 0.008], [0.3])
    [ok] psi_threshold: all checks passed
    """
    task = "psi_threshold"
    quiet = _psi_values(task, "psi_quiet", psi_quiet)
    shifted = _psi_values(task, "psi_shifted", psi_shifted)
    expect(quiet.max() < shifted.min(), task,
           "some quiet week has a PSI at least as high as a shifted week: no threshold can "
           "separate them (check which weeks you passed).")
    value = expect_number(task, threshold)
    high = float(np.nextafter(shifted.min(), -np.inf))
    record(task, atol=0.0, threshold=decision(value, between=(float(quiet.max()), high)))
    expect(value >= quiet.max(), task,
           "with this threshold the alarm would have gone off in a quiet week (its PSI is "
           "above the threshold): set it above the week-to-week noise.")
    expect(value < shifted.min(), task,
           "this threshold does not flag the week after the change (its PSI is not above "
           "the threshold): set it lower.")
    passed(task)


# ------------------------------------------------------------------------ split_to_report


def _accuracy(task: str, name: str, value: Any) -> float:
    number = expect_number(task, value)
    expect(0.0 <= number <= 1.0, task, f"{name} must be an accuracy between 0 and 1.")
    return number


def split_to_report(answer: Any, random_accuracy: Any, time_accuracy: Any) -> None:
    """Check which split's accuracy the learner would report as next week's estimate.

    The answer is ``"time"``: only a split by time tests the model, as deployment
    will, on events that come after everything it was trained on.

    Examples
    --------
    >>> split_to_report("time", 0.25, 0.2)
    [ok] split_to_report: all checks passed
    """
    task = "split_to_report"
    random_acc = _accuracy(task, "random_accuracy", random_accuracy)
    time_acc = _accuracy(task, "time_accuracy", time_accuracy)
    choice = expect_choice(task, answer, ("random", "time"))
    record(task, answer=decision(choice, accepted=["time"]))
    if random_acc > time_acc:
        why = ("the random split scored higher because its training set holds events from "
               "the very days it is tested on, including days after the change; next "
               "week's events will all come after the training data, as in the time split.")
    else:
        why = ("even where the two agree, only the split by time tests the model the way "
               "it will be used: on events after everything it was trained on.")
    expect(choice == "time", task, why)
    passed(task)


# ------------------------------------------------------------------------- storage_layout


def storage_layout(answer: Any, read_seconds: Mapping[str, Any]) -> None:
    """Check the layout chosen for a query against the read times measured for it.

    Parameters
    ----------
    answer : str
        The layout chosen, a key of ``read_seconds``.
    read_seconds : mapping
        Layout name (``"csv"``, ``"parquet"``) -> measured seconds of the query.

    Examples
    --------
    >>> storage_layout("parquet", {"csv": 0.04, "parquet": 0.006})
    [ok] storage_layout: all checks passed
    """
    task = "storage_layout"
    expect(isinstance(read_seconds, Mapping) and len(read_seconds) >= 2, task,
           "give the check the measured seconds of each layout, as a dict.")
    seconds = {str(k): expect_number(task, v) for k, v in read_seconds.items()}
    expect(all(v > 0 for v in seconds.values()), task, "read times must be positive.")
    choice = expect_choice(task, answer, sorted(seconds))
    fastest = min(sorted(seconds), key=seconds.__getitem__)
    record(task, answer=decision(choice, accepted=[fastest]))
    expect(choice == fastest, task,
           "your own measurements say the other layout answers this query faster.")
    passed(task)
